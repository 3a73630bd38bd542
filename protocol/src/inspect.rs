//! Inspection: what the holder of an `Inspect` capability may read of the
//! kernel's tables, for the debug shell. [`Context::inspect`](crate::Context::inspect)
//! takes a [`Query`] and answers with the matching [`Report`].
//!
//! The reports are plain owned data (they need the heap, unlike the rest
//! of this crate: a task list or a capability graph has no fixed size),
//! copied out of the kernel at the moment of the query, so the reader never
//! holds a borrow of kernel state. The answer to [`Query::Graph`] is the
//! capability model's own [`Snapshot`], with task names attached. Each is
//! serde, so a ring-3 holder gets it postcard-encoded (`abi::Syscall::Inspect`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use mealy_caps::Snapshot;
use serde::{Deserialize, Serialize};

/// What to read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Query {
    /// Every task, in id order.
    Tasks,
    /// Every CSpace, capability, object and derivation, with task names.
    Graph,
    /// Frames, heap and live regions.
    Memory,
    /// Totals over every task and the capability tables.
    Stats,
    /// Run the kernel's IPC benchmark (two private tasks, off the run
    /// queue) and report it.
    Bench,
}

/// The answer to a [`Query`] of the same name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Report {
    Tasks(Vec<TaskRow>),
    Graph(Snapshot),
    Memory(MemReport),
    Stats(Stats),
    Bench(BenchReport),
}

impl Report {
    /// The report as `Syscall::Inspect` hands it to ring 3: postcard, on
    /// the heap (a capability graph has no fixed size).
    pub fn encode(&self) -> Result<Vec<u8>, crate::CodecError> {
        postcard::to_allocvec(self).map_err(|_| crate::CodecError::Invalid)
    }

    /// A report [`Report::encode`] made; anything else is an error.
    pub fn decode(bytes: &[u8]) -> Result<Report, crate::CodecError> {
        crate::codec::decode(bytes)
    }
}

/// Where a task is in its life (the kernel's `TaskState`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum TaskStatus {
    Idle,
    Queued,
    Running,
    Faulted,
    Stopped,
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Idle => "idle",
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Faulted => "faulted",
            TaskStatus::Stopped => "stopped",
        })
    }
}

/// One line of `ps`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: u32,
    pub name: String,
    pub state: TaskStatus,
    /// The privilege level its handlers run at: 0 for a task linked into
    /// the kernel, 3 for a program in its own protection domain.
    pub ring: u8,
    /// Messages waiting now.
    pub mailbox_depth: u32,
    /// The most messages ever waiting at once.
    pub mailbox_high_water: u32,
    /// Messages delivered to its handler.
    pub handled: u64,
    /// Time spent in its handler, in nanoseconds.
    pub time_ns: u64,
    /// Times it was restarted in place (`Context::restart_task`).
    pub restarts: u32,
    /// How its last instance to fault ended, if one did.
    pub last_fault: Option<Fault>,
}

/// Why a task's instance ended, as the kernel saw it: what a supervisor's
/// [`MessageKind::TaskExited`](crate::MessageKind::TaskExited) notice and
/// `ps`'s LAST FAULT column say. Two bytes, so the notice fits the same
/// sixteen bytes as every other [`MessageKind`](crate::MessageKind).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ExitCause {
    /// Stopped by a holder of its Task capability (`stop_task`): no fault.
    Stopped,
    /// A CPU exception in ring 3, by vector (14 is a page fault).
    Exception { vector: u8 },
    /// Its handler ran past its budget and was preempted.
    OverBudget,
    /// A ring-0 handler returned `HandleError::Fatal`, or a program
    /// panicked or ended its handler as fatal.
    Fatal,
    /// The kernel could not resume it (a corrupt trap frame).
    BadFrame,
}

/// One fault: its cause and the address it names (for a page fault the
/// address touched, for other exceptions and a budget overrun the
/// instruction; 0 where there is none).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub cause: ExitCause,
    pub address: u64,
}

impl fmt::Display for ExitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitCause::Stopped => f.write_str("stopped"),
            ExitCause::Exception { vector: 0 } => f.write_str("#DE"),
            ExitCause::Exception { vector: 6 } => f.write_str("#UD"),
            ExitCause::Exception { vector: 13 } => f.write_str("#GP"),
            ExitCause::Exception { vector: 14 } => f.write_str("#PF"),
            ExitCause::Exception { vector } => write!(f, "exception {vector}"),
            ExitCause::OverBudget => f.write_str("budget"),
            ExitCause::Fatal => f.write_str("fatal"),
            ExitCause::BadFrame => f.write_str("bad-frame"),
        }
    }
}

impl fmt::Display for Fault {
    /// `#PF@0x1000`; a fault with no address is its cause alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.address == 0 {
            write!(f, "{}", self.cause)
        } else {
            write!(f, "{}@{:#x}", self.cause, self.address)
        }
    }
}

/// One Region object, for `mem`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RegionRow {
    pub base: u64,
    pub len: u64,
}

/// The answer to `mem`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct MemReport {
    /// Physical frames (4 KiB) the allocator manages.
    pub frames_total: u64,
    pub frames_free: u64,
    /// The kernel heap, in bytes.
    pub heap_total_bytes: u64,
    pub heap_used_bytes: u64,
    /// Live Region objects.
    pub regions: Vec<RegionRow>,
}

/// The answer to `stats`: totals over every task and the capability tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub tasks: u32,
    /// Tasks neither faulted nor stopped.
    pub tasks_alive: u32,
    pub messages_handled: u64,
    /// Of those, messages handed straight to their receiver, the next task
    /// to run, without a mailbox slot (the kernel's IPC fast path).
    pub messages_handed_off: u64,
    pub handler_time_ns: u64,
    pub budget_overruns: u64,
    /// Payloads rejected as malformed.
    pub malformed: u64,
    /// Handler errors other than malformed payloads.
    pub handler_errors: u64,
    pub cspaces: u32,
    pub objects: u32,
    pub capabilities: u32,
}

/// The answer to `bench`: round trips between two tasks, timed by the TSC
/// (which counts guest instructions under QEMU `-icount shift=0`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct BenchReport {
    pub round_trips: u64,
    pub tsc_ticks: u64,
}
