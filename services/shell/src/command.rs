//! Parsing one line into a typed [`Command`], and the table of every
//! command with its usage and one-line description ([`COMMANDS`]), which
//! `help` prints and the parser's errors quote.
//!
//! Words are separated by ASCII whitespace; there is no quoting. The one
//! exceptions are `send`, `write` and `append`, whose message or text is
//! the rest of the line as typed (inner spaces kept), so a service's text
//! command reaches it unchanged. `run` checks here what it can without the
//! system: the program's name (the file's base name) and its grants.
//! Every failure is a [`CommandError`] whose `Display` is one line that
//! points at `help`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::DotDetail;
use mealy_protocol::supervision::FaultKind;

pub use crate::names::{MAX_GRANTS, SlotRef, TaskRef};
use crate::names::{program_name, run_grants};

/// One command: its name, its usage line and what it does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec("help", "help [command]", "list the commands, or show one"),
    spec(
        "ps",
        "ps",
        "tasks: id, name, state, mailbox, messages, time, ring, restarts, last fault",
    ),
    spec(
        "caps",
        "caps [task]",
        "capabilities: task, slot, rights, badge, object",
    ),
    spec(
        "graph",
        "graph [--dot [--slots]]",
        "the capability graph (tree, DOT, DOT per slot)",
    ),
    spec("mem", "mem", "frames, heap and regions"),
    spec("ls", "ls [path]", "list a directory of the file system"),
    spec("cat", "cat <path>", "print a file"),
    spec(
        "write",
        "write <path> <text>",
        "replace a file's contents with the text",
    ),
    spec(
        "append",
        "append <path> <text>",
        "add the text to the end of a file",
    ),
    spec("rm", "rm <path>", "remove a file or an empty directory"),
    spec("mv", "mv <from> <to>", "move or rename a file or directory"),
    spec("mkdir", "mkdir <path>", "make a directory"),
    spec(
        "stat",
        "stat <path>",
        "a file's size, capacity, whether it is on disk, region, rights",
    ),
    spec(
        "hexdump",
        "hexdump <path>",
        "a file's bytes in hex (the first 4 KiB)",
    ),
    spec(
        "sync",
        "sync",
        "write every change to the data disk, durably",
    ),
    spec("df", "df", "the data disk's size, used and free space"),
    spec(
        "run",
        "run <path> [grant...]",
        "start a program with endpoints to the tasks named",
    ),
    spec(
        "send",
        "send <task> <message>",
        "send a text command to a service",
    ),
    spec(
        "revoke",
        "revoke <task> <slot>",
        "delete every capability derived from one",
    ),
    spec(
        "kill",
        "kill <task>",
        "stop a task and delete its capabilities",
    ),
    spec(
        "restart",
        "restart <task>",
        "stop a task if running, start it afresh",
    ),
    spec(
        "fault",
        "fault <task> <kind>",
        "make a ring-3 task fault: pf gp ud de stack panic loop",
    ),
    spec("stats", "stats", "system-wide counters"),
    spec("bench", "bench", "measure the IPC round trip in the guest"),
    spec("uptime", "uptime", "time since boot"),
    spec("shutdown", "shutdown", "power off"),
];

const fn spec(name: &'static str, usage: &'static str, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        usage,
        summary,
    }
}

/// The command named `name`, if there is one.
pub fn find_command(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.name == name)
}

/// How `graph` shows the capability graph.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GraphView {
    /// `graph`: tasks, then each object's derivation tree, indented.
    Tree,
    /// `graph --dot`: Graphviz DOT, one node per task and per object;
    /// `graph --dot --slots`: one node per capability.
    Dot(DotDetail),
}

/// A parsed command line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// `help`, or `help <command>` for one.
    Help {
        topic: Option<&'static CommandSpec>,
    },
    Ps,
    /// `caps` for every task, `caps <task>` for one.
    Caps {
        task: Option<TaskRef>,
    },
    Graph {
        view: GraphView,
    },
    Mem,
    /// `ls` for the root, `ls <path>` for a directory.
    Ls {
        path: Option<String>,
    },
    Cat {
        path: String,
    },
    /// The text is the rest of the line, like `send`'s message.
    Write {
        path: String,
        text: String,
    },
    /// Like `write`, at the file's end.
    Append {
        path: String,
        text: String,
    },
    Rm {
        path: String,
    },
    Mv {
        from: String,
        to: String,
    },
    Mkdir {
        path: String,
    },
    Stat {
        path: String,
    },
    Hexdump {
        path: String,
    },
    /// `sync`: the fs's `Sync`, which makes every change durable.
    Sync,
    /// `df`: the fs's `Usage`.
    Df,
    /// `run <path> [grant...]`: the program in the file at `path`, started
    /// as the task `name` (the file's base name), given the shell's
    /// endpoint to each of `grants`, under that task's name.
    Run {
        path: String,
        name: String,
        grants: Vec<TaskRef>,
    },
    Send {
        task: TaskRef,
        text: String,
    },
    Revoke {
        task: TaskRef,
        slot: SlotRef,
    },
    Kill {
        task: TaskRef,
    },
    Restart {
        task: TaskRef,
    },
    Fault {
        task: TaskRef,
        kind: FaultKind,
    },
    Stats,
    Bench,
    Uptime,
    Shutdown,
}

/// Why a line is not a command.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CommandError {
    UnknownCommand {
        name: String,
    },
    MissingArgument {
        command: &'static str,
        argument: &'static str,
    },
    BadNumber {
        command: &'static str,
        text: String,
    },
    TooManyArguments {
        command: &'static str,
    },
    UnknownOption {
        command: &'static str,
        option: String,
    },
    /// A word that cannot be what it stands for: `why` completes
    /// "'<text>' ...".
    BadArgument {
        command: &'static str,
        text: String,
        why: &'static str,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = match self {
            CommandError::UnknownCommand { name } => {
                return write!(f, "unknown command '{name}'; type 'help' for the list");
            }
            CommandError::MissingArgument { command, argument } => {
                write!(f, "{command}: missing {argument}")?;
                command
            }
            CommandError::BadNumber { command, text } => {
                write!(
                    f,
                    "{command}: '{text}' is not a number from 0 to {}",
                    u32::MAX
                )?;
                command
            }
            CommandError::TooManyArguments { command } => {
                write!(f, "{command}: too many arguments")?;
                command
            }
            CommandError::UnknownOption { command, option } => {
                write!(f, "{command}: unknown option '{option}'")?;
                command
            }
            CommandError::BadArgument { command, text, why } => {
                write!(f, "{command}: '{text}' {why}")?;
                command
            }
        };
        let usage = find_command(command).map_or(*command, |spec| spec.usage);
        write!(f, "; usage: {usage} (type 'help {command}')")
    }
}

/// The words of a line after the command name, consumed in order.
struct Arguments<'a> {
    command: &'static str,
    rest: &'a str,
}

impl<'a> Arguments<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let trimmed = self
            .rest
            .trim_start_matches(|ch: char| ch.is_ascii_whitespace());
        if trimmed.is_empty() {
            self.rest = trimmed;
            return None;
        }
        let end = trimmed
            .find(|ch: char| ch.is_ascii_whitespace())
            .unwrap_or(trimmed.len());
        let (word, rest) = trimmed.split_at(end);
        self.rest = rest;
        Some(word)
    }

    /// Consumes the next word if it is `word` (an option that may follow).
    fn take(&mut self, word: &str) -> bool {
        let before = self.rest;
        if self.next() == Some(word) {
            return true;
        }
        self.rest = before;
        false
    }

    fn required(&mut self, argument: &'static str) -> Result<&'a str, CommandError> {
        self.next().ok_or(CommandError::MissingArgument {
            command: self.command,
            argument,
        })
    }

    /// The rest of the line, leading and trailing whitespace removed.
    fn remainder(&mut self, argument: &'static str) -> Result<&'a str, CommandError> {
        let text = self.rest.trim_matches(|ch: char| ch.is_ascii_whitespace());
        self.rest = "";
        if text.is_empty() {
            return Err(CommandError::MissingArgument {
                command: self.command,
                argument,
            });
        }
        Ok(text)
    }

    fn task(&mut self) -> Result<TaskRef, CommandError> {
        let word = self.required("<task>")?;
        TaskRef::parse(self.command, word)
    }

    fn end(mut self) -> Result<(), CommandError> {
        match self.next() {
            None => Ok(()),
            Some(_) => Err(CommandError::TooManyArguments {
                command: self.command,
            }),
        }
    }
}

/// Parses one line. A blank line is `Ok(None)`: nothing to do.
pub fn parse(line: &str) -> Result<Option<Command>, CommandError> {
    let mut words = Arguments {
        command: "",
        rest: line,
    };
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let Some(spec) = find_command(name) else {
        return Err(CommandError::UnknownCommand {
            name: name.to_string(),
        });
    };
    words.command = spec.name;
    let command = match spec.name {
        "help" => {
            let topic = match words.next() {
                None => None,
                Some(topic) => {
                    Some(
                        find_command(topic).ok_or_else(|| CommandError::UnknownCommand {
                            name: topic.to_string(),
                        })?,
                    )
                }
            };
            Command::Help { topic }
        }
        "ps" => Command::Ps,
        "caps" => {
            let task = match words.next() {
                None => None,
                Some(word) => Some(TaskRef::parse(spec.name, word)?),
            };
            Command::Caps { task }
        }
        "graph" => {
            let view = match words.next() {
                None => GraphView::Tree,
                Some("--dot") => GraphView::Dot(if words.take("--slots") {
                    DotDetail::Slots
                } else {
                    DotDetail::Objects
                }),
                Some(option) => {
                    return Err(CommandError::UnknownOption {
                        command: spec.name,
                        option: option.to_string(),
                    });
                }
            };
            Command::Graph { view }
        }
        "mem" => Command::Mem,
        "ls" => Command::Ls {
            path: words.next().map(ToString::to_string),
        },
        "cat" => Command::Cat {
            path: words.required("<path>")?.to_string(),
        },
        "write" => {
            let path = words.required("<path>")?.to_string();
            let text = words.remainder("<text>")?.to_string();
            Command::Write { path, text }
        }
        "append" => {
            let path = words.required("<path>")?.to_string();
            let text = words.remainder("<text>")?.to_string();
            Command::Append { path, text }
        }
        "rm" => Command::Rm {
            path: words.required("<path>")?.to_string(),
        },
        "mv" => {
            let from = words.required("<from>")?.to_string();
            let to = words.required("<to>")?.to_string();
            Command::Mv { from, to }
        }
        "mkdir" => Command::Mkdir {
            path: words.required("<path>")?.to_string(),
        },
        "stat" => Command::Stat {
            path: words.required("<path>")?.to_string(),
        },
        "hexdump" => Command::Hexdump {
            path: words.required("<path>")?.to_string(),
        },
        "sync" => Command::Sync,
        "df" => Command::Df,
        "run" => {
            let path = words.required("<path>")?;
            let name = program_name(path)?.to_string();
            let grants = run_grants(core::iter::from_fn(|| words.next()))?;
            Command::Run {
                path: path.to_string(),
                name,
                grants,
            }
        }
        "send" => {
            let task = words.task()?;
            let text = words.remainder("<message>")?.to_string();
            Command::Send { task, text }
        }
        "revoke" => {
            let task = words.task()?;
            let slot = SlotRef::parse(spec.name, words.required("<slot>")?)?;
            Command::Revoke { task, slot }
        }
        "kill" => Command::Kill {
            task: words.task()?,
        },
        "restart" => Command::Restart {
            task: words.task()?,
        },
        "fault" => {
            let task = words.task()?;
            let word = words.required("<kind>")?;
            let kind = FaultKind::parse(word).ok_or_else(|| CommandError::BadArgument {
                command: spec.name,
                text: word.to_string(),
                why: "is not a fault (pf, gp, ud, de, stack, panic, loop)",
            })?;
            Command::Fault { task, kind }
        }
        "stats" => Command::Stats,
        "bench" => Command::Bench,
        "uptime" => Command::Uptime,
        "shutdown" => Command::Shutdown,
        // Only reachable if `COMMANDS` grows a name this match lacks.
        _ => {
            return Err(CommandError::UnknownCommand {
                name: name.to_string(),
            });
        }
    };
    words.end()?;
    Ok(Some(command))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
