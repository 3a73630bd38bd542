//! The scheduler: tasks, mailboxes, the run queue, dispatch, timers and
//! interrupt delivery, all portable and host-tested. The bare-metal kernel
//! supplies a [`Platform`] (clock, idle, log, IRQ unmask, region memory).
//!
//! One [`Scheduler`] per core (phase 1 has one core). Its life at boot:
//!
//! ```ignore
//! static PENDING: PendingInterrupts = PendingInterrupts::new();
//! let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default())?;
//! sched.spawn_all(TASKS)?;          // the declarative task list (spec.rs)
//! sched.run()                       // never returns
//! // in a trap handler, with interrupts off:
//! PENDING.post(line);
//! ```
//!
//! | file | concept |
//! |---|---|
//! | `scheduler.rs` | `Scheduler`, `SchedConfig`, inspection, `stop`, `act_as` |
//! | `dispatch.rs` | the dispatch loop, fairness, budget, handler errors |
//! | `spec.rs`, `spawn.rs` | the task list and building tasks from it |
//! | `task.rs` | task record, states, counters; `TaskTable`, where a `TaskId` finds its task |
//! | `run_queue.rs` | the ring of ready tasks |
//! | `mailbox.rs` | bounded ring of inline payload slots, kernel notices |
//! | `handoff.rs` | the delivery areas, and handing a message to the next task |
//! | `reply.rs` | reply capabilities: a callee's table of calls to answer |
//! | `state.rs` | the kernel tables handlers act on; task death |
//! | `restart.rs` | restart in place (a task's identity outlives its instances), supervisors' fault notices |
//! | `context.rs` | the `Context` handlers get |
//! | `subregion.rs` | Region capabilities for page-aligned sub-ranges |
//! | `pending.rs` | interrupts posted from trap context |
//! | `timers.rs` | software timers |
//! | `platform.rs` | the `Platform` hooks the machine provides |
//! | `host_platform.rs` | `HostPlatform`, for tests and benchmarks only |
//!
//! Message passing itself (send, call, reply, capability transfer) is
//! `crate::ipc`.
//!
//! No `unsafe` here, and no lock: the scheduler is an ordinary `&mut`
//! value, and the only thing a trap handler touches is the atomic
//! [`PendingInterrupts`] board.

pub(crate) mod context;
mod dispatch;
pub(crate) mod handoff;
#[cfg(any(test, feature = "testing"))]
mod host_platform;
pub(crate) mod mailbox;
mod pending;
mod platform;
pub(crate) mod reply;
mod restart;
pub(crate) mod run_queue;
mod scheduler;
mod spawn;
mod spec;
pub(crate) mod state;
mod subregion;
pub(crate) mod task;
mod timers;

#[cfg(test)]
mod tests;

pub use context::MAX_SPAWN_GRANTS;
#[cfg(any(test, feature = "testing"))]
pub use host_platform::{HostClock, HostPlatform};
pub use mailbox::INLINE_PAYLOAD;
pub use pending::PendingInterrupts;
pub use platform::Platform;
pub use scheduler::{KERNEL_TASK, SchedConfig, Scheduler};
pub use spec::{
    CapSource, CapSpec, DEFAULT_CSPACE_SLOTS, DEFAULT_MAILBOX, Factory, KERNEL_NAME, NamedGrant,
    SpawnError, TaskSpec, grant,
};
pub use state::SchedStats;
pub use task::{TaskCounters, TaskInfo, TaskState};
