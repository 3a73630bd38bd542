//! PCI: finding functions through their configuration space, decoding
//! their BARs, walking their capability lists, and reading the two
//! capabilities the kernel acts on: MSI-X (where the vector table is) and
//! virtio's vendor capabilities (where a virtio 1.x device's register
//! blocks are). Portable and host-tested over a fake configuration space;
//! the machine's access (ports 0xCF8/0xCFC) and what is done with the
//! answers (mapping BARs, programming MSI-X) are `arch/x86_64/pci.rs`.
//!
//! Written here rather than taken from `pci_types`: what the kernel needs
//! is a hundred lines of reads over one small trait, which a fake
//! implements in the tests, and every value read is checked the same way
//! (a BAR index past 5, a capability pointer into the header, a loop in
//! the capability list are all errors or ends, never a panic).
//!
//! Enumeration follows bridges: bus 0, then each PCI-to-PCI bridge's
//! secondary bus, at most once each. Cost: 32 devices x (1 + functions)
//! configuration reads per bus, plus 6 BARs x 4 accesses per function for
//! sizing (with decoding off meanwhile, as the spec asks).

use alloc::vec::Vec;
use core::fmt;

/// A function's address: bus, device (0..32), function (0..8).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Bdf {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Reading and writing 32-bit words of configuration space. `offset` is
/// a multiple of 4 below 256.
pub trait ConfigSpace {
    fn read32(&mut self, at: Bdf, offset: u8) -> u32;
    fn write32(&mut self, at: Bdf, offset: u8, value: u32);

    fn read16(&mut self, at: Bdf, offset: u8) -> u16 {
        (self.read32(at, offset & !3) >> ((offset & 2) * 8)) as u16
    }

    fn read8(&mut self, at: Bdf, offset: u8) -> u8 {
        (self.read32(at, offset & !3) >> ((offset & 3) * 8)) as u8
    }

    /// Writes the 16 bits at `offset` (even), keeping the other half of
    /// the word.
    fn write16(&mut self, at: Bdf, offset: u8, value: u16) {
        let word = self.read32(at, offset & !3);
        let shift = (offset & 2) * 8;
        let kept = word & !(0xffff << shift);
        self.write32(at, offset & !3, kept | (u32::from(value) << shift));
    }
}

/// Header registers.
pub const VENDOR: u8 = 0x00;
pub const COMMAND: u8 = 0x04;
pub const STATUS: u8 = 0x06;
pub const CLASS: u8 = 0x08;
pub const HEADER_TYPE: u8 = 0x0e;
pub const BAR0: u8 = 0x10;
pub const SECONDARY_BUS: u8 = 0x19;
pub const CAPABILITIES: u8 = 0x34;

/// Command register bits.
pub const COMMAND_IO: u16 = 1 << 0;
pub const COMMAND_MEMORY: u16 = 1 << 1;
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
const STATUS_CAPABILITIES: u16 = 1 << 4;

/// Capability ids.
pub const CAP_MSIX: u8 = 0x11;
pub const CAP_VENDOR: u8 = 0x09;

/// One decoded BAR.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bar {
    /// Memory space: physical base, size in bytes, 64-bit, prefetchable.
    Memory {
        base: u64,
        size: u64,
        wide: bool,
        prefetchable: bool,
    },
    /// I/O space: port base and size.
    Io { base: u32, size: u32 },
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bar::Memory {
                base, size, wide, ..
            } => write!(
                f,
                "mem{} {base:#x}+{size:#x}",
                if *wide { "64" } else { "32" }
            ),
            Bar::Io { base, size } => write!(f, "io {base:#x}+{size:#x}"),
        }
    }
}

/// A function found on the bus.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Function {
    pub at: Bdf,
    pub vendor: u16,
    pub device: u16,
    /// Class, subclass, programming interface.
    pub class: (u8, u8, u8),
    pub header_type: u8,
    /// BAR `n` (a 64-bit BAR fills `n` and leaves `n + 1` `None`).
    pub bars: [Option<Bar>; 6],
    /// `(id, offset)` of each capability, in list order.
    pub capabilities: Vec<(u8, u8)>,
}

impl Function {
    /// The offset of the first capability with `id`.
    pub fn capability(&self, id: u8) -> Option<u8> {
        self.capabilities
            .iter()
            .find(|(found, _)| *found == id)
            .map(|(_, offset)| *offset)
    }

    /// A memory BAR's base and size.
    pub fn memory_bar(&self, index: u8) -> Option<(u64, u64)> {
        match self.bars.get(usize::from(index)).copied().flatten() {
            Some(Bar::Memory { base, size, .. }) => Some((base, size)),
            _ => None,
        }
    }
}

impl fmt::Display for Function {
    /// `pci 00:04.0 1af4:1001 class 01.00.00`, then its BARs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pci {} {:04x}:{:04x} class {:02x}.{:02x}.{:02x}",
            self.at, self.vendor, self.device, self.class.0, self.class.1, self.class.2
        )?;
        for (index, bar) in self.bars.iter().enumerate() {
            if let Some(bar) = bar {
                write!(f, " bar{index} {bar}")?;
            }
        }
        Ok(())
    }
}

/// Every function reachable from bus 0.
pub fn enumerate(space: &mut dyn ConfigSpace) -> Vec<Function> {
    let mut found = Vec::new();
    let mut buses = Vec::from([0u8]);
    let mut visited = [false; 256];
    while let Some(bus) = buses.pop() {
        if core::mem::replace(&mut visited[usize::from(bus)], true) {
            continue;
        }
        for device in 0..32 {
            let first = Bdf {
                bus,
                device,
                function: 0,
            };
            if space.read16(first, VENDOR) == 0xffff {
                continue;
            }
            let multi = space.read8(first, HEADER_TYPE) & 0x80 != 0;
            for function in 0..if multi { 8 } else { 1 } {
                let at = Bdf {
                    bus,
                    device,
                    function,
                };
                if space.read16(at, VENDOR) == 0xffff {
                    continue;
                }
                let function = read_function(space, at);
                if function.header_type & 0x7f == 1 {
                    let secondary = space.read8(at, SECONDARY_BUS);
                    if secondary != 0 {
                        buses.push(secondary);
                    }
                }
                found.push(function);
            }
        }
    }
    found.sort_by_key(|function| function.at);
    found
}

fn read_function(space: &mut dyn ConfigSpace, at: Bdf) -> Function {
    let id = space.read32(at, VENDOR);
    let class = space.read32(at, CLASS);
    let header_type = space.read8(at, HEADER_TYPE);
    let bars = if header_type & 0x7f == 0 {
        decode_bars(space, at, 6)
    } else if header_type & 0x7f == 1 {
        decode_bars(space, at, 2)
    } else {
        [None; 6]
    };
    Function {
        at,
        vendor: id as u16,
        device: (id >> 16) as u16,
        class: ((class >> 24) as u8, (class >> 16) as u8, (class >> 8) as u8),
        header_type,
        bars,
        capabilities: capabilities(space, at),
    }
}

/// Decodes the first `count` BARs, sizing each by writing all ones with
/// decoding turned off, then restoring it.
fn decode_bars(space: &mut dyn ConfigSpace, at: Bdf, count: u8) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    let command = space.read16(at, COMMAND);
    space.write16(at, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    let mut index = 0u8;
    while index < count {
        let offset = BAR0 + 4 * index;
        let low = space.read32(at, offset);
        space.write32(at, offset, u32::MAX);
        let low_mask = space.read32(at, offset);
        space.write32(at, offset, low);
        if low & 1 == 1 {
            let size = (!(low_mask & !3)).wrapping_add(1) & 0xffff;
            if low_mask != 0 && size != 0 {
                bars[usize::from(index)] = Some(Bar::Io {
                    base: low & !3,
                    size,
                });
            }
            index += 1;
            continue;
        }
        let wide = (low >> 1) & 3 == 2 && index + 1 < count;
        let (base, mask) = if wide {
            let high_offset = offset + 4;
            let high = space.read32(at, high_offset);
            space.write32(at, high_offset, u32::MAX);
            let high_mask = space.read32(at, high_offset);
            space.write32(at, high_offset, high);
            (
                (u64::from(high) << 32) | u64::from(low & !0xf),
                (u64::from(high_mask) << 32) | u64::from(low_mask & !0xf),
            )
        } else {
            (
                u64::from(low & !0xf),
                0xffff_ffff_0000_0000 | u64::from(low_mask & !0xf),
            )
        };
        let size = (!mask).wrapping_add(1);
        if low_mask & !0xf != 0 && size != 0 {
            bars[usize::from(index)] = Some(Bar::Memory {
                base,
                size,
                wide,
                prefetchable: low & 8 != 0,
            });
        }
        index += if wide { 2 } else { 1 };
    }
    space.write16(at, COMMAND, command);
    bars
}

/// The capability list: at most 48 entries (what fits after the header),
/// each pointer inside the device-specific area, so a loop ends.
fn capabilities(space: &mut dyn ConfigSpace, at: Bdf) -> Vec<(u8, u8)> {
    let mut found = Vec::new();
    if space.read16(at, STATUS) & STATUS_CAPABILITIES == 0 {
        return found;
    }
    let mut next = space.read8(at, CAPABILITIES) & !3;
    while next >= 0x40 && found.len() < 48 {
        let id = space.read8(at, next);
        found.push((id, next));
        next = space.read8(at, next + 1) & !3;
    }
    found
}

/// Where a function's MSI-X table is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsixTable {
    /// The capability's offset (its message control is at `+ 2`).
    pub capability: u8,
    pub bar: u8,
    pub offset: u32,
    pub entries: u16,
}

/// The MSI-X capability's table location, if the function has one.
pub fn msix_table(space: &mut dyn ConfigSpace, function: &Function) -> Option<MsixTable> {
    let capability = function.capability(CAP_MSIX).filter(|at| *at <= 0xf8)?;
    let control = space.read16(function.at, capability + 2);
    let table = space.read32(function.at, capability + 4);
    Some(MsixTable {
        capability,
        bar: (table & 7) as u8,
        offset: table & !7,
        entries: (control & 0x7ff) + 1,
    })
}

/// MSI-X message control bits.
pub const MSIX_ENABLE: u16 = 1 << 15;
pub const MSIX_FUNCTION_MASK: u16 = 1 << 14;

/// One virtio structure: `len` bytes at `offset` of BAR `bar`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VirtioRegion {
    pub bar: u8,
    pub offset: u32,
    pub len: u32,
}

/// Where a virtio 1.x device's register blocks are (virtio 4.1.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VirtioLayout {
    pub common: VirtioRegion,
    pub notify: VirtioRegion,
    pub notify_multiplier: u32,
    pub isr: VirtioRegion,
    pub device: VirtioRegion,
}

/// Why a function's virtio capabilities do not describe a usable device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VirtioError {
    /// No capability of this `cfg_type` (1 common, 2 notify, 3 isr, 4
    /// device).
    Missing(u8),
    /// A structure names a BAR that is not a memory BAR, or lies outside it.
    BadRegion(u8),
}

impl fmt::Display for VirtioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtioError::Missing(kind) => write!(f, "no virtio capability of type {kind}"),
            VirtioError::BadRegion(kind) => {
                write!(f, "virtio structure of type {kind} is outside its BAR")
            }
        }
    }
}

/// The virtio PCI vendor: a virtio device has vendor 0x1af4.
pub const VIRTIO_VENDOR: u16 = 0x1af4;
/// virtio-blk's device ids: transitional and modern.
pub const VIRTIO_BLK_DEVICES: [u16; 2] = [0x1001, 0x1042];

/// Reads a virtio function's vendor capabilities; each structure must lie
/// inside a memory BAR of the function. The first of each type counts.
pub fn virtio_layout(
    space: &mut dyn ConfigSpace,
    function: &Function,
) -> Result<VirtioLayout, VirtioError> {
    let mut regions: [Option<VirtioRegion>; 5] = [None; 5];
    let mut multiplier = 0;
    for &(id, at) in &function.capabilities {
        if id != CAP_VENDOR || at > 0xec {
            continue;
        }
        let kind = space.read8(function.at, at + 3);
        let region = VirtioRegion {
            bar: space.read8(function.at, at + 4),
            offset: space.read32(function.at, at + 8),
            len: space.read32(function.at, at + 12),
        };
        let Some(slot) = regions.get_mut(usize::from(kind)) else {
            continue;
        };
        if kind == 0 || slot.is_some() {
            continue;
        }
        let (_, size) = function
            .memory_bar(region.bar)
            .ok_or(VirtioError::BadRegion(kind))?;
        let end = u64::from(region.offset) + u64::from(region.len);
        if end > size || region.len == 0 {
            return Err(VirtioError::BadRegion(kind));
        }
        if kind == 2 {
            multiplier = space.read32(function.at, at + 16);
        }
        *slot = Some(region);
    }
    let take = |kind: u8| regions[usize::from(kind)].ok_or(VirtioError::Missing(kind));
    Ok(VirtioLayout {
        common: take(1)?,
        notify: take(2)?,
        notify_multiplier: multiplier,
        isr: take(3)?,
        device: take(4)?,
    })
}

#[cfg(test)]
mod tests;
