//! Tests of `run` and of the programs it starts, over the real
//! `ContextSystem` on the rig (`fake_system.rs`; its fake kernel gives
//! programs ids from 5 and shows them in `ps`): what is spawned with
//! which grants, every way it fails, and `kill` and `ps` for programs.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::Rights;
use mealy_protocol::IpcError;
use mealy_protocol::testing::Operation;

use crate::Shell;
use crate::fake_system::Rig;
use crate::tests::{assert_lines, respond};

/// A rig with the program files `/bin/hello` and `/bin/pinger`.
fn rig() -> Rig {
    let mut rig = Rig::new();
    rig.add_program("bin/hello");
    rig.add_program("bin/pinger");
    rig
}

fn spawned(rig: &Rig) -> Vec<(String, Vec<String>)> {
    rig.cx.spawned.clone()
}

fn program(name: &str, grants: &[&str]) -> (String, Vec<String>) {
    let grants = grants.iter().map(ToString::to_string).collect();
    (name.to_string(), grants)
}

#[test]
fn run_starts_the_file_as_a_task_named_after_it_with_the_endpoints_named() {
    let mut rig = rig();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "run /bin/pinger echo"),
        &["started pinger as task 5 (ring 3)"],
    );
    // A task named by id is granted under its name.
    assert_lines(
        &respond(&mut shell, &mut rig, "run bin/hello 1 fs"),
        &["started hello as task 6 (ring 3)"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "run /bin/hello"),
        &["started hello as task 7 (ring 3)"],
    );
    assert_eq!(
        spawned(&rig),
        [
            program("pinger", &["echo"]),
            program("hello", &["echo", "fs"]),
            program("hello", &[]),
        ]
    );
    // The kernel copied the image: the file's Regions are dropped, and
    // the shell keeps one Task capability per program.
    assert_eq!(rig.regions_held(), 0);
    let controls: Vec<_> = rig.programs.iter().map(|p| p.control).collect();
    assert_eq!(controls.len(), 3);
    for control in controls {
        assert_eq!(rig.cx.rights(control), Some(Rights::READ | Rights::WRITE));
    }
}

#[test]
fn ps_shows_a_program_in_ring_3() {
    let mut rig = rig();
    let mut shell = Shell::new();
    respond(&mut shell, &mut rig, "run /bin/hello");
    let lines = respond(&mut shell, &mut rig, "ps");
    assert_eq!(
        lines.first().map(String::as_str),
        Some(
            "ID   NAME            STATE   MBOX  HIGH  HANDLED     TIME_NS       RING  RESTARTS  LAST_FAULT"
        )
    );
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some(
            "1    echo            idle    0     3     1024        51200         0     0         -"
        )
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "5    hello           idle    0     0     1           700           3     0         -"
        )
    );
}

#[test]
fn kill_stops_a_program_through_the_capability_run_kept_and_drops_it() {
    let mut rig = rig();
    let mut shell = Shell::new();
    respond(&mut shell, &mut rig, "run /bin/hello");
    respond(&mut shell, &mut rig, "run /bin/hello");
    let held = rig.cx.held();
    // By id: the second `hello`.
    assert_lines(&respond(&mut shell, &mut rig, "kill 6"), &["killed 6"]);
    assert_eq!(rig.cx.stopped, ["hello"]);
    assert_eq!(rig.cx.held(), held - 1, "its Task capability is dropped");
    let left: Vec<_> = rig.programs.iter().map(|p| p.id).collect();
    assert_eq!(left, [Some(mealy_caps::TaskId(5))]);
    // By name: the one still running.
    assert_lines(
        &respond(&mut shell, &mut rig, "kill hello"),
        &["killed hello"],
    );
    assert_eq!(rig.cx.stopped, ["hello", "hello"]);
    assert_eq!(rig.programs.iter().count(), 0);
    assert_eq!(rig.cx.held(), held - 2);
    assert_lines(
        &respond(&mut shell, &mut rig, "kill hello"),
        &["error: kill: it is not running"],
    );
}

#[test]
fn restart_reaches_a_program_through_the_capability_run_kept_until_it_is_killed() {
    let mut rig = rig();
    let mut shell = Shell::new();
    respond(&mut shell, &mut rig, "run /bin/hello");
    assert_lines(
        &respond(&mut shell, &mut rig, "restart hello"),
        &["restarted hello"],
    );
    assert_eq!(rig.cx.restarted, ["hello"]);
    respond(&mut shell, &mut rig, "kill hello");
    assert_lines(
        &respond(&mut shell, &mut rig, "restart hello"),
        &["error: restart: it is gone for good"],
    );
    assert_eq!(rig.cx.restarted, ["hello"]);
}

#[test]
fn a_missing_file_is_one_error_and_nothing_is_spawned() {
    let mut rig = rig();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "run /bin/nope echo"),
        &["error: run: no such file or directory"],
    );
    assert_eq!(spawned(&rig), vec![]);
    assert_eq!(rig.programs.iter().count(), 0);
}

#[test]
fn a_refused_spawn_is_one_clear_error_and_leaves_nothing_held() {
    let cases = [
        (
            IpcError::Malformed,
            "run /bin/hello",
            "error: run: hello is not a program (not a static-PIE ELF the kernel can run)",
        ),
        (
            IpcError::MissingRights {
                missing: Rights::GRANT,
            },
            "run /bin/hello echo",
            "error: run: the shell may not pass on its endpoint to echo (it lacks DERIVE or GRANT)",
        ),
        (
            IpcError::MissingRights {
                missing: Rights::GRANT,
            },
            "run /bin/hello echo fs",
            "error: run: the shell lacks DERIVE or GRANT on one of its endpoints to echo, fs",
        ),
        (
            IpcError::Unsupported,
            "run /bin/hello",
            "error: run: this kernel cannot start programs",
        ),
        (
            IpcError::OutOfResources,
            "run /bin/hello",
            "error: run: the kernel refused: kernel resources exhausted",
        ),
    ];
    for (error, line, expected) in cases {
        let mut rig = rig();
        rig.cx.fail(Operation::Spawn, error);
        let held = rig.cx.held();
        assert_lines(&respond(&mut Shell::new(), &mut rig, line), &[expected]);
        assert_eq!(spawned(&rig), vec![], "{line}");
        assert_eq!(rig.cx.held(), held, "{line}: the file's Region is dropped");
        assert_eq!(rig.programs.iter().count(), 0, "{line}");
    }
}

#[test]
fn a_grant_the_shell_cannot_give_is_refused_before_the_file_is_opened() {
    for (line, expected) in [
        (
            "run /bin/hello bogus",
            "error: run: cannot grant bogus: there is no task `bogus`",
        ),
        (
            "run /bin/hello 9",
            "error: run: cannot grant 9: there is no task 9",
        ),
        (
            "run /bin/hello kernel",
            "error: run: cannot grant kernel: the shell holds no endpoint to kernel",
        ),
        ("run /bin/hello echo 1", "error: run: echo is granted twice"),
    ] {
        let mut rig = rig();
        assert_lines(&respond(&mut Shell::new(), &mut rig, line), &[expected]);
        assert_eq!(rig.fs_ops(), vec![], "{line}: no call to the fs");
        assert_eq!(spawned(&rig), vec![], "{line}");
    }
}
