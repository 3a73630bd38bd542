//! The I/O APICs: routing legacy ISA interrupts (COM1 on IRQ 4, the PS/2
//! keyboard on IRQ 1, ...) to vectors on the boot core, with the MADT's
//! overrides applied. Lines start masked; a driver unmasks the line it
//! holds the `Irq` capability for.

extern crate alloc;

use alloc::vec::Vec;

use spin::{Mutex, Once};

use super::acpi::{IoApicInfo, IsaOverride, Platform};
use super::{apic, memory};

/// ISA IRQ n arrives on vector `ISA_VECTOR_BASE + n`.
pub const ISA_VECTOR_BASE: u8 = 0x30;
pub const ISA_IRQS: u8 = 16;

const REGISTER_SELECT: u64 = 0x00;
const REGISTER_WINDOW: u64 = 0x10;
const VERSION: u32 = 0x01;
const REDIRECTION_TABLE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

struct IoApic {
    /// Virtual address of its mapped registers.
    registers: u64,
    gsi_base: u32,
    lines: u32,
}

impl IoApic {
    fn read(&self, register: u32) -> u32 {
        // SAFETY: `registers` is this I/O APIC's mapped, uncached page;
        // select then window is its only access protocol, and the caller
        // holds the lock around the pair.
        unsafe {
            ((self.registers + REGISTER_SELECT) as *mut u32).write_volatile(register);
            ((self.registers + REGISTER_WINDOW) as *const u32).read_volatile()
        }
    }

    fn write(&self, register: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            ((self.registers + REGISTER_SELECT) as *mut u32).write_volatile(register);
            ((self.registers + REGISTER_WINDOW) as *mut u32).write_volatile(value);
        }
    }

    fn set_entry(&self, line: u32, low: u32, destination: u32) {
        self.write(REDIRECTION_TABLE + 2 * line + 1, destination << 24);
        self.write(REDIRECTION_TABLE + 2 * line, low);
    }

    fn entry_low(&self, line: u32) -> u32 {
        self.read(REDIRECTION_TABLE + 2 * line)
    }
}

/// Where one ISA IRQ was routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    pub gsi: u32,
    pub vector: u8,
}

struct Routing {
    io_apics: Vec<IoApic>,
    /// By ISA IRQ: which I/O APIC (index) and line, if routed.
    isa: [Option<(usize, u32, IsaRoute)>; ISA_IRQS as usize],
}

static ROUTING: Once<Mutex<Routing>> = Once::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    None,
    Map(u64),
    NotRouted(u8),
}

impl core::fmt::Display for IoApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IoApicError::None => f.write_str("the MADT lists no I/O APIC"),
            IoApicError::Map(address) => write!(f, "cannot map the I/O APIC at {address:#x}"),
            IoApicError::NotRouted(irq) => write!(f, "ISA IRQ {irq} has no I/O APIC input"),
        }
    }
}

/// What the banner says about routing.
#[derive(Clone, Copy, Debug)]
pub struct RoutingSummary {
    pub io_apics: usize,
    pub first: IoApicInfo,
    pub first_lines: u32,
    pub isa_routed: u8,
}

/// Maps every I/O APIC, masks all its lines, and routes the 16 ISA IRQs
/// (masked) to vectors `ISA_VECTOR_BASE..` on this core.
pub fn init(platform: &Platform) -> Result<RoutingSummary, IoApicError> {
    let memory = memory::memory().ok_or(IoApicError::None)?;
    let first = *platform.io_apics.first().ok_or(IoApicError::None)?;
    let mut io_apics = Vec::new();
    for info in &platform.io_apics {
        let registers = memory::map_device(memory, info.address, 0x20)
            .map_err(|_| IoApicError::Map(info.address))?
            .as_u64();
        let mut io_apic = IoApic {
            registers,
            gsi_base: info.gsi_base,
            lines: 0,
        };
        io_apic.lines = ((io_apic.read(VERSION) >> 16) & 0xff) + 1;
        for line in 0..io_apic.lines {
            io_apic.set_entry(line, MASKED, 0);
        }
        io_apics.push(io_apic);
    }

    let destination = apic::id();
    let mut isa = [None; ISA_IRQS as usize];
    for irq in 0..ISA_IRQS {
        let rule = platform
            .isa_overrides
            .iter()
            .find(|rule| rule.irq == irq)
            .copied()
            .unwrap_or(IsaOverride {
                irq,
                gsi: u32::from(irq),
                active_low: false,
                level_triggered: false,
            });
        let found = io_apics.iter().enumerate().find(|(_, io_apic)| {
            (io_apic.gsi_base..io_apic.gsi_base + io_apic.lines).contains(&rule.gsi)
        });
        let Some((index, io_apic)) = found else {
            continue;
        };
        let line = rule.gsi - io_apic.gsi_base;
        let vector = ISA_VECTOR_BASE + irq;
        let mut low = MASKED | u32::from(vector);
        if rule.active_low {
            low |= ACTIVE_LOW;
        }
        if rule.level_triggered {
            low |= LEVEL_TRIGGERED;
        }
        io_apic.set_entry(line, low, destination);
        isa[irq as usize] = Some((
            index,
            line,
            IsaRoute {
                gsi: rule.gsi,
                vector,
            },
        ));
    }
    let summary = RoutingSummary {
        io_apics: io_apics.len(),
        first,
        first_lines: io_apics[0].lines,
        isa_routed: isa.iter().filter(|route| route.is_some()).count() as u8,
    };
    ROUTING.call_once(|| Mutex::new(Routing { io_apics, isa }));
    Ok(summary)
}

/// Whether a line's interrupts get through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mask {
    Masked,
    Unmasked,
}

/// Masks or unmasks a line. Interrupts are off while the routing lock is
/// held: the interrupt handler masks lines too, and must never find the
/// lock taken by the code it interrupted.
fn set_mask(irq: u8, mask: Mask) -> Result<IsaRoute, IoApicError> {
    ::x86_64::instructions::interrupts::without_interrupts(|| set_mask_locked(irq, mask))
}

fn set_mask_locked(irq: u8, mask: Mask) -> Result<IsaRoute, IoApicError> {
    let routing = ROUTING.get().ok_or(IoApicError::NotRouted(irq))?.lock();
    let (index, line, route) = routing
        .isa
        .get(irq as usize)
        .copied()
        .flatten()
        .ok_or(IoApicError::NotRouted(irq))?;
    let io_apic = &routing.io_apics[index];
    let low = io_apic.entry_low(line);
    let low = match mask {
        Mask::Masked => low | MASKED,
        Mask::Unmasked => low & !MASKED,
    };
    io_apic.write(REDIRECTION_TABLE + 2 * line, low);
    Ok(route)
}

/// Lets ISA IRQ `irq` through.
pub fn unmask_isa(irq: u8) -> Result<IsaRoute, IoApicError> {
    set_mask(irq, Mask::Unmasked)
}

/// Stops ISA IRQ `irq`.
pub fn mask_isa(irq: u8) -> Result<IsaRoute, IoApicError> {
    set_mask(irq, Mask::Masked)
}
