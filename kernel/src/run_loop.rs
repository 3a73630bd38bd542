//! The kernel's loop once boot is done: dispatch every waiting message,
//! power off when the kernel's Task capability was used to stop it (the
//! shell's `shutdown`) and nothing is left to deliver, else sleep until
//! the next interrupt or timer.
//!
//! Everything else is tasks: the drivers, the console and the shell
//! (`mealy_shell::ShellTask`) are state machines in the boot list
//! (`tasks.rs`), so a keystroke, the command it completes and the answer
//! shown are all messages between them.

use alloc::format;

use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::{acpi, interrupts, serial};
use crate::sched::Scheduler;

/// Runs the scheduler for good.
pub fn run(mut scheduler: Scheduler<MachinePlatform>) -> ! {
    // The drivers armed their own lines at start.
    interrupts::enable();
    let mut power_off_failed = false;
    loop {
        while scheduler.dispatch_one() {}
        if scheduler.power_off_requested() && !power_off_failed {
            let error = acpi::shutdown();
            // Said once; the system keeps running.
            serial::write_str(&format!("error: shutdown: {error}\n"));
            power_off_failed = true;
        }
        scheduler.idle();
    }
}
