//! The echo and pinger services on the host scheduler, built from a task
//! list like the one the bare-metal boot uses; and task-list errors.

use alloc::boxed::Box;

use mealy_caps::{Rights, TaskId};
use mealy_echo::Echo;
use mealy_pinger::Pinger;
use mealy_protocol::interface::decode_answer;
use mealy_protocol::pinger::{Run, Summary};
use mealy_protocol::{MessageKind, StateMachine};

use super::{Behaviour, new_scheduler, recorder, world};
use crate::sched::{SpawnError, TaskSpec, grant};

fn make_echo() -> Box<dyn StateMachine> {
    Box::new(Echo::new())
}

fn make_pinger() -> Box<dyn StateMachine> {
    Box::new(Pinger::new(100, 29))
}

fn make_idle_pinger() -> Box<dyn StateMachine> {
    Box::new(Pinger::new(0, 0))
}

static TASKS: &[TaskSpec] = &[
    TaskSpec::new("pinger", make_pinger).caps(&[grant("echo")
        .endpoint_to("echo")
        .rights(Rights::WRITE)
        .badge(1)]),
    TaskSpec::new("echo", make_echo),
];

#[test]
fn pinger_and_echo_exchange_100_round_trips() {
    let mut sched = new_scheduler();
    let ids = sched.spawn_all(TASKS).unwrap();
    assert_eq!(ids, [TaskId(0), TaskId(1)]);
    let handled = sched.run_until_idle(10_000);
    assert_eq!(handled, 200, "100 requests + 100 replies");
    assert!(
        sched
            .platform()
            .logged("pinger: 100 round trips, 0 mismatches"),
        "{:?}",
        sched.platform().log_lines
    );
    assert_eq!(sched.task_info(TaskId(1)).unwrap().counters.handled, 100);
    // Every message but the first call (made in `start`, outside dispatch)
    // went straight to its receiver, the next task to run.
    assert_eq!(sched.stats().handed_off, 199);
    // Every Reply object was consumed: only the kernel's originals and the
    // pinger's endpoint remain.
    assert_eq!(sched.caps().usage().caps, 3);
}

#[test]
fn a_client_runs_the_pinger_and_gets_a_summary() {
    static LIST: &[TaskSpec] = &[
        TaskSpec::new("pinger", make_idle_pinger)
            .caps(&[grant("echo").endpoint_to("echo").rights(Rights::WRITE)]),
        TaskSpec::new("echo", make_echo),
        super::recorder("shell")
            .caps(&[grant("pinger").endpoint_to("pinger").rights(Rights::WRITE)]),
    ];
    let mut w = world(&[]);
    let log = super::Log::default();
    let recorder_log = log.clone();
    w.sched
        .spawn_all_with(LIST, move |spec| {
            if spec.name == "shell" {
                Box::new(super::Recorder {
                    log: recorder_log.clone(),
                    behaviour: Behaviour::Record,
                })
            } else {
                (spec.factory)()
            }
        })
        .unwrap();
    let pinger = w.sched.grants(TaskId(2))[0].cap;
    let mut buffer = [0u8; 16];
    let run = Run {
        rounds: 10,
        payload_len: 8,
    };
    let pending = w
        .sched
        .act_as(TaskId(2), |cx| {
            mealy_protocol::call(cx, pinger, &mut buffer, &run, &[])
        })
        .unwrap()
        .unwrap();
    w.sched.run_until_idle(1_000);
    let got = log.borrow();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].kind,
        MessageKind::Reply {
            token: pending.token()
        }
    );
    let summary: Summary = decode_answer::<Run>(&got[0].payload).unwrap().unwrap();
    assert_eq!((summary.completed, summary.mismatches), (10, 0));
}

#[test]
fn task_list_errors_name_the_entry() {
    static UNKNOWN: &[TaskSpec] =
        &[recorder("a").caps(&[grant("x").endpoint_to("nobody").rights(Rights::WRITE)])];
    static DUPLICATE: &[TaskSpec] = &[recorder("a"), recorder("a")];
    static IRQ_TWICE: &[TaskSpec] = &[
        recorder("a").caps(&[grant("irq").irq(4)]),
        recorder("b").caps(&[grant("irq").irq(4)]),
    ];
    static ESCALATION: &[TaskSpec] =
        &[recorder("a").caps(&[grant("x").endpoint_to("a").rights(Rights::EXEC)])];
    let mut sched = new_scheduler();
    assert_eq!(
        sched.spawn_all(UNKNOWN),
        Err(SpawnError::UnknownPeer {
            task: "a",
            peer: "nobody"
        })
    );
    assert_eq!(
        sched.spawn_all(DUPLICATE),
        Err(SpawnError::DuplicateName("a"))
    );
    assert_eq!(
        sched.spawn_all(IRQ_TWICE),
        Err(SpawnError::IrqTaken { task: "b", line: 4 })
    );
    assert!(matches!(
        sched.spawn_all(ESCALATION),
        Err(SpawnError::Capability {
            task: "a",
            cap: "x",
            ..
        })
    ));
    // Failed lists leave nothing running.
    assert!(sched.tasks().all(|task| !task.state.is_alive()));
}
