//! Mealy's debug shell, portable core: where a person at the serial
//! console sees every task and capability and pokes the running system.
//!
//! `#![no_std]` with `alloc`, `#![forbid(unsafe_code)]`; depends on
//! `mealy-protocol` (capability types) and `mealy-caps` (the graph
//! [`Snapshot`](mealy_caps::Snapshot) and its renderers), never on the
//! kernel. The kernel feeds it serial bytes and implements [`System`]; every
//! piece is a plain state machine or a pure function, tested on the host.
//!
//! - `line`: the line editor (echo, backspace, history, Ctrl-C, limits).
//! - `command`: a line to a typed [`Command`], or a one-line [`CommandError`].
//! - `system`: the [`System`] trait and the plain data it answers with.
//! - `output`: the stable output formats (see README.md).
//! - `shell`: [`Shell::feed`], tying them together.
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
pub mod line;
pub mod output;
mod shell;
mod system;

#[cfg(test)]
mod fake_system;
#[cfg(test)]
mod tests;

pub use command::{COMMANDS, Command, CommandError, CommandSpec, SlotRef, TaskRef};
pub use line::{LineEditor, LineError, LineEvent, MAX_LINE};
pub use shell::{GREETING, Output, PROMPT, Shell};
pub use system::{
    BenchReport, CapRow, FileRow, Listing, MemReport, RegionRow, Stats, System, TaskRow, TaskStatus,
};
