//! `Scheduler`: the kernel tables, the state machines, the platform hooks
//! and the interrupt board in one value, with the operations boot and the
//! shell use (create, inspect, stop, act as a task). Building tasks from
//! the task list is in `spawn.rs`, the dispatch loop in `dispatch.rs`.

use alloc::boxed::Box;
use alloc::vec;

use mealy_caps::{CapError, CapSystem, Limits, TaskId};
use mealy_protocol::{Context, Grant, StateMachine};

use super::context::TaskContext;
use super::handoff::Deliveries;
use super::pending::PendingInterrupts;
use super::platform::Platform;
use super::run_queue::RunQueue;
use super::state::{KernelState, SchedStats};
use super::task::{TaskInfo, TaskState, TaskTable};

/// The owner recorded for the kernel's own CSpace.
pub const KERNEL_TASK: TaskId = TaskId::KERNEL;

/// How the scheduler is sized and how it judges handlers.
#[derive(Clone, Copy, Debug)]
pub struct SchedConfig {
    /// How many tasks may ever be spawned (ids are not reused).
    pub max_tasks: u32,
    /// Bounds of the capability system.
    pub cap_limits: Limits,
    /// Slots in the kernel's own CSpace (object originals).
    pub kernel_cspace_slots: u32,
    /// A handler running longer than this is reported (log + counter).
    pub budget_ns: u64,
}

impl Default for SchedConfig {
    fn default() -> Self {
        Self {
            max_tasks: 64,
            cap_limits: Limits::default(),
            kernel_cspace_slots: 4096,
            budget_ns: 1_000_000,
        }
    }
}

/// One core's scheduler. See the module docs of `sched`.
pub struct Scheduler<P: Platform> {
    pub(crate) kernel: KernelState,
    pub(crate) platform: P,
    /// Beside `kernel.tasks`; `None` once a task is dead.
    pub(crate) machines: TaskTable<Option<Box<dyn StateMachine>>>,
    pub(crate) pending: &'static PendingInterrupts,
    pub(crate) budget_ns: u64,
    /// The message being handled (the handler borrows it while the kernel
    /// tables, mailboxes included, stay free to change) and the lane a
    /// message to the next task may be handed off into (`handoff.rs`).
    pub(crate) deliveries: Deliveries,
}

impl<P: Platform> Scheduler<P> {
    /// An empty scheduler. `pending` is the board trap handlers post
    /// interrupts to (a `static` on bare metal). Reserves every table.
    ///
    /// Errors: `OutOfMemory` and friends from the capability system.
    pub fn new(
        platform: P,
        pending: &'static PendingInterrupts,
        config: SchedConfig,
    ) -> Result<Self, CapError> {
        let mut caps = CapSystem::new(config.cap_limits)?;
        let kernel_cspace = caps.create_cspace(KERNEL_TASK, config.kernel_cspace_slots)?;
        let max_tasks = config.max_tasks as usize;
        let run_queue = RunQueue::new(max_tasks).ok_or(CapError::OutOfMemory)?;
        let mut tasks = TaskTable::new();
        tasks
            .try_reserve(max_tasks)
            .map_err(|_| CapError::OutOfMemory)?;
        let deliveries = Deliveries::new().ok_or(CapError::OutOfMemory)?;
        Ok(Self {
            kernel: KernelState {
                caps,
                kernel_cspace,
                tasks,
                max_tasks,
                run_queue,
                handed_to: None,
                timers: Default::default(),
                irq_routes: vec![None; 256],
                stats: SchedStats::default(),
                power_off_requested: false,
                reboot_requested: false,
                fault_at_start: None,
                last_call: 0,
                lifecycle: Default::default(),
                pending,
            },
            platform,
            machines: TaskTable::new(),
            pending,
            budget_ns: config.budget_ns,
            deliveries,
        })
    }

    /// The interrupt board (what trap handlers post to).
    pub fn pending(&self) -> &'static PendingInterrupts {
        self.pending
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The capability system, read-only (for `caps` and `graph`).
    pub fn caps(&self) -> &CapSystem {
        &self.kernel.caps
    }

    pub fn stats(&self) -> SchedStats {
        self.kernel.stats
    }

    /// Whether a task stopped the kernel (`Context::stop_task` on a Task
    /// capability to the kernel): the machine should power off once
    /// nothing is runnable.
    pub fn power_off_requested(&self) -> bool {
        self.kernel.power_off_requested
    }

    /// Makes the ring-3 task `name` commit the fault `kind` right after
    /// each start, at boot and after every restart (the command line's
    /// `fault=NAME:KIND`): a crash loop on demand, for tests.
    pub fn fault_at_every_start(
        &mut self,
        name: &'static str,
        kind: mealy_protocol::supervision::FaultKind,
    ) {
        self.kernel.fault_at_start = Some((name, kind));
    }

    /// Whether a task restarted the kernel (`Context::restart_task` on a
    /// Task capability to the kernel), or a fault of an unsupervised task
    /// whose policy is `Reboot` asked for it: the machine should reset
    /// once nothing is runnable, as for a power-off.
    pub fn reboot_requested(&self) -> bool {
        self.kernel.reboot_requested
    }

    /// Whether to power off now, for a stop requested with
    /// [`Scheduler::power_off_requested`] and nothing left to dispatch:
    /// yes unless a timer falls due before `deadline_ns`. Such a timer is
    /// usually output still on its way (the serial driver retrying what the
    /// UART could not take yet, the shell retrying what the console
    /// refused), so the loop idles until it fires rather than cut that
    /// output off; `deadline_ns` bounds the wait, so a task that keeps
    /// arming timers cannot hold the machine up.
    pub fn may_power_off(&self, now_ns: u64, deadline_ns: u64) -> bool {
        now_ns >= deadline_ns
            || self
                .kernel
                .timers
                .earliest_ns()
                .is_none_or(|due| due >= deadline_ns)
    }

    /// A snapshot of task `id`.
    pub fn task_info(&self, id: TaskId) -> Option<TaskInfo> {
        self.kernel.tasks.get(id).map(|task| task.info())
    }

    /// Snapshots of every task ever spawned, in id order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskInfo> + '_ {
        self.kernel.tasks.iter().map(|task| task.info())
    }

    /// The live task named `name`.
    /// The task named `name` that a task list may name as a peer: a live
    /// one, or a dead one that keeps its identity (a boot task, or a
    /// supervised program) and so can still be restarted. A boot task
    /// that faulted at its first start is still a peer of later stages.
    pub(crate) fn peer_by_name(&self, name: &str) -> Option<TaskId> {
        self.task_by_name(name).or_else(|| {
            self.kernel
                .tasks
                .iter()
                .find(|task| task.name == name && (!task.reusable || task.supervisor.is_some()))
                .map(|task| task.id)
        })
    }

    pub fn task_by_name(&self, name: &str) -> Option<TaskId> {
        self.kernel
            .tasks
            .iter()
            .find(|task| task.name == name && task.state.is_alive())
            .map(|task| task.id)
    }

    /// The capabilities task `id` was started with.
    pub fn grants(&self, id: TaskId) -> &[Grant] {
        self.kernel
            .tasks
            .get(id)
            .map_or(&[], |task| task.grants.as_slice())
    }

    /// Revokes everything derived from the capability `cap` in task
    /// `owner`'s CSpace, or in the kernel's own ([`KERNEL_TASK`]), where
    /// every object's original lives: revoking an original takes the object
    /// away from every task it was given to. Returns how many capabilities
    /// were deleted; the source stays.
    pub fn revoke(&mut self, owner: TaskId, cap: mealy_caps::CapRef) -> Result<usize, CapError> {
        let cspace = if owner == KERNEL_TASK {
            self.kernel.kernel_cspace
        } else {
            self.kernel
                .tasks
                .get(owner)
                .map(|task| task.cspace)
                .ok_or(CapError::InvalidCSpace)?
        };
        self.kernel.revoke(cspace, cap, &mut self.platform)
    }

    /// Stops task `id` for good: see `KernelState::kill`. Its callers get
    /// `CallFailed { PeerDied }`.
    pub fn stop(&mut self, id: TaskId) {
        self.kernel.kill(id, TaskState::Stopped, &mut self.platform);
        if let Some(machine) = self.machines.get_mut(id) {
            *machine = None;
        }
    }

    /// Runs `act` with task `id`'s Context, outside any handler: what the
    /// shell's `send` and the tests use to act as a task. `None` if the
    /// task is not alive.
    pub fn act_as<R>(&mut self, id: TaskId, act: impl FnOnce(&mut dyn Context) -> R) -> Option<R> {
        let task = self.kernel.tasks.get(id)?;
        if !task.state.is_alive() {
            return None;
        }
        let mut cx = TaskContext {
            kernel: &mut self.kernel,
            platform: &mut self.platform,
            task: id,
            lane: None,
        };
        let result = act(&mut cx);
        self.settle_lifecycle();
        Some(result)
    }
}
