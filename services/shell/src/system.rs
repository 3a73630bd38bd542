//! What the shell asks of the running system: the [`System`] trait, one
//! method per command that needs the kernel, and the plain data it answers
//! with.
//!
//! The shell's task implements `System` over its `Context` and the
//! capabilities it was granted (`ContextSystem`); the tests run that same
//! implementation over `mealy_protocol::testing::FakeContext`
//! (`fake_system.rs` plays the kernel and the peers). Answers are plain
//! structs rather than kernel types so this crate depends on neither the
//! kernel nor its scheduler, and so the formats in `output.rs` are pure
//! functions of them.
//! A failure is a human-readable `String`, printed as one `error:` line.

use alloc::string::String;
use alloc::vec::Vec;

use mealy_caps::{Object, Snapshot};
pub use mealy_protocol::inspect::{BenchReport, MemReport, RegionRow, Stats, TaskRow, TaskStatus};
use mealy_protocol::{Badge, CallFailure, CallToken, CapRef, Incoming, MessageKind, Rights};

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

/// A program `run` started: its task id, if the kernel's tables showed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Started {
    pub id: Option<u32>,
}

/// A call on its way: the answer will name `token`; `peer` is the
/// callee's name, for messages about it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Call {
    pub token: CallToken,
    pub peer: String,
}

/// How a call ended: the answer's payload and the capabilities that came
/// with it (now the shell's), or why no answer will come.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Answer {
    Reply { payload: Vec<u8>, caps: Vec<CapRef> },
    Failed(CallFailure),
}

impl Answer {
    /// The answer `msg` brings, and the call it answers; `None` if `msg`
    /// answers no call.
    pub fn of(msg: &Incoming<'_>) -> Option<(CallToken, Answer)> {
        match msg.kind {
            MessageKind::Reply { token } => {
                let payload = msg.payload.to_vec();
                let caps = msg.caps().to_vec();
                Some((token, Answer::Reply { payload, caps }))
            }
            MessageKind::CallFailed { token, reason } => Some((token, Answer::Failed(reason))),
            MessageKind::Request
            | MessageKind::Timeout
            | MessageKind::Interrupt { .. }
            | MessageKind::TaskExited { .. }
            | MessageKind::InjectFault { .. } => None,
        }
    }
}

/// The running system, as the shell sees it. Each method runs to
/// completion; `Err` is a one-line reason (a newline in it is shown as a
/// space). A command that needs another task's answer starts with
/// [`System::call`] and goes on when the answer comes: the shell never
/// waits inside a method.
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

    /// Revokes every capability derived from the one in `task`'s `slot`;
    /// returns how many were deleted.
    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String>;

    /// Stops `task` for good and deletes its capabilities.
    fn kill(&mut self, task: &TaskRef) -> Result<(), String>;

    /// Stops `task` if it runs, and starts a fresh instance of it with
    /// the same id and endpoint (`Context::restart_task`).
    fn restart(&mut self, task: &TaskRef) -> Result<(), String>;

    /// Makes the ring-3 task `task` commit the fault `kind`
    /// (`Context::inject_fault`).
    fn fault(
        &mut self,
        task: &TaskRef,
        kind: mealy_protocol::supervision::FaultKind,
    ) -> Result<(), String>;

    fn stats(&mut self) -> Result<Stats, String>;

    fn bench(&mut self) -> Result<BenchReport, String>;

    /// Nanoseconds since boot.
    fn uptime_ns(&mut self) -> Result<u64, String>;

    /// Calls `task` through the shell's endpoint to it with `request`
    /// (postcard bytes). The answer comes later, as an ordinary message,
    /// to [`Shell::answer`](crate::Shell::answer).
    fn call(&mut self, task: &TaskRef, request: &[u8]) -> Result<Call, String>;

    /// The shell's endpoint to `task`, to give a program, and the name
    /// it is given under: the task's.
    fn endpoint(&mut self, task: &TaskRef) -> Result<(String, CapRef), String>;

    /// Starts the program in the Region `program` (READ) as the ring-3
    /// task `name`, giving it `grants` (each a name and a capability of
    /// the shell's, which needs GRANT on it). The shell keeps the Task
    /// capability it gets, so `kill` and `revoke` reach the program.
    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(String, CapRef)],
    ) -> Result<Started, String>;

    /// Shows the pages of the Region capability `region` to `read`.
    fn read_region(&mut self, region: CapRef, read: &mut dyn FnMut(&[u8])) -> Result<(), String>;

    /// Lets `write` change the pages of `region` (needs WRITE on it).
    fn write_region(
        &mut self,
        region: CapRef,
        write: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), String>;

    /// The rights the shell's capability `cap` carries.
    fn rights(&mut self, cap: CapRef) -> Result<Rights, String>;

    /// Deletes the shell's capability `cap` (one that came with an
    /// answer and is no longer needed). A failure is not worth a line.
    fn drop_cap(&mut self, cap: CapRef);

    /// Arranges power-off once the current output has been written. `Ok`
    /// makes the shell stop reading input; `Err` is printed and it goes on.
    fn shutdown(&mut self) -> Result<(), String>;
}
