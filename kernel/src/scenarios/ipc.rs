//! Scenarios for tasks and messages in the guest: `test=ipc` times echo
//! and the pinger (the product's measurement, `crate::bench`), and
//! `test=ping` starts the boot list with the probe, which pings every
//! task (how `cargo xtask new-service` is checked end to end).

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::probe::{self, Probe};
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{cpu, interrupts};
use crate::bench::{self, IPC_ROUNDS};
use crate::println;
use crate::sched::{CapSpec, SchedConfig, Scheduler, TaskSpec, grant};
use crate::tasks;

/// `test=ipc`: [`bench::measure_ipc`] under the TSC, and every call must
/// have been answered.
pub(super) fn round_trips(memory: Option<&'static KernelMemory>) -> ! {
    let platform = MachinePlatform::new(memory);
    let measured = match bench::measure_ipc(platform, &interrupts::PENDING, cpu::rdtsc) {
        Ok(measured) => measured,
        Err(error) => {
            println!("ipc: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    println!(
        "ipc: {IPC_ROUNDS} round trips, {} messages dispatched in {} TSC ticks: {} per round trip",
        measured.handled,
        measured.ticks,
        measured.ticks_per_round_trip()
    );
    if measured.answered_all() {
        qemu::exit(ExitStatus::Success)
    }
    println!("ipc: echo answered {} of {IPC_ROUNDS}", measured.echoed);
    qemu::exit(ExitStatus::Failure)
}

/// `test=ping`: the boot tasks plus the probe, which calls every one of
/// them with `ping::Ping` and logs each answer; the run ends when the
/// scheduler goes idle. Services made by `cargo xtask new-service` answer
/// with a pong.
pub(super) fn ping_every_task(memory: Option<&'static KernelMemory>) -> ! {
    fn make_probe() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(Probe::new())
    }

    let mut list: Vec<TaskSpec> = tasks::boot_list();
    let endpoints: Vec<CapSpec> = list
        .iter()
        .map(|task| {
            grant(task.name)
                .endpoint_to(task.name)
                .rights(mealy_caps::Rights::WRITE)
        })
        .collect();
    let endpoints: &'static [CapSpec] = Vec::leak(endpoints);
    list.push(TaskSpec::new(probe::NAME, make_probe).caps(endpoints));

    let platform = MachinePlatform::new(memory);
    let mut scheduler = match Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
    {
        Ok(scheduler) => scheduler,
        Err(error) => {
            println!("ping: scheduler: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    if let Err(error) = scheduler.spawn_all(&list) {
        println!("ping: task list: {error}");
        qemu::exit(ExitStatus::Failure)
    }
    scheduler.run_until_idle(usize::MAX);
    qemu::exit(ExitStatus::Success)
}
