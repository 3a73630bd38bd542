//! Snapshots of the kernel's tables for the holder of an `Inspect`
//! capability (the debug shell): the answers to `Context::inspect`.
//!
//! Everything here is a copy taken at the moment of the query, built from
//! the scheduler's tasks, its counters and the capability system; the
//! machine-specific parts (memory, the benchmark) come from the
//! [`Platform`]. Reading never changes what it reads, except
//! [`Query::Bench`], which runs two private tasks outside the run queue.

use alloc::string::ToString;
use alloc::vec::Vec;

use mealy_protocol::IpcError;
use mealy_protocol::inspect::{Query, Report, Stats, TaskRow, TaskStatus};

use crate::sched::state::KernelState;
use crate::sched::{KERNEL_TASK, Platform, TaskState};

/// The answer to `query`.
pub(crate) fn answer<P: Platform>(
    kernel: &KernelState,
    platform: &mut P,
    query: Query,
) -> Result<Report, IpcError> {
    Ok(match query {
        Query::Tasks => Report::Tasks(tasks(kernel)),
        Query::Graph => Report::Graph(graph(kernel)),
        Query::Stats => Report::Stats(stats(kernel)),
        Query::Memory => Report::Memory(platform.memory_report().ok_or(IpcError::Unsupported)?),
        Query::Bench => Report::Bench(platform.run_benchmark()?),
    })
}

pub(crate) fn status(state: TaskState) -> TaskStatus {
    match state {
        TaskState::Idle => TaskStatus::Idle,
        TaskState::Queued => TaskStatus::Queued,
        TaskState::Running => TaskStatus::Running,
        TaskState::Faulted => TaskStatus::Faulted,
        TaskState::Stopped => TaskStatus::Stopped,
    }
}

fn tasks(kernel: &KernelState) -> Vec<TaskRow> {
    kernel
        .tasks
        .iter()
        .map(|task| {
            let info = task.info();
            TaskRow {
                id: info.id.0,
                name: info.name.to_string(),
                state: status(info.state),
                ring: info.ring,
                mailbox_depth: info.queued as u32,
                mailbox_high_water: info.mailbox_high_water,
                handled: info.counters.handled,
                time_ns: info.counters.busy_ns,
                restarts: info.restarts,
                last_fault: info.last_fault,
            }
        })
        .collect()
}

fn graph(kernel: &KernelState) -> mealy_caps::Snapshot {
    let mut snapshot = kernel.caps.snapshot();
    for task in &kernel.tasks {
        snapshot.name_task(task.id, task.name);
    }
    snapshot.name_task(KERNEL_TASK, "kernel");
    snapshot
}

fn stats(kernel: &KernelState) -> Stats {
    let usage = kernel.caps.usage();
    let counters = kernel.tasks.iter().map(|task| task.info().counters);
    Stats {
        tasks: kernel.tasks.len() as u32,
        tasks_alive: kernel
            .tasks
            .iter()
            .filter(|task| task.state.is_alive())
            .count() as u32,
        messages_handled: kernel.stats.dispatched,
        messages_handed_off: kernel.stats.handed_off,
        handler_time_ns: counters.clone().map(|c| c.busy_ns).sum(),
        budget_overruns: kernel.stats.budget_overruns,
        malformed: counters.clone().map(|c| c.malformed).sum(),
        handler_errors: counters.map(|c| c.errors).sum(),
        cspaces: usage.cspaces,
        objects: usage.objects,
        capabilities: usage.caps,
    }
}
