//! Restart in place (issue 16), the way a person does it: `kill pinger`
//! leaves pinger dead (its restart policy is `never`), `restart pinger`
//! brings a fresh instance back behind the same endpoint (pinger is a
//! ring-3 program loaded from /bin at boot, so the restart loads its ELF
//! again, and it measures again); a pinger run afterwards makes its calls
//! through the shell's endpoint to echo; `ps` counts the restart, and
//! shows a program's fault. A terminal task (`keyboard`, a boot program
//! since the terminal moved to ring 3) restarts the same way.

use mealy_tests::boot;

/// `output` with every kernel log line (`[kernel] ...` up to its newline,
/// wherever it starts) taken out.
fn without_kernel_lines(output: &str) -> String {
    let mut rest = output;
    let mut kept = String::with_capacity(output.len());
    while let Some(at) = rest.find("[kernel] ") {
        kept.push_str(&rest[..at]);
        rest = rest[at..].split_once('\n').map_or("", |(_, after)| after);
    }
    kept.push_str(rest);
    kept
}

#[test]
fn kill_pinger_then_restart_pinger_and_calls_work_again() {
    // pinger's policy is `never`, so the supervisor leaves it down after
    // a kill (echo's is `always`: tests/tests/supervise.rs).
    let input = [
        "kill pinger",
        "send pinger hi",
        "restart pinger",
        "send pinger hi",
        "restart keyboard",
        "run /bin/pinger echo",
        "run /bin/read-kernel",
        "ps",
        "shutdown",
    ]
    .join("\n")
        + "\n";
    let run = boot(&[], input.as_bytes());
    assert_eq!(run.code, Some(0), "the session ends with shutdown\n{run}");
    run.assert_stdout_has("echo: ring 3, /bin/echo at 0x");
    // The kernel writes its own log lines to COM1 at once, while the
    // shell's output goes through the console and the serial task (all
    // three in ring 3), so a kernel line (the second send's malformed
    // payload, a handler over its budget under load) may land anywhere in
    // the session: the exact sequences are checked on the output without
    // them.
    run.assert_stdout_has("[kernel] pinger: malformed message: payload is not a valid encoding\n");
    let session = without_kernel_lines(&run.stdout);
    let has = |text: &str| assert!(session.contains(text), "expected {text:?}\n{run}");
    has("kill pinger\nkilled pinger\n");
    // Dead: the shell's endpoint reaches no one.
    has("send pinger hi\nerror: send: pinger: receiver is not running\n");
    has("restart pinger\nrestarted pinger\n");
    // Alive again behind the same endpoint: it answers (a text line is not
    // a request pinger understands, so the answer is a rejection, which the
    // kernel logs).
    has("send pinger hi\nerror: send: pinger: the callee rejected a malformed request\n");
    assert_eq!(
        run.stdout.matches("receiver is not running").count(),
        1,
        "only the send before the restart fails\n{run}"
    );
    // A program given a copy of the shell's endpoint makes all its calls.
    let pinged = run
        .stdout
        .matches("[pinger] 100 round trips, 0 mismatches")
        .count();
    assert_eq!(
        pinged, 3,
        "the boot pinger, its restart and the one run later\n{run}"
    );
    let table = run.shell_output("ps");
    assert!(
        table.starts_with(
            "ID   NAME            STATE   MBOX  HIGH  HANDLED     TIME_NS       RING  RESTARTS  LAST_FAULT\n"
        ),
        "{table}"
    );
    let row = |name: &str| mealy_tests::ps_row(&table, name);
    // ID NAME STATE MBOX HIGH HANDLED TIME_NS RING RESTARTS LAST_FAULT
    let echo = row("echo");
    assert!(
        !["faulted", "stopped"].contains(&echo[2].as_str()),
        "{echo:?}"
    );
    assert_eq!(echo[7..], ["3", "0", "-"], "ring 3, no restart, no fault");
    // A terminal task is a boot program too (issue 16): its restart loads
    // /bin/keyboard again, in ring 3.
    has("restart keyboard\nrestarted keyboard\n");
    let keyboard = row("keyboard");
    assert_eq!(
        keyboard[7..],
        ["3", "1", "-"],
        "ring 3, one restart, no fault"
    );
    let pinger = row("pinger");
    assert_eq!(
        pinger[7..],
        ["3", "1", "-"],
        "ring 3, one restart: {pinger:?}"
    );
    let faulted = row("read-kernel");
    assert_eq!(faulted[2], "faulted", "{faulted:?}");
    assert_eq!(faulted[9], "#PF@0xffffffff80000000", "{faulted:?}");
}
