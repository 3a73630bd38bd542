//! `test=user`: the ring-3 path with no runtime in between. A raw program
//! (`program/testdata/ring3.rs`) logs through a system call, checks that
//! hostile system calls are refused with the right codes, then reads
//! kernel memory, which must stop it and only it: the echo service, in
//! ring 0 beside it, still answers afterwards.

use alloc::boxed::Box;

use crate::arch::x86_64::interrupts;
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::user::ArchCpu;
use crate::mem::Owner;
use crate::println;
use crate::program::UserTask;
use crate::sched::{Platform, SchedConfig, Scheduler, TaskSpec, TaskState};

static PROGRAM: &[u8] = include_bytes!("../program/testdata/ring3.elf");
static CPU: ArchCpu = ArchCpu;

pub(super) fn run_raw_program(memory: Option<&'static KernelMemory>) -> ! {
    let memory = super::require_memory(memory);
    fn unused() -> Box<dyn mealy_protocol::StateMachine> {
        unreachable!("built by the scenario")
    }
    let specs = [TaskSpec::new("ring3", unused)];
    let platform = MachinePlatform::new(Some(memory));
    let mut scheduler = match Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
    {
        Ok(scheduler) => scheduler,
        Err(error) => {
            println!("user: scheduler: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    let before = memory.frame_stats().free;
    let mut failure = None;
    let ids = scheduler.spawn_all_with(&specs, |spec| {
        match UserTask::load(spec.name, PROGRAM, memory, memory, &CPU, Owner(1)) {
            Ok(task) => {
                let (base, len) = task.image();
                println!("user: loaded {} at {base:#x} ({len} bytes)", spec.name);
                Box::new(task)
            }
            Err(error) => {
                failure = Some(error);
                Box::new(mealy_echo::Echo::new())
            }
        }
    });
    if let Some(error) = failure {
        println!("user: load: {error}");
        qemu::exit(ExitStatus::Failure)
    }
    let ids = match ids {
        Ok(ids) => ids,
        Err(error) => {
            println!("user: spawn: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    scheduler.run_until_idle(usize::MAX);
    let state = scheduler.task_info(ids[0]).map(|info| info.state);
    println!("user: ring3 is {state:?}");
    scheduler.stop(ids[0]);
    let after = memory.frame_stats().free;
    println!("user: frames free before {before}, after {after}");
    if state == Some(TaskState::Faulted) {
        qemu::exit(ExitStatus::Success)
    }
    qemu::exit(ExitStatus::Failure)
}

/// Spawns and stops per `test=churn` run.
const CHURN: u32 = 1000;

/// `test=churn`: `/bin/hello` from the boot image spawned and stopped
/// [`CHURN`] times in a row through `Context::spawn` and `stop_task`, as
/// the shell's `run` and `kill` do; afterwards what `mem` reports (free
/// frames, the heap, the live regions) and the task table must be what
/// they were after the first.
pub(super) fn spawn_and_stop_many(
    memory: Option<&'static KernelMemory>,
    fs_image: Option<&'static [u8]>,
) -> ! {
    let memory = super::require_memory(memory);
    let file = match crate::program::boot_files::read(fs_image, "/bin/hello") {
        Ok(file) => file,
        Err(error) => {
            println!("churn: /bin/hello: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    fn spawner() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(mealy_echo::Echo::new())
    }
    let specs = [TaskSpec::new("spawner", spawner)];
    let platform = MachinePlatform::new(Some(memory)).quiet();
    let Ok(mut scheduler) = Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
    else {
        println!("churn: no scheduler");
        qemu::exit(ExitStatus::Failure)
    };
    let Ok(ids) = scheduler.spawn_all(&specs) else {
        println!("churn: no spawner");
        qemu::exit(ExitStatus::Failure)
    };
    let spawner = ids[0];
    let program = scheduler.act_as(spawner, |cx| {
        let region = cx.alloc_region(file.len()).ok()?;
        cx.region_mut(region).ok()?[..file.len()].copy_from_slice(file);
        Some(region)
    });
    let Some(Some(program)) = program else {
        println!("churn: no region for the file");
        qemu::exit(ExitStatus::Failure)
    };
    let once =
        |scheduler: &mut Scheduler<MachinePlatform>| -> Result<(), mealy_protocol::IpcError> {
            let task = scheduler
                .act_as(spawner, |cx| cx.spawn(program, "hello", &[]))
                .unwrap_or(Err(mealy_protocol::IpcError::DeadTask))?;
            scheduler.run_until_idle(usize::MAX);
            scheduler
                .act_as(spawner, |cx| cx.stop_task(task))
                .unwrap_or(Err(mealy_protocol::IpcError::DeadTask))?;
            scheduler.run_until_idle(usize::MAX);
            Ok(())
        };
    let snapshot = |scheduler: &Scheduler<MachinePlatform>| {
        let report = scheduler.platform().memory_report();
        (
            report.as_ref().map_or(0, |r| r.frames_free),
            report.as_ref().map_or(0, |r| r.heap_total_bytes),
            report.as_ref().map_or(0, |r| r.regions.len()),
            scheduler.tasks().count(),
        )
    };
    if let Err(error) = once(&mut scheduler) {
        println!("churn: the first spawn failed: {error}");
        qemu::exit(ExitStatus::Failure)
    }
    let before = snapshot(&scheduler);
    let started = crate::arch::x86_64::clock::now_nanos();
    for round in 1..CHURN {
        if let Err(error) = once(&mut scheduler) {
            println!("churn: spawn {round} failed: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    }
    let took = crate::arch::x86_64::clock::now_nanos() - started;
    let after = snapshot(&scheduler);
    println!(
        "churn: {CHURN} spawns and stops of /bin/hello in {} ms ({} us each): frames free {} -> {}, heap {} -> {} KiB, live regions {} -> {}, task records {} -> {}",
        took / 1_000_000,
        took / 1000 / u64::from(CHURN - 1),
        before.0,
        after.0,
        before.1 / 1024,
        after.1 / 1024,
        before.2,
        after.2,
        before.3,
        after.3
    );
    if before == after {
        qemu::exit(ExitStatus::Success)
    }
    qemu::exit(ExitStatus::Failure)
}
