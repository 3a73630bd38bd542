//! COM1 (I/O port 0x3f8): the kernel's console until the serial service
//! takes it over, and the sink of the `log` crate.
//!
//! Output is polled, which is slow but works before interrupts exist and
//! inside a panic.

use core::fmt::{self, Write};

use spin::Mutex;
use uart_16550::SerialPort;

const COM1: u16 = 0x3f8;

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);

/// Programs COM1 (115200 8N1, FIFOs on). Called once, first thing at boot.
pub fn init() {
    // SAFETY: 0x3f8 is COM1 on every PC-compatible machine and nothing else
    // in the kernel drives these ports.
    let mut port = unsafe { SerialPort::new(COM1) };
    port.init();
    *PORT.lock() = Some(port);
    let _ = log::set_logger(&SerialLogger);
    log::set_max_level(log::LevelFilter::Info);
}

/// Writes formatted text to COM1; drops it if COM1 is not initialised yet.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    if let Some(port) = PORT.lock().as_mut() {
        let _ = port.write_fmt(args);
    }
}

/// Polls COM1 for one received byte.
pub fn try_read_byte() -> Option<u8> {
    PORT.lock().as_mut()?.try_receive().ok()
}

/// A writer that does not take the lock: for the panic handler, which may
/// run while the lock is held by the code that panicked.
pub fn panic_writer() -> impl Write {
    // SAFETY: as in `init`; a second handle to the same ports is only made
    // when the kernel is about to halt, so interleaving is the worst case.
    unsafe { SerialPort::new(COM1) }
}

#[macro_export]
macro_rules! println {
    () => { $crate::arch::x86_64::serial::write_fmt(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::arch::x86_64::serial::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct SerialLogger;

impl log::Log for SerialLogger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        write_fmt(format_args!(
            "[{:<5} {}] {}\n",
            record.level(),
            record.target(),
            record.args()
        ));
    }

    fn flush(&self) {}
}
