//! The kernel's panic report: location and message on COM1, then a failure
//! status to QEMU (so a test run ends) or a halt on real hardware.

use core::fmt::Write;
use core::panic::PanicInfo;

use super::qemu::{self, ExitStatus};
use super::serial;

pub fn report(info: &PanicInfo<'_>) -> ! {
    let mut out = serial::panic_writer();
    let _ = match info.location() {
        Some(at) => write!(
            out,
            "\nKERNEL PANIC at {}:{}:{}: {}\n",
            at.file(),
            at.line(),
            at.column(),
            info.message()
        ),
        None => write!(out, "\nKERNEL PANIC: {}\n", info.message()),
    };
    qemu::exit(ExitStatus::Failure)
}
