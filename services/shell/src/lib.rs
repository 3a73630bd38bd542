//! Mealy's debug shell, portable core: where a person at the serial
//! console sees every task and capability and pokes the running system.
//!
//! `#![no_std]` with `alloc`, `#![forbid(unsafe_code)]`; depends on
//! `mealy-protocol` (capability types) and `mealy-caps` (the graph
//! [`Snapshot`](mealy_caps::Snapshot) and its renderers), never on the
//! kernel. [`ShellTask`] is the task the kernel starts: keystrokes come
//! from the console as messages, output goes back to it, and every command
//! acts through the task's own capabilities. Every piece is a plain state
//! machine or a pure function, tested on the host.
//!
//! - `line`: the line editor (echo, backspace, history, Ctrl-C, limits).
//! - `command`: a line to a typed [`Command`], or a one-line [`CommandError`];
//!   `names`: how a line names tasks, slots, programs and grants.
//! - `system`: the [`System`] trait and the plain data it answers with.
//! - `job`: the commands that wait for another task's answer.
//! - `programs`: the programs `run` started (their Task capabilities) and
//!   what a refused spawn means.
//! - `output`: the stable output formats (see README.md).
//! - `shell`: [`Shell::feed`] and [`Shell::answer`], tying them together.
//! - `context_system`: [`System`] over a `Context` and the task's grants.
//! - `task`: [`ShellTask`], the `StateMachine`.
//!
//! Invariant: for every completed line the shell prints, after the echo,
//! either the command's output or exactly one `error: ` line, then
//! [`PROMPT`]; no input makes it panic or stop, except a successful
//! `shutdown`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod command;
mod context_system;
mod job;
pub mod line;
mod names;
pub mod output;
mod programs;
mod shell;
mod system;
mod task;

#[cfg(test)]
mod fake_fs;
#[cfg(test)]
mod fake_kernel;
#[cfg(test)]
mod fake_system;
#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;

pub use command::{
    COMMANDS, Command, CommandError, CommandSpec, GraphView, MAX_GRANTS, SlotRef, TaskRef,
};
pub use context_system::{ContextSystem, INSPECT, KERNEL, task_grant};
pub use job::{FS, Failure, HEXDUMP_LIMIT};
pub use line::{LineEditor, LineError, LineEvent, MAX_LINE};
pub use programs::{Program, Programs, SpawnRefused};
pub use shell::{ANSWER_TIMEOUT_NS, GREETING, HELD_LIMIT, Output, PROMPT, Shell};
pub use system::{
    Answer, BenchReport, Call, CapRow, FileRow, Listing, MemReport, RegionRow, Started, Stats,
    System, TaskRow, TaskStatus,
};
pub use task::{NAME, RETRY_NS, ShellTask, TERMINAL, TIMER};
