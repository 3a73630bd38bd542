//! The shell itself: bytes from the terminal in, text for the terminal
//! out, with the running system behind a `&mut dyn System`.
//!
//! [`Shell::feed`] runs the line editor over the bytes; each completed line
//! is parsed and run at once against the [`System`], and its output is
//! followed by the prompt ([`PROMPT`], which the host tooling waits for). A
//! line therefore produces, after its echo, either its output or exactly one
//! `error: ` line, then the prompt. Nothing here can fail: every error is
//! printed, and the shell keeps reading, until a successful `shutdown`.

use alloc::string::String;
use core::fmt;

use crate::command::{self, Command};
use crate::line::{LineEditor, LineEvent};
use crate::output;
use crate::system::System;

/// The prompt, printed at start and after every line. Exactly this string:
/// `cargo xtask qemu` and the test scenarios wait for it.
pub const PROMPT: &str = "mealy> ";

/// What the shell prints first.
pub const GREETING: &str = "Mealy debug shell; type 'help' for commands\n";

/// What one call to the shell produced.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Output {
    /// Echo, command output and prompts, in order, for the terminal.
    pub text: String,
    /// `shutdown` succeeded: the shell takes no more input (as
    /// `is_shut_down` says). Powering off is the system's part: the kernel
    /// does it once this text has been shown.
    pub shutdown: bool,
}

/// The debug shell's state: the line being edited, the history, and
/// whether it has shut down.
#[derive(Debug, Default)]
pub struct Shell {
    editor: LineEditor,
    shut_down: bool,
}

impl Shell {
    pub fn new() -> Self {
        Self::default()
    }

    /// The greeting and the first prompt.
    pub fn start(&self) -> Output {
        let mut text = String::from(GREETING);
        text.push_str(PROMPT);
        Output {
            text,
            shutdown: false,
        }
    }

    /// Whether `shutdown` has succeeded; the shell then ignores input.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// Takes bytes from the terminal, runs every line they complete, and
    /// returns what to show.
    pub fn feed(&mut self, bytes: &[u8], system: &mut dyn System) -> Output {
        let mut out = Output::default();
        for &byte in bytes {
            if self.shut_down {
                break;
            }
            let Some(event) = self.editor.push(byte, &mut out.text) else {
                continue;
            };
            match event {
                LineEvent::Line(line) => self.run_line(&line, system, &mut out),
                LineEvent::Error(error) => error_line(&mut out.text, &error),
                LineEvent::Cancelled => {}
            }
            if self.shut_down {
                out.shutdown = true;
            } else {
                out.text.push_str(PROMPT);
            }
        }
        out
    }

    fn run_line(&mut self, line: &str, system: &mut dyn System, out: &mut Output) {
        match command::parse(line) {
            Ok(None) => {}
            Ok(Some(command)) => {
                if let Err(reason) = self.run(&command, system, &mut out.text) {
                    error_line(&mut out.text, &reason);
                }
            }
            Err(error) => error_line(&mut out.text, &error),
        }
    }

    /// Runs one command, writing its output to `text`; a system failure is
    /// returned, already prefixed with the command's name, and printed by
    /// the caller instead of any output.
    fn run(
        &mut self,
        command: &Command,
        system: &mut dyn System,
        text: &mut String,
    ) -> Result<(), Failure> {
        // Writing to a `String` cannot fail, so `fmt::Result`s are dropped.
        let _ = match command {
            Command::Help { topic: None } => output::write_help(text),
            Command::Help { topic: Some(spec) } => output::write_help_line(text, spec),
            Command::Ps => output::write_tasks(text, &failed("ps", system.tasks())?),
            Command::Caps { task } => {
                output::write_caps(text, &failed("caps", system.caps(task.as_ref()))?)
            }
            Command::Graph { dot } => {
                output::write_graph(text, &failed("graph", system.graph())?, *dot)
            }
            Command::Mem => output::write_memory(text, &failed("mem", system.memory())?),
            Command::Ls { path } => {
                let path = path.as_deref().unwrap_or("");
                output::write_listing(text, &failed("ls", system.list(path))?)
            }
            Command::Cat { path } => output::write_file(text, &failed("cat", system.read(path))?),
            Command::Write {
                path,
                text: contents,
            } => {
                let written = failed("write", system.write(path, contents.as_bytes()))?;
                output::write_written(text, path, written)
            }
            Command::Send {
                task,
                text: message,
            } => {
                let answer = failed("send", system.send(task, message))?;
                output::write_send(text, task, answer.as_deref())
            }
            Command::Revoke { task, slot } => {
                let count = failed("revoke", system.revoke(task, *slot))?;
                output::write_revoked(text, task, *slot, count)
            }
            Command::Kill { task } => {
                failed("kill", system.kill(task))?;
                output::write_killed(text, task)
            }
            Command::Stats => output::write_stats(text, &failed("stats", system.stats())?),
            Command::Bench => output::write_bench(text, &failed("bench", system.bench())?),
            Command::Uptime => output::write_uptime(text, failed("uptime", system.uptime_ns())?),
            Command::Shutdown => {
                failed("shutdown", system.shutdown())?;
                self.shut_down = true;
                text.push_str("shutting down\n");
                Ok(())
            }
        };
        Ok(())
    }
}

/// A command the system could not carry out: `<command>: <reason>`.
struct Failure {
    command: &'static str,
    reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.command, self.reason)
    }
}

fn failed<T>(command: &'static str, answer: Result<T, String>) -> Result<T, Failure> {
    answer.map_err(|reason| Failure { command, reason })
}

fn error_line(text: &mut String, reason: &dyn fmt::Display) {
    let _ = output::write_error(text, reason);
}
