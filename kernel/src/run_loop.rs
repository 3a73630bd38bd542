//! The kernel's loop once boot is done: dispatch every waiting message,
//! power off when the kernel's Task capability was used to stop it (the
//! shell's `shutdown`) and nothing is left to deliver, else sleep until
//! the next interrupt or timer. A restart of the kernel's task (or an
//! unsupervised fault whose policy says so) resets the machine the same
//! way. Output still waiting on a retry timer gets
//! up to [`SHUTDOWN_GRACE_NS`] to go out before the power goes
//! (`Scheduler::may_power_off`).
//!
//! Everything else is tasks: the drivers, the console and the shell
//! (`mealy_shell::ShellTask`) are state machines in the boot list
//! (`tasks.rs`), so a keystroke, the command it completes and the answer
//! shown are all messages between them.

use alloc::format;

use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::{acpi, clock, interrupts, serial};
use crate::sched::Scheduler;

/// How long a shutdown waits, at most, for timers that fall due (output
/// being retried) before it powers off.
const SHUTDOWN_GRACE_NS: u64 = 100_000_000;

/// Runs the scheduler for good.
pub fn run(mut scheduler: Scheduler<MachinePlatform>) -> ! {
    // The drivers armed their own lines at start.
    interrupts::enable();
    let mut power_off_failed = false;
    let mut power_off_by = None;
    loop {
        scheduler.run_until_idle(usize::MAX);
        let now = clock::now_nanos();
        if scheduler.reboot_requested()
            && scheduler.may_power_off(now, *power_off_by.get_or_insert(now + SHUTDOWN_GRACE_NS))
        {
            acpi::reboot();
            serial::write_str("error: reboot: the machine did not reset\n");
            cpu_halt();
        }
        if scheduler.power_off_requested()
            && !power_off_failed
            && scheduler.may_power_off(now, *power_off_by.get_or_insert(now + SHUTDOWN_GRACE_NS))
        {
            let error = acpi::shutdown();
            // Said once; the system keeps running.
            serial::write_str(&format!("error: shutdown: {error}\n"));
            power_off_failed = true;
        }
        scheduler.idle();
    }
}

fn cpu_halt() -> ! {
    crate::arch::x86_64::cpu::halt_forever()
}
