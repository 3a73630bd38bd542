//! Restart in place and supervision (`restart.rs`): a restarted task
//! keeps its id and Endpoint, so a client's old capability reaches the
//! new instance; calls in flight get `PeerDied`; the fresh instance gets
//! its grants again; a supervisor is told of every fault and stop, in a
//! notice no task can forge.

use alloc::boxed::Box;

use mealy_caps::{Badge, Rights, TaskId};
use mealy_protocol::inspect::{ExitCause, Fault};
use mealy_protocol::{
    CallFailure, Context, Grants, HandleError, Incoming, IpcError, MessageKind, StateMachine,
    encode,
};

use super::spawn::{file, spawner};
use super::{Behaviour, Log, Recorder, World, world};
use crate::sched::{CapSpec, KERNEL_NAME, TaskSpec, TaskState, grant};

/// The machine a restart of "server" gets: unlike the first instance
/// (a `Record`er, which holds calls), it answers them.
fn echo_factory() -> Box<dyn StateMachine> {
    Box::new(Recorder {
        log: Log::default(),
        behaviour: Behaviour::Echo,
    })
}

const SERVER: TaskId = TaskId(0);
const CLIENT: TaskId = TaskId(1);
const BOSS: TaskId = TaskId(2);

static SERVER_CAPS: &[CapSpec] = &[grant("timer").timer(), grant("irq").irq(40).badge(4)];
static CLIENT_CAPS: &[CapSpec] = &[
    grant("server").endpoint_to("server").rights(Rights::WRITE),
    grant("boss").endpoint_to("boss").rights(Rights::WRITE),
];
static BOSS_CAPS: &[CapSpec] = &[
    grant("task").control_of("server"),
    grant("weak").control_of("server").rights(Rights::READ),
    grant("self").control_of("boss"),
    grant("kernel").control_of(KERNEL_NAME),
    grant("me")
        .endpoint_to("boss")
        .rights(Rights::WRITE)
        .badge(7),
];

/// A server (held calls, then an echo once restarted), a client with an
/// endpoint to it, and a boss holding its Task capability.
fn office(server: Behaviour) -> World {
    world(&[
        (
            TaskSpec::new("server", echo_factory).caps(SERVER_CAPS),
            server,
        ),
        (
            super::recorder("client").caps(CLIENT_CAPS),
            Behaviour::Record,
        ),
        (super::recorder("boss").caps(BOSS_CAPS), Behaviour::Record),
    ])
}

#[test]
fn a_restarted_task_keeps_its_endpoint_and_its_callers_in_flight_get_peer_died() {
    let mut w = office(Behaviour::Record);
    let endpoint = w.grant(CLIENT, "server");
    let held = w
        .act(CLIENT, |cx| cx.call(endpoint, b"first", &[]))
        .unwrap();
    w.run();
    assert_eq!(w.received(0).len(), 1, "the first instance holds the call");
    let task = w.grant(BOSS, "task");
    assert_eq!(w.act(BOSS, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    assert!(w.received(1).iter().any(|got| got.kind
        == MessageKind::CallFailed {
            token: held,
            reason: CallFailure::PeerDied,
        }));
    let info = w.sched.task_info(SERVER).unwrap();
    assert_eq!((info.state, info.restarts), (TaskState::Idle, 1));
    assert_eq!(info.last_fault, None, "a restart is not a fault");
    assert_eq!(w.sched.task_by_name("server"), Some(SERVER), "same id");
    // Its grants again, under the same names; its interrupt routed to it.
    let names: alloc::vec::Vec<_> = w.sched.grants(SERVER).iter().map(|g| g.name).collect();
    assert_eq!(names, ["timer", "irq"]);
    // The client's old capability reaches the new instance, which answers.
    let again = w
        .act(CLIENT, |cx| cx.call(endpoint, b"again", &[]))
        .unwrap();
    w.run();
    let answer = w.received(1).last().cloned().unwrap();
    assert_eq!(answer.kind, MessageKind::Reply { token: again });
    assert_eq!(answer.payload, b"again");
    // The irq is the new instance's: posting it wakes nobody else and is
    // not unrouted.
    w.sched.pending().post(40);
    w.run();
    assert_eq!(w.sched.stats().unrouted_interrupts, 0);
}

#[test]
fn a_dead_boot_task_is_restarted_and_a_second_restart_counts_two() {
    let mut w = office(Behaviour::Crash);
    let endpoint = w.grant(CLIENT, "server");
    w.act(CLIENT, |cx| cx.send(endpoint, b"crash", &[]))
        .unwrap();
    w.run();
    let info = w.sched.task_info(SERVER).unwrap();
    assert_eq!(info.state, TaskState::Faulted);
    assert_eq!(
        info.last_fault,
        Some(Fault {
            cause: ExitCause::Fatal,
            address: 0
        })
    );
    assert_eq!(
        w.act(CLIENT, |cx| cx.send(endpoint, b"x", &[])),
        Err(IpcError::DeadTask)
    );
    let task = w.grant(BOSS, "task");
    assert_eq!(w.act(BOSS, |cx| cx.restart_task(task)), Ok(()));
    assert_eq!(w.act(CLIENT, |cx| cx.send(endpoint, b"x", &[])), Ok(()));
    assert_eq!(w.act(BOSS, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    let info = w.sched.task_info(SERVER).unwrap();
    assert_eq!((info.state, info.restarts), (TaskState::Idle, 2));
    assert!(info.last_fault.is_some(), "the last fault is remembered");
}

#[test]
fn restart_needs_write_and_refuses_the_kernel_itself_and_forgeries() {
    let mut w = office(Behaviour::Record);
    let weak = w.grant(BOSS, "weak");
    assert_eq!(
        w.act(BOSS, |cx| cx.restart_task(weak)),
        Err(IpcError::MissingRights {
            missing: Rights::WRITE
        })
    );
    let me = w.grant(BOSS, "self");
    assert_eq!(
        w.act(BOSS, |cx| cx.restart_task(me)),
        Err(IpcError::Unsupported)
    );
    // Restarting the kernel is a reboot (`restarting_the_kernel_asks_for_a_reboot`).
    let endpoint = w.grant(CLIENT, "server");
    assert!(matches!(
        w.act(CLIENT, |cx| cx.restart_task(endpoint)),
        Err(IpcError::WrongKind { .. })
    ));
    assert_eq!(
        w.act(CLIENT, |cx| cx
            .restart_task(mealy_caps::CapRef::from_raw(0xdead_0000_0003))),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(w.sched.task_info(SERVER).unwrap().restarts, 0);
}

#[test]
fn a_supervisor_is_told_of_faults_and_stops_and_a_look_alike_is_a_request() {
    let mut w = office(Behaviour::Crash);
    let (task, me) = (w.grant(BOSS, "task"), w.grant(BOSS, "me"));
    let weak = w.grant(BOSS, "weak");
    assert_eq!(
        w.act(BOSS, |cx| cx.supervise(weak, me)),
        Err(IpcError::MissingRights {
            missing: Rights::WRITE
        })
    );
    assert!(matches!(
        w.act(BOSS, |cx| cx.supervise(task, task)),
        Err(IpcError::WrongKind { .. })
    ));
    assert_eq!(w.act(BOSS, |cx| cx.supervise(task, me)), Ok(()));
    let endpoint = w.grant(CLIENT, "server");
    w.act(CLIENT, |cx| cx.send(endpoint, b"crash", &[]))
        .unwrap();
    w.run();
    let notice = MessageKind::TaskExited {
        task: SERVER,
        cause: ExitCause::Fatal,
        address: 0,
    };
    let got = w.received(2);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].kind, got[0].badge), (notice, Badge::new(7)));
    // A client sending the same notice's bytes delivers a Request.
    let boss = w.grant(CLIENT, "boss");
    let mut buffer = [0u8; 64];
    let forged = encode(&notice, &mut buffer).unwrap();
    w.act(CLIENT, |cx| cx.send(boss, forged, &[])).unwrap();
    w.run();
    assert_eq!(w.received(2)[1].kind, MessageKind::Request);
    // Restarted, then stopped: a notice that says so, and no new fault.
    w.act(BOSS, |cx| cx.restart_task(task)).unwrap();
    w.run();
    w.act(BOSS, |cx| cx.stop_task(task)).unwrap();
    w.run();
    assert_eq!(
        w.received(2)[2].kind,
        MessageKind::TaskExited {
            task: SERVER,
            cause: ExitCause::Stopped,
            address: 0,
        }
    );
    let info = w.sched.task_info(SERVER).unwrap();
    assert_eq!(info.state, TaskState::Stopped);
    assert_eq!(
        info.last_fault.map(|fault| fault.cause),
        Some(ExitCause::Fatal)
    );
}

/// A program that stops at start with a page fault, as a ring-3 one
/// reports it (`StateMachine::fault`).
struct Faulty;

impl StateMachine for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn start(&mut self, _: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
        Err(HandleError::Stopped)
    }

    fn fault(&self) -> Option<Fault> {
        Some(Fault {
            cause: ExitCause::Exception { vector: 14 },
            address: 0x1000,
        })
    }

    fn handle(&mut self, _: &mut dyn Context, _: Incoming<'_>) -> Result<(), HandleError> {
        Ok(())
    }
}

/// `FAULT` files load as [`Faulty`]; the rest as `spawn.rs`'s loader.
fn loader(file: &[u8]) -> Result<Box<dyn StateMachine>, IpcError> {
    if file.starts_with(b"FAULT") {
        Ok(Box::new(Faulty))
    } else {
        super::spawn::loader(file)
    }
}

#[test]
fn a_spawned_program_restarts_from_the_kernels_file_with_grants_its_spawner_still_gives() {
    let mut w = spawner();
    let spawner = w.sched.task_by_name("spawner").unwrap();
    let peer_cap = w.grant(spawner, "peer");
    let usage = w.sched.caps().usage();
    let program = file(&mut w, b"PROG");
    let task = w
        .act(spawner, |cx| {
            let task = cx.spawn(program, "hello", &[("peer", peer_cap)])?;
            // The spawner lets the file go: a restart does not need it.
            cx.drop_cap(program)?;
            Ok::<_, IpcError>(task)
        })
        .unwrap();
    let id = w.sched.task_by_name("hello").unwrap();
    assert_eq!(w.act(spawner, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    assert_eq!(w.sched.task_by_name("hello"), Some(id));
    assert_eq!(w.sched.task_info(id).unwrap().restarts, 1);
    assert_eq!(w.sched.grants(id)[0].name, "peer");
    let granted = w.sched.grants(id)[0].cap;
    assert_eq!(w.act(id, |cx| cx.send(granted, b"hi", &[])), Ok(()));
    // What the spawner revokes no later instance gets back.
    w.act(spawner, |cx| cx.revoke(peer_cap)).unwrap();
    assert_eq!(w.act(spawner, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    assert!(w.sched.grants(id).is_empty());
    // Stopped for good, it leaves nothing: not its kept file, nor copies.
    assert_eq!(w.act(spawner, |cx| cx.stop_task(task)), Ok(()));
    w.run();
    assert_eq!(w.sched.caps().usage(), usage);
}

#[test]
fn a_program_whose_file_no_longer_loads_keeps_running_as_it_was() {
    let mut w = spawner();
    let spawner = w.sched.task_by_name("spawner").unwrap();
    let program = file(&mut w, b"PROG");
    let task = w
        .act(spawner, |cx| cx.spawn(program, "hello", &[]))
        .unwrap();
    w.run();
    let id = w.sched.task_by_name("hello").unwrap();
    // The kernel's file shares the spawner's memory: overwritten, it is
    // not a program any more.
    w.act(spawner, |cx| {
        cx.region_mut(program).unwrap()[..4].copy_from_slice(b"JUNK")
    });
    assert_eq!(
        w.act(spawner, |cx| cx.restart_task(task)),
        Err(IpcError::Malformed)
    );
    let info = w.sched.task_info(id).unwrap();
    assert_eq!((info.state, info.restarts), (TaskState::Idle, 0));
}

#[test]
fn a_supervised_program_that_faults_keeps_its_identity_until_let_go() {
    let mut w = spawner();
    w.sched.platform_mut().program_loader = Some(loader);
    let spawner = w.sched.task_by_name("spawner").unwrap();
    let peer = w.sched.task_by_name("peer").unwrap();
    let peer_cap = w.grant(spawner, "peer");
    let program = file(&mut w, b"FAULT");
    let task = w
        .act(spawner, |cx| {
            let task = cx.spawn(program, "faulty", &[])?;
            cx.supervise(task, peer_cap)?;
            Ok::<_, IpcError>(task)
        })
        .unwrap();
    w.run();
    let id = TaskId(2);
    let notice = MessageKind::TaskExited {
        task: id,
        cause: ExitCause::Exception { vector: 14 },
        address: 0x1000,
    };
    assert_eq!(w.received(0).last().map(|got| got.kind), Some(notice));
    let info = w.sched.task_info(id).unwrap();
    assert_eq!(info.state, TaskState::Faulted);
    assert_eq!(info.last_fault.map(|fault| fault.address), Some(0x1000));
    // Its Task capability still works: restarted, it faults again.
    assert_eq!(w.act(spawner, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    assert_eq!(w.sched.task_info(id).unwrap().restarts, 1);
    assert_eq!(w.received(0).len(), 2, "a notice per fault");
    // Its slot is not reused while it is kept.
    let other = file(&mut w, b"PROG");
    w.act(spawner, |cx| cx.spawn(other, "other", &[])).unwrap();
    assert_ne!(w.sched.task_by_name("other"), Some(id));
    // Let go, it is gone.
    assert_eq!(w.act(spawner, |cx| cx.stop_task(task)), Ok(()));
    assert_eq!(
        w.act(spawner, |cx| cx.restart_task(task)),
        Err(IpcError::InvalidCap)
    );
    let _ = peer;
}

#[test]
fn a_boot_program_restarts_from_its_file_with_its_own_budget() {
    let mut w = world(&[
        (
            TaskSpec::new("server", echo_factory)
                .caps(SERVER_CAPS)
                .budget(7_000_000_000),
            Behaviour::Record,
        ),
        (
            super::recorder("client").caps(CLIENT_CAPS),
            Behaviour::Record,
        ),
        (super::recorder("boss").caps(BOSS_CAPS), Behaviour::Record),
    ]);
    w.sched.platform_mut().program_loader = Some(loader);
    w.sched.keep_program_image(SERVER, b"PROG server");
    let task = w.grant(BOSS, "task");
    assert_eq!(w.act(BOSS, |cx| cx.restart_task(task)), Ok(()));
    w.run();
    assert_eq!(w.sched.task_info(SERVER).unwrap().restarts, 1);
    assert_eq!(
        w.sched.platform().program_budgets,
        [7_000_000_000],
        "loaded again from its file, with the task list's budget"
    );
}

#[test]
fn a_task_restarted_then_stopped_in_one_handler_never_starts() {
    let mut w = office(Behaviour::Record);
    let task = w.grant(BOSS, "task");
    let done = w.act(BOSS, |cx| {
        cx.restart_task(task)?;
        cx.stop_task(task)
    });
    assert_eq!(done, Ok(()));
    w.run();
    let info = w.sched.task_info(SERVER).unwrap();
    assert_eq!((info.state, info.restarts), (TaskState::Stopped, 1));
    assert!(
        matches!(w.sched.machines.get(SERVER), Some(None)),
        "no machine was taken in for the dead task"
    );
    // Its grants went with the instance, and nothing answers.
    assert!(w.sched.grants(SERVER).is_empty());
    let endpoint = w.grant(CLIENT, "server");
    assert_eq!(
        w.act(CLIENT, |cx| cx.send(endpoint, b"x", &[])),
        Err(IpcError::DeadTask)
    );
}

static WATCHER_CAPS: &[CapSpec] = &[
    grant("supervisor").endpoint_to("supervisor"),
    grant("task").control_of("supervisor"),
];

#[test]
fn an_unsupervised_task_that_faults_gets_its_own_policy_and_a_stop_does_not() {
    use mealy_protocol::supervision::UnsupervisedPolicy;
    for (policy, reboot, power_off) in [
        (UnsupervisedPolicy::Reboot, true, false),
        (UnsupervisedPolicy::PowerOff, false, true),
    ] {
        let mut w = world(&[
            (
                super::recorder("supervisor").unsupervised(policy),
                Behaviour::Crash,
            ),
            (
                super::recorder("client").caps(WATCHER_CAPS),
                Behaviour::Record,
            ),
        ]);
        let endpoint = w.grant(TaskId(1), "supervisor");
        w.act(TaskId(1), |cx| cx.send(endpoint, b"crash", &[]))
            .unwrap();
        w.run();
        assert_eq!(
            (w.sched.reboot_requested(), w.sched.power_off_requested()),
            (reboot, power_off)
        );
    }
    // A stop by a Task capability's holder is not a fault: nothing happens.
    let mut w = world(&[
        (
            super::recorder("supervisor").unsupervised(UnsupervisedPolicy::Reboot),
            Behaviour::Record,
        ),
        (
            super::recorder("client").caps(WATCHER_CAPS),
            Behaviour::Record,
        ),
    ]);
    let task = w.grant(TaskId(1), "task");
    assert_eq!(w.act(TaskId(1), |cx| cx.stop_task(task)), Ok(()));
    w.run();
    assert!(!w.sched.reboot_requested() && !w.sched.power_off_requested());
}

#[test]
fn restarting_the_kernel_asks_for_a_reboot() {
    let mut w = office(Behaviour::Record);
    let kernel = w.grant(BOSS, "kernel");
    assert!(!w.sched.reboot_requested());
    assert_eq!(w.act(BOSS, |cx| cx.restart_task(kernel)), Ok(()));
    assert!(w.sched.reboot_requested());
    assert!(!w.sched.power_off_requested());
}

#[test]
fn supervising_a_task_that_already_died_sends_the_notice_at_once() {
    let mut w = office(Behaviour::Crash);
    let endpoint = w.grant(CLIENT, "server");
    w.act(CLIENT, |cx| cx.send(endpoint, b"crash", &[]))
        .unwrap();
    w.run();
    assert_eq!(w.sched.task_info(SERVER).unwrap().state, TaskState::Faulted);
    let (task, me) = (w.grant(BOSS, "task"), w.grant(BOSS, "me"));
    assert_eq!(w.act(BOSS, |cx| cx.supervise(task, me)), Ok(()));
    w.run();
    let notice = w.received(2).last().cloned().expect("a notice");
    assert_eq!(
        notice.kind,
        MessageKind::TaskExited {
            task: SERVER,
            cause: ExitCause::Fatal,
            address: 0
        }
    );
    assert_eq!(notice.badge, Badge::new(7));
}

#[test]
fn a_later_stage_may_name_a_boot_task_that_died_at_its_first_start() {
    static LATE: &[CapSpec] = &[
        grant("server").endpoint_to("server"),
        grant("task").control_of("server"),
    ];
    let mut w = office(Behaviour::Crash);
    let endpoint = w.grant(CLIENT, "server");
    w.act(CLIENT, |cx| cx.send(endpoint, b"crash", &[]))
        .unwrap();
    w.run();
    assert_eq!(w.sched.task_by_name("server"), None, "dead");
    let late = w
        .sched
        .spawn_all(&[super::recorder("late").caps(LATE)])
        .expect("a dead boot task is still a peer");
    let task = w
        .sched
        .grants(late[0])
        .iter()
        .find(|grant| grant.name == "task")
        .unwrap()
        .cap;
    assert_eq!(
        w.sched.act_as(late[0], |cx| cx.restart_task(task)),
        Some(Ok(()))
    );
    w.run();
    assert_eq!(w.sched.task_by_name("server"), Some(SERVER));
}

#[test]
fn fault_at_every_start_sends_the_named_ring_3_task_the_fault_after_its_start() {
    use mealy_protocol::supervision::FaultKind;
    let run = |behaviour: Behaviour| {
        let mut sched = super::new_scheduler();
        sched.fault_at_every_start("server", FaultKind::InvalidOpcode);
        let logs = [Log::default(), Log::default()];
        let mut next = 0;
        sched
            .spawn_all_with(
                &[super::recorder("server"), super::recorder("other")],
                |_| {
                    next += 1;
                    Box::new(Recorder {
                        log: logs[next - 1].clone(),
                        behaviour: if next == 1 {
                            behaviour
                        } else {
                            Behaviour::User
                        },
                    })
                },
            )
            .unwrap();
        sched.run_until_idle(100);
        logs.map(|log| {
            log.borrow()
                .iter()
                .filter(|got| {
                    got.kind
                        == MessageKind::InjectFault {
                            kind: FaultKind::InvalidOpcode,
                        }
                })
                .count()
        })
    };
    assert_eq!(run(Behaviour::User), [1, 0], "only the task named");
    assert_eq!(
        run(Behaviour::Record),
        [0, 0],
        "a ring-0 task is never sent it"
    );
}
