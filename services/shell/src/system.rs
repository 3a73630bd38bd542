//! What the shell asks of the running system: the [`System`] trait, one
//! method per command that needs the kernel, and the plain data it answers
//! with.
//!
//! The kernel implements `System` over its own tables (the scheduler's
//! `TaskInfo`, the `CapSystem`, the frame allocator and heap); tests
//! implement it with fixed data. Answers are plain structs rather than
//! kernel types so this crate depends on neither the kernel nor its
//! scheduler, and so the formats in `output.rs` are pure functions of them.
//! A failure is a human-readable `String`, printed as one `error:` line.

use alloc::string::String;
use alloc::vec::Vec;

use mealy_caps::{Object, Snapshot};
pub use mealy_protocol::inspect::{BenchReport, MemReport, RegionRow, Stats, TaskRow, TaskStatus};
use mealy_protocol::{Badge, CapRef, Rights};

use crate::command::{SlotRef, TaskRef};

/// One line of `caps`: a capability and who holds it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CapRow {
    /// The id of the task whose CSpace holds it.
    pub task: u32,
    /// Its name there: slot and generation.
    pub slot: CapRef,
    pub rights: Rights,
    pub badge: Option<Badge>,
    pub object: Object,
}

/// The running system, as the shell sees it. Each method runs to
/// completion; `Err` is a one-line reason (a newline in it is shown as a
/// space).
pub trait System {
    /// Every task, in id order.
    fn tasks(&mut self) -> Result<Vec<TaskRow>, String>;

    /// The capabilities `task` holds, or every task's when `None`; grouped
    /// by task, then in slot order.
    fn caps(&mut self, task: Option<&TaskRef>) -> Result<Vec<CapRow>, String>;

    /// The whole capability graph, with task names attached
    /// (`Snapshot::name_task`).
    fn graph(&mut self) -> Result<Snapshot, String>;

    fn memory(&mut self) -> Result<MemReport, String>;

    /// Sends `text` to a service that takes text commands. Returns its
    /// answer if it gave one synchronously, else `None` ("sent").
    fn send(&mut self, task: &TaskRef, text: &str) -> Result<Option<String>, String>;

    /// Revokes every capability derived from the one in `task`'s `slot`;
    /// returns how many were deleted.
    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String>;

    /// Stops `task` for good and deletes its capabilities.
    fn kill(&mut self, task: &TaskRef) -> Result<(), String>;

    fn stats(&mut self) -> Result<Stats, String>;

    fn bench(&mut self) -> Result<BenchReport, String>;

    /// Nanoseconds since boot.
    fn uptime_ns(&mut self) -> Result<u64, String>;

    /// Arranges power-off once the current output has been written. `Ok`
    /// makes the shell stop reading input; `Err` is printed and it goes on.
    fn shutdown(&mut self) -> Result<(), String>;
}
