//! Tests of the whole shell, over its real `ContextSystem` on a
//! `FakeContext` (`fake_system.rs` plays the kernel and the peers): each
//! command's output line by line, every error path, line editing as the
//! shell shows it, and properties over random input.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use mealy_caps::{CapRef, DotDetail, Rights};
use mealy_protocol::IpcError;
use mealy_protocol::fs::Reserve;
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::interface::Request as _;
use mealy_protocol::testing::Operation;
use mealy_protocol::text::TextCommand;
use proptest::prelude::*;

use crate::fake_system::{Rig, sample_graph, sample_tasks};
use crate::line::{LineEditor, LineEvent, MAX_LINE};
use crate::system::Answer;
use crate::{ANSWER_TIMEOUT_NS, GREETING, Output, PROMPT, Shell};

/// Gives the shell every answer the peers have for it, in order;
/// returns what it printed.
fn deliver(shell: &mut Shell, rig: &mut Rig) -> Output {
    let mut out = Output::default();
    while let Some((token, answer)) = rig.next_answer() {
        let more = shell.answer(token, answer, &mut rig.system());
        out.text.push_str(&more.text);
        out.shutdown |= more.shutdown;
    }
    out
}

/// Feeds `bytes`, then the answers to every call they made, then lets a
/// command that got none time out: what a person would see in the end.
fn feed_all(shell: &mut Shell, rig: &mut Rig, bytes: &[u8]) -> Output {
    let mut out = shell.feed(bytes, &mut rig.system());
    loop {
        let more = deliver(shell, rig);
        out.text.push_str(&more.text);
        out.shutdown |= more.shutdown;
        let more = if shell.deadline_ns().is_some() {
            shell.expire(u64::MAX)
        } else if shell.has_held_input() {
            shell.continue_input(&mut rig.system())
        } else {
            return out;
        };
        out.text.push_str(&more.text);
        out.shutdown |= more.shutdown;
    }
}

/// Types `line` and Enter; checks the echo and the final prompt and returns
/// the lines printed in between.
pub(crate) fn respond(shell: &mut Shell, rig: &mut Rig, line: &str) -> Vec<String> {
    let output = feed_all(shell, rig, format!("{line}\r").as_bytes());
    assert!(!output.shutdown);
    let echoed = format!("{line}\n");
    let Some(rest) = output.text.strip_prefix(&echoed) else {
        panic!("{:?} does not start with the echo {echoed:?}", output.text);
    };
    let Some(response) = rest.strip_suffix(PROMPT) else {
        panic!("{rest:?} does not end with the prompt");
    };
    response.lines().map(String::from).collect()
}

fn run(line: &str) -> Vec<String> {
    respond(&mut Shell::new(), &mut Rig::new(), line)
}

#[track_caller]
pub(crate) fn assert_lines(actual: &[String], expected: &[&str]) {
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    assert_eq!(actual, expected);
}

#[test]
fn start_waits_for_the_fs_before_the_first_prompt() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let output = shell.start_with(&mut rig.system());
    assert_eq!(output.text, GREETING, "no prompt before the fs answers");
    assert!(shell.deadline_ns().is_some());
    // Typed meanwhile: held, run after the prompt.
    let typed = shell.feed(b"cat hello.txt\r", &mut rig.system());
    assert_eq!(typed.text, "");
    let out = deliver(&mut shell, &mut rig);
    assert_eq!(out.text, PROMPT);
    assert_eq!(
        rig.fs_ops().first().copied(),
        mealy_protocol::fs::Usage::OP,
        "the fs was asked first"
    );
    let out = shell.continue_input(&mut rig.system());
    let more = deliver(&mut shell, &mut rig);
    assert_eq!(
        format!("{}{}", out.text, more.text),
        format!("cat hello.txt\nHello, Mealy!\n{PROMPT}")
    );

    // An fs that fails or never answers still gets the prompt: silently
    // when it answers an error, with one line when it does not answer.
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    shell.start_with(&mut rig.system());
    let out = shell.expire(u64::MAX);
    assert_eq!(
        out.text,
        format!("error: start: fs did not answer within 60 s\n{PROMPT}")
    );
}

#[test]
fn sync_says_what_was_written_or_that_there_is_no_disk() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    respond(&mut shell, &mut rig, "write hello.txt saved");
    assert_lines(
        &respond(&mut shell, &mut rig, "sync"),
        &[
            "synced: nothing written, the file system is in RAM only (no disk); 1 files marked clean",
        ],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "df"),
        &["no disk: the file system is in RAM only (1 files, 1 KiB)"],
    );

    let mut rig = Rig::new();
    rig.fs.disk = Some(mealy_protocol::fs::DiskSpace {
        block_size: 4096,
        blocks: 4096,
        used: 300,
        generation: 1,
        read_only: false,
    });
    let mut shell = Shell::new();
    let stat_line = |lines: Vec<String>| {
        lines
            .into_iter()
            .find(|line| line.starts_with("on disk:"))
            .unwrap()
    };
    assert_eq!(
        stat_line(respond(&mut shell, &mut rig, "stat hello.txt")),
        "on disk:  yes (on disk, unchanged since the last sync)"
    );
    respond(&mut shell, &mut rig, "write hello.txt saved");
    assert_eq!(
        stat_line(respond(&mut shell, &mut rig, "stat hello.txt")),
        "on disk:  no (changes since the last sync, or no disk)"
    );
    // `write` does not sync: only `sync` does.
    assert!(
        !rig.fs_ops()
            .contains(&mealy_protocol::fs::Sync::OP.unwrap())
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "sync"),
        &["synced: 1 files, 1 KiB written, generation 2"],
    );
    assert_eq!(
        stat_line(respond(&mut shell, &mut rig, "stat hello.txt")),
        "on disk:  yes (on disk, unchanged since the last sync)"
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "df"),
        &[
            "DISK    SIZE_KIB  USED_KIB  FREE_KIB  GENERATION",
            "data    16384     1208      15176     2",
            "1 files, 1 KiB",
        ],
    );
    rig.fs.sync_error = Some(mealy_protocol::fs::FsError::Disk(
        mealy_protocol::block::BlockError::Device,
    ));
    assert_lines(
        &respond(&mut shell, &mut rig, "sync"),
        &["error: sync: the disk failed: the device reported an error"],
    );
}

#[test]
fn start_greets_and_prompts() {
    let output = Shell::new().start();
    assert_eq!(output.text, format!("{GREETING}{PROMPT}"));
    assert_eq!(PROMPT, "mealy> ");
}

#[test]
fn help_lists_every_command() {
    assert_lines(
        &run("help"),
        &[
            "help [command]          list the commands, or show one",
            "ps                      tasks: id, name, state, mailbox, messages, time, ring, restarts, last fault",
            "caps [task]             capabilities: task, slot, rights, badge, object",
            "graph [--dot [--slots]] the capability graph (tree, DOT, DOT per slot)",
            "mem                     frames, heap and regions",
            "ls [path]               list a directory of the file system",
            "cat <path>              print a file",
            "write <path> <text>     replace a file's contents with the text",
            "append <path> <text>    add the text to the end of a file",
            "rm <path>               remove a file or an empty directory",
            "mv <from> <to>          move or rename a file or directory",
            "mkdir <path>            make a directory",
            "stat <path>             a file's size, capacity, whether it is on disk, region, rights",
            "hexdump <path>          a file's bytes in hex (the first 4 KiB)",
            "sync                    write every change to the data disk, durably",
            "df                      the data disk's size, used and free space",
            "run <path> [grant...]   start a program with endpoints to the tasks named",
            "send <task> <message>   send a text command to a service",
            "revoke <task> <slot>    delete every capability derived from one",
            "kill <task>             stop a task and delete its capabilities",
            "restart <task>          stop a task if running, start it afresh",
            "fault <task> <kind>     make a ring-3 task fault: pf gp ud de stack panic loop",
            "stats                   system-wide counters",
            "bench                   measure the IPC round trip in the guest",
            "uptime                  time since boot",
            "shutdown                power off",
        ],
    );
    assert_lines(
        &run("help kill"),
        &["kill <task>             stop a task and delete its capabilities"],
    );
}

#[test]
fn ps() {
    let mut rig = Rig::new();
    let mut tasks = sample_tasks();
    tasks[0].restarts = 2;
    tasks[0].last_fault = Some(mealy_protocol::inspect::Fault {
        cause: mealy_protocol::inspect::ExitCause::Exception { vector: 14 },
        address: 0x1000,
    });
    rig.cx.answer_inspect(Query::Tasks, Report::Tasks(tasks));
    assert_lines(
        &respond(&mut Shell::new(), &mut rig, "ps"),
        &[
            "ID   NAME            STATE   MBOX  HIGH  HANDLED     TIME_NS       RING  RESTARTS  LAST_FAULT",
            "1    echo            idle    0     3     1024        51200         0     2         #PF@0x1000",
            "2    pinger          queued  1     1     1025        80000         0     0         -",
        ],
    );
}

#[test]
fn caps_for_every_task_and_for_one() {
    assert_lines(
        &run("caps"),
        &[
            "TASK  SLOT      RIGHTS  BADGE               OBJECT",
            "1     0#0       -w--gd  -                   Endpoint -> task 1",
            "1     1#0       r---gd  -                   Inspect",
            "2     0#0       -w--g-  0x7                 Endpoint -> task 1",
        ],
    );
    let pinger = [
        "TASK  SLOT      RIGHTS  BADGE               OBJECT",
        "2     0#0       -w--g-  0x7                 Endpoint -> task 1",
    ];
    assert_lines(&run("caps pinger"), &pinger);
    assert_lines(&run("caps 2"), &pinger);
}

#[test]
fn graph_is_the_snapshot_tree() {
    assert_lines(
        &run("graph"),
        &[
            "tasks",
            "  task 1 \"echo\"  cspace 0#0  2/4 slots",
            "  task 2 \"pinger\"  cspace 1#0  1/4 slots",
            "objects",
            "  Endpoint -> task 1  [object 0#0]",
            "    echo[0#0] -w--gd",
            "      pinger[0#0] -w--g- badge=0x7",
            "  Inspect  [object 1#0]",
            "    echo[1#0] r---gd",
        ],
    );
}

#[test]
fn graph_dot_is_the_snapshot_dot() {
    let lines = run("graph --dot");
    let expected = sample_graph().dot(DotDetail::Objects).to_string();
    assert_eq!(lines.join("\n") + "\n", expected);
    assert_eq!(lines.first().map(String::as_str), Some("digraph caps {"));
    // pinger's badged endpoint to echo, and the endpoint reaching echo.
    assert!(
        lines
            .iter()
            .any(|line| line == "  t1 -> o0 [label=\"-w--g- badge=0x7\"];")
    );
    assert!(lines.iter().any(|line| line.starts_with("  o0 -> t0 [")));
    assert!(!lines.iter().any(|line| line.contains("cluster")));
}

#[test]
fn graph_dot_slots_is_the_per_slot_dot() {
    let lines = run("graph --dot --slots");
    let expected = sample_graph().dot(DotDetail::Slots).to_string();
    assert_eq!(lines.join("\n") + "\n", expected);
    assert_eq!(lines.first().map(String::as_str), Some("digraph caps {"));
    // A cluster per task, a node per capability, the derivation edge.
    assert!(lines.iter().any(|line| line == "  subgraph cluster_t1 {"));
    assert!(
        lines
            .iter()
            .any(|line| line == "    c2 [shape=ellipse, label=\"0#0 -w--g-\\nbadge=0x7\"];")
    );
    assert!(lines.iter().any(|line| line == "  c0 -> c2;"));
    assert_eq!(lines.last().map(String::as_str), Some("}"));
}

#[test]
fn mem() {
    assert_lines(
        &run("mem"),
        &[
            "RESOURCE  TOTAL         USED          FREE",
            "frames    32768         2768          30000",
            "heap      4194304       65536         4128768",
            "REGION  BASE                LEN",
            "0       0x0000000000400000  0x2000",
            "1       0xffff800000000000  0x100000",
        ],
    );
}

#[test]
fn stats() {
    assert_lines(
        &run("stats"),
        &[
            "COUNTER           VALUE",
            "tasks             2",
            "tasks_alive       2",
            "messages_handled  2049",
            "handler_time_ns   131200",
            "budget_overruns   0",
            "malformed         1",
            "handler_errors    0",
            "cspaces           3",
            "objects           4",
            "capabilities      5",
            "handed_off        2000",
        ],
    );
}

#[test]
fn bench() {
    assert_lines(
        &run("bench"),
        &[
            "ROUND_TRIPS  TSC_TICKS       TICKS_PER_TRIP",
            "10000        4213345         421",
        ],
    );
}

#[test]
fn uptime() {
    assert_lines(&run("uptime"), &["up 01:02:03.456 (3723456789012 ns)"]);
}

#[test]
fn send_shows_the_answer_when_it_comes() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    // Nothing but the echo until the answer comes: no prompt either.
    let output = shell.feed(b"send echo hello  there\r", &mut rig.system());
    assert_eq!(output.text, "send echo hello  there\n");
    assert!(shell.deadline_ns().is_some());
    // One call, to echo, with the text; the deadline is read from the
    // system clock.
    assert_eq!(rig.cx.calls.len(), 1);
    assert_eq!(rig.cx.calls[0].to, "echo");
    let sent: TextCommand<'_> = mealy_protocol::decode(&rig.cx.calls[0].payload).unwrap();
    assert_eq!(sent.line, "hello  there");
    assert_eq!(shell.deadline_ns(), Some(rig.cx.now_ns + ANSWER_TIMEOUT_NS));
    let (token, answer) = rig.next_answer().unwrap();
    let output = shell.answer(token, answer, &mut rig.system());
    assert_eq!(output.text, format!("hello  there\n{PROMPT}"));
    assert_eq!(shell.deadline_ns(), None);
    assert_eq!(rig.cx.queries, [Query::Tasks]);
}

#[test]
fn a_command_without_an_answer_times_out_and_typed_ahead_lines_run_after() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    // pinger never answers; `uptime` typed meanwhile is held.
    let output = shell.feed(b"send 2 run\ruptime\r", &mut rig.system());
    assert_eq!(output.text, "send 2 run\n");
    let deadline = shell.deadline_ns().unwrap();
    assert_eq!(deadline, 3_723_456_789_012 + ANSWER_TIMEOUT_NS);
    // Not yet due: nothing happens.
    assert_eq!(shell.expire(deadline - 1).text, "");
    let output = shell.expire(deadline);
    assert_eq!(
        output.text,
        format!("error: send: pinger did not answer within 5 s\n{PROMPT}")
    );
    assert_eq!(shell.deadline_ns(), None);
    // The held line runs on the next turn.
    assert!(shell.has_held_input());
    let output = shell.continue_input(&mut rig.system());
    assert_eq!(
        output.text,
        format!("uptime\nup 01:02:03.456 (3723456789012 ns)\n{PROMPT}")
    );
    assert!(!shell.has_held_input());
}

#[test]
fn ctrl_c_gives_up_on_a_waiting_command_and_a_late_answer_is_dropped() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    shell.feed(b"cat hello.txt\r", &mut rig.system());
    assert_eq!(rig.cx.calls.len(), 1);
    // Typed while waiting, then Ctrl-C: both go, the prompt comes back.
    let output = shell.feed(b"ps\r\x03", &mut rig.system());
    assert_eq!(output.text, format!("^C\n{PROMPT}"));
    assert_eq!(shell.deadline_ns(), None);
    // The answer comes after all: nothing is shown, its Region is dropped.
    let (token, answer) = rig.next_answer().unwrap();
    let Answer::Reply { caps, .. } = &answer else {
        panic!("the fs failed the call: {answer:?}");
    };
    let region: CapRef = caps[0];
    assert!(rig.cx.object(region).is_some());
    assert_eq!(shell.answer(token, answer, &mut rig.system()).text, "");
    assert!(rig.cx.object(region).is_none());
    assert_lines(
        &respond(&mut shell, &mut rig, "uptime"),
        &["up 01:02:03.456 (3723456789012 ns)"],
    );
}

#[test]
fn revoke_and_kill() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "revoke echo 0#0"),
        &["revoked 1 capabilities derived from echo slot 0#0"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "kill pinger"),
        &["killed pinger"],
    );
    let slot = sample_graph().caps[0].at.cap;
    assert_eq!(rig.cx.revoked_in, [("echo", slot)]);
    assert_eq!(rig.cx.stopped, ["pinger"]);
}

#[test]
fn fault_goes_through_the_tasks_capability_and_names_the_kind() {
    use mealy_protocol::supervision::FaultKind;
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "fault echo pf"),
        &["echo: fault pf sent"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "fault echo loop"),
        &["echo: fault loop sent"],
    );
    assert_eq!(
        rig.cx.injected_faults,
        [("echo", FaultKind::PageFault), ("echo", FaultKind::Loop)]
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "fault echo segv"),
        &[
            "error: fault: 'segv' is not a fault (pf, gp, ud, de, stack, panic, loop); usage: fault <task> <kind> (type 'help fault')",
        ],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "fault kernel pf"),
        &["error: fault: only a ring-3 task can be made to fault"],
    );
    rig.cx.fail(Operation::InjectFault, IpcError::Unsupported);
    assert_lines(
        &respond(&mut shell, &mut rig, "fault echo ud"),
        &["error: fault: only a ring-3 task can be made to fault"],
    );
    assert_eq!(rig.cx.injected_faults.len(), 2);
}

#[test]
fn restart_goes_through_the_tasks_capability_and_refuses_the_kernel_and_the_shell() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "restart echo"),
        &["restarted echo"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "restart 2"),
        &["restarted 2"],
    );
    assert_eq!(rig.cx.restarted, ["echo", "pinger"]);
    assert!(rig.cx.stopped.is_empty(), "a restart is not a kill");
    assert_lines(
        &respond(&mut shell, &mut rig, "restart kernel"),
        &["error: restart: the kernel cannot be restarted"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "restart nobody"),
        &["error: restart: there is no task `nobody`"],
    );
    rig.cx.fail(Operation::RestartTask, IpcError::DeadTask);
    assert_lines(
        &respond(&mut shell, &mut rig, "restart echo"),
        &["error: restart: it is gone for good"],
    );
    rig.cx.heal();
    rig.cx.fail(Operation::RestartTask, IpcError::Malformed);
    assert_lines(
        &respond(&mut shell, &mut rig, "restart echo"),
        &[&format!("error: restart: {}", IpcError::Malformed)],
    );
    assert_eq!(rig.cx.restarted, ["echo", "pinger"]);
}

#[test]
fn shutdown_stops_the_shell() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let output = shell.feed(b"shutdown\rps\r", &mut rig.system());
    assert_eq!(output.text, "shutdown\nshutting down\n");
    assert!(output.shutdown);
    assert!(shell.is_shut_down());
    assert_eq!(shell.feed(b"ps\r", &mut rig.system()).text, "");
    assert_eq!(rig.cx.stopped, ["kernel"]);
}

#[test]
fn a_failed_shutdown_is_one_error_and_the_shell_goes_on() {
    let mut rig = Rig::new();
    rig.cx.fail(
        Operation::StopTask,
        IpcError::MissingRights {
            missing: Rights::WRITE,
        },
    );
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "shutdown"),
        &["error: shutdown: capability lacks rights -w----"],
    );
    assert!(rig.cx.stopped.is_empty());
    assert!(!shell.is_shut_down());
}

#[test]
fn every_system_failure_is_one_error_line() {
    let mut rig = Rig::new();
    // The shell's capabilities were revoked: every kernel operation fails.
    for operation in [
        Operation::Inspect,
        Operation::Call,
        Operation::StopTask,
        Operation::RestartTask,
        Operation::RevokeIn,
    ] {
        rig.cx.fail(operation, IpcError::InvalidCap);
    }
    let mut shell = Shell::new();
    for (line, command) in [
        ("ps", "ps"),
        ("caps", "caps"),
        ("graph", "graph"),
        ("graph --dot", "graph"),
        ("graph --dot --slots", "graph"),
        ("mem", "mem"),
        ("send echo x", "send"),
        ("revoke echo 1", "revoke"),
        ("kill echo", "kill"),
        ("restart echo", "restart"),
        ("stats", "stats"),
        ("bench", "bench"),
        ("shutdown", "shutdown"),
        ("ls", "ls"),
        ("cat a", "cat"),
        ("write a b", "write"),
    ] {
        let expected = format!("error: {command}: invalid or stale capability");
        assert_lines(&respond(&mut shell, &mut rig, line), &[&expected]);
    }
    // The clock needs no capability.
    assert_lines(
        &respond(&mut shell, &mut rig, "uptime"),
        &["up 01:02:03.456 (3723456789012 ns)"],
    );
    rig.cx.heal();
    assert_lines(
        &respond(&mut shell, &mut rig, "kill nobody"),
        &["error: kill: there is no task `nobody`"],
    );
}

#[test]
fn bad_commands_are_one_error_line() {
    for (line, expected) in [
        (
            "frobnicate",
            "error: unknown command 'frobnicate'; type 'help' for the list",
        ),
        (
            "kill",
            "error: kill: missing <task>; usage: kill <task> (type 'help kill')",
        ),
        (
            "revoke echo x",
            "error: revoke: 'x' is not a number from 0 to 4294967295; usage: revoke <task> <slot> (type 'help revoke')",
        ),
        (
            "ps aux",
            "error: ps: too many arguments; usage: ps (type 'help ps')",
        ),
        (
            "graph --svg",
            "error: graph: unknown option '--svg'; usage: graph [--dot [--slots]] (type 'help graph')",
        ),
    ] {
        assert_lines(&run(line), &[expected]);
    }
}

#[test]
fn blank_line_and_ctrl_c_just_prompt_again() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert!(respond(&mut shell, &mut rig, "   ").is_empty());
    let output = shell.feed(b"kill 1\x03", &mut rig.system());
    assert_eq!(output.text, format!("kill 1^C\n{PROMPT}"));
    assert!(rig.cx.queries.is_empty() && rig.cx.stopped.is_empty());
}

#[test]
fn overlong_line_is_one_error_line() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let long = "x".repeat(MAX_LINE + 1);
    let output = shell.feed(format!("{long}\r").as_bytes(), &mut rig.system());
    let echo = "x".repeat(MAX_LINE);
    assert_eq!(
        output.text,
        format!(
            "{echo}\nerror: line longer than {MAX_LINE} bytes, nothing was run; type 'help' for commands\n{PROMPT}"
        )
    );
}

#[test]
fn non_utf8_line_is_one_error_line_and_not_run() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let output = shell.feed(b"kill \xff1\r\n", &mut rig.system());
    assert_eq!(
        output.text,
        format!(
            "kill 1\nerror: line is not valid UTF-8, nothing was run; type 'help' for commands\n{PROMPT}"
        )
    );
    assert!(rig.cx.queries.is_empty() && rig.cx.stopped.is_empty());
}

#[test]
fn backspace_fixes_a_typo_before_it_runs() {
    let mut rig = Rig::new();
    let output = Shell::new().feed(b"pz\x7fs\r", &mut rig.system());
    assert!(output.text.starts_with("pz\x08 \x08s\nID "));
    assert_eq!(rig.cx.queries, [Query::Tasks]);
}

#[test]
fn arrow_up_reruns_and_arrow_down_returns() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let mut text = String::new();
    for keys in [
        &b"uptime\r"[..],
        b"kill 2\r",
        b"\x1b[A\x1b[A\r",
        // History is now uptime, kill 2, uptime: up three times, down once.
        b"\x1b[A\x1b[A\x1b[A\x1b[B\r",
    ] {
        text.push_str(&shell.feed(keys, &mut rig.system()).text);
    }
    let ran: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("up ") || line.starts_with("killed"))
        .collect();
    let uptime = "up 01:02:03.456 (3723456789012 ns)";
    assert_eq!(ran, [uptime, "killed 2", uptime, "killed 2"]);
    assert_eq!(rig.cx.stopped, ["pinger", "pinger"]);
}

#[test]
fn one_line_runs_per_call_and_the_rest_waits_its_turn() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let output = shell.feed(b"uptime\rps\rup", &mut rig.system());
    assert_eq!(
        output.text,
        format!("uptime\nup 01:02:03.456 (3723456789012 ns)\n{PROMPT}")
    );
    assert!(rig.cx.queries.is_empty());
    // More typing goes behind what waits.
    assert_eq!(shell.feed(b"time\r", &mut rig.system()).text, "");
    assert!(shell.has_held_input());
    let output = shell.continue_input(&mut rig.system());
    assert!(output.text.starts_with("ps\nID "), "{}", output.text);
    let output = shell.continue_input(&mut rig.system());
    assert!(output.text.starts_with("uptime\nup "), "{}", output.text);
    assert!(!shell.has_held_input());
    assert_eq!(rig.cx.queries, [Query::Tasks]);
}

#[test]
fn crlf_runs_a_line_once() {
    let mut rig = Rig::new();
    let output = feed_all(&mut Shell::new(), &mut rig, b"uptime\r\nuptime\n");
    assert_eq!(output.text.matches(PROMPT).count(), 2);
    assert_eq!(output.text.matches("\nup 01:02:03.456").count(), 2);
}

#[test]
fn bytes_split_anywhere_give_the_same_output() {
    let input = b"ps\r\ncaps echo\x7f\x7f\x7f\x7fpinger\rbad\x1b[Acmd\r\x1b[A\r";
    let whole = feed_all(&mut Shell::new(), &mut Rig::new(), input).text;
    let mut shell = Shell::new();
    let mut rig = Rig::new();
    let pieces: String = input
        .iter()
        .map(|byte| feed_all(&mut shell, &mut rig, &[*byte]).text)
        .collect();
    assert_eq!(whole, pieces);
}

/// The number of lines `bytes` completes or cancels, by the editor's rules:
/// CR, LF not right after CR, and Ctrl-C.
fn lines_ended_by(bytes: &[u8]) -> usize {
    let mut previous = None;
    let mut count = 0;
    for &byte in bytes {
        if byte == b'\r' || byte == 0x03 || (byte == b'\n' && previous != Some(b'\r')) {
            count += 1;
        }
        previous = Some(byte);
    }
    count
}

/// Words random lines are made of: commands, arguments, keys, bad bytes.
const WORDS: &[&[u8]] = &[
    b"help",
    b"ps",
    b"caps",
    b"graph",
    b"--dot",
    b"--slots",
    b"mem",
    b"ls",
    b"cat",
    b"write",
    b"send",
    b"revoke",
    b"kill",
    b"stats",
    b"bench",
    b"uptime",
    b"echo",
    b"pinger",
    b"1",
    b"2",
    b"0#0",
    b"x",
    b"99999999999",
    b"\x1b[A",
    b"\x7f",
    "\u{e9}".as_bytes(),
    b"\xff",
];

/// Lines that are mostly near-commands, with some arbitrary bytes.
fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    let word = prop::sample::select(WORDS);
    prop_oneof![
        prop::collection::vec(word, 0..5).prop_map(|words| words.join(&b" "[..])),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
    .prop_map(|mut bytes| {
        bytes.retain(|byte| !matches!(byte, b'\r' | b'\n' | 0x03));
        bytes
    })
}

proptest! {
    #[test]
    fn random_bytes_never_stop_the_shell(
        bytes in prop::collection::vec(any::<u8>(), 0..1000),
        chunk in 1usize..64,
    ) {
        let mut rig = Rig::new();
        let mut shell = Shell::new();
        let mut text = String::new();
        for piece in bytes.chunks(chunk) {
            text.push_str(&feed_all(&mut shell, &mut rig, piece).text);
        }
        prop_assume!(!shell.is_shut_down());
        let lines = lines_ended_by(&bytes);
        prop_assert_eq!(text.matches(PROMPT).count(), lines);
        prop_assert!(text.lines().filter(|line| line.starts_with("error: ")).count() <= lines);
    }

    #[test]
    fn every_line_gets_output_or_exactly_one_error_then_the_prompt(
        lines in prop::collection::vec(line_bytes(), 1..12),
    ) {
        let mut rig = Rig::new();
        let mut shell = Shell::new();
        // A second editor fed the same bytes says what the shell's saw.
        let mut editor = LineEditor::new();
        for mut bytes in lines {
            bytes.push(b'\r');
            let mut echo = String::new();
            let event = bytes.iter().filter_map(|&byte| editor.push(byte, &mut echo)).last();
            let output = feed_all(&mut shell, &mut rig, &bytes);
            prop_assume!(!output.shutdown);
            prop_assert!(output.text.starts_with(&echo));
            let response = output.text.strip_prefix(&echo).unwrap_or_default();
            let response = response.strip_suffix(PROMPT);
            prop_assert!(response.is_some(), "no prompt after {:?}", output.text);
            let response: Vec<&str> = response.unwrap_or_default().lines().collect();
            let errors = response.iter().filter(|line| line.starts_with("error: ")).count();
            match event {
                Some(LineEvent::Line(line)) if line.trim().is_empty() => {
                    prop_assert!(response.is_empty());
                }
                Some(LineEvent::Line(_)) => {
                    prop_assert!(!response.is_empty());
                    prop_assert!(errors == 0 || response.len() == 1, "{:?}", response);
                }
                Some(LineEvent::Error(_)) => prop_assert_eq!(errors, 1),
                other => prop_assert!(false, "unexpected event {:?}", other),
            }
        }
    }
}

#[test]
fn ls_cat_and_write_show_the_file_system() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "ls"),
        &["TYPE  SIZE        NAME", "file  14          hello.txt"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "cat hello.txt"),
        &["Hello, Mealy!"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "write hello.txt new  words"),
        &["wrote 10 bytes to hello.txt"],
    );
    // No trailing newline in the file: cat adds one.
    assert_lines(
        &respond(&mut shell, &mut rig, "cat hello.txt"),
        &["new  words"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "cat nope"),
        &["error: cat: no such file or directory"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "write hello.txt"),
        &["error: write: missing <text>; usage: write <path> <text> (type 'help write')"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "cat"),
        &["error: cat: missing <path>; usage: cat <path> (type 'help cat')"],
    );
    // Every Region the shell was given is dropped once read or written.
    assert!(!rig.fs.given.is_empty());
    assert_eq!(rig.regions_held(), 0);
}

#[test]
fn append_adds_to_the_end_and_a_full_file_is_an_error() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "append hello.txt more"),
        &["appended 4 bytes to hello.txt (18 bytes now)"],
    );
    assert_eq!(
        rig.fs.contents(&rig.cx, "hello.txt"),
        b"Hello, Mealy!\nmore"
    );
    let long = "x".repeat(MAX_LINE - 20);
    rig.fs.put(&mut rig.cx, "hello.txt", &[b'y'; 4000]);
    assert_lines(
        &respond(&mut shell, &mut rig, &format!("append hello.txt {long}")),
        &["error: append: no space: the file can hold 4096 bytes"],
    );
    assert_eq!(rig.fs.contents(&rig.cx, "hello.txt").len(), 4000);
    // A shorter write clears what lay past its end.
    assert_lines(
        &respond(&mut shell, &mut rig, "write hello.txt ab"),
        &["wrote 2 bytes to hello.txt"],
    );
    let pages = rig.fs.pages(&rig.cx, "hello.txt");
    assert!(pages[2..4000].iter().all(|&byte| byte == 0));
    assert_eq!(rig.regions_held(), 0);
}

#[test]
fn write_creates_a_missing_file_and_rm_and_mv_change_the_tree() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "write new.txt fresh"),
        &["wrote 5 bytes to new.txt"],
    );
    assert_lines(&respond(&mut shell, &mut rig, "cat new.txt"), &["fresh"]);
    assert_lines(
        &respond(&mut shell, &mut rig, "mv new.txt old.txt"),
        &["moved new.txt to old.txt"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "mv old.txt hello.txt"),
        &["error: mv: file exists"],
    );
    assert_lines(&respond(&mut shell, &mut rig, "cat old.txt"), &["fresh"]);
    assert_lines(
        &respond(&mut shell, &mut rig, "rm old.txt"),
        &["removed old.txt"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "rm old.txt"),
        &["error: rm: no such file or directory"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "ls"),
        &["TYPE  SIZE        NAME", "file  14          hello.txt"],
    );
    // Past its room a write asks for more once, then gives up.
    let long = "y".repeat(200);
    rig.fs.put(&mut rig.cx, "hello.txt", &[b'z'; 4000]);
    assert_lines(
        &respond(&mut shell, &mut rig, &format!("append hello.txt {long}")),
        &["error: append: no space: the file can hold 4096 bytes"],
    );
    let reserves = rig
        .fs_ops()
        .into_iter()
        .filter(|op| Some(*op) == Reserve::OP);
    assert_eq!(reserves.count(), 1);
    assert_eq!(rig.regions_held(), 0);
}

#[test]
fn stat_shows_size_capacity_address_and_rights() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    let lines = respond(&mut shell, &mut rig, "stat hello.txt");
    let address = rig.fs.pages(&rig.cx, "hello.txt").as_ptr() as usize;
    let address = format!("{address:#018x}");
    assert_lines(
        &lines,
        &[
            "path:     hello.txt",
            "type:     file",
            "size:     14",
            "capacity: 4096",
            "dirty:    no",
            "on disk:  no (changes since the last sync, or no disk)",
            &format!("address:  {address}"),
            "rights:   r---g-",
        ],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "stat /"),
        &["path:     /", "type:     dir", "entries:  1"],
    );
    assert_lines(
        &respond(&mut shell, &mut rig, "stat nope"),
        &["error: stat: no such file or directory"],
    );
    assert_eq!(rig.regions_held(), 0);
}

#[test]
fn hexdump_shows_offsets_hex_and_text_and_stops_at_the_limit() {
    let mut rig = Rig::new();
    let mut shell = Shell::new();
    assert_lines(
        &respond(&mut shell, &mut rig, "hexdump hello.txt"),
        &[
            "00000000  48 65 6c 6c 6f 2c 20 4d  65 61 6c 79 21 0a        |Hello, Mealy!.|",
            "0000000e",
        ],
    );
    rig.fs.put(&mut rig.cx, "hello.txt", &[0xab; 4096]);
    let lines = respond(&mut shell, &mut rig, "hexdump hello.txt");
    assert_eq!(lines.len(), 4096 / 16 + 1);
    assert_eq!(lines.last().unwrap(), "00001000");
}
