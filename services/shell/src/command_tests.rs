//! Tests of command parsing: every command's accepted forms and every
//! error, with the one-line error text.

use super::*;
use alloc::string::ToString;
use alloc::vec;
use mealy_protocol::CapRef;

fn parsed(line: &str) -> Command {
    match parse(line) {
        Ok(Some(command)) => command,
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

fn failed(line: &str) -> CommandError {
    match parse(line) {
        Err(error) => error,
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

fn name(text: &str) -> TaskRef {
    TaskRef::Name(text.to_string())
}

#[test]
fn blank_lines_are_nothing_to_do() {
    assert_eq!(parse(""), Ok(None));
    assert_eq!(parse("   \t "), Ok(None));
}

#[test]
fn commands_without_arguments() {
    assert_eq!(parsed("ps"), Command::Ps);
    assert_eq!(parsed("  mem  "), Command::Mem);
    assert_eq!(parsed("stats"), Command::Stats);
    assert_eq!(parsed("bench"), Command::Bench);
    assert_eq!(parsed("uptime"), Command::Uptime);
    assert_eq!(parsed("shutdown"), Command::Shutdown);
    assert_eq!(parsed("help"), Command::Help { topic: None });
    assert_eq!(
        parsed("help kill"),
        Command::Help {
            topic: find_command("kill")
        }
    );
}

#[test]
fn every_listed_command_parses() {
    for spec in COMMANDS {
        let line = spec
            .usage
            .replace("[command]", "ps")
            .replace("[task]", "echo")
            .replace("[--dot [--slots]]", "--dot --slots")
            .replace("<task>", "echo")
            .replace("<message>", "hello")
            .replace("[grant...]", "echo fs")
            .replace("<slot>", "3")
            .replace("<kind>", "pf");
        assert!(matches!(parse(&line), Ok(Some(_))), "{line}");
    }
}

#[test]
fn task_arguments_take_a_name_or_an_id() {
    assert_eq!(parsed("caps"), Command::Caps { task: None });
    assert_eq!(
        parsed("caps echo"),
        Command::Caps {
            task: Some(name("echo"))
        }
    );
    assert_eq!(
        parsed("caps 3"),
        Command::Caps {
            task: Some(TaskRef::Id(3))
        }
    );
    assert_eq!(
        parsed("kill 12"),
        Command::Kill {
            task: TaskRef::Id(12)
        }
    );
    assert_eq!(
        parsed("kill pinger"),
        Command::Kill {
            task: name("pinger")
        }
    );
    assert!(TaskRef::Id(3).matches(3, "echo"));
    assert!(name("echo").matches(3, "echo"));
    assert!(!name("echo").matches(3, "pinger"));
}

#[test]
fn graph_takes_dot_then_slots() {
    assert_eq!(
        parsed("graph"),
        Command::Graph {
            view: GraphView::Tree
        }
    );
    assert_eq!(
        parsed("graph --dot"),
        Command::Graph {
            view: GraphView::Dot(DotDetail::Objects)
        }
    );
    assert_eq!(
        parsed("graph  --dot   --slots "),
        Command::Graph {
            view: GraphView::Dot(DotDetail::Slots)
        }
    );
    // `--slots` details the DOT picture; the tree has every slot already.
    for (line, option) in [("graph --svg", "--svg"), ("graph --slots", "--slots")] {
        assert_eq!(
            failed(line),
            CommandError::UnknownOption {
                command: "graph",
                option: option.to_string()
            },
            "{line}"
        );
    }
}

#[test]
fn send_keeps_the_rest_of_the_line() {
    assert_eq!(
        parsed("send echo  hello   world  "),
        Command::Send {
            task: name("echo"),
            text: "hello   world".to_string()
        }
    );
    assert_eq!(
        failed("send echo"),
        CommandError::MissingArgument {
            command: "send",
            argument: "<message>"
        }
    );
}

#[test]
fn file_commands_take_a_path_and_write_and_append_the_rest_of_the_line() {
    assert_eq!(
        parsed("append notes.txt  one  two "),
        Command::Append {
            path: "notes.txt".to_string(),
            text: "one  two".to_string()
        }
    );
    assert_eq!(
        parsed("stat etc/motd"),
        Command::Stat {
            path: "etc/motd".to_string()
        }
    );
    assert_eq!(
        parsed("hexdump a.bin"),
        Command::Hexdump {
            path: "a.bin".to_string()
        }
    );
    for (line, command, argument) in [
        ("append", "append", "<path>"),
        ("append a", "append", "<text>"),
        ("stat", "stat", "<path>"),
        ("hexdump", "hexdump", "<path>"),
    ] {
        assert_eq!(
            failed(line),
            CommandError::MissingArgument { command, argument },
            "{line}"
        );
    }
    for (line, command) in [("stat a b", "stat"), ("hexdump a b", "hexdump")] {
        assert_eq!(failed(line), CommandError::TooManyArguments { command });
    }
}

#[test]
fn revoke_takes_a_slot_with_an_optional_generation() {
    assert_eq!(
        parsed("revoke echo 3"),
        Command::Revoke {
            task: name("echo"),
            slot: SlotRef {
                slot: 3,
                generation: None
            }
        }
    );
    let slot = SlotRef::parse("revoke", "3#2").expect("valid slot");
    assert_eq!(slot.generation, Some(2));
    assert_eq!(slot.to_string(), "3#2");
    assert!(slot.matches(CapRef::from_raw((2 << 32) | 3)));
    assert!(!slot.matches(CapRef::from_raw((1 << 32) | 3)));
    let any_generation = SlotRef::parse("revoke", "3").expect("valid slot");
    assert!(any_generation.matches(CapRef::from_raw((7 << 32) | 3)));
    assert!(!any_generation.matches(CapRef::from_raw((7 << 32) | 4)));
}

#[test]
fn unknown_command() {
    assert_eq!(
        failed("frobnicate now"),
        CommandError::UnknownCommand {
            name: "frobnicate".to_string()
        }
    );
    assert_eq!(
        failed("help frobnicate"),
        CommandError::UnknownCommand {
            name: "frobnicate".to_string()
        }
    );
    // Names are case-sensitive.
    assert!(matches!(failed("PS"), CommandError::UnknownCommand { .. }));
}

#[test]
fn missing_arguments() {
    for (line, command, argument) in [
        ("kill", "kill", "<task>"),
        ("send", "send", "<task>"),
        ("revoke", "revoke", "<task>"),
        ("revoke echo", "revoke", "<slot>"),
    ] {
        assert_eq!(
            failed(line),
            CommandError::MissingArgument { command, argument },
            "{line}"
        );
    }
}

#[test]
fn bad_numbers() {
    for (line, text) in [
        ("revoke echo x", "x"),
        ("revoke echo -1", "-1"),
        ("revoke echo +1", "+1"),
        ("revoke echo 3#", ""),
        ("revoke echo #3", ""),
        ("revoke echo 3#x", "x"),
        ("revoke echo 99999999999", "99999999999"),
        ("kill 4294967296", "4294967296"),
    ] {
        assert!(
            matches!(failed(line), CommandError::BadNumber { text: t, .. } if t == text),
            "{line}"
        );
    }
}

#[test]
fn too_many_arguments() {
    for (line, command) in [
        ("ps -a", "ps"),
        ("mem x", "mem"),
        ("caps echo pinger", "caps"),
        ("graph --dot --dot", "graph"),
        ("graph --dot --slots --slots", "graph"),
        ("kill echo now", "kill"),
        ("revoke echo 3 4", "revoke"),
        ("help ps mem", "help"),
        ("shutdown now", "shutdown"),
    ] {
        assert_eq!(
            failed(line),
            CommandError::TooManyArguments { command },
            "{line}"
        );
    }
}

#[test]
fn every_error_is_one_line_pointing_at_help() {
    let errors = [
        failed("nope"),
        failed("kill"),
        failed("revoke echo x"),
        failed("ps x"),
        failed("graph --x"),
    ];
    for error in errors {
        let text = error.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("'help"), "{text}");
    }
    assert_eq!(
        failed("kill").to_string(),
        "kill: missing <task>; usage: kill <task> (type 'help kill')"
    );
    assert_eq!(
        failed("nope").to_string(),
        "unknown command 'nope'; type 'help' for the list"
    );
}

#[test]
fn run_takes_a_path_and_up_to_four_grants() {
    assert_eq!(
        parsed("run /bin/hello"),
        Command::Run {
            path: "/bin/hello".to_string(),
            name: "hello".to_string(),
            grants: vec![],
        }
    );
    assert_eq!(
        parsed("run  bin/pinger  echo 3 fs console "),
        Command::Run {
            path: "bin/pinger".to_string(),
            name: "pinger".to_string(),
            grants: vec![name("echo"), TaskRef::Id(3), name("fs"), name("console")],
        }
    );
    assert_eq!(
        parsed("run hello.elf"),
        Command::Run {
            path: "hello.elf".to_string(),
            name: "hello.elf".to_string(),
            grants: vec![],
        }
    );
}

#[test]
fn bad_run_lines() {
    assert_eq!(
        failed("run"),
        CommandError::MissingArgument {
            command: "run",
            argument: "<path>"
        }
    );
    assert_eq!(
        failed("run /bin/x a b c d e"),
        CommandError::TooManyArguments { command: "run" }
    );
    let long = "g".repeat(25);
    for (line, text, why) in [
        ("run /bin/", "/bin/", "names no file"),
        ("run /", "/", "names no file"),
        (
            "run /bin/42",
            "42",
            "cannot name a task: a name of digits reads as an id",
        ),
        ("run /bin/x echo echo", "echo", "is granted twice"),
        ("run /bin/x 3 3", "3", "is granted twice"),
        (
            &alloc::format!("run /bin/x {long}"),
            long.as_str(),
            "is longer than a grant's name can be (24 bytes)",
        ),
    ] {
        assert_eq!(
            failed(line),
            CommandError::BadArgument {
                command: "run",
                text: text.to_string(),
                why
            },
            "{line}"
        );
    }
    // A name of exactly 24 bytes fits.
    assert!(matches!(
        parse(&alloc::format!("run /bin/x {}", "g".repeat(24))),
        Ok(Some(Command::Run { .. }))
    ));
    assert!(matches!(
        failed("run /bin/x 99999999999"),
        CommandError::BadNumber { .. }
    ));
    assert_eq!(
        failed("run /bin/").to_string(),
        "run: '/bin/' names no file; usage: run <path> [grant...] (type 'help run')"
    );
}
