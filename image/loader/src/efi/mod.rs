//! The UEFI side of the loader: everything that talks to firmware.
//!
//! [`boot`] runs the whole sequence: find and parse `limine.conf`, load the
//! kernel and modules, scan the kernel's requests, build page tables and
//! responses, then [`handoff`] exits boot services and jumps. Every failure
//! before the exit becomes one [`BootError`] line on the console (which OVMF
//! mirrors to serial) and an error status returned to the firmware.
//!
//! All `unsafe` of the loader lives in this directory.

#[macro_use]
mod console;
mod error;
mod files;
mod handoff;
mod memory;
mod prepare;
mod responses;

use uefi::Status;

/// Loader version, reported in the banner and the bootloader-info response.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[uefi::entry]
fn efi_main() -> Status {
    say!("Mealy loader {VERSION}");
    match prepare::prepare() {
        Ok(handoff) => {
            // SAFETY: `prepare` returned, so every firmware protocol and
            // pool object it used has been closed or dropped, and `handoff`
            // describes tables, stack and responses it built for the kernel.
            unsafe { handoff::enter_kernel(handoff) }
        }
        Err(error) => {
            say!("error: {error}");
            error.status()
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::SeqCst) {
        say!("panic (loader bug): {info}");
    }
    handoff::halt_forever()
}
