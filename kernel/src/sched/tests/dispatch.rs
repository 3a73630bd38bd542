//! The dispatch loop: round robin, one message per dispatch, budget
//! overruns, fatal handlers.

use alloc::vec::Vec;

use mealy_caps::{Rights, TaskId};
use mealy_protocol::{CallFailure, IpcError, MessageKind};

use super::{Behaviour, recorder, world};
use crate::sched::{CapSpec, TaskState, grant};

static TO_A_AND_B: &[CapSpec] = &[
    grant("a").endpoint_to("a").rights(Rights::WRITE).badge(1),
    grant("b").endpoint_to("b").rights(Rights::WRITE).badge(2),
];

#[test]
fn round_robin_one_message_per_dispatch() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a"), Behaviour::Record),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    // a gets 3 messages first, then b gets 3: dispatch must still alternate.
    for n in 0u8..3 {
        w.act(TaskId(0), |cx| cx.send(a, &[n], &[])).unwrap();
    }
    for n in 0u8..3 {
        w.act(TaskId(0), |cx| cx.send(b, &[n], &[])).unwrap();
    }
    let mut order = Vec::new();
    while w.sched.dispatch_one() {
        let a_seen = w.received(1).len();
        let b_seen = w.received(2).len();
        order.push((a_seen, b_seen));
    }
    assert_eq!(order, [(1, 0), (1, 1), (2, 1), (2, 2), (3, 2), (3, 3)]);
    assert_eq!(w.sched.stats().dispatched, 6);
    for id in [1, 2] {
        let info = w.sched.task_info(TaskId(id)).unwrap();
        assert_eq!(info.counters.handled, 3);
        assert_eq!(info.state, TaskState::Idle);
        assert_eq!(info.queued, 0);
    }
}

#[test]
fn a_flooded_task_does_not_starve_another() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a").mailbox(64), Behaviour::Record),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    for n in 0u8..50 {
        w.act(TaskId(0), |cx| cx.send(a, &[n], &[])).unwrap();
    }
    w.act(TaskId(0), |cx| cx.send(b, b"late", &[])).unwrap();
    // b is served within two dispatches, not after a's 50.
    w.sched.dispatch_one();
    w.sched.dispatch_one();
    assert_eq!(w.received(2).len(), 1);
}

#[test]
fn budget_overrun_is_counted_and_logged() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a"), Behaviour::Record),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    w.act(TaskId(0), |cx| cx.send(a, b"fast", &[])).unwrap();
    w.run();
    assert_eq!(w.sched.stats().budget_overruns, 0);
    // Every clock read now moves 5 us: past the 1 us budget.
    w.sched.platform_mut().set_step(5_000);
    w.act(TaskId(0), |cx| cx.send(b, b"slow", &[])).unwrap();
    w.run();
    assert_eq!(w.sched.stats().budget_overruns, 1);
    assert_eq!(
        w.sched
            .task_info(TaskId(2))
            .unwrap()
            .counters
            .budget_overruns,
        1
    );
    assert!(w.sched.platform().logged("over the 1000 ns budget"));
}

#[test]
fn a_task_with_a_budget_of_its_own_is_held_to_that_one() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a").budget(1_000_000), Behaviour::Record),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    // Every clock read moves 5 us: past the scheduler's 1 us, within a's 1 ms.
    w.sched.platform_mut().set_step(5_000);
    w.act(TaskId(0), |cx| cx.send(a, b"long", &[])).unwrap();
    w.run();
    assert_eq!(w.sched.stats().budget_overruns, 0);
    w.act(TaskId(0), |cx| cx.send(b, b"long", &[])).unwrap();
    w.run();
    assert_eq!(w.sched.stats().budget_overruns, 1);
    assert!(w.sched.platform().logged("b: handler ran"));
}

#[test]
fn time_between_runs_is_not_charged_to_the_next_handler() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a"), Behaviour::Record),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    w.act(TaskId(0), |cx| cx.send(a, b"before", &[])).unwrap();
    w.run();
    // The machine idles for a millisecond, a thousand budgets, before the
    // next message: the next run starts from a fresh clock.
    w.sched.platform().advance(1_000_000);
    w.act(TaskId(0), |cx| cx.send(b, b"after", &[])).unwrap();
    w.run();
    assert_eq!(w.received(2).len(), 1);
    assert_eq!(w.sched.stats().budget_overruns, 0);
    let busy = w.sched.task_info(TaskId(2)).unwrap().counters.busy_ns;
    assert!(busy < 1_000, "b was charged {busy} ns");
}

#[test]
fn a_fatal_handler_faults_only_its_task() {
    let mut w = world(&[
        (recorder("driver").caps(TO_A_AND_B), Behaviour::Record),
        (recorder("a"), Behaviour::Crash),
        (recorder("b"), Behaviour::Record),
    ]);
    let (a, b) = (w.grant(TaskId(0), "a"), w.grant(TaskId(0), "b"));
    let first = w.act(TaskId(0), |cx| cx.call(a, b"boom", &[])).unwrap();
    let second = w.act(TaskId(0), |cx| cx.call(a, b"queued", &[])).unwrap();
    w.act(TaskId(0), |cx| cx.send(b, b"still here", &[]))
        .unwrap();
    w.run();
    assert_eq!(
        w.sched.task_info(TaskId(1)).unwrap().state,
        TaskState::Faulted
    );
    assert_eq!(w.received(1).len(), 1, "the queued call is never handled");
    assert_eq!(w.received(2).len(), 1);
    let kinds: Vec<MessageKind> = w.received(0).iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&MessageKind::CallFailed {
        token: first,
        reason: CallFailure::PeerDied
    }));
    assert!(kinds.contains(&MessageKind::CallFailed {
        token: second,
        reason: CallFailure::PeerDied
    }));
    assert_eq!(
        w.act(TaskId(0), |cx| cx.send(a, b"", &[])),
        Err(IpcError::DeadTask)
    );
    assert!(w.sched.platform().logged("fatal: asked to crash"));
}
