//! The debug shell on the serial console, driven the way a script would:
//! `printf '...' | cargo xtask qemu --headless`.

use mealy_tests::{Run, boot};

/// The guest's output with every `[object N#G]` of `graph` as
/// `[object _]`: objects are numbered in the order they are made, and the
/// fs makes its file copies while it mounts the data disk, as the device
/// answers, so how many exist before the terminal's depends on timing.
fn without_object_ids(run: &Run) -> String {
    let text = mealy_tests::without_budget_reports(&run.stdout);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("[object ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "[object ".len()..];
        let id_len = after
            .find(|c: char| !(c.is_ascii_digit() || c == '#'))
            .unwrap_or(after.len());
        if id_len > 0 && after[id_len..].starts_with(']') {
            out.push_str("[object _]");
            rest = &after[id_len + 1..];
        } else {
            out.push_str("[object ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[track_caller]
fn assert_graph_has(run: &Run, expected: &str) {
    assert!(
        without_object_ids(run).contains(expected),
        "expected {expected:?} on the guest's output\n{run}"
    );
}

#[test]
fn a_piped_session_runs_every_line_and_shutdown_exits_zero() {
    let run = boot(&[], b"ps\ncaps pinger\nbogus\nuptime\nshutdown\n");
    assert_eq!(run.code, Some(0), "shutdown powers off cleanly\n{run}");
    run.assert_stdout_has("Mealy debug shell; type 'help' for commands\n");
    run.assert_stdout_has(
        "mealy> ps\nID   NAME            STATE   MBOX  HIGH  HANDLED     TIME_NS       RING  RESTARTS  LAST_FAULT\n0    echo ",
    );
    let pinger = run.line_starting("1    pinger ");
    assert!(
        pinger.contains(" 100 "),
        "pinger handled 100 replies: {pinger}"
    );
    run.assert_stdout_has(
        "mealy> caps pinger\nTASK  SLOT      RIGHTS  BADGE               OBJECT\n",
    );
    run.assert_stdout_has("\n1     0#0       -w----  0x1                 Endpoint -> task 0\n");
    run.assert_stdout_has(
        "mealy> bogus\nerror: unknown command 'bogus'; type 'help' for the list\n",
    );
    run.assert_stdout_has("mealy> uptime\nup 00:00:");
    run.assert_stdout_has("mealy> shutdown\nshutting down\n");
}

#[test]
fn line_editing_history_text_commands_and_bad_bytes_over_serial() {
    let mut input = Vec::new();
    // A typo rubbed out with backspace, then arrow-up runs it again.
    input.extend_from_slice(b"pz\x7fs\n\x1b[A\n");
    input.extend_from_slice(b"send console stats\n");
    input.extend_from_slice(&[b'x'; 300]);
    input.extend_from_slice(b"\n\xff\xfeps\nuptime\nshutdown\n");
    let run = boot(&[], &input);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        run.stdout.matches("ID   NAME").count(),
        2,
        "ps ran twice, the second time from history\n{run}"
    );
    run.assert_stdout_has("mealy> pz\x08 \x08s\nID   NAME");
    run.assert_stdout_has("\nmealy> ps\nID   NAME");
    // Serial and fbcon.
    run.assert_stdout_has("mealy> send console stats\nundelivered 0, refused 0, displays 2\n");
    run.assert_stdout_has("error: line longer than 256 bytes, nothing was run");
    run.assert_stdout_has("error: line is not valid UTF-8, nothing was run");
    // The shell is still there after every bad line.
    run.assert_stdout_has("mealy> uptime\nup 00:00:");
}

#[test]
fn kill_stops_a_task_and_bad_targets_are_one_error_line() {
    let run = boot(
        &[],
        // pinger's restart policy is `never`: a kill leaves it down.
        b"revoke echo 5\nkill nobody\nkill pinger\nps\nkill pinger\nsend pinger hi\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has(
        "mealy> revoke echo 5\nerror: revoke: task `echo` holds nothing in that slot\n",
    );
    // The supervisor's line about pinger may land in the middle of the
    // echoed input: the commands are matched without their prompt.
    run.assert_stdout_has("kill nobody\nerror: kill: there is no task `nobody`\n");
    run.assert_stdout_has("kill pinger\nkilled pinger\n");
    let pinger = run.line_starting("1    pinger ");
    assert!(pinger.contains(" stopped "), "{pinger}");
    run.assert_stdout_has("kill pinger\nerror: kill: ");
    // A peer's next call through its endpoint fails.
    run.assert_stdout_has("send pinger hi\nerror: send: pinger: receiver is not running\n");
}

/// Runs `cargo xtask graph ARGS` into a scratch directory: its DOT text,
/// after checking the pictures (or the note saying how to get them).
fn xtask_graph(args: &[&str]) -> String {
    let out = tempfile::tempdir_in(mealy_tests::workspace_root().join("target"))
        .expect("a scratch directory");
    let mut all = vec!["graph", "--out", out.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let run = mealy_tests::xtask(&all, b"");
    assert_eq!(run.code, Some(0), "{run}");
    let dot = std::fs::read_to_string(out.path().join("capgraph.dot")).expect("capgraph.dot");
    assert!(dot.trim_start().starts_with("digraph"), "{dot}");
    // Graphviz is installed when it can be (root on Debian); otherwise
    // the run says how.
    if run.stdout.contains("no SVG or PNG") {
        run.assert_stdout_has("apt-get install -y graphviz");
    } else {
        let png = std::fs::read(out.path().join("capgraph.png")).expect("capgraph.png");
        assert!(png.starts_with(b"\x89PNG"), "{run}");
        let svg = std::fs::read_to_string(out.path().join("capgraph.svg")).expect("capgraph.svg");
        assert!(svg.contains("<svg"), "{run}");
    }
    dot
}

#[test]
fn xtask_graph_saves_the_capability_graph_as_dot() {
    let dot = xtask_graph(&[]);
    for name in ["echo", "pinger", "kernel"] {
        assert!(dot.contains(name), "the graph names {name}:\n{dot}");
    }
    // One node per task and object: pinger holds echo's endpoint, which
    // reaches echo; no capability nodes.
    assert!(dot.contains("label=\"Endpoint\\nto echo\"];"), "{dot}");
    assert!(dot.contains(" [label=\"-w---- badge=0x1\"];"), "{dot}");
    assert!(dot.contains("[style=dashed, arrowhead=open];"), "{dot}");
    assert!(!dot.contains("subgraph cluster_t"), "{dot}");
}

#[test]
fn xtask_graph_slots_saves_the_per_capability_picture() {
    let dot = xtask_graph(&["--slots"]);
    assert!(dot.contains("label=\"pinger (task 1)\";"), "{dot}");
    assert!(
        dot.contains("[shape=ellipse, label=\"0#0 -w----\\nbadge=0x1\"];"),
        "{dot}"
    );
}

#[test]
fn help_graph_mem_stats_and_bench_answer_in_their_formats() {
    let run = boot(&[], b"help\ngraph\nmem\nstats\nbench\nshutdown\n");
    assert_eq!(run.code, Some(0), "{run}");
    for command in [
        "ps ",
        "caps [task]",
        "graph [--dot [--slots]]",
        "revoke <task> <slot>",
        "shutdown",
    ] {
        assert!(
            run.stdout.lines().any(|line| line.starts_with(command)),
            "help lists {command}\n{run}"
        );
    }
    run.assert_stdout_has("mealy> graph\ntasks\n");
    run.assert_stdout_has("    kernel[0#0] -w--gd\n      pinger[0#0] -w---- badge=0x1\n");
    run.assert_stdout_has("mealy> mem\nRESOURCE  TOTAL         USED          FREE\nframes    ");
    run.assert_stdout_has("\nREGION  BASE                LEN\n");
    // Every device goes through a capability its driver holds (the
    // terminal's after the disk driver's, its notify multiplier included).
    assert_graph_has(
        &run,
        "  Device ports 0x3f8+0x8  [object _]\n    kernel[17#0] rw--gd\n      serial[0#0] rw--gd\n",
    );
    assert_graph_has(
        &run,
        "  Irq 4  [object _]\n    kernel[18#0] -w--gd\n      serial[1#0] -w--gd\n",
    );
    assert_graph_has(
        &run,
        "  Timer  [object _]\n    kernel[19#0] -w--gd\n      serial[2#0] -w--gd\n  Device ports 0x60+0x5  [object _]\n    kernel[20#0] rw--gd\n      keyboard[0#0] rw--gd\n",
    );
    run.assert_stdout_has("mealy> stats\nCOUNTER           VALUE\ntasks             10\n");
    // Pinger's 200 messages, then every keystroke and line of output
    // passed through serial, console and the shell's task.
    let handled: u64 = run
        .line_starting("messages_handled  ")
        .trim_start_matches("messages_handled")
        .trim()
        .parse()
        .expect("a count");
    assert!(handled > 200, "{handled}\n{run}");
    // The pinger's calls and echo's replies go straight to each other when
    // nothing else is ready. The fs mounts the data disk meanwhile (its
    // reads and the driver's interrupts take turns in between), so how
    // many of the 200 are handed off depends on the device's timing.
    let handed_off: u64 = run
        .line_starting("handed_off  ")
        .trim_start_matches("handed_off")
        .trim()
        .parse()
        .expect("a count");
    assert!((1..handled).contains(&handed_off), "{handed_off}\n{run}");
    run.assert_stdout_has("mealy> bench");
    run.assert_stdout_has("\nROUND_TRIPS  TSC_TICKS       TICKS_PER_TRIP\n1000 ");
}

#[test]
fn revoke_removes_a_capability_and_the_holders_next_use_fails() {
    let run = boot(
        &[],
        b"send echo hi\nrevoke kernel 0\ncaps pinger\ncaps shell\nsend echo hi\ngraph\nrevoke kernel 34\nps\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    // Before: the shell's endpoint to echo works (echo takes no text, so
    // it answers with an error reply: the call got there).
    run.assert_stdout_has("error: send: echo: the callee rejected a malformed request\n");
    // Echo's original is in the kernel's CSpace, slot 0; pinger and the
    // shell each hold an endpoint derived from it.
    run.assert_stdout_has(
        "mealy> revoke kernel 0\nrevoked 2 capabilities derived from kernel slot 0\n",
    );
    // Pinger (a ring-3 program) keeps only its own heap Region.
    let pinger = run
        .stdout
        .split("mealy> caps pinger\nTASK  SLOT      RIGHTS  BADGE               OBJECT\n")
        .nth(1)
        .and_then(|rest| rest.split("mealy> ").next())
        .unwrap_or_default()
        .to_string();
    assert!(
        pinger.lines().all(|line| line.contains(" Region 0x")),
        "no endpoint is left: {pinger}\n{run}"
    );
    run.assert_stdout_has("mealy> caps shell\nTASK  SLOT      RIGHTS  BADGE               OBJECT\n8     1#0       -w--gd  -                   Endpoint -> task 1\n");
    run.assert_stdout_has("\n8     19#0      r---gd  -                   Inspect\n");
    run.assert_stdout_has("mealy> send echo hi\nerror: send: echo: invalid or stale capability\n");
    // The shell reads the kernel's tables only through its Inspect
    // capability, minted from the kernel's original in slot 32 (after
    // every task's endpoint, device, line, region and Task capability):
    // revoke that and `ps` fails.
    assert_graph_has(
        &run,
        "  Inspect  [object _]\n    kernel[34#0] r---gd\n      shell[19#0] r---gd\n",
    );
    run.assert_stdout_has(
        "mealy> revoke kernel 34\nrevoked 1 capabilities derived from kernel slot 34\n",
    );
    run.assert_stdout_has("mealy> ps\nerror: ps: invalid or stale capability\n");
}
