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
use crate::sched::{SchedConfig, Scheduler, TaskSpec, TaskState};

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
