use alloc::vec;

use mealy_protocol::inspect::ExitCause;
use mealy_protocol::supervision::{DEFAULT_POLICY, PolicyEntry, UnsupervisedPolicy};
use mealy_protocol::testing::{FakeContext, Message, Operation};
use mealy_protocol::{Grant, IpcError, TaskId};

use super::*;

const SECOND: u64 = 1_000_000_000;

fn table(entries: &[(&'static str, RestartPolicy)]) -> Vec<u8> {
    let table = PolicyTable {
        entries: entries
            .iter()
            .map(|&(task, policy)| PolicyEntry { task, policy })
            .collect(),
    };
    postcard::to_allocvec(&table).unwrap()
}

/// A supervisor started with `bytes` as its table and Task capabilities
/// for echo, fs and the kernel.
fn started(bytes: &[u8]) -> (FakeContext, Supervisor) {
    let mut cx = FakeContext::new();
    let policy = cx.region_with(bytes, Rights::READ);
    let own = cx.endpoint_with(SUPERVISOR_NAME, Rights::WRITE | Rights::DERIVE);
    let echo = cx.task("echo");
    let fs = cx.task("fs");
    let kernel = cx.task("kernel");
    let grants = [
        Grant {
            name: POLICY_GRANT,
            cap: policy,
        },
        Grant {
            name: SELF_GRANT,
            cap: own,
        },
        Grant {
            name: "task:echo",
            cap: echo,
        },
        Grant {
            name: "task:fs",
            cap: fs,
        },
        Grant {
            name: "task:kernel",
            cap: kernel,
        },
    ];
    let mut supervisor = Supervisor::new();
    cx.start(&mut supervisor, &grants).unwrap();
    (cx, supervisor)
}

fn exited(index: u64, cause: ExitCause, address: u64) -> Message {
    Message::new(
        MessageKind::TaskExited {
            task: TaskId(9),
            cause,
            address,
        },
        &[],
    )
    .with_badge(index + 1)
}

const PF: ExitCause = ExitCause::Exception { vector: 14 };

#[test]
fn at_start_it_supervises_each_task_of_its_table_with_its_own_badge() {
    let (cx, supervisor) = started(&table(&[
        ("echo", DEFAULT_POLICY),
        ("fs", RestartPolicy::Never),
    ]));
    assert_eq!(supervisor.supervised().collect::<Vec<_>>(), ["echo", "fs"]);
    assert_eq!(
        cx.supervised,
        [
            ("echo", mealy_protocol::Badge::new(1)),
            ("fs", mealy_protocol::Badge::new(2))
        ]
    );
    assert!(cx.logs.is_empty(), "{:?}", cx.logs);
}

#[test]
fn a_task_without_a_task_capability_is_one_line_and_the_rest_are_supervised() {
    let (cx, supervisor) = started(&table(&[("shell", DEFAULT_POLICY), ("fs", DEFAULT_POLICY)]));
    assert_eq!(supervisor.supervised().collect::<Vec<_>>(), ["fs"]);
    assert_eq!(cx.logs, ["shell: no Task capability; not supervised"]);
}

#[test]
fn a_malformed_table_is_one_error_line_and_nothing_is_supervised() {
    for (bytes, why) in [
        (vec![0xff, 0xff, 0xff], "it does not decode"),
        (
            table(&[("echo", DEFAULT_POLICY), ("echo", RestartPolicy::Never)]),
            "echo is named twice",
        ),
        (
            table(&[(
                "echo",
                RestartPolicy::Always {
                    max_restarts: 0,
                    window_ns: SECOND,
                },
            )]),
            "echo: `always` needs a window and 1 to 1024 restarts",
        ),
    ] {
        let (cx, supervisor) = started(&bytes);
        assert_eq!(supervisor.supervised().count(), 0);
        assert_eq!(
            cx.logs,
            [alloc::format!(
                "bad policy table: {why}; supervising nothing"
            )]
        );
        assert!(cx.supervised.is_empty());
    }
    let many: Vec<(&'static str, RestartPolicy)> = (0..MAX_SUPERVISED + 1)
        .map(|i| {
            (
                &*alloc::string::ToString::to_string(&i).leak(),
                RestartPolicy::Never,
            )
        })
        .collect();
    assert_eq!(
        parse_table(&table(&many)),
        Err(TableError::TooMany(MAX_SUPERVISED + 1))
    );
}

#[test]
fn always_restarts_up_to_n_in_the_window_then_gives_up_with_one_report() {
    let policy = RestartPolicy::Always {
        max_restarts: 3,
        window_ns: 10 * SECOND,
    };
    let (mut cx, mut supervisor) = started(&table(&[("fs", policy)]));
    for n in 1..=3 {
        cx.now_ns = n * SECOND;
        supervisor
            .handle(&mut cx, exited(0, PF, 0x1000).incoming())
            .unwrap();
    }
    assert_eq!(cx.restarted, ["fs", "fs", "fs"]);
    assert_eq!(
        cx.logs.last().unwrap(),
        "fs: restarted after #PF@0x1000 (3 in 10 s)"
    );
    cx.now_ns = 4 * SECOND;
    supervisor
        .handle(&mut cx, exited(0, PF, 0xdead).incoming())
        .unwrap();
    assert_eq!(cx.restarted.len(), 3, "given up: not restarted");
    assert_eq!(
        cx.logs.last().unwrap(),
        "fs: gave up after 3 restarts in 10 s (last: #PF@0xdead)"
    );
    assert_eq!((supervisor.restarts, supervisor.given_up), (3, 1));
}

#[test]
fn restarts_older_than_the_window_no_longer_count() {
    let policy = RestartPolicy::Always {
        max_restarts: 2,
        window_ns: 10 * SECOND,
    };
    let (mut cx, mut supervisor) = started(&table(&[("echo", policy)]));
    for at in [0, 5, 11, 16, 22] {
        cx.now_ns = at * SECOND;
        supervisor
            .handle(&mut cx, exited(0, ExitCause::Stopped, 0).incoming())
            .unwrap();
    }
    assert_eq!(cx.restarted.len(), 5, "{:?}", cx.logs);
}

#[test]
fn after_giving_up_a_later_notice_starts_the_count_afresh() {
    let policy = RestartPolicy::Always {
        max_restarts: 1,
        window_ns: 10 * SECOND,
    };
    let (mut cx, mut supervisor) = started(&table(&[("echo", policy)]));
    for _ in 0..3 {
        supervisor
            .handle(&mut cx, exited(0, PF, 0).incoming())
            .unwrap();
    }
    assert_eq!(cx.restarted, ["echo", "echo"]);
}

#[test]
fn never_leaves_the_task_down_and_says_so() {
    let (mut cx, mut supervisor) = started(&table(&[("echo", RestartPolicy::Never)]));
    supervisor
        .handle(&mut cx, exited(0, ExitCause::Stopped, 0).incoming())
        .unwrap();
    assert!(cx.restarted.is_empty());
    assert_eq!(
        cx.logs,
        ["echo: ended (stopped); policy never: it stays down"]
    );
}

#[test]
fn reboot_restarts_the_kernel() {
    let (mut cx, mut supervisor) = started(&table(&[("fs", RestartPolicy::Reboot)]));
    supervisor
        .handle(&mut cx, exited(0, ExitCause::OverBudget, 0).incoming())
        .unwrap();
    assert_eq!(cx.restarted, ["kernel"]);
    let _ = UnsupervisedPolicy::Reboot;
}

#[test]
fn a_failed_restart_is_one_line_and_the_supervisor_goes_on() {
    let (mut cx, mut supervisor) = started(&table(&[("echo", DEFAULT_POLICY)]));
    cx.fail(Operation::RestartTask, IpcError::OutOfResources);
    supervisor
        .handle(&mut cx, exited(0, PF, 0).incoming())
        .unwrap();
    assert_eq!(cx.logs.len(), 1);
    assert!(cx.logs[0].starts_with("echo: restart failed:"));
}

#[test]
fn notices_with_an_unknown_badge_and_plain_requests_are_ignored() {
    let (mut cx, mut supervisor) = started(&table(&[("echo", DEFAULT_POLICY)]));
    supervisor
        .handle(&mut cx, exited(7, PF, 0).incoming())
        .unwrap();
    let unbadged = Message::new(
        MessageKind::TaskExited {
            task: TaskId(2),
            cause: PF,
            address: 0,
        },
        &[],
    );
    supervisor.handle(&mut cx, unbadged.incoming()).unwrap();
    // A look-alike payload arrives as a Request: refused, nothing done.
    let forged = Message::new(MessageKind::Request, &[1, 2, 3]).with_badge(1);
    assert!(matches!(
        supervisor.handle(&mut cx, forged.incoming()),
        Err(HandleError::Malformed(_))
    ));
    assert!(cx.restarted.is_empty());
    assert!(cx.logs.is_empty());
}
