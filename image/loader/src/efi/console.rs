//! Printing lines that start with `mealy-loader: `.
//!
//! Before ExitBootServices lines go to UEFI's ConOut (OVMF mirrors it to
//! the serial port). Afterwards ConOut is gone, so the rare post-exit
//! message (a loader bug, or a memory map that outgrew its preallocated
//! array) is written straight to COM1, which the firmware left initialised.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use uefi::system;

/// Set just before ExitBootServices; ConOut is unusable from then on.
static FIRMWARE_GONE: AtomicBool = AtomicBool::new(false);

/// Switches [`line`] to raw COM1 output for good.
pub fn firmware_gone() {
    FIRMWARE_GONE.store(true, Ordering::SeqCst);
}

/// Prints `mealy-loader: <args>` as one line.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::efi::console::line(format_args!($($arg)*))
    };
}

/// See [`say!`].
pub fn line(args: fmt::Arguments) {
    if !FIRMWARE_GONE.load(Ordering::SeqCst) && console_present() {
        system::with_stdout(|out| {
            // A console that cannot print has nowhere to report that either.
            let _ = writeln!(out, "mealy-loader: {args}");
        });
    } else {
        let _ = writeln!(RawSerial, "mealy-loader: {args}\r");
    }
}

/// Whether the system table has a ConOut (`with_stdout` panics otherwise).
fn console_present() -> bool {
    match uefi::table::system_table_raw() {
        // SAFETY: the firmware's system table stays valid while boot
        // services run, which `FIRMWARE_GONE` being false guarantees.
        Some(table) => unsafe { !table.as_ref().stdout.is_null() },
        None => false,
    }
}

/// COM1 driven by port I/O, for use after boot services are gone.
struct RawSerial;

const COM1: u16 = 0x3f8;

impl Write for RawSerial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            // Wait (bounded) for the transmit holding register to empty.
            for _ in 0..100_000 {
                if inb(COM1 + 5) & 0x20 != 0 {
                    break;
                }
            }
            outb(COM1, byte);
        }
        Ok(())
    }
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: reading the 16550's line status register has no side effects
    // beyond the UART; the loader owns the machine at this point.
    unsafe {
        core::arch::asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack))
    };
    value
}

/// Writes `value` to I/O port `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: callers only use the UART data port and the PIC mask ports,
    // which the loader owns once the firmware is done.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack))
    };
}
