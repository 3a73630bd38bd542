//! `KernelState`: the scheduler's tables that handlers reach through their
//! `Context`: the capability system, the tasks, the run queue, the timers
//! and the interrupt routes. The IPC operations on it are in `crate::ipc`;
//! the Context that wraps it is in `context.rs`.
//!
//! Kept apart from the state machines themselves so that, while a handler
//! runs with `&mut` on its own state, the kernel tables it calls into are a
//! separate borrow: no `RefCell`, no `unsafe`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_caps::{Badge, CSpaceId, CapSystem, FreedObject, Object, TaskId};
use mealy_protocol::{CallFailure, CallToken, Envelope, IpcError, MessageKind, StateMachine};

use super::mailbox::Mailbox;
use super::platform::Platform;
use super::reply::PendingReply;
use super::reply::ReplyTable;
use super::run_queue::RunQueue;
use super::task::{Task, TaskCounters, TaskState, TaskTable};
use super::timers::TimerTable;

/// The task that receives interrupt `line`, and the badge its Irq
/// capability carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IrqRoute {
    pub(crate) task: TaskId,
    pub(crate) badge: Option<Badge>,
}

/// Scheduler-wide counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SchedStats {
    /// Messages delivered to handlers.
    pub dispatched: u64,
    /// Of those, messages handed straight to their receiver, the next task
    /// to run, without a mailbox slot or the run queue (`handoff.rs`).
    pub handed_off: u64,
    /// Handlers that ran past the budget.
    pub budget_overruns: u64,
    /// Interrupts on a line no task holds (dropped and logged).
    pub unrouted_interrupts: u64,
    /// Kernel notices that could not be queued (heap exhausted).
    pub lost_notices: u64,
    /// Times the dispatch loop found nothing to run and idled.
    pub idles: u64,
}

/// The kernel tables handlers act on.
#[derive(Debug)]
pub(crate) struct KernelState {
    pub(crate) caps: CapSystem,
    /// Holds the original of every task's Endpoint.
    pub(crate) kernel_cspace: CSpaceId,
    /// Every task ever spawned, by id; ids are not reused.
    pub(crate) tasks: TaskTable<Task>,
    pub(crate) max_tasks: usize,
    /// Tasks in state Queued, each exactly once, in arrival order; except
    /// `handed_to`.
    pub(crate) run_queue: RunQueue,
    /// The Queued task whose message waits in the scheduler's lane, not
    /// on the run queue: it is dispatched next (`handoff.rs`).
    pub(crate) handed_to: Option<TaskId>,
    pub(crate) timers: TimerTable,
    /// Indexed by interrupt line.
    pub(crate) irq_routes: Vec<Option<IrqRoute>>,
    pub(crate) stats: SchedStats,
    /// A task stopped the kernel: power off once nothing is runnable.
    pub(crate) power_off_requested: bool,
    /// A task restarted the kernel, or the unsupervised-fault policy
    /// said reboot: reset once nothing is runnable.
    pub(crate) reboot_requested: bool,
    /// `fault=NAME:KIND`: the ring-3 task NAME is sent the fault KIND
    /// right after each start (`Scheduler::fault_at_every_start`).
    pub(crate) fault_at_start: Option<(&'static str, mealy_protocol::supervision::FaultKind)>,
    /// The token of the last call made: each call takes the next, so a
    /// token names one call for ever.
    pub(crate) last_call: u64,
    /// Tasks born and died inside handlers, for the scheduler to settle
    /// after the handler (`Scheduler::settle_lifecycle`).
    pub(crate) lifecycle: Lifecycle,
    /// The interrupt board, where a change of `lifecycle` is posted.
    pub(crate) pending: &'static super::pending::PendingInterrupts,
}

/// Tasks a handler spawned (their state machines wait to be taken in and
/// started) and tasks that were killed (their state machines, and with
/// them a program's memory, wait to be dropped).
#[derive(Default)]
pub(crate) struct Lifecycle {
    pub(crate) spawned: Vec<(TaskId, Box<dyn StateMachine>)>,
    pub(crate) killed: Vec<TaskId>,
}

impl Lifecycle {
    #[inline(always)]
    pub(crate) fn is_settled(&self) -> bool {
        self.spawned.is_empty() && self.killed.is_empty()
    }
}

impl core::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} spawned, {} killed task(s) to settle",
            self.spawned.len(),
            self.killed.len()
        )
    }
}

/// What a new task is made with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskShape {
    pub(crate) name: &'static str,
    pub(crate) cspace_slots: u32,
    pub(crate) mailbox: u32,
    pub(crate) budget_ns: u64,
    pub(crate) ring: u8,
}

impl KernelState {
    /// Tasks not yet stopped or faulted.
    pub(crate) fn live_tasks(&self) -> usize {
        self.tasks
            .iter()
            .filter(|task| task.state.is_alive())
            .count()
    }

    /// A new Idle task with its CSpace, Endpoint (original in the kernel's
    /// CSpace), mailbox and reply table; nothing granted yet.
    pub(crate) fn create_task(&mut self, shape: TaskShape) -> Result<TaskId, IpcError> {
        self.create_task_in(shape, None)
    }

    /// A task spawned at run time: in the slot of a dead spawned task if
    /// there is one (see [`Task::reusable`]), else a new one.
    pub(crate) fn create_spawned_task(&mut self, shape: TaskShape) -> Result<TaskId, IpcError> {
        let slot = self.reusable_slot();
        let id = self.create_task_in(shape, slot)?;
        self.task_mut(id)?.reusable = true;
        Ok(id)
    }

    /// The id the next spawned task will get.
    pub(crate) fn next_spawned_id(&self) -> TaskId {
        self.reusable_slot().unwrap_or_else(|| self.tasks.next_id())
    }

    fn reusable_slot(&self) -> Option<TaskId> {
        self.tasks
            .iter()
            .find(|task| {
                task.reusable
                    && !task.state.is_alive()
                    && task.supervisor.is_none()
                    && !self.lifecycle.killed.contains(&task.id)
            })
            .map(|task| task.id)
    }

    fn create_task_in(
        &mut self,
        shape: TaskShape,
        slot: Option<TaskId>,
    ) -> Result<TaskId, IpcError> {
        let id = slot.unwrap_or_else(|| self.tasks.next_id());
        let mailbox = Mailbox::new(shape.mailbox)?;
        let replies = ReplyTable::new(shape.mailbox as usize)?;
        let cspace = self.caps.create_cspace(id, shape.cspace_slots)?;
        let endpoint = match self
            .caps
            .create_object(self.kernel_cspace, Object::Endpoint { task: id })
        {
            Ok(endpoint) => endpoint,
            Err(error) => {
                let _ = self.caps.destroy_cspace(cspace, |_| {});
                return Err(error.into());
            }
        };
        let task = Task {
            id,
            name: shape.name,
            cspace,
            cspace_slots: shape.cspace_slots,
            endpoint,
            mailbox,
            replies,
            state: TaskState::Idle,
            counters: TaskCounters::default(),
            grants: Vec::new(),
            budget_ns: shape.budget_ns,
            ring: shape.ring,
            control: None,
            reusable: false,
            mailbox_letters: shape.mailbox,
            origin: super::task::Origin::Unknown,
            kept: Vec::new(),
            restarts: 0,
            last_fault: None,
            supervisor: None,
            unsupervised: None,
        };
        match slot {
            Some(id) => {
                self.tasks.replace(id, task);
            }
            None => self.tasks.push(task),
        }
        Ok(id)
    }

    #[inline]
    pub(crate) fn task(&self, id: TaskId) -> Result<&Task, IpcError> {
        self.tasks.get(id).ok_or(IpcError::DeadTask)
    }

    #[inline]
    pub(crate) fn task_mut(&mut self, id: TaskId) -> Result<&mut Task, IpcError> {
        self.tasks.get_mut(id).ok_or(IpcError::DeadTask)
    }

    /// Puts an Idle task with something to handle on the run queue. The
    /// queue was reserved for every task, so this never allocates.
    #[inline]
    pub(crate) fn make_ready(&mut self, id: TaskId) {
        if let Some(task) = self.tasks.get_mut(id)
            && task.state == TaskState::Idle
        {
            // Never refused: the ring holds every task, each at most once.
            if self.run_queue.push_back(id) {
                task.state = TaskState::Queued;
            }
        }
    }

    /// Queues a kernel notice for task `id` and makes it ready. A dead
    /// task gets nothing; a notice the heap cannot hold is counted as lost.
    pub(crate) fn notify(&mut self, id: TaskId, kind: MessageKind, badge: Option<Badge>) {
        let Ok(task) = self.task_mut(id) else {
            return;
        };
        if !task.state.is_alive() {
            return;
        }
        let envelope = Envelope {
            badge,
            ..Envelope::default()
        };
        if task.mailbox.push_notice(kind, envelope).is_err() {
            self.stats.lost_notices += 1;
            return;
        }
        self.make_ready(id);
    }

    /// Revokes everything derived from `cap` in `cspace`, and releases
    /// each object that went with it (`release`): a revoked file Region
    /// gives its share of the memory back.
    pub(crate) fn revoke<P: Platform>(
        &mut self,
        cspace: mealy_caps::CSpaceId,
        cap: mealy_caps::CapRef,
        platform: &mut P,
    ) -> Result<usize, mealy_caps::CapError> {
        let mut freed = Vec::new();
        let deleted = self
            .caps
            .revoke_with(cspace, cap, |object| freed.push(object))?;
        for object in freed {
            self.release(object, platform);
        }
        Ok(deleted)
    }

    /// The kernel's reaction to an object whose last capability is gone:
    /// a Timer is disarmed, a Region goes back to the platform, an Irq is
    /// unrouted. (Replies are not capability-table objects: see
    /// `fail_call`.)
    pub(crate) fn release<P: Platform>(&mut self, freed: FreedObject, platform: &mut P) {
        match freed.object {
            Object::Timer => self.timers.cancel_object(freed.id),
            Object::Region { base, len } => platform.free_region(base, len),
            Object::Irq { line } => {
                if let Some(route) = self.irq_routes.get_mut(usize::from(line)) {
                    *route = None;
                }
            }
            _ => {}
        }
    }

    /// Ends task `id` for good (`Faulted` or `Stopped`): drops its
    /// queued messages, deletes every capability it holds (callers whose
    /// requests it held get `CallFailed { PeerDied }`), disarms its timers
    /// and unroutes its interrupts. Its Endpoint stays, so senders get
    /// `DeadTask` (unless it was spawned at run time and has no
    /// supervisor: see below). Idempotent.
    pub(crate) fn kill<P: Platform>(&mut self, id: TaskId, end: TaskState, platform: &mut P) {
        if !self.end_instance(id, end, platform) {
            return;
        }
        // A spawned task's Task object dies with it, and so does its
        // Endpoint: only the kernel ever held that one, so no sender is
        // left to be told `DeadTask`, and a thousand spawns leave nothing.
        // (A spawn that failed half-way has an Endpoint and maybe no Task
        // object yet.) A supervised one keeps them, for its supervisor to
        // restart it (`restart.rs`).
        if self
            .task(id)
            .is_ok_and(|task| task.reusable && task.supervisor.is_none())
        {
            self.forget_identity(id, platform);
        }
    }

    /// What `kill` does to the running instance of task `id`, leaving
    /// its identity (id, Endpoint, Task object, kept grants) alone: what
    /// a restart stops. `false` if it was not alive.
    pub(crate) fn end_instance<P: Platform>(
        &mut self,
        id: TaskId,
        end: TaskState,
        platform: &mut P,
    ) -> bool {
        let Ok(task) = self.task_mut(id) else {
            return false;
        };
        if !task.state.is_alive() {
            return false;
        }
        task.state = end;
        let cspace = task.cspace;
        // Queued messages hold refs into the dying CSpace; deleting the
        // CSpace below deletes what they carried. The mailbox's room goes
        // back to the heap: a dead task keeps only its record.
        task.mailbox.clear();
        if let Ok(small) = Mailbox::new(1) {
            task.mailbox = small;
        }
        let unanswered = task.replies.drain();
        if let Ok(empty) = ReplyTable::new(0) {
            task.replies = empty;
        }
        task.grants = Vec::new();
        self.run_queue.retain(|queued| queued != id);
        self.lifecycle.killed.push(id);
        self.pending.post(super::pending::LIFECYCLE_LINE);
        if self.handed_to == Some(id) {
            self.handed_to = None;
        }
        self.timers.cancel_task(id);
        for route in self.irq_routes.iter_mut() {
            if route.is_some_and(|r| r.task == id) {
                *route = None;
            }
        }
        let mut freed = Vec::new();
        let _ = self
            .caps
            .destroy_cspace(cspace, |object| freed.push(object));
        for object in freed {
            self.release(object, platform);
        }
        for pending in unanswered {
            self.fail_call(pending, CallFailure::PeerDied);
        }
        true
    }

    /// Tells the caller of an unanswered call that it will never be
    /// answered, and why.
    pub(crate) fn fail_call(&mut self, pending: PendingReply, reason: CallFailure) {
        let kind = MessageKind::CallFailed {
            token: pending.token,
            reason,
        };
        self.notify(pending.caller, kind, None);
    }

    /// The next call's token.
    #[inline(always)]
    pub(crate) fn next_call_token(&mut self) -> CallToken {
        self.last_call += 1;
        CallToken(self.last_call)
    }
}
