//! Capability transfer: a move that needs GRANT, all or nothing.

use alloc::vec::Vec;

use mealy_caps::{CapRef, Rights, TaskId};
use mealy_protocol::IpcError;

use super::{Behaviour, World, recorder, world};
use crate::sched::{CapSpec, grant};

const SENDER: TaskId = TaskId(0);
const RECEIVER: TaskId = TaskId(1);

static SENDER_CAPS: &[CapSpec] = &[
    grant("peer").endpoint_to("receiver").rights(Rights::WRITE),
    grant("t1").timer(),
    grant("t2").timer(),
    grant("no-grant").timer().rights(Rights::WRITE),
];

fn transfer_world(receiver_slots: u32) -> World {
    world(&[
        (recorder("sender").caps(SENDER_CAPS), Behaviour::Record),
        (
            recorder("receiver").cspace_slots(receiver_slots),
            Behaviour::Record,
        ),
    ])
}

fn cap_count(w: &World, task: TaskId) -> usize {
    let cspace = w.sched.kernel.tasks[task].cspace;
    w.sched.caps().caps_of(cspace).unwrap().count()
}

fn resolves(w: &World, task: TaskId, cap: CapRef) -> bool {
    let cspace = w.sched.kernel.tasks[task].cspace;
    w.sched.caps().lookup(cspace, cap, Rights::empty()).is_ok()
}

#[test]
fn transferred_caps_move_to_the_receiver() {
    let mut w = transfer_world(16);
    let (peer, t1, t2) = (
        w.grant(SENDER, "peer"),
        w.grant(SENDER, "t1"),
        w.grant(SENDER, "t2"),
    );
    w.act(SENDER, |cx| cx.send(peer, b"", &[t1, t2])).unwrap();
    assert!(!resolves(&w, SENDER, t1) && !resolves(&w, SENDER, t2));
    w.run();
    let got = w.received(1);
    assert_eq!(got[0].caps.len(), 2);
    for cap in &got[0].caps {
        assert!(resolves(&w, RECEIVER, *cap));
    }
    // The receiver can use what it got.
    let timer = got[0].caps[0];
    w.act(RECEIVER, |cx| cx.set_timer(timer, 10)).unwrap();
}

#[test]
fn one_cap_without_grant_moves_nothing_and_sends_nothing() {
    let mut w = transfer_world(16);
    let (peer, t1, no_grant) = (
        w.grant(SENDER, "peer"),
        w.grant(SENDER, "t1"),
        w.grant(SENDER, "no-grant"),
    );
    let before = (cap_count(&w, SENDER), cap_count(&w, RECEIVER));
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, b"x", &[t1, no_grant])),
        Err(IpcError::MissingRights {
            missing: Rights::GRANT
        })
    );
    assert_eq!((cap_count(&w, SENDER), cap_count(&w, RECEIVER)), before);
    assert!(resolves(&w, SENDER, t1));
    assert_eq!(w.run(), 0);
}

#[test]
fn duplicates_stale_refs_and_too_many_are_rejected_whole() {
    let mut w = transfer_world(16);
    let (peer, t1, t2) = (
        w.grant(SENDER, "peer"),
        w.grant(SENDER, "t1"),
        w.grant(SENDER, "t2"),
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, b"", &[t1, t1])),
        Err(IpcError::DuplicateCap)
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.send(
            peer,
            b"",
            &[t1, CapRef::from_raw(u64::MAX)]
        )),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, b"", &[t1, t2, t1, t2, t1])),
        Err(IpcError::TooManyCaps { count: 5 })
    );
    assert!(resolves(&w, SENDER, t1) && resolves(&w, SENDER, t2));
    assert_eq!(w.run(), 0);
}

#[test]
fn no_room_in_the_receiver_moves_nothing() {
    // The receiver's CSpace has 2 slots: a call with 2 caps needs 3.
    let mut w = transfer_world(2);
    let (peer, t1, t2) = (
        w.grant(SENDER, "peer"),
        w.grant(SENDER, "t1"),
        w.grant(SENDER, "t2"),
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.call(peer, b"", &[t1, t2])),
        Err(IpcError::NoRoom)
    );
    assert!(resolves(&w, SENDER, t1) && resolves(&w, SENDER, t2));
    assert_eq!(cap_count(&w, RECEIVER), 0);
    // Two caps without a reply fit.
    w.act(SENDER, |cx| cx.send(peer, b"", &[t1, t2])).unwrap();
    assert_eq!(cap_count(&w, RECEIVER), 2);
}

#[test]
fn full_mailbox_moves_nothing() {
    let mut w = world(&[
        (recorder("sender").caps(SENDER_CAPS), Behaviour::Record),
        (recorder("receiver").mailbox(1), Behaviour::Record),
    ]);
    let (peer, t1) = (w.grant(SENDER, "peer"), w.grant(SENDER, "t1"));
    w.act(SENDER, |cx| cx.send(peer, b"", &[])).unwrap();
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, b"", &[t1])),
        Err(IpcError::MailboxFull)
    );
    assert!(resolves(&w, SENDER, t1));
}

#[test]
fn replies_carry_caps_too() {
    let mut w = transfer_world(16);
    let peer = w.grant(SENDER, "peer");
    w.act(SENDER, |cx| cx.call(peer, b"", &[])).unwrap();
    w.run();
    let reply = w.received(1)[0].reply.unwrap();
    let region = w.act(RECEIVER, |cx| cx.alloc_region(100)).unwrap();
    w.act(RECEIVER, |cx| cx.reply(reply, b"", &[region]))
        .unwrap();
    w.run();
    let got: Vec<CapRef> = w.received(0)[0].caps.clone();
    assert_eq!(got.len(), 1);
    assert!(resolves(&w, SENDER, got[0]));
    assert!(!resolves(&w, RECEIVER, region));
}
