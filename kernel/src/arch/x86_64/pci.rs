//! PCI on this machine: configuration space through the legacy ports
//! 0xCF8/0xCFC (every q35 and i440fx has them; ECAM would need the MCFG
//! and a mapping for no gain at boot), the device list found at boot
//! (`kernel::pci` decodes it), BAR windows mapped uncached at one address
//! each in the single address space, and the virtio-blk device's start:
//! decoding on, bus mastering on, INTx off, MSI-X entry 0 pointed at this
//! CPU with a fresh vector (`msi.rs`).
//!
//! A driver reaches its registers only through a Device capability whose
//! physical range lies inside a mapped window ([`mmio_address`]); the
//! kernel keeps the configuration space to itself.

use alloc::vec::Vec;

use spin::{Mutex, Once};
use x86_64::instructions::port::Port;

use super::memory::{self, KernelMemory};
use super::{apic, msi};
use crate::pci::{
    self, Bdf, COMMAND, COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE, COMMAND_MEMORY, ConfigSpace,
    Function, MSIX_ENABLE, MSIX_FUNCTION_MASK,
};

const ADDRESS: u16 = 0xcf8;
const DATA: u16 = 0xcfc;

/// Configuration mechanism #1: an address write, then a data access.
/// Only boot touches it, on one core with interrupts off.
struct PortConfigSpace;

impl PortConfigSpace {
    fn select(at: Bdf, offset: u8) {
        let address = 0x8000_0000
            | (u32::from(at.bus) << 16)
            | (u32::from(at.device & 0x1f) << 11)
            | (u32::from(at.function & 7) << 8)
            | u32::from(offset & 0xfc);
        // SAFETY: 0xCF8 is the PCI configuration address port; writing an
        // address has no effect beyond selecting the register.
        unsafe { Port::<u32>::new(ADDRESS).write(address) }
    }
}

impl ConfigSpace for PortConfigSpace {
    fn read32(&mut self, at: Bdf, offset: u8) -> u32 {
        Self::select(at, offset);
        // SAFETY: reads the register just selected; configuration reads
        // have no side effects.
        unsafe { Port::<u32>::new(DATA).read() }
    }

    fn write32(&mut self, at: Bdf, offset: u8, value: u32) {
        Self::select(at, offset);
        // SAFETY: writes the register just selected; the callers
        // (`kernel::pci` sizing, and this file) write only BARs (restored
        // after sizing), the command register and MSI-X control.
        unsafe { Port::<u32>::new(DATA).write(value) }
    }
}

/// The functions found at boot.
static FUNCTIONS: Once<Vec<Function>> = Once::new();

/// A BAR mapped for the kernel and its drivers: physical base, length,
/// virtual base.
#[derive(Clone, Copy, Debug)]
struct Window {
    phys: u64,
    len: u64,
    virt: u64,
}

static WINDOWS: Mutex<Vec<Window>> = Mutex::new(Vec::new());

/// Enumerates the bus once; later calls return the same list.
pub fn functions() -> &'static [Function] {
    FUNCTIONS.call_once(|| pci::enumerate(&mut PortConfigSpace))
}

/// The virtual address of `len` bytes at physical `phys` in a mapped
/// BAR window, if one holds them all.
pub fn mmio_address(phys: u64, len: u64) -> Option<u64> {
    let end = phys.checked_add(len)?;
    WINDOWS
        .lock()
        .iter()
        .find(|window| window.phys <= phys && end <= window.phys + window.len)
        .map(|window| window.virt + (phys - window.phys))
}

/// Maps a memory BAR (once), returning its virtual base.
fn map_bar(memory: &KernelMemory, phys: u64, len: u64) -> Result<u64, &'static str> {
    if let Some(virt) = mmio_address(phys, len) {
        return Ok(virt);
    }
    let virt = memory::map_device(memory, phys, len)
        .map_err(|_| "cannot map the BAR")?
        .as_u64();
    WINDOWS.lock().push(Window { phys, len, virt });
    Ok(virt)
}

/// A virtio-blk device ready for its driver: the physical ranges of its
/// register blocks, its notify multiplier and its interrupt line.
#[derive(Clone, Copy, Debug)]
pub struct VirtioBlk {
    pub at: Bdf,
    pub common: (u64, u64),
    pub notify: (u64, u64),
    pub device: (u64, u64),
    pub notify_multiplier: u32,
    pub line: u8,
}

/// Finds the first virtio-blk function and readies it for a driver: its
/// BARs mapped, decoding and bus mastering on, INTx off, MSI-X entry 0
/// at a fresh vector on this CPU (the others masked).
pub fn start_virtio_blk(memory: &KernelMemory) -> Result<Option<VirtioBlk>, &'static str> {
    let Some(function) = functions().iter().find(|function| {
        function.vendor == pci::VIRTIO_VENDOR && pci::VIRTIO_BLK_DEVICES.contains(&function.device)
    }) else {
        return Ok(None);
    };
    let space = &mut PortConfigSpace;
    let layout = pci::virtio_layout(space, function).map_err(|_| "bad virtio capabilities")?;
    let msix = pci::msix_table(space, function).ok_or("no MSI-X")?;
    let range = |region: pci::VirtioRegion| -> Result<(u64, u64), &'static str> {
        let (base, size) = function.memory_bar(region.bar).ok_or("not a memory BAR")?;
        map_bar(memory, base, size)?;
        Ok((base + u64::from(region.offset), u64::from(region.len)))
    };
    let common = range(layout.common)?;
    let notify = range(layout.notify)?;
    let device = range(layout.device)?;

    let (table_base, table_size) = function.memory_bar(msix.bar).ok_or("MSI-X BAR")?;
    let table_len = u64::from(msix.entries) * 16;
    if u64::from(msix.offset) + table_len > table_size {
        return Err("MSI-X table outside its BAR");
    }
    let table = map_bar(memory, table_base, table_size)? + u64::from(msix.offset);
    let (vector, line) = msi::allocate().ok_or("no MSI vector left")?;

    let at = function.at;
    let command = space.read16(at, COMMAND);
    space.write16(
        at,
        COMMAND,
        command | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE,
    );
    let control_at = msix.capability + 2;
    let control = space.read16(at, control_at);
    // Masked as a whole while the table is written.
    space.write16(at, control_at, control | MSIX_ENABLE | MSIX_FUNCTION_MASK);
    for index in 0..u64::from(msix.entries) {
        let words = if index == 0 {
            msi::entry(apic::id(), vector)
        } else {
            [0, 0, 0, 1]
        };
        for (word, value) in words.iter().enumerate() {
            let address = table + index * 16 + word as u64 * 4;
            // SAFETY: `address` is inside the MSI-X table, checked above to
            // lie in its BAR, which `map_bar` mapped uncached; the table is
            // the kernel's (no driver is given its BAR).
            unsafe { (address as *mut u32).write_volatile(*value) }
        }
    }
    space.write16(
        at,
        control_at,
        (control | MSIX_ENABLE) & !MSIX_FUNCTION_MASK,
    );
    Ok(Some(VirtioBlk {
        at,
        common,
        notify,
        device,
        notify_multiplier: layout.notify_multiplier,
        line,
    }))
}
