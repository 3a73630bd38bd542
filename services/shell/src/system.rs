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

/// One entry of `ls`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileRow {
    pub name: String,
    pub directory: bool,
    /// File: bytes; directory: entries.
    pub size: u64,
}

/// The answer to `ls`: the entries that fit one answer of the fs, and how
/// many more the directory has.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Listing {
    pub entries: Vec<FileRow>,
    pub not_shown: u32,
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

    /// The entries of the directory at `path` (`""` is the root). The file
    /// commands default to "no file system", so a `System` without one
    /// needs no code for them.
    fn list(&mut self, path: &str) -> Result<Listing, String> {
        let _ = path;
        Err("no file system".into())
    }

    /// The contents of the file at `path`.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let _ = path;
        Err("no file system".into())
    }

    /// Replaces the contents of the file at `path` with `bytes`; returns
    /// how many bytes the file now holds.
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<u64, String> {
        let _ = (path, bytes);
        Err("no file system".into())
    }

    /// Arranges power-off once the current output has been written. `Ok`
    /// makes the shell stop reading input; `Err` is printed and it goes on.
    fn shutdown(&mut self) -> Result<(), String>;
}
