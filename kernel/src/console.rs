//! The serial console: the debug shell (`mealy-shell`) on COM1, answering
//! from the kernel's own tables. The kernel loop dispatches every waiting
//! message, then feeds received bytes to the shell, then sleeps until the
//! next interrupt (a serial byte wakes it).
//!
//! The shell acts on services through its own task (`console_task`),
//! which holds an endpoint to every boot task: `send` is a call through
//! one of them. Inspection (`ps`, `caps`, `graph`, ...) still reads the
//! kernel's tables directly: DESIGN.md wants an `Inspect` capability and
//! inspection messages for that, which do not exist yet (ARCHITECTURE.md).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_caps::{Rights, TaskId};
use mealy_protocol::text::{TextAnswer, TextCommand};
use mealy_protocol::{StateMachine, decode, encode};
use mealy_shell::{
    BenchReport, CapRow, MemReport, RegionRow, Shell, SlotRef, Stats, System, TaskRef, TaskRow,
    TaskStatus,
};

use crate::arch::x86_64::memory::{self, KernelMemory};
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::{acpi, clock, interrupts, ioapic, serial};
use crate::console_task::{self, CallAnswer, ShellTask};
use crate::scenarios;
use crate::sched::{CapSpec, KERNEL_TASK, Scheduler, TaskSpec, TaskState};
use crate::tasks;

type KernelScheduler = Scheduler<MachinePlatform>;

/// The shell's view of the running system.
struct KernelSystem<'a> {
    scheduler: &'a mut KernelScheduler,
    memory: Option<&'static KernelMemory>,
}

impl KernelSystem<'_> {
    /// A task by name or id; `kernel` names the kernel's own CSpace.
    fn find(&self, task: &TaskRef) -> Result<TaskId, String> {
        if task.matches(KERNEL_TASK.0, "kernel") {
            return Ok(KERNEL_TASK);
        }
        self.scheduler
            .tasks()
            .find(|info| task.matches(info.id.0, info.name))
            .map(|info| info.id)
            .ok_or_else(|| format!("there is no {}", describe(task)))
    }
}

fn describe(task: &TaskRef) -> String {
    match task {
        TaskRef::Id(id) => format!("task {id}"),
        TaskRef::Name(name) => format!("task `{name}`"),
    }
}

fn status(state: TaskState) -> TaskStatus {
    match state {
        TaskState::Idle => TaskStatus::Idle,
        TaskState::Queued => TaskStatus::Queued,
        TaskState::Running => TaskStatus::Running,
        TaskState::Faulted => TaskStatus::Faulted,
        TaskState::Stopped => TaskStatus::Stopped,
    }
}

impl System for KernelSystem<'_> {
    fn tasks(&mut self) -> Result<Vec<TaskRow>, String> {
        Ok(self
            .scheduler
            .tasks()
            .map(|info| TaskRow {
                id: info.id.0,
                name: info.name.to_string(),
                state: status(info.state),
                mailbox_depth: info.queued as u32,
                mailbox_high_water: info.mailbox_high_water,
                handled: info.counters.handled,
                time_ns: info.counters.busy_ns,
            })
            .collect())
    }

    fn caps(&mut self, task: Option<&TaskRef>) -> Result<Vec<CapRow>, String> {
        let only = task.map(|task| self.find(task)).transpose()?;
        let snapshot = self.scheduler.caps().snapshot();
        let mut rows = Vec::new();
        for node in &snapshot.tasks {
            // The kernel's originals are listed only when asked for.
            let wanted = match only {
                Some(id) => id == node.task,
                None => node.task != KERNEL_TASK,
            };
            if !wanted {
                continue;
            }
            for cap in snapshot.caps_in(node.cspace) {
                rows.push(CapRow {
                    task: node.task.0,
                    slot: cap.at.cap,
                    rights: cap.cap.rights,
                    badge: cap.cap.badge,
                    object: snapshot
                        .objects
                        .iter()
                        .find(|object| object.id == cap.cap.object)
                        .map(|object| object.object)
                        .ok_or_else(|| "a capability names a missing object".to_string())?,
                });
            }
        }
        Ok(rows)
    }

    fn graph(&mut self) -> Result<mealy_caps::Snapshot, String> {
        let mut snapshot = self.scheduler.caps().snapshot();
        let names: Vec<(TaskId, &'static str)> = self
            .scheduler
            .tasks()
            .map(|info| (info.id, info.name))
            .collect();
        for (id, name) in names {
            snapshot.name_task(id, name);
        }
        snapshot.name_task(crate::sched::KERNEL_TASK, "kernel");
        Ok(snapshot)
    }

    fn memory(&mut self) -> Result<MemReport, String> {
        let memory = self.memory.ok_or("no memory manager")?;
        let frames = memory.frame_stats();
        let heap = memory::heap_stats().mapped_bytes as u64;
        Ok(MemReport {
            frames_total: frames.total,
            frames_free: frames.free,
            // The heap reports what it has mapped; all of it is counted as
            // in use, since talc does not expose its free bytes.
            heap_total_bytes: heap,
            heap_used_bytes: heap,
            regions: memory
                .live_ranges()
                .into_iter()
                .map(|range| RegionRow {
                    base: range.start().as_u64(),
                    len: range.len_bytes(),
                })
                .collect(),
        })
    }

    fn send(&mut self, task: &TaskRef, text: &str) -> Result<Option<String>, String> {
        let id = self.find(task)?;
        let name = self
            .scheduler
            .task_info(id)
            .map_or("kernel", |info| info.name);
        let shell = self
            .scheduler
            .task_by_name(console_task::NAME)
            .ok_or("the shell task is not running")?;
        let endpoint = self
            .scheduler
            .grants(shell)
            .iter()
            .find(|grant| grant.name == name)
            .map(|grant| grant.cap)
            .ok_or_else(|| format!("the shell holds no endpoint to {name}"))?;
        let mut buffer = [0u8; mealy_protocol::MAX_PAYLOAD];
        let payload =
            encode(&TextCommand { line: text }, &mut buffer).map_err(|error| error.to_string())?;
        let token = self
            .scheduler
            .act_as(shell, |cx| cx.call(endpoint, payload, &[]))
            .ok_or("the shell task is not running")?
            .map_err(|error| format!("{name}: {error}"))?;
        loop {
            if let Some(answer) = console_task::take_answer(token) {
                return match answer {
                    CallAnswer::Reply(bytes) => Ok(Some(match decode::<TextAnswer<'_>>(&bytes) {
                        Ok(answer) => answer.text.to_string(),
                        Err(_) => {
                            format!("{name} answered {} bytes that are not text", bytes.len())
                        }
                    })),
                    CallAnswer::Failed(reason) => Err(format!("{name}: {reason}")),
                };
            }
            if !self.scheduler.dispatch_one() {
                return Err(format!("{name} did not answer"));
            }
        }
    }

    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String> {
        let id = self.find(task)?;
        let snapshot = self.scheduler.caps().snapshot();
        let node = snapshot
            .tasks
            .iter()
            .find(|node| node.task == id)
            .ok_or("the task has no capability space")?;
        let cap = snapshot
            .caps_in(node.cspace)
            .map(|cap| cap.at.cap)
            .find(|cap| slot.matches(*cap))
            .ok_or_else(|| format!("{} holds nothing in that slot", describe(task)))?;
        self.scheduler
            .revoke(id, cap)
            .map_err(|error| error.to_string())
    }

    fn kill(&mut self, task: &TaskRef) -> Result<(), String> {
        let id = self.find(task)?;
        match self.scheduler.task_info(id).map(|info| info.state) {
            Some(TaskState::Stopped | TaskState::Faulted) => Err("it is not running".into()),
            _ => {
                self.scheduler.stop(id);
                Ok(())
            }
        }
    }

    fn stats(&mut self) -> Result<Stats, String> {
        let tasks: Vec<_> = self.scheduler.tasks().collect();
        let sched = self.scheduler.stats();
        let usage = self.scheduler.caps().usage();
        Ok(Stats {
            tasks: tasks.len() as u32,
            tasks_alive: tasks
                .iter()
                .filter(|info| !matches!(info.state, TaskState::Stopped | TaskState::Faulted))
                .count() as u32,
            messages_handled: sched.dispatched,
            handler_time_ns: tasks.iter().map(|info| info.counters.busy_ns).sum(),
            budget_overruns: sched.budget_overruns,
            malformed: tasks.iter().map(|info| info.counters.malformed).sum(),
            handler_errors: tasks.iter().map(|info| info.counters.errors).sum(),
            cspaces: usage.cspaces,
            objects: usage.objects,
            capabilities: usage.caps,
        })
    }

    fn bench(&mut self) -> Result<BenchReport, String> {
        scenarios::ipc_bench(self.memory).map(|(round_trips, tsc_ticks)| BenchReport {
            round_trips,
            tsc_ticks,
        })
    }

    fn uptime_ns(&mut self) -> Result<u64, String> {
        Ok(clock::now_nanos())
    }

    fn list(&mut self, path: &str) -> Result<mealy_shell::Listing, String> {
        crate::fs_client::list(self.scheduler, path)
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        crate::fs_client::read(self.scheduler, path)
    }

    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<u64, String> {
        crate::fs_client::write(self.scheduler, path, bytes)
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if !acpi::can_power_off() {
            return Err("ACPI offers no way to power off".into());
        }
        // The console powers off once the shell's output (with
        // `Output::shutdown` set) has been written.
        Ok(())
    }
}

fn make_shell_task() -> alloc::boxed::Box<dyn StateMachine> {
    alloc::boxed::Box::new(ShellTask)
}

/// The boot task list plus the shell's task, which gets an endpoint to
/// every boot task, named after it.
pub fn task_list() -> Vec<TaskSpec> {
    let endpoints: Vec<CapSpec> = tasks::TASKS
        .iter()
        .map(|task| CapSpec::endpoint(task.name, task.name, Rights::WRITE, 0))
        .collect();
    let mut list = tasks::TASKS.to_vec();
    list.push(TaskSpec::new(console_task::NAME, make_shell_task).caps(Vec::leak(endpoints)));
    list
}

/// Runs the scheduler and the shell for good.
pub fn run(mut scheduler: KernelScheduler, memory: Option<&'static KernelMemory>) -> ! {
    if let Err(error) = ioapic::unmask_isa(serial::IRQ) {
        log::error!("console: serial input by polling only: {error}");
    }
    interrupts::enable();
    let mut shell = Shell::new();
    // Let the boot tasks say what they say at start, then the prompt.
    while scheduler.dispatch_one() {}
    serial::write_str(&shell.start().text);
    let mut input = [0u8; 64];
    loop {
        while scheduler.dispatch_one() {}
        let received = serial::read_into(&mut input);
        if received == 0 {
            scheduler.idle();
            continue;
        }
        // One byte at a time, writing as it goes, so what tasks log while
        // a command runs appears after that command's echo, not before.
        for &byte in &input[..received] {
            let mut system = KernelSystem {
                scheduler: &mut scheduler,
                memory,
            };
            let output = shell.feed(&[byte], &mut system);
            serial::write_str(&output.text);
            if output.shutdown {
                let error = acpi::shutdown();
                serial::write_str(&format!("error: shutdown: {error}\n"));
            }
        }
    }
}
