//! A task as the kernel keeps it: identity, CSpace, mailbox, state and
//! counters. The state machine itself (the `Box<dyn StateMachine>`) lives
//! beside it in the scheduler, so a handler can borrow its own state while
//! the kernel state it calls into is borrowed separately.
//!
//! A task is named by its [`TaskId`] everywhere in the kernel: ids are
//! handed out in spawn order and never reused, so a task's id is its
//! position in the task table. [`TaskTable`] is the one place an id
//! becomes an index.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;
use core::ops::{Index, IndexMut};

use mealy_caps::{CSpaceId, CapRef, TaskId};
use mealy_protocol::Grant;
use mealy_protocol::inspect::Fault;

use super::mailbox::Mailbox;
use super::reply::ReplyTable;

/// Where a task is in its life. Tasks move Idle -> Queued -> Running ->
/// (Idle | Queued), and to Faulted or Stopped for good.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TaskState {
    /// Nothing to handle; not on the run queue.
    Idle,
    /// On the run queue with at least one message waiting.
    Queued,
    /// Its handler is running now.
    Running,
    /// Its handler returned a fatal error; its capabilities are gone.
    Faulted,
    /// Stopped by the kernel; its capabilities are gone.
    Stopped,
}

impl TaskState {
    /// Whether the task can still receive messages.
    pub fn is_alive(self) -> bool {
        !matches!(self, TaskState::Faulted | TaskState::Stopped)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Idle => "idle",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Faulted => "faulted",
            TaskState::Stopped => "stopped",
        })
    }
}

/// What a task has done, for `ps` and `stats`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TaskCounters {
    /// Messages delivered to its handler.
    pub handled: u64,
    /// Time spent in its handler (and the dispatch around it), in ns.
    pub busy_ns: u64,
    /// Handlers that ran past the scheduler's budget.
    pub budget_overruns: u64,
    /// Payloads it rejected as malformed.
    pub malformed: u64,
    /// Handler errors other than malformed payloads.
    pub errors: u64,
}

/// A snapshot of one task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TaskInfo {
    pub id: TaskId,
    pub name: &'static str,
    pub state: TaskState,
    /// 0, or 3 for a program in its own protection domain.
    pub ring: u8,
    pub counters: TaskCounters,
    /// Messages waiting now.
    pub queued: usize,
    /// The mailbox's capacity, in letters.
    pub mailbox_capacity: usize,
    /// The most letters ever waiting at once.
    pub mailbox_high_water: u32,
    /// Times it was restarted in place (`restart.rs`).
    pub restarts: u32,
    /// How its last instance to fault ended, if one did.
    pub last_fault: Option<Fault>,
}

/// The kernel's record of one task.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) id: TaskId,
    pub(crate) name: &'static str,
    pub(crate) cspace: CSpaceId,
    /// The CSpace's size, in slots.
    pub(crate) cspace_slots: u32,
    /// The original Endpoint capability to this task, in the kernel's CSpace.
    pub(crate) endpoint: CapRef,
    pub(crate) mailbox: Mailbox,
    /// The calls it has received and not answered yet (its Reply
    /// capabilities; they count against `cspace_slots`).
    pub(crate) replies: ReplyTable,
    pub(crate) state: TaskState,
    pub(crate) counters: TaskCounters,
    /// What the task list gave it, by name (also what `start` saw).
    pub(crate) grants: Vec<Grant>,
    /// Its handler budget: its own if the task list gave it one, else the
    /// scheduler's (resolved at spawn, so dispatch reads one number).
    pub(crate) budget_ns: u64,
    /// The privilege level its handlers run at (`StateMachine::ring`).
    pub(crate) ring: u8,
    /// The Task object `Context::spawn` made to control it: destroyed
    /// when it dies, so no capability outlives the task it controls.
    pub(crate) control: Option<mealy_caps::ObjectId>,
    /// Spawned at run time: once dead, nothing names it any more, and its
    /// slot (and id) goes to the next task spawned (unless it is
    /// supervised: `restart.rs`).
    pub(crate) reusable: bool,
    /// Its mailbox's capacity when alive (a dead task's shrinks to one).
    pub(crate) mailbox_letters: u32,
    /// How a restart makes its state machine again.
    pub(crate) origin: Origin,
    /// What a restart grants it again: its original grants, as
    /// capabilities the kernel's CSpace holds.
    pub(crate) kept: Vec<KeptGrant>,
    pub(crate) restarts: u32,
    pub(crate) last_fault: Option<Fault>,
    /// Who is told when an instance of it ends (`Context::supervise`).
    pub(crate) supervisor: Option<Supervisor>,
    /// What the kernel does when this task faults and no one supervises
    /// it (the supervisor's own policy, from the task list); `None`: it
    /// stays down.
    pub(crate) unsupervised: Option<mealy_protocol::supervision::UnsupervisedPolicy>,
}

/// How a task's state machine is made again on restart.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    /// Made by a test's own closure, or half-spawned: cannot be remade.
    Unknown,
    /// A boot task linked into the kernel: its factory.
    Factory(super::spec::Factory),
    /// A boot program: its ELF file in the boot module the loader handed
    /// over, which nothing writes, so a restart loads what boot loaded.
    Image(&'static [u8]),
    /// A spawned program: a Region object over its file, made for the
    /// kernel's CSpace (its memory shared, not copied), so a restart does
    /// not depend on the spawner still holding the file.
    Program { file: CapRef },
}

/// One grant a restart gives again: minted from `source` (in the kernel's
/// CSpace) with `rights` and `badge` (`None`: the source's), under `name`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeptGrant {
    pub(crate) name: &'static str,
    pub(crate) source: CapRef,
    pub(crate) rights: mealy_caps::Rights,
    pub(crate) badge: Option<mealy_caps::Badge>,
    /// The kernel made `source` for this grant alone (a spawned task's
    /// copy of its spawner's capability): deleted when the task is gone
    /// for good. A boot task's sources are the task list's originals.
    pub(crate) own: bool,
}

/// The supervisor of a task: the task behind the Endpoint it was named
/// by, and that capability's badge (which the notice carries).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Supervisor {
    pub(crate) task: TaskId,
    pub(crate) badge: Option<mealy_caps::Badge>,
}

impl Task {
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name,
            state: self.state,
            ring: self.ring,
            counters: self.counters,
            queued: self.mailbox.len(),
            mailbox_capacity: self.mailbox.capacity(),
            mailbox_high_water: self.mailbox.high_water(),
            restarts: self.restarts,
            last_fault: self.last_fault,
        }
    }
}

/// Something per task, indexed by [`TaskId`]: the task records, and
/// beside them the state machines. Grows by one per spawn and never
/// shrinks, so an id names the same entry for ever (`TaskId::KERNEL`
/// names none).
#[derive(Debug)]
pub(crate) struct TaskTable<T> {
    entries: Vec<T>,
}

impl<T> TaskTable<T> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Room for `count` more tasks, so spawning them does not allocate.
    pub(crate) fn try_reserve(&mut self, count: usize) -> Result<(), TryReserveError> {
        self.entries.try_reserve(count)
    }

    /// How many tasks were ever spawned.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The id the next [`TaskTable::push`] gets.
    pub(crate) fn next_id(&self) -> TaskId {
        // The scheduler spawns at most `SchedConfig::max_tasks`, a u32.
        TaskId(self.entries.len() as u32)
    }

    /// Appends the entry of task [`TaskTable::next_id`].
    pub(crate) fn push(&mut self, entry: T) {
        self.entries.push(entry);
    }

    /// Replaces the entry of `id` (a dead task's slot, reused).
    pub(crate) fn replace(&mut self, id: TaskId, entry: T) -> Option<T> {
        self.entries
            .get_mut(id.0 as usize)
            .map(|slot| core::mem::replace(slot, entry))
    }

    #[inline(always)]
    pub(crate) fn get(&self, id: TaskId) -> Option<&T> {
        self.entries.get(id.0 as usize)
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, id: TaskId) -> Option<&mut T> {
        self.entries.get_mut(id.0 as usize)
    }

    /// Every entry, in id order.
    pub(crate) fn iter(&self) -> core::slice::Iter<'_, T> {
        self.entries.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> core::slice::IterMut<'_, T> {
        self.entries.iter_mut()
    }

    /// The ids of every entry from `first` on, in order.
    pub(crate) fn ids_from(&self, first: TaskId) -> impl Iterator<Item = TaskId> + use<T> {
        (first.0..self.next_id().0).map(TaskId)
    }
}

impl<T> TaskTable<Option<T>> {
    /// Puts `entry` at `id`, with empty entries before it if the table
    /// was shorter (a task spawned while its neighbours' entries were
    /// still being made).
    pub(crate) fn set(&mut self, id: TaskId, entry: Option<T>) {
        let index = id.0 as usize;
        if self.entries.len() <= index {
            self.entries.resize_with(index + 1, || None);
        }
        self.entries[index] = entry;
    }
}

impl<'a, T> IntoIterator for &'a TaskTable<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// Panics if `id` names no task: for ids the kernel just looked up.
impl<T> Index<TaskId> for TaskTable<T> {
    type Output = T;

    fn index(&self, id: TaskId) -> &T {
        &self.entries[id.0 as usize]
    }
}

impl<T> IndexMut<TaskId> for TaskTable<T> {
    fn index_mut(&mut self, id: TaskId) -> &mut T {
        &mut self.entries[id.0 as usize]
    }
}
