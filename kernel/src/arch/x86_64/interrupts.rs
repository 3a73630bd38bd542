//! Device interrupts (vectors 32 and up): the local APIC timer, its error
//! and spurious vectors, and ISA lines from the I/O APIC. Each handler does
//! the least it can with interrupts off, and acknowledges the APIC. An ISA
//! line is masked and posted to [`PENDING`]; the scheduler turns it into an
//! `Interrupt` message for the task holding the line's `Irq` capability,
//! which re-arms it with `irq_ack`. COM1 is read by the kernel itself
//! until the serial task takes it (`serial::hand_over_input`), which is
//! what the `test=` scenarios rely on.

use core::sync::atomic::{AtomicU64, Ordering};

use super::ioapic::{self, ISA_IRQS, ISA_VECTOR_BASE};
use super::{apic, serial};
use crate::sched::PendingInterrupts;
use crate::trap::TrapFrame;

/// Interrupt lines waiting to be delivered as messages by the scheduler.
pub static PENDING: PendingInterrupts = PendingInterrupts::new();

static TIMER_TICKS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);
static ISA: [AtomicU64; ISA_IRQS as usize] = [const { AtomicU64::new(0) }; ISA_IRQS as usize];

/// Interrupts received on ISA IRQ `irq` since boot.
pub fn isa_count(irq: u8) -> u64 {
    ISA.get(irq as usize)
        .map_or(0, |count| count.load(Ordering::Relaxed))
}

/// Timer interrupts since boot (periodic ticks and one-shot expiries).
pub fn timer_ticks() -> u64 {
    TIMER_TICKS.load(Ordering::Relaxed)
}

pub fn spurious_count() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

pub fn handle(frame: &mut TrapFrame) {
    match frame.vector as u8 {
        apic::TIMER_VECTOR => {
            TIMER_TICKS.fetch_add(1, Ordering::Relaxed);
            apic::end_of_interrupt();
        }
        apic::ERROR_VECTOR => {
            let status = apic::take_error_status();
            log::error!("local APIC error, status {status:#x}");
            apic::end_of_interrupt();
        }
        vector if (ISA_VECTOR_BASE..ISA_VECTOR_BASE + ISA_IRQS).contains(&vector) => {
            let irq = vector - ISA_VECTOR_BASE;
            ISA[irq as usize].fetch_add(1, Ordering::Relaxed);
            if irq == serial::IRQ && !serial::input_handed_over() {
                serial::receive_interrupt();
            } else {
                let _ = ioapic::mask_isa(irq);
                PENDING.post(irq);
            }
            apic::end_of_interrupt();
        }
        // An MSI (`msi.rs`): posted for its line's task, never masked.
        vector if super::msi::line_of(vector).is_some() => {
            if let Some(line) = super::msi::line_of(vector) {
                PENDING.post(line);
            }
            apic::end_of_interrupt();
        }
        // A spurious interrupt must not be acknowledged.
        apic::SPURIOUS_VECTOR => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
        vector => {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
            log::warn!("unexpected interrupt on vector {vector}");
            apic::end_of_interrupt();
        }
    }
}

/// Where the legacy PIC's vectors go: out of the exception range, and out
/// of the way of the APIC's own, so a spurious PIC interrupt (which can
/// arrive even when masked) is never mistaken for an exception.
const PIC_VECTOR_BASE: u8 = 0xe0;

/// Reprograms both 8259 PICs to [`PIC_VECTOR_BASE`] and masks every line:
/// interrupts come through the APICs only.
pub fn disable_legacy_pic() {
    use ::x86_64::instructions::port::Port;
    let mut master_command = Port::<u8>::new(0x20);
    let mut master_data = Port::<u8>::new(0x21);
    let mut slave_command = Port::<u8>::new(0xa0);
    let mut slave_data = Port::<u8>::new(0xa1);
    // SAFETY: the PICs' fixed ports; the ICW1-ICW4 sequence (edge
    // triggered, cascaded, 8086 mode) followed by masking all lines is the
    // standard way to park them.
    unsafe {
        master_command.write(0x11);
        slave_command.write(0x11);
        master_data.write(PIC_VECTOR_BASE);
        slave_data.write(PIC_VECTOR_BASE + 8);
        master_data.write(4);
        slave_data.write(2);
        master_data.write(0x01);
        slave_data.write(0x01);
        master_data.write(0xff);
        slave_data.write(0xff);
    }
}

/// Allows interrupts on this core.
pub fn enable() {
    ::x86_64::instructions::interrupts::enable();
}

/// Polls `poll` until it has something, sleeping between tries, and
/// returns it (interrupts are on afterwards). No wake-up is lost: `poll`
/// runs with interrupts off, and `sti; hlt` turns them on only as the core
/// halts, so an interrupt that arrives after an empty poll wakes the `hlt`
/// instead of running before it and leaving the core asleep with its
/// news unread (which is how a piped line could hang `test=echo`).
pub fn wait_for<T>(mut poll: impl FnMut() -> Option<T>) -> T {
    use ::x86_64::instructions::interrupts;
    loop {
        interrupts::disable();
        if let Some(value) = poll() {
            interrupts::enable();
            return value;
        }
        interrupts::enable_and_hlt();
    }
}
