//! Ending a QEMU run with a status, through the `isa-debug-exit` device that
//! `cargo xtask qemu` attaches at I/O port 0xf4.
//!
//! QEMU exits with `(value << 1) | 1`, so the two values below become exit
//! codes 33 and 35; xtask maps them back to 0 and 1. The numbers are part of
//! the contract with xtask (`xtask/src/qemu.rs`, `GUEST_SUCCESS`/
//! `GUEST_FAILURE`). On a machine without the device the write goes nowhere
//! and the caller halts instead.

use ::x86_64::instructions::port::Port;

const DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitStatus {
    Success = 0x10,
    Failure = 0x11,
}

/// Asks QEMU to exit with `status`; halts if nothing is listening.
pub fn exit(status: ExitStatus) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device, or unused on a
    // machine without it; writing it has no effect on kernel memory.
    unsafe { port.write(status as u32) };
    super::cpu::halt_forever()
}
