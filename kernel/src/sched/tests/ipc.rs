//! Send, call and reply semantics: delivery, badges, backpressure, one-shot
//! replies, dead receivers, malformed payloads, payload limits.

use alloc::vec;

use mealy_caps::{Badge, Rights, TaskId};
use mealy_protocol::{CallFailure, CapRef, IpcError, MAX_PAYLOAD, MessageKind};

use super::{Behaviour, recorder, world};
use crate::sched::{CapSpec, INLINE_PAYLOAD, TaskState, grant};

const SENDER: TaskId = TaskId(0);
const RECEIVER: TaskId = TaskId(1);

static PEER: &[CapSpec] = &[grant("peer")
    .endpoint_to("receiver")
    .rights(Rights::WRITE)
    .badge(7)];
static WRONG: &[CapSpec] = &[
    grant("no-write")
        .endpoint_to("receiver")
        .rights(Rights::GRANT),
    grant("timer").timer(),
];

fn pair(receiver: Behaviour, mailbox: u32) -> super::World {
    world(&[
        (recorder("sender").caps(PEER), Behaviour::Record),
        (recorder("receiver").mailbox(mailbox), receiver),
    ])
}

#[test]
fn send_delivers_payload_and_badge() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    w.act(SENDER, |cx| cx.send(peer, b"hi", &[])).unwrap();
    assert_eq!(w.run(), 1);
    let got = w.received(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, MessageKind::Request);
    assert_eq!(got[0].badge, Badge::new(7));
    assert_eq!(got[0].payload, b"hi");
    assert_eq!(got[0].reply, None);
}

#[test]
fn full_mailbox_is_an_error_and_loses_nothing() {
    let mut w = pair(Behaviour::Record, 3);
    let peer = w.grant(SENDER, "peer");
    for n in 0u8..3 {
        w.act(SENDER, |cx| cx.send(peer, &[n], &[])).unwrap();
    }
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, &[3], &[])),
        Err(IpcError::MailboxFull)
    );
    w.run();
    let payloads: vec::Vec<_> = w.received(1).into_iter().map(|r| r.payload).collect();
    assert_eq!(payloads, [vec![0], vec![1], vec![2]]);
    w.act(SENDER, |cx| cx.send(peer, &[3], &[])).unwrap();
    w.run();
    assert_eq!(w.received(1).len(), 4);
    let info = w.sched.task_info(RECEIVER).unwrap();
    assert_eq!(info.mailbox_high_water, 3);
}

#[test]
fn reply_is_one_shot_and_carries_the_token() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    let token = w.act(SENDER, |cx| cx.call(peer, b"q", &[])).unwrap();
    w.run();
    let reply = w.received(1)[0].reply.expect("a call carries a reply cap");
    w.act(RECEIVER, |cx| cx.reply(reply, b"a", &[])).unwrap();
    assert_eq!(
        w.act(RECEIVER, |cx| cx.reply(reply, b"again", &[])),
        Err(IpcError::InvalidCap)
    );
    w.run();
    let answers = w.received(0);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].kind, MessageKind::Reply { token });
    assert_eq!(answers[0].payload, b"a");
}

#[test]
fn reply_cap_cannot_be_copied_or_used_to_send() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    w.act(SENDER, |cx| cx.call(peer, b"q", &[])).unwrap();
    w.run();
    let reply = w.received(1)[0].reply.unwrap();
    assert!(matches!(
        w.act(RECEIVER, |cx| cx.copy(reply)),
        Err(IpcError::MissingRights { .. })
    ));
    assert!(matches!(
        w.act(RECEIVER, |cx| cx.send(reply, b"x", &[])),
        Err(IpcError::WrongKind { .. })
    ));
}

#[test]
fn dropping_a_reply_fails_the_call() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    let token = w.act(SENDER, |cx| cx.call(peer, b"q", &[])).unwrap();
    w.run();
    let reply = w.received(1)[0].reply.unwrap();
    w.act(RECEIVER, |cx| cx.drop_cap(reply)).unwrap();
    w.run();
    assert_eq!(
        w.received(0)[0].kind,
        MessageKind::CallFailed {
            token,
            reason: CallFailure::Dropped
        }
    );
}

#[test]
fn sending_to_a_dead_task_is_an_error_and_pending_calls_fail() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    let token = w.act(SENDER, |cx| cx.call(peer, b"q", &[])).unwrap();
    w.sched.stop(RECEIVER);
    assert_eq!(
        w.sched.task_info(RECEIVER).unwrap().state,
        TaskState::Stopped
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, b"x", &[])),
        Err(IpcError::DeadTask)
    );
    w.run();
    assert_eq!(
        w.received(0)[0].kind,
        MessageKind::CallFailed {
            token,
            reason: CallFailure::PeerDied
        }
    );
    assert!(w.received(1).is_empty());
}

#[test]
fn malformed_payload_gets_an_error_reply_and_the_receiver_keeps_running() {
    let mut w = pair(Behaviour::Strict, 8);
    let peer = w.grant(SENDER, "peer");
    let bad = w
        .act(SENDER, |cx| cx.call(peer, &[0xff, 0xff], &[]))
        .unwrap();
    let good = w.act(SENDER, |cx| cx.call(peer, &[5], &[])).unwrap();
    w.run();
    assert_eq!(w.received(1).len(), 2, "both were delivered");
    let answers = w.received(0);
    assert_eq!(
        answers.iter().map(|r| r.kind).collect::<vec::Vec<_>>(),
        [MessageKind::CallFailed {
            token: bad,
            reason: CallFailure::Malformed
        }]
    );
    let _ = good;
    let info = w.sched.task_info(RECEIVER).unwrap();
    assert_eq!(info.state, TaskState::Idle);
    assert_eq!(info.counters.malformed, 1);
    assert!(w.sched.platform().logged("malformed"));
}

#[test]
fn payload_limits() {
    let mut w = pair(Behaviour::Echo, 8);
    let peer = w.grant(SENDER, "peer");
    let too_big = vec![0u8; MAX_PAYLOAD + 1];
    assert_eq!(
        w.act(SENDER, |cx| cx.send(peer, &too_big, &[])),
        Err(IpcError::PayloadTooLarge {
            len: MAX_PAYLOAD as u32 + 1,
            max: MAX_PAYLOAD as u32
        })
    );
    // Above the inline slot size: stored out of line, delivered intact.
    let large: vec::Vec<u8> = (0..MAX_PAYLOAD).map(|i| (i * 7) as u8).collect();
    assert!(large.len() > INLINE_PAYLOAD);
    let token = w.act(SENDER, |cx| cx.call(peer, &large, &[])).unwrap();
    w.run();
    assert_eq!(w.received(1)[0].payload, large);
    let answer = &w.received(0)[0];
    assert_eq!(answer.kind, MessageKind::Reply { token });
    assert_eq!(answer.payload, large);
}

#[test]
fn send_needs_write_on_an_endpoint() {
    let mut w = world(&[
        (recorder("sender").caps(WRONG), Behaviour::Record),
        (recorder("receiver"), Behaviour::Record),
    ]);
    let no_write = w.grant(SENDER, "no-write");
    let timer = w.grant(SENDER, "timer");
    assert!(matches!(
        w.act(SENDER, |cx| cx.send(no_write, b"x", &[])),
        Err(IpcError::MissingRights { .. })
    ));
    assert!(matches!(
        w.act(SENDER, |cx| cx.send(timer, b"x", &[])),
        Err(IpcError::WrongKind { .. })
    ));
    assert_eq!(
        w.act(SENDER, |cx| cx.send(
            mealy_caps::CapRef::from_raw(0xdead_0000_0001),
            b"x",
            &[]
        )),
        Err(IpcError::InvalidCap)
    );
}

/// The no-capability reply path (`KernelState::reply`'s fast path) checks
/// and consumes the Reply in one lookup: a consumed ref, a stale one (its
/// slot reused by a later call's Reply), a forged generation, an
/// out-of-range slot and a capability of another kind all fail, and the
/// caller gets exactly one answer per call.
#[test]
fn fast_reply_rejects_consumed_stale_and_forged_refs() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    let usage = w.sched.caps().usage();
    let first = w.act(SENDER, |cx| cx.call(peer, b"1", &[])).unwrap();
    w.run();
    let old = w.received(1)[0].reply.unwrap();
    w.act(RECEIVER, |cx| cx.reply(old, b"a", &[])).unwrap();
    let second = w.act(SENDER, |cx| cx.call(peer, b"2", &[])).unwrap();
    w.run();
    let new = w.received(1)[1].reply.unwrap();
    assert_eq!(
        new.to_raw() as u32,
        old.to_raw() as u32,
        "the slot is reused"
    );
    assert_ne!(new, old, "with a new generation");
    for bad in [
        old,
        CapRef::from_raw(new.to_raw().wrapping_add(1 << 32)),
        CapRef::from_raw(4000),
    ] {
        assert_eq!(
            w.act(RECEIVER, |cx| cx.reply(bad, b"bad", &[])),
            Err(IpcError::InvalidCap),
            "{bad}"
        );
    }
    assert!(matches!(
        w.act(SENDER, |cx| cx.reply(peer, b"x", &[])),
        Err(IpcError::WrongKind { .. })
    ));
    w.act(RECEIVER, |cx| cx.reply(new, b"b", &[])).unwrap();
    assert_eq!(
        w.act(RECEIVER, |cx| cx.reply(new, b"again", &[])),
        Err(IpcError::InvalidCap)
    );
    w.run();
    let answers: vec::Vec<_> = w
        .received(0)
        .into_iter()
        .map(|r| (r.kind, r.payload))
        .collect();
    assert_eq!(
        answers,
        [
            (MessageKind::Reply { token: first }, b"a".to_vec()),
            (MessageKind::Reply { token: second }, b"b".to_vec()),
        ]
    );
    // Every Reply was consumed: the same capabilities exist as before the calls.
    assert_eq!(w.sched.caps().usage(), usage);
}

/// Backpressure on the reply fast path: a caller whose mailbox is full
/// makes the answer fail with `MailboxFull`, and the Reply stays valid, so
/// the callee can answer once the caller has drained its mailbox.
#[test]
fn fast_reply_to_a_full_caller_keeps_the_reply() {
    let mut w = world(&[
        (recorder("sender").caps(PEER).mailbox(1), Behaviour::Record),
        (recorder("receiver"), Behaviour::Record),
    ]);
    let peer = w.grant(SENDER, "peer");
    let first = w.act(SENDER, |cx| cx.call(peer, b"1", &[])).unwrap();
    let second = w.act(SENDER, |cx| cx.call(peer, b"2", &[])).unwrap();
    w.run();
    let replies: vec::Vec<_> = w.received(1).iter().map(|r| r.reply.unwrap()).collect();
    w.act(RECEIVER, |cx| cx.reply(replies[0], b"a", &[]))
        .unwrap();
    assert_eq!(
        w.act(RECEIVER, |cx| cx.reply(replies[1], b"b", &[])),
        Err(IpcError::MailboxFull)
    );
    w.run();
    w.act(RECEIVER, |cx| cx.reply(replies[1], b"b", &[]))
        .unwrap();
    w.run();
    let kinds: vec::Vec<_> = w.received(0).into_iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Reply { token: first },
            MessageKind::Reply { token: second }
        ]
    );
}

/// The no-capability send path checks the endpoint like every other use:
/// a forged ref, and a ref gone stale after its capability was dropped,
/// are `InvalidCap`, and nothing is delivered.
#[test]
fn fast_send_rejects_forged_and_stale_endpoints() {
    let mut w = pair(Behaviour::Record, 8);
    let peer = w.grant(SENDER, "peer");
    let forged = CapRef::from_raw(peer.to_raw().wrapping_add(1 << 32));
    assert_eq!(
        w.act(SENDER, |cx| cx.send(forged, b"x", &[])),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(
        w.act(SENDER, |cx| cx.call(forged, b"x", &[])),
        Err(IpcError::InvalidCap)
    );
    w.act(SENDER, |cx| cx.drop_cap(peer)).unwrap();
    assert_eq!(
        w.act(SENDER, |cx| cx.call(peer, b"x", &[])),
        Err(IpcError::InvalidCap)
    );
    w.run();
    assert!(w.received(1).is_empty());
}
