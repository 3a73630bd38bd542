//! `test=disk`: the virtio-blk driver and the disk check
//! (`disk_check.rs`) alone in a scheduler, run until the check ends or
//! [`DEADLINE_NS`] passes. The driver answers from its interrupt, so the
//! loop sleeps between messages exactly as the kernel's own run loop does.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::disk_check::{self, DiskCheck};
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{clock, interrupts};
use crate::println;
use crate::sched::{SchedConfig, Scheduler, TaskSpec, grant};
use crate::tasks;

/// How long the check may take, in guest time.
const DEADLINE_NS: u64 = 20_000_000_000;

pub(super) fn check(memory: Option<&'static KernelMemory>) -> ! {
    fn make_check() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(DiskCheck::new())
    }

    let memory = super::require_memory(memory);
    crate::boot::start_block_device(memory);
    let Some(driver) = tasks::block_device().map(tasks::block_driver) else {
        println!("disk: no virtio-blk device");
        qemu::exit(ExitStatus::Failure)
    };
    let check_caps = Vec::from([
        grant(disk_check::GRANT_DISK)
            .endpoint_to(mealy_virtio_blk::NAME)
            .rights(mealy_caps::Rights::WRITE),
        grant(disk_check::GRANT_BUFFER).region(mealy_protocol::block::BLOCK_SIZE as u64),
    ]);
    let list = [
        driver,
        TaskSpec::new(disk_check::NAME, make_check).caps(Vec::leak(check_caps)),
    ];
    let platform = MachinePlatform::new(Some(memory));
    let mut scheduler = match Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
    {
        Ok(scheduler) => scheduler,
        Err(error) => {
            println!("disk: scheduler: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    if let Err(error) = scheduler.spawn_all(&list) {
        println!("disk: task list: {error}");
        qemu::exit(ExitStatus::Failure)
    }
    interrupts::enable();
    let deadline = clock::now_nanos() + DEADLINE_NS;
    loop {
        scheduler.run_until_idle(usize::MAX);
        match disk_check::OUTCOME.load(Ordering::Relaxed) {
            disk_check::PASSED => qemu::exit(ExitStatus::Success),
            disk_check::FAILED => qemu::exit(ExitStatus::Failure),
            _ => {}
        }
        if clock::now_nanos() > deadline {
            println!("disk: no answer from the driver in time");
            qemu::exit(ExitStatus::Failure)
        }
        scheduler.idle();
    }
}
