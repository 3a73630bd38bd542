//! Reply capabilities as the callee's reply table keeps them
//! (`sched/reply.rs`): one-shot, unforgeable, stale-proof, bounded by the
//! callee's CSpace, movable with GRANT, failed when the callee dies, and
//! refused once the caller is gone.

use alloc::vec::Vec;

use mealy_caps::{Rights, TaskId};
use mealy_protocol::{CallFailure, CapRef, IpcError, MessageKind, ObjectKind};

use super::{Behaviour, World, recorder, world};
use crate::sched::{CapSpec, grant};

const CALLER: TaskId = TaskId(0);
const CALLER_LOG: usize = 0;
const CALLEE: TaskId = TaskId(1);
const CALLEE_LOG: usize = 1;
const WORKER: TaskId = TaskId(2);
const WORKER_LOG: usize = 2;

static TO_CALLEE: &[CapSpec] = &[grant("callee").endpoint_to("callee").rights(Rights::WRITE)];
static TO_WORKER: &[CapSpec] = &[grant("worker").endpoint_to("worker").rights(Rights::WRITE)];

fn three(callee_slots: u32) -> World {
    world(&[
        (recorder("caller").caps(TO_CALLEE), Behaviour::Record),
        (
            recorder("callee")
                .caps(TO_WORKER)
                .cspace_slots(callee_slots),
            Behaviour::Record,
        ),
        (recorder("worker"), Behaviour::Record),
    ])
}

/// Calls the callee once and delivers the request; returns the token and
/// the Reply the callee got.
fn called(w: &mut World) -> (mealy_protocol::CallToken, CapRef) {
    let callee = w.grant(CALLER, "callee");
    let token = w.act(CALLER, |cx| cx.call(callee, b"q", &[])).unwrap();
    w.run();
    let reply = w.received(CALLEE_LOG).last().unwrap().reply.unwrap();
    (token, reply)
}

#[test]
fn every_use_but_reply_drop_and_move_is_refused() {
    let mut w = three(16);
    let (token, reply) = called(&mut w);
    assert_eq!(
        w.act(CALLEE, |cx| cx.mint(reply, Rights::WRITE, None)),
        Err(IpcError::MissingRights {
            missing: Rights::DERIVE
        })
    );
    assert_eq!(
        w.act(CALLEE, |cx| cx.send(reply, b"x", &[])),
        Err(IpcError::WrongKind {
            found: ObjectKind::Reply
        })
    );
    assert_eq!(
        w.act(CALLEE, |cx| cx.set_timer(reply, 5)),
        Err(IpcError::WrongKind {
            found: ObjectKind::Reply
        })
    );
    // Nothing derives from a Reply, and revoking it leaves it usable.
    assert_eq!(w.act(CALLEE, |cx| cx.revoke(reply)), Ok(0));
    // Another task's identical ref names nothing of its own.
    assert_eq!(
        w.act(WORKER, |cx| cx.reply(reply, b"forged", &[])),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(
        w.act(WORKER, |cx| cx.drop_cap(reply)),
        Err(IpcError::InvalidCap)
    );
    w.act(CALLEE, |cx| cx.reply(reply, b"a", &[])).unwrap();
    assert_eq!(
        w.act(CALLEE, |cx| cx.drop_cap(reply)),
        Err(IpcError::InvalidCap),
        "consumed"
    );
    w.run();
    let answers: Vec<_> = w.received(CALLER_LOG).into_iter().map(|r| r.kind).collect();
    assert_eq!(answers, [MessageKind::Reply { token }]);
}

#[test]
fn tokens_are_unique_and_a_reused_entry_gets_a_new_ref() {
    let mut w = three(16);
    let mut tokens = Vec::new();
    let mut refs = Vec::new();
    for _ in 0..4 {
        let (token, reply) = called(&mut w);
        w.act(CALLEE, |cx| cx.reply(reply, b"", &[])).unwrap();
        tokens.push(token);
        refs.push(reply);
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 4);
    refs.sort();
    refs.dedup();
    assert_eq!(
        refs.len(),
        4,
        "the one entry, with a new generation each time"
    );
    for old in &refs {
        assert_eq!(
            w.act(CALLEE, |cx| cx.reply(*old, b"", &[])),
            Err(IpcError::InvalidCap)
        );
    }
}

#[test]
fn replies_count_against_the_callees_cspace() {
    // One slot for the endpoint to the worker, one for a Reply.
    let mut w = three(2);
    let callee = w.grant(CALLER, "callee");
    let first = w.act(CALLER, |cx| cx.call(callee, b"1", &[])).unwrap();
    assert_eq!(
        w.act(CALLER, |cx| cx.call(callee, b"2", &[])),
        Err(IpcError::NoRoom)
    );
    // A plain send needs no slot.
    w.act(CALLER, |cx| cx.send(callee, b"3", &[])).unwrap();
    w.run();
    let reply = w.received(CALLEE_LOG)[0].reply.unwrap();
    w.act(CALLEE, |cx| cx.reply(reply, b"a", &[])).unwrap();
    w.act(CALLER, |cx| cx.call(callee, b"4", &[])).unwrap();
    w.run();
    assert_eq!(
        w.received(CALLER_LOG)[0].kind,
        MessageKind::Reply { token: first }
    );
}

#[test]
fn a_moved_reply_is_answered_by_its_new_holder() {
    let mut w = three(16);
    let (token, reply) = called(&mut w);
    let worker = w.grant(CALLEE, "worker");
    w.act(CALLEE, |cx| cx.send(worker, b"do it", &[reply]))
        .unwrap();
    // Moved: the callee's ref is stale.
    assert_eq!(
        w.act(CALLEE, |cx| cx.reply(reply, b"", &[])),
        Err(IpcError::InvalidCap)
    );
    w.run();
    let moved = w.received(WORKER_LOG)[0].caps[0];
    w.act(WORKER, |cx| cx.reply(moved, b"done", &[])).unwrap();
    w.run();
    let answer = &w.received(CALLER_LOG)[0];
    assert_eq!(answer.kind, MessageKind::Reply { token });
    assert_eq!(answer.payload, b"done");
    // A forged Reply in a transfer moves nothing.
    let forged = CapRef::from_raw(moved.to_raw());
    assert_eq!(
        w.act(CALLEE, |cx| cx.send(worker, b"", &[forged])),
        Err(IpcError::InvalidCap)
    );
}

#[test]
fn the_callee_dying_fails_every_call_it_held() {
    let mut w = three(16);
    let (first, _) = called(&mut w);
    let (second, _) = called(&mut w);
    w.sched.stop(CALLEE);
    w.run();
    let kinds: Vec<_> = w.received(CALLER_LOG).into_iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::CallFailed {
                token: first,
                reason: CallFailure::PeerDied
            },
            MessageKind::CallFailed {
                token: second,
                reason: CallFailure::PeerDied
            },
        ]
    );
}

#[test]
fn a_reply_to_a_dead_caller_fails_cleanly_and_can_be_dropped() {
    let mut w = three(16);
    let (_, reply) = called(&mut w);
    w.sched.stop(CALLER);
    assert_eq!(
        w.act(CALLEE, |cx| cx.reply(reply, b"late", &[])),
        Err(IpcError::DeadTask)
    );
    // Still held (so the callee can clean up), and dropping it tells no one.
    w.act(CALLEE, |cx| cx.drop_cap(reply)).unwrap();
    assert_eq!(
        w.act(CALLEE, |cx| cx.reply(reply, b"late", &[])),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(w.run(), 0);
    assert!(w.received(CALLER_LOG).is_empty());
}
