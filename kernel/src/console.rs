//! The console loop: runs the scheduler and the debug shell
//! (`mealy-shell`). It dispatches every waiting message, then feeds the
//! keystrokes the shell's task received to the shell, sends what the shell
//! prints to the `console` service as the shell's task (which passes it to
//! the serial driver and the framebuffer console), then sleeps until the
//! next interrupt. Keystrokes come the same way in reverse: serial or
//! keyboard driver, `console`, the shell's task.
//!
//! Every command acts through the shell's own task (`console_task`) and
//! the capabilities it holds (`shell_system`): inspection through its
//! Inspect capability, `send` through an endpoint, `revoke`, `kill` and
//! `shutdown` through Task capabilities. A shutdown powers off here, once
//! every message sent before it has been handled.

use alloc::format;

use mealy_protocol::{IpcError, MAX_PAYLOAD, encode, terminal};
use mealy_shell::Shell;

use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::{acpi, interrupts, serial};
use crate::console_task;
use crate::sched::Scheduler;
use crate::shell_system::ShellSystem;

type KernelScheduler = Scheduler<MachinePlatform>;

/// Runs the scheduler and the shell for good.
pub fn run(mut scheduler: KernelScheduler) -> ! {
    // The drivers armed their own lines at start.
    interrupts::enable();
    let mut shell = Shell::new();
    // Let the boot tasks say what they say at start, then the prompt.
    while scheduler.dispatch_one() {}
    show(&mut scheduler, &shell.start().text);
    let mut input = [0u8; 64];
    let mut power_off_failed = false;
    loop {
        while scheduler.dispatch_one() {}
        if scheduler.power_off_requested() && !power_off_failed {
            let error = acpi::shutdown();
            // Said once; the system keeps running.
            serial::write_str(&format!("error: shutdown: {error}\n"));
            power_off_failed = true;
        }
        // Keystrokes the console routed to the shell's task.
        let received = console_task::take_input(&mut input);
        if received == 0 {
            scheduler.idle();
            continue;
        }
        // One byte at a time, showing as it goes, so what tasks log while
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
            show(&mut scheduler, &output.text);
        }
    }
}

/// Sends the shell's `text` to the console as the shell's task, and runs
/// the tasks until it is shown. If the console cannot take it (gone, or
/// the shell lost its capability), the text goes straight to COM1, so the
/// person at the terminal still sees it.
fn show(scheduler: &mut KernelScheduler, text: &str) {
    if text.is_empty() {
        return;
    }
    let mut buffer = [0u8; MAX_PAYLOAD];
    for piece in terminal::chunks(text) {
        let Ok(payload) = encode(&terminal::Output { text: piece }, &mut buffer) else {
            serial::write_str(piece);
            continue;
        };
        loop {
            match send_as_shell(scheduler, payload) {
                Ok(()) => break,
                // Backpressure: let the console and the displays catch up.
                Err(IpcError::MailboxFull) if scheduler.dispatch_one() => {}
                Err(_) => {
                    serial::write_str(piece);
                    break;
                }
            }
        }
        while scheduler.dispatch_one() {}
    }
}

fn send_as_shell(scheduler: &mut KernelScheduler, payload: &[u8]) -> Result<(), IpcError> {
    let shell = scheduler
        .task_by_name(console_task::NAME)
        .ok_or(IpcError::DeadTask)?;
    let terminal = scheduler
        .grants(shell)
        .iter()
        .find(|grant| grant.name == console_task::TERMINAL)
        .map(|grant| grant.cap)
        .ok_or(IpcError::InvalidCap)?;
    scheduler
        .act_as(shell, |cx| cx.send(terminal, payload, &[]))
        .ok_or(IpcError::DeadTask)?
}
