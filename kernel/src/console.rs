//! The serial console: the debug shell (`mealy-shell`) on COM1. The kernel
//! loop dispatches every waiting message, then feeds received bytes to the
//! shell, then sleeps until the next interrupt (a serial byte wakes it).
//!
//! Every command acts through the shell's own task (`console_task`) and
//! the capabilities it holds (`shell_system`): inspection through its
//! Inspect capability, `send` through an endpoint, `revoke`, `kill` and
//! `shutdown` through Task capabilities. A shutdown powers off here, once
//! every message sent before it has been handled.

use alloc::format;
use alloc::vec::Vec;

use mealy_protocol::StateMachine;
use mealy_shell::Shell;

use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::{acpi, interrupts, ioapic, serial};
use crate::console_task::{self, ShellTask};
use crate::sched::{Scheduler, TaskSpec};
use crate::shell_system::{self, ShellSystem};
use crate::tasks;

type KernelScheduler = Scheduler<MachinePlatform>;

fn make_shell_task() -> alloc::boxed::Box<dyn StateMachine> {
    alloc::boxed::Box::new(ShellTask)
}

/// The boot task list plus the shell's task, with the capabilities
/// `shell_system::shell_caps` gives it.
pub fn task_list() -> Vec<TaskSpec> {
    let mut list = tasks::TASKS.to_vec();
    let caps = shell_system::shell_caps(tasks::TASKS);
    list.push(TaskSpec::new(console_task::NAME, make_shell_task).caps(Vec::leak(caps)));
    list
}

/// Runs the scheduler and the shell for good.
pub fn run(mut scheduler: KernelScheduler) -> ! {
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
            let Some(shell_task) = scheduler.task_by_name(console_task::NAME) else {
                serial::write_str("error: the shell task is not running\n");
                break;
            };
            let mut system = ShellSystem {
                scheduler: &mut scheduler,
                shell: shell_task,
            };
            let output = shell.feed(&[byte], &mut system);
            serial::write_str(&output.text);
        }
        if scheduler.power_off_requested() {
            // Every message sent before the request is handled first.
            while scheduler.dispatch_one() {}
            let error = acpi::shutdown();
            serial::write_str(&format!("error: shutdown: {error}\n"));
        }
    }
}
