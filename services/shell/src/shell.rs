//! The shell itself: bytes from the terminal in, text for the terminal
//! out, with the running system behind a `&mut dyn System`.
//!
//! [`Shell::feed`] runs the line editor over the bytes; each completed line
//! is parsed and run against the [`System`], and its output is followed by
//! the prompt ([`PROMPT`], which the host tooling waits for). A command
//! that needs another task's answer (`send`, the file commands: `job.rs`)
//! makes its call and returns; the shell then holds what is typed until
//! [`Shell::answer`] brings the answer, or [`Shell::expire`] finds it
//! overdue ([`ANSWER_TIMEOUT_NS`]), or Ctrl-C gives up on it. So a line
//! still produces, after its echo, either its output or exactly one
//! `error: ` line, then the prompt, and typed-ahead lines run in order
//! after it, one per [`Shell::continue_input`]. Nothing here can fail: every error is printed, and the shell
//! keeps reading, until a successful `shutdown`.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::CallToken;

use crate::command::{self, Command};
use crate::job::{Failure, Job, Progress};
use crate::line::{LineEditor, LineEvent};
use crate::output;
use crate::system::{Answer, System};

/// How long a command waits for another task's answer before it gives up
/// with an error line.
pub const ANSWER_TIMEOUT_NS: u64 = 5_000_000_000;

/// How long the shell's start waits for the fs to be ready (it mounts
/// the data disk first, which takes seconds under emulation) before it
/// prompts anyway with an error line.
pub const READY_TIMEOUT_NS: u64 = 60_000_000_000;

/// The most input held while a command waits or lines wait their turn;
/// bytes past it are dropped, and the shell says how many.
pub const HELD_LIMIT: usize = 64 * 1024;

/// Ctrl-C: gives up on the command that is waiting.
const CANCEL: u8 = 0x03;

/// The prompt, printed at start and after every line; defined with the
/// terminal protocol, since the host tools wait for it.
pub use mealy_protocol::terminal::PROMPT;

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
    /// The command waiting for an answer, if any.
    waiting: Option<Waiting>,
    /// What was typed while it waits, in order.
    held: VecDeque<u8>,
    /// Bytes dropped since the last report, past [`HELD_LIMIT`].
    dropped: usize,
}

#[derive(Debug)]
struct Waiting {
    job: Job,
    token: CallToken,
    /// `System::uptime_ns` after which it gives up.
    deadline_ns: u64,
    /// How long it was given, for the message if it gives up.
    timeout_ns: u64,
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

    /// The greeting, then the first prompt once the fs is ready: the
    /// shell asks the fs ([`Job::ready`]), which answers once it has
    /// mounted, so what the fs logs at start comes before the prompt and
    /// the first command finds it ready. Typed input waits meanwhile, as
    /// behind any command. Without an fs to ask, the prompt comes at once.
    pub fn start_with(&mut self, system: &mut dyn System) -> Output {
        let Some((job, token)) = Job::ready(system) else {
            return self.start();
        };
        self.waiting = Some(Waiting {
            job,
            token,
            deadline_ns: deadline(system, READY_TIMEOUT_NS),
            timeout_ns: READY_TIMEOUT_NS,
        });
        Output {
            text: String::from(GREETING),
            shutdown: false,
        }
    }

    /// Whether `shutdown` has succeeded; the shell then ignores input.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// When the command that is waiting gives up, in `System::uptime_ns`
    /// time: the caller arranges to call [`Shell::expire`] then.
    pub fn deadline_ns(&self) -> Option<u64> {
        self.waiting.as_ref().map(|waiting| waiting.deadline_ns)
    }

    /// Takes bytes from the terminal, runs every line they complete, and
    /// returns what to show. While a command waits, the bytes are held.
    pub fn feed(&mut self, bytes: &[u8], system: &mut dyn System) -> Output {
        let mut out = Output::default();
        self.take(bytes.iter().copied(), system, &mut out);
        out
    }

    /// Goes on with the command waiting for `token`, with its answer. An
    /// answer nobody waits for (it came too late) is dropped, and so are
    /// the capabilities that came with it.
    pub fn answer(&mut self, token: CallToken, answer: Answer, system: &mut dyn System) -> Output {
        let mut out = Output::default();
        let Some(waiting) = self
            .waiting
            .as_mut()
            .filter(|waiting| waiting.token == token)
        else {
            if let Answer::Reply { caps, .. } = answer {
                for cap in caps {
                    system.drop_cap(cap);
                }
            }
            return out;
        };
        match waiting.job.resume(answer, system, &mut out.text) {
            Ok(Progress::Wait(next)) => {
                waiting.token = next;
                waiting.deadline_ns = deadline(system, waiting.timeout_ns);
                return out;
            }
            Ok(Progress::Done) => {}
            Err(failure) => error_line(&mut out.text, &failure),
        }
        self.finish_waiting(&mut out);
        out
    }

    /// Gives up on the waiting command if `now_ns` is past its deadline.
    pub fn expire(&mut self, now_ns: u64) -> Output {
        let mut out = Output::default();
        let Some(waiting) = self.waiting.as_ref().filter(|w| now_ns >= w.deadline_ns) else {
            return out;
        };
        let failure = Failure {
            command: waiting.job.command(),
            reason: alloc::format!(
                "{} did not answer within {} s",
                waiting.job.peer(),
                waiting.timeout_ns / 1_000_000_000
            ),
        };
        error_line(&mut out.text, &failure);
        self.finish_waiting(&mut out);
        out
    }

    /// The waiting command is over: the prompt. The input held meanwhile
    /// waits for [`Shell::continue_input`].
    fn finish_waiting(&mut self, out: &mut Output) {
        self.waiting = None;
        self.prompt(out);
    }

    /// Whether typed lines wait for their turn ([`Shell::continue_input`]).
    /// The shell runs one line per call, so one long paste does not keep
    /// every other task waiting; its task calls back for the rest.
    pub fn has_held_input(&self) -> bool {
        self.waiting.is_none() && !self.held.is_empty() && !self.shut_down
    }

    /// Runs the next held line, if no command is waiting.
    pub fn continue_input(&mut self, system: &mut dyn System) -> Output {
        let mut out = Output::default();
        if self.waiting.is_none() {
            let held: Vec<u8> = self.held.drain(..).collect();
            self.take(held.into_iter(), system, &mut out);
        }
        out
    }

    fn take(&mut self, bytes: impl Iterator<Item = u8>, system: &mut dyn System, out: &mut Output) {
        let mut bytes = bytes.peekable();
        while let Some(byte) = bytes.next() {
            if self.shut_down {
                break;
            }
            if self.waiting.is_some() || !self.held.is_empty() {
                self.hold(byte, out);
                continue;
            }
            let Some(event) = self.editor.push(byte, &mut out.text) else {
                continue;
            };
            match event {
                LineEvent::Line(line) => self.run_line(&line, system, out),
                LineEvent::Error(error) => error_line(&mut out.text, &error),
                LineEvent::Cancelled => {}
            }
            if self.waiting.is_none() {
                self.prompt(out);
            }
            // One line per call: the rest waits its turn.
            if bytes.peek().is_some() && !self.shut_down {
                bytes.for_each(|byte| self.hold(byte, out));
                break;
            }
        }
        if self.dropped > 0 && self.waiting.is_none() {
            let dropped = core::mem::take(&mut self.dropped);
            let reason = alloc::format!(
                "input: {dropped} bytes dropped: more than {HELD_LIMIT} were waiting their turn"
            );
            error_line(&mut out.text, &reason);
            self.prompt(out);
        }
    }

    /// A byte typed while a command waits, or behind a line not yet run:
    /// Ctrl-C while a command waits gives up on it (and on what was typed
    /// after it, as a terminal does); anything else waits its turn.
    fn hold(&mut self, byte: u8, out: &mut Output) {
        if byte == CANCEL && self.waiting.is_some() {
            self.waiting = None;
            self.held.clear();
            out.text.push_str("^C\n");
            self.prompt(out);
        } else if self.held.len() < HELD_LIMIT {
            self.held.push_back(byte);
        } else {
            self.dropped += 1;
        }
    }

    fn prompt(&mut self, out: &mut Output) {
        if self.shut_down {
            out.shutdown = true;
        } else {
            out.text.push_str(PROMPT);
        }
    }

    fn run_line(&mut self, line: &str, system: &mut dyn System, out: &mut Output) {
        match command::parse(line) {
            Ok(None) => {}
            Ok(Some(command)) => match Job::start(&command, system) {
                Some(Ok((job, token))) => {
                    self.waiting = Some(Waiting {
                        job,
                        token,
                        deadline_ns: deadline(system, ANSWER_TIMEOUT_NS),
                        timeout_ns: ANSWER_TIMEOUT_NS,
                    });
                }
                Some(Err(failure)) => error_line(&mut out.text, &failure),
                None => {
                    if let Err(reason) = self.run(&command, system, &mut out.text) {
                        error_line(&mut out.text, &reason);
                    }
                }
            },
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
            Command::Graph { view } => {
                output::write_graph(text, &failed("graph", system.graph())?, *view)
            }
            Command::Mem => output::write_memory(text, &failed("mem", system.memory())?),
            Command::Revoke { task, slot } => {
                let count = failed("revoke", system.revoke(task, *slot))?;
                output::write_revoked(text, task, *slot, count)
            }
            Command::Kill { task } => {
                failed("kill", system.kill(task))?;
                output::write_killed(text, task)
            }
            Command::Restart { task } => {
                failed("restart", system.restart(task))?;
                output::write_restarted(text, task)
            }
            Command::Fault { task, kind } => {
                failed("fault", system.fault(task, *kind))?;
                output::write_fault_sent(text, task, *kind)
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
            // Each is a `Job`: `run_line` started it instead.
            Command::Ls { .. }
            | Command::Cat { .. }
            | Command::Hexdump { .. }
            | Command::Stat { .. }
            | Command::Rm { .. }
            | Command::Mv { .. }
            | Command::Mkdir { .. }
            | Command::Write { .. }
            | Command::Append { .. }
            | Command::Run { .. }
            | Command::Sync
            | Command::Df
            | Command::Send { .. } => Ok(()),
        };
        Ok(())
    }
}

fn failed<T>(command: &'static str, answer: Result<T, String>) -> Result<T, Failure> {
    answer.map_err(|reason| Failure { command, reason })
}

fn error_line(text: &mut String, reason: &dyn fmt::Display) {
    let _ = output::write_error(text, reason);
}

/// When a call made now, given `timeout_ns`, gives up.
fn deadline(system: &mut dyn System, timeout_ns: u64) -> u64 {
    system.uptime_ns().unwrap_or(0).saturating_add(timeout_ns)
}
