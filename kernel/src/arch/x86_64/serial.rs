//! COM1 (I/O port 0x3f8): the kernel's console until the serial task
//! takes its input over ([`hand_over_input`]), and the sink of the `log`
//! crate for good.
//!
//! Output is polled, which is slow but works before interrupts exist and
//! inside a panic. Input arrives by interrupt (IRQ 4) into a lock-free
//! queue, so the interrupt handler never waits for a lock.

extern crate alloc;

use core::fmt::{self, Write};

use crossbeam_queue::ArrayQueue;
use spin::{Mutex, Once};
use uart_16550::SerialPort;

const COM1: u16 = 0x3f8;

/// ISA IRQ line of COM1.
pub const IRQ: u8 = 4;
/// Bytes received and not yet read; more are dropped and counted.
const RECEIVE_CAPACITY: usize = 4096;

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);
static RECEIVED: Once<ArrayQueue<u8>> = Once::new();
static OVERRUNS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

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

/// Writes text with every `\n` sent as `\r\n`, as a terminal on the
/// other end of a serial line expects.
struct Terminal<'a>(&'a mut SerialPort);

impl Write for Terminal<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                self.0.send(b'\r');
                self.0.send(b'\n');
            }
            self.0.write_str(line)?;
        }
        Ok(())
    }
}

/// Writes formatted text to COM1; drops it if COM1 is not initialised yet.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    if let Some(port) = PORT.lock().as_mut() {
        let _ = Terminal(port).write_fmt(args);
    }
}

/// Writes text to COM1.
pub fn write_str(text: &str) {
    write_fmt(format_args!("{text}"));
}

/// Whether received bytes are waiting.
pub fn has_input() -> bool {
    RECEIVED.get().is_some_and(|queue| !queue.is_empty())
}

/// Moves waiting received bytes into `buffer`; returns how many.
pub fn read_into(buffer: &mut [u8]) -> usize {
    let mut count = 0;
    while count < buffer.len() {
        match try_read_byte() {
            Some(byte) => {
                buffer[count] = byte;
                count += 1;
            }
            None => break,
        }
    }
    count
}

/// Set once the serial task owns COM1's input: IRQ 4 is then posted to it
/// like any other line instead of being read here.
static HANDED_OVER: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Gives COM1's input to the serial task (its Device and Irq
/// capabilities); bytes already queued here stay readable.
pub fn hand_over_input() {
    HANDED_OVER.store(true, core::sync::atomic::Ordering::Release);
}

/// Whether the serial task owns COM1's input.
pub fn input_handed_over() -> bool {
    HANDED_OVER.load(core::sync::atomic::Ordering::Acquire)
}

/// Makes the receive queue; needs the heap. Until then input is polled.
pub fn init_receive_queue() {
    RECEIVED.call_once(|| ArrayQueue::new(RECEIVE_CAPACITY));
}

/// IRQ 4: moves every byte the UART holds into the receive queue.
pub fn receive_interrupt() {
    // SAFETY: as in `init`. Reading the receive side does not disturb a
    // transmission in progress under the lock.
    let mut port = unsafe { SerialPort::new(COM1) };
    while let Ok(byte) = port.try_receive() {
        let stored = RECEIVED.get().is_some_and(|queue| queue.push(byte).is_ok());
        if !stored {
            OVERRUNS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The next received byte: from the queue once interrupts deliver input,
/// by polling the UART before that.
pub fn try_read_byte() -> Option<u8> {
    match RECEIVED.get() {
        Some(queue) => queue.pop(),
        None => PORT.lock().as_mut()?.try_receive().ok(),
    }
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
