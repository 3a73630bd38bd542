//! Programs from `/bin` in ring 3, started the way a person does it: the
//! shell's `run`, piped in. Every hostile program (`user/programs/hostile`)
//! must get the right errors, or be stopped alone with one line naming
//! the fault, the address and the symbol, while the shell, the boot
//! services (echo, pinger and the terminal in ring 3 among them) keep
//! working. And a
//! thousand spawns and stops in a row (`test=churn`) end where they began.

use mealy_tests::{Run, boot};

fn session(lines: &[&str]) -> Run {
    let mut input = lines.join("\n");
    input.push_str("\nshutdown\n");
    let run = boot(&[], input.as_bytes());
    assert_eq!(run.code, Some(0), "the session ends with shutdown\n{run}");
    run
}

/// The `[name] stopped: ...` line of program `name` (a prompt may
/// stand before it: the line comes while the shell waits for input).
fn stop_line(run: &Run, name: &str) -> String {
    let marker = format!("[{name}] stopped: ");
    run.stdout
        .lines()
        .find_map(|line| line.find(&marker).map(|at| line[at..].to_string()))
        .unwrap_or_else(|| panic!("no line with {marker:?}\n{run}"))
}

#[test]
fn hello_runs_in_ring_3_and_a_fault_stops_only_the_program_at_fault() {
    let run = session(&[
        "run /bin/hello",
        "run /bin/read-kernel",
        "run /bin/write-kernel-heap",
        "run /bin/jump-kernel",
        "run /bin/exec-data",
        "run /bin/use-after-drop",
        "run /bin/recurse",
        "run /bin/divide",
        "run /bin/ud",
        "run /bin/privileged",
        "run /bin/panic",
        "run hello.txt",
        "ps",
        "kill hello",
        "run /bin/pinger echo",
        "ps",
    ]);
    // Echo and pinger came from /bin at boot, in ring 3.
    run.assert_stdout_has("echo: ring 3, /bin/echo at 0x");
    run.assert_stdout_has("pinger: ring 3, /bin/pinger at 0x");
    run.assert_stdout_has("[hello] hello from ring 3");
    run.assert_stdout_has("started hello as task ");
    let cases = [
        (
            "read-kernel",
            "page fault (#PF) reading 0xffffffff80000000 at 0x",
        ),
        (
            "write-kernel-heap",
            "page fault (#PF) writing 0x100000000000 at 0x",
        ),
        (
            "jump-kernel",
            "page fault (#PF) executing 0xffffffff80001000 at 0xffffffff80001000",
        ),
        ("exec-data", "page fault (#PF) executing 0x"),
        ("use-after-drop", "page fault (#PF) writing 0x"),
        ("recurse", "(stack overflow into the guard page) at 0x"),
        ("divide", "divide error (#DE, error code 0x0) at 0x"),
        ("ud", "invalid opcode (#UD, error code 0x0) at 0x"),
        (
            "privileged",
            "general protection fault (#GP, error code 0x0) at 0x",
        ),
    ];
    for (name, fault) in cases {
        let line = stop_line(&run, name);
        assert!(line.contains(fault), "{name}: {line}\n{run}");
        assert!(
            !run.stdout.contains(&format!("{name}: FAILED")),
            "{name} went on past its fault\n{run}"
        );
    }
    // The symbol is named where the program has one.
    assert!(stop_line(&run, "divide").contains("(divide::start+0x"));
    assert!(stop_line(&run, "recurse").contains("(recurse::deeper+0x"));
    run.assert_stdout_has("[panic] panicked at user/programs/hostile/src/bin/panic.rs:");
    run.assert_stdout_has("error: run: hello.txt is not a program");
    // ps: a stopped program's slot goes to the next one run, so of the
    // faulted programs only the last is still listed: faulted, in ring 3.
    // Everything else runs.
    let table = run.shell_output("ps");
    let row = mealy_tests::ps_row(&table, "panic");
    assert_eq!(row[2], "faulted", "{row:?}");
    assert_eq!(row[7], "3", "ring 3: {row:?}");
    // Its panic is its last fault (RESTARTS, LAST_FAULT: issue 16).
    assert_eq!(row[8..], ["0", "fatal"], "{row:?}");
    for name in [
        "read-kernel",
        "exec-data",
        "recurse",
        "divide",
        "ud",
        "privileged",
    ] {
        assert!(
            mealy_tests::find_ps_row(&table, name).is_none(),
            "{name}'s slot was reused\n{table}"
        );
    }
    for name in ["echo", "pinger", "fs", "console", "shell", "hello"] {
        let row = mealy_tests::ps_row(&table, name);
        assert!(
            !["faulted", "stopped"].contains(&row[2].as_str()),
            "{row:?}"
        );
    }
    // The terminal came from /bin at boot too, and ps shows it in ring 3
    // (issue 16).
    for name in ["serial", "keyboard", "fbcon", "console", "shell"] {
        run.assert_stdout_has(&format!("{name}: ring 3, /bin/{name} at 0x"));
        let row = mealy_tests::ps_row(&table, name);
        assert_eq!(row[7], "3", "{name} in ring 3: {row:?}");
    }
    run.assert_stdout_has("killed hello");
    // A pinger run afterwards makes its 100 calls to the ring-3 echo.
    let pinged = run
        .stdout
        .matches("[pinger] 100 round trips, 0 mismatches")
        .count();
    assert_eq!(pinged, 2, "the boot pinger and the one run later\n{run}");
}

#[test]
fn hostile_requests_get_the_right_errors_and_runaways_are_stopped() {
    let run = session(&[
        "run /bin/forge-caps",
        "run /bin/bad-pointers echo",
        "run /bin/escalate",
        "run /bin/spin",
        "run /bin/oom",
        "run /bin/pinger echo",
    ]);
    for name in ["forge-caps", "bad-pointers", "escalate"] {
        run.assert_stdout_has(&format!("[{name}] {name}: ok"));
        assert!(
            !run.stdout.contains(&format!("{name}: FAILED")),
            "{name} got a wrong answer\n{run}"
        );
    }
    assert!(stop_line(&run, "spin").contains("over its "), "{run}");
    // oom is refused more memory (its quota) and panics, or runs out of
    // its budget first: either way it is stopped alone.
    assert!(
        run.stdout.contains("[oom] panicked at") || stop_line(&run, "oom").contains("over its "),
        "{run}"
    );
    assert!(!run.stdout.contains("oom: FAILED"), "{run}");
    let pinged = run
        .stdout
        .matches("[pinger] 100 round trips, 0 mismatches")
        .count();
    assert_eq!(pinged, 2, "echo still answers\n{run}");
}

#[test]
fn a_thousand_spawns_and_stops_leave_memory_as_it_was() {
    let run = boot(&["--cmdline", "test=churn"], b"");
    let line = run.line_starting("churn: 1000 spawns and stops of /bin/hello in ");
    assert_eq!(
        run.code,
        Some(0),
        "memory ended where it began: {line}\n{run}"
    );
}
