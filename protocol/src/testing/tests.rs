//! Tests of the fake's own behaviour where a service's tests lean on it:
//! inspect answers per query, scripted `revoke_in`, failure injection for
//! the control operations, and messages that carry capabilities.

use alloc::vec;

use mealy_caps::{CapRef, Rights, TaskId};

use super::{FakeContext, FakeObject, Message, Operation};
use crate::context::Context;
use crate::error::IpcError;
use crate::incoming::MessageKind;
use crate::inspect::{BenchReport, Query, Report, Stats};

fn bench(round_trips: u64) -> Report {
    Report::Bench(BenchReport {
        round_trips,
        tsc_ticks: 1,
    })
}

#[test]
fn inspect_answers_each_query_with_its_own_report_and_records_it() {
    let mut cx = FakeContext::new();
    let inspect = cx.inspector();
    cx.answer_inspect(Query::Bench, bench(1));
    cx.answer_inspect(Query::Stats, Report::Stats(Stats::default()));
    // A later answer replaces the earlier one.
    cx.answer_inspect(Query::Bench, bench(2));
    assert_eq!(cx.inspect(inspect, Query::Bench), Ok(bench(2)));
    assert_eq!(
        cx.inspect(inspect, Query::Stats),
        Ok(Report::Stats(Stats::default()))
    );
    // No answer given: the kernel does not provide it.
    assert_eq!(
        cx.inspect(inspect, Query::Tasks),
        Err(IpcError::Unsupported)
    );
    assert_eq!(cx.queries, [Query::Bench, Query::Stats]);
}

#[test]
fn inspect_answering_is_the_answer_to_every_query_not_given_its_own() {
    let mut cx = FakeContext::new();
    let inspect = cx.inspect_answering(bench(7));
    cx.answer_inspect(Query::Stats, Report::Stats(Stats::default()));
    assert_eq!(cx.inspect(inspect, Query::Tasks), Ok(bench(7)));
    assert_eq!(
        cx.inspect(inspect, Query::Stats),
        Ok(Report::Stats(Stats::default()))
    );
}

#[test]
fn inspect_checks_the_capability_then_an_injected_failure() {
    let mut cx = FakeContext::new();
    let inspect = cx.inspect_answering(bench(1));
    let timer = cx.timer();
    assert!(matches!(
        cx.inspect(timer, Query::Bench),
        Err(IpcError::WrongKind { .. })
    ));
    cx.fail(Operation::Inspect, IpcError::InvalidCap);
    assert_eq!(cx.inspect(inspect, Query::Bench), Err(IpcError::InvalidCap));
    assert!(cx.queries.is_empty(), "a failed query is not recorded");
    cx.heal();
    assert_eq!(cx.inspect(inspect, Query::Bench), Ok(bench(1)));
}

#[test]
fn revoke_in_is_unsupported_until_scripted_then_records_task_and_slot() {
    let mut cx = FakeContext::new();
    let task = cx.task("echo");
    let slot = CapRef::from_raw(3);
    assert_eq!(cx.revoke_in(task, slot), Err(IpcError::Unsupported));
    cx.revoke_in_answering(2);
    assert_eq!(cx.revoke_in(task, slot), Ok(2));
    assert_eq!(cx.revoked_in, [("echo", slot)]);
    cx.fail(Operation::RevokeIn, IpcError::DeadTask);
    assert_eq!(cx.revoke_in(task, slot), Err(IpcError::DeadTask));
    assert_eq!(cx.revoked_in.len(), 1);
    // Only through a Task capability.
    let endpoint = cx.endpoint("echo");
    assert!(matches!(
        cx.revoke_in(endpoint, slot),
        Err(IpcError::WrongKind { .. })
    ));
}

#[test]
fn stop_task_can_be_made_to_fail_and_then_stops_nothing() {
    let mut cx = FakeContext::new();
    let task = cx.task("pinger");
    cx.fail(Operation::StopTask, IpcError::DeadTask);
    assert_eq!(cx.stop_task(task), Err(IpcError::DeadTask));
    assert!(cx.stopped.is_empty());
    cx.heal();
    assert_eq!(cx.stop_task(task), Ok(()));
    assert_eq!(cx.stopped, ["pinger"]);
}

#[test]
fn restart_task_records_the_task_and_can_be_made_to_fail() {
    let mut cx = FakeContext::new();
    let task = cx.task("echo");
    cx.fail(Operation::RestartTask, IpcError::DeadTask);
    assert_eq!(cx.restart_task(task), Err(IpcError::DeadTask));
    assert!(cx.restarted.is_empty());
    cx.heal();
    assert_eq!(cx.restart_task(task), Ok(()));
    assert_eq!(cx.restarted, ["echo"]);
    assert!(cx.stopped.is_empty(), "a restart is not a stop");
}

#[test]
fn the_task_id_can_be_chosen() {
    assert_eq!(FakeContext::new().task_id(), TaskId(1));
    assert_eq!(
        FakeContext::new().with_task_id(TaskId(9)).task_id(),
        TaskId(9)
    );
}

#[test]
fn a_message_can_carry_capabilities_put_in_the_table() {
    let mut cx = FakeContext::new();
    let region = cx.region_with(b"pages", Rights::READ | Rights::GRANT);
    let message = Message::new(MessageKind::Request, b"x").with_caps(&[region]);
    assert_eq!(message.incoming().caps(), [region]);
    assert!(matches!(cx.object(region), Some(FakeObject::Region { .. })));
    let plain = Message::new(MessageKind::Request, b"x");
    assert_eq!(plain.incoming().caps(), vec![]);
}
