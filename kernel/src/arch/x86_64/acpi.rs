//! Reading the firmware's ACPI tables (with the `acpi` crate): the MADT for
//! the I/O APICs and ISA interrupt overrides, the FADT and DSDT for powering
//! off.
//!
//! At Limine base revision 3 the direct map does not cover ACPI memory, so
//! the tables are mapped on demand, read-only, and stay mapped: they are
//! few, small and needed again at shutdown. The crate's default features
//! need unstable Rust, so its platform summary is replaced by a walk over
//! the MADT entries here.
//!
//! The crate's `AcpiHandler::map_physical_region` cannot return an error,
//! so failing to map a table (no frame left for a page table, at boot) is
//! a panic that names the table's address: the only panics in this file.

extern crate alloc;

use alloc::vec::Vec;
use core::ptr::NonNull;

use ::acpi::fadt::Fadt;
use ::acpi::madt::{Madt, MadtEntry};
use ::acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use ::x86_64::instructions::port::Port;
use spin::Mutex;

use super::memory;
use crate::power;

/// A window of firmware memory mapped for the tables.
#[derive(Clone, Copy)]
struct Window {
    phys: u64,
    bytes: u64,
    virt: u64,
}

/// Windows mapped so far, so a table read twice is mapped once.
static WINDOWS: Mutex<Vec<Window>> = Mutex::new(Vec::new());

/// Maps what the `acpi` crate asks for through the kernel's memory system.
#[derive(Clone, Copy, Debug, Default)]
struct FirmwareTables;

impl AcpiHandler for FirmwareTables {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        let (phys, bytes) = (phys as u64, size as u64);
        let mut windows = WINDOWS.lock();
        let known = windows
            .iter()
            .find(|w| w.phys <= phys && phys + bytes <= w.phys + w.bytes)
            .map(|w| w.virt + (phys - w.phys));
        let virt = known.unwrap_or_else(|| {
            let memory = memory::memory().expect("ACPI is read after the memory manager starts");
            let start = memory::map_firmware(memory, phys, bytes)
                .unwrap_or_else(|error| panic!("cannot map ACPI table at {phys:#x}: {error}"));
            windows.push(Window {
                phys,
                bytes,
                virt: start.as_u64(),
            });
            start.as_u64()
        });
        let pointer = NonNull::new(virt as *mut T).expect("a mapped window is never at 0");
        // SAFETY: `pointer` maps `size` bytes at `phys` (just mapped or in a
        // window mapped earlier), and mappings are never removed.
        unsafe { PhysicalMapping::new(phys as usize, pointer, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {
        // Firmware tables stay mapped (see the module docs).
    }
}

/// An I/O APIC as the MADT describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApicInfo {
    pub id: u8,
    pub address: u64,
    pub gsi_base: u32,
}

/// How an ISA IRQ reaches an I/O APIC input when it is not the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaOverride {
    pub irq: u8,
    pub gsi: u32,
    pub active_low: bool,
    pub level_triggered: bool,
}

/// Where and what to write to power off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOff {
    pub pm1a_port: u16,
    pub pm1b_port: Option<u16>,
    pub sleep_type: (u8, u8),
}

/// What the kernel takes from ACPI.
#[derive(Clone, Debug, Default)]
pub struct Platform {
    pub io_apics: Vec<IoApicInfo>,
    pub isa_overrides: Vec<IsaOverride>,
    /// `Err` says why the kernel cannot power off.
    pub power_off: Option<Result<PowerOff, &'static str>>,
}

#[derive(Debug)]
pub struct AcpiError(::acpi::AcpiError);

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ACPI tables: {:?}", self.0)
    }
}

/// Reads the tables from the RSDP (a physical address, as revision 3 of
/// the boot protocol gives it).
pub fn discover(rsdp: u64) -> Result<Platform, AcpiError> {
    // SAFETY: the bootloader's RSDP response points at the firmware's RSDP.
    let tables =
        unsafe { AcpiTables::from_rsdp(FirmwareTables, rsdp as usize) }.map_err(AcpiError)?;
    let mut platform = Platform::default();

    let madt = tables.find_table::<Madt>().map_err(AcpiError)?;
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::IoApic(io_apic) => platform.io_apics.push(IoApicInfo {
                id: io_apic.io_apic_id,
                address: u64::from(io_apic.io_apic_address),
                gsi_base: io_apic.global_system_interrupt_base,
            }),
            MadtEntry::InterruptSourceOverride(entry) if entry.bus == 0 => {
                let flags = entry.flags;
                platform.isa_overrides.push(IsaOverride {
                    irq: entry.irq,
                    gsi: entry.global_system_interrupt,
                    // MPS INTI flags: polarity in bits 0-1, trigger in 2-3;
                    // 0b11 is active low / level, anything else keeps ISA's
                    // active high / edge.
                    active_low: flags & 0b11 == 0b11,
                    level_triggered: (flags >> 2) & 0b11 == 0b11,
                })
            }
            _ => {}
        }
    }

    platform.power_off = Some(power_off_registers(&tables));
    Ok(platform)
}

fn power_off_registers(tables: &AcpiTables<FirmwareTables>) -> Result<PowerOff, &'static str> {
    let fadt = tables.find_table::<Fadt>().map_err(|_| "no FADT")?;
    let io_port = |address: ::acpi::address::GenericAddress| {
        (address.address_space == ::acpi::address::AddressSpace::SystemIo)
            .then(|| u16::try_from(address.address).ok())
            .flatten()
    };
    let pm1a_port = fadt
        .pm1a_control_block()
        .ok()
        .and_then(io_port)
        .ok_or("PM1a control block is not an I/O port")?;
    let pm1b_port = fadt.pm1b_control_block().ok().flatten().and_then(io_port);
    let dsdt = tables.dsdt().map_err(|_| "no DSDT")?;
    let memory = memory::memory().ok_or("no memory manager")?;
    let aml = memory::map_firmware(memory, dsdt.address as u64, u64::from(dsdt.length))
        .map_err(|_| "cannot map the DSDT")?;
    // SAFETY: the DSDT's AML, `length` bytes, was just mapped read-only.
    let aml = unsafe { core::slice::from_raw_parts(aml.as_ptr::<u8>(), dsdt.length as usize) };
    let sleep_type = power::sleep_type_s5(aml).ok_or("the DSDT has no constant \\_S5 package")?;
    Ok(PowerOff {
        pm1a_port,
        pm1b_port,
        sleep_type,
    })
}

static POWER_OFF: spin::Once<Option<PowerOff>> = spin::Once::new();

/// Remembers how to power off, found at boot.
pub fn set_power_off(registers: Option<PowerOff>) {
    POWER_OFF.call_once(|| registers);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOffError {
    /// ACPI gave no way to power off (the boot log says why).
    Unsupported,
    /// The registers were written and the machine is still on.
    StillRunning,
}

impl core::fmt::Display for PowerOffError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PowerOffError::Unsupported => f.write_str("ACPI offers no way to power off"),
            PowerOffError::StillRunning => f.write_str("the machine did not power off"),
        }
    }
}

/// Whether boot found a way to power off.
pub fn can_power_off() -> bool {
    POWER_OFF.get().copied().flatten().is_some()
}

/// Powers the machine off through ACPI S5; returns only on failure.
pub fn shutdown() -> PowerOffError {
    match POWER_OFF.get().copied().flatten() {
        Some(registers) => {
            power_off(registers);
            // The write takes effect at once on real chipsets and QEMU; give
            // slower hardware a moment before calling it a failure.
            let deadline = super::clock::now_nanos() + 100_000_000;
            while super::clock::now_nanos() < deadline {
                core::hint::spin_loop();
            }
            PowerOffError::StillRunning
        }
        None => PowerOffError::Unsupported,
    }
}

/// Enters ACPI S5 (soft off). Returns only if the machine did not turn off.
fn power_off(registers: PowerOff) {
    let (a, b) = power::pm1_control_values(registers.sleep_type);
    // SAFETY: the FADT names these as the PM1 control registers; writing
    // SLP_TYP with SLP_EN is the documented way to enter S5.
    unsafe {
        Port::<u16>::new(registers.pm1a_port).write(a);
        if let Some(port) = registers.pm1b_port {
            Port::<u16>::new(port).write(b);
        }
    }
}

/// Resets the machine: the PCI reset control register (port 0xCF9, a
/// full reset), then the i8042's pulse of the CPU reset line, which
/// every PC chipset and QEMU's q35 and i440fx honour. Returns only if
/// neither worked. QEMU run with `-no-reboot` (as `cargo xtask qemu`
/// does) exits instead of rebooting.
pub fn reboot() {
    // SAFETY: port 0xCF9 is the chipset's reset control register;
    // writing 0x02 then 0x06 requests a hard reset and touches no memory.
    unsafe {
        Port::<u8>::new(0xcf9).write(0x02);
        Port::<u8>::new(0xcf9).write(0x06);
    }
    // SAFETY: 0xFE to the i8042's command port pulses the reset line.
    unsafe { Port::<u8>::new(0x64).write(0xfe) };
    let deadline = super::clock::now_nanos() + 100_000_000;
    while super::clock::now_nanos() < deadline {
        core::hint::spin_loop();
    }
}
