//! Building 4-level x86_64 page tables for the kernel's address space.
//!
//! The builder is generic over [`TableMemory`], which hands out zeroed
//! 4 KiB frames and gives access to them by physical address. On UEFI that
//! is firmware page allocation and the firmware's identity map; in tests it
//! is a simulated physical memory. Leaves carry the permissions; every
//! intermediate entry is present + writable (and never NX), so a leaf alone
//! decides what an access may do.
//!
//! Large ranges (the HHDM) use 2 MiB pages where virtual and physical
//! addresses and the remaining length allow, 4 KiB pages elsewhere.

use core::fmt;

use crate::PAGE_SIZE;

/// Bits of a page-table entry.
pub mod flags {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    pub const HUGE: u64 = 1 << 7;
    pub const NO_EXECUTE: u64 = 1 << 63;
}

/// Physical-address bits of an entry.
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Size of a 2 MiB page.
pub const LARGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// Frames for page tables, addressed physically.
pub trait TableMemory {
    /// A zeroed 4 KiB frame, or `None` when out of memory.
    fn allocate_table(&mut self) -> Option<u64>;
    /// The 512 entries of the table at physical address `phys`.
    fn table(&mut self, phys: u64) -> &mut [u64; 512];
}

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingError {
    /// No frame for a page table.
    OutOfMemory,
    /// The page at this virtual address is already mapped.
    AlreadyMapped(u64),
    /// An address or length is not suitably aligned.
    Misaligned(u64),
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory => write!(f, "not enough memory for page tables"),
            Self::AlreadyMapped(va) => write!(f, "virtual address {va:#x} mapped twice"),
            Self::Misaligned(a) => write!(f, "address {a:#x} is not page-aligned"),
        }
    }
}

/// A page-table hierarchy under construction.
pub struct AddressSpace<M: TableMemory> {
    root: u64,
    memory: M,
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * level)) & 0x1ff) as usize
}

impl<M: TableMemory> AddressSpace<M> {
    /// Starts an empty address space with a fresh PML4.
    pub fn new(mut memory: M) -> Result<Self, PagingError> {
        let root = memory.allocate_table().ok_or(PagingError::OutOfMemory)?;
        Ok(Self { root, memory })
    }

    /// Physical address of the PML4 (the value for CR3).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The table memory, for inspection.
    pub fn memory(&mut self) -> &mut M {
        &mut self.memory
    }

    /// The table at `level` (0 = page table) covering `virt`, created on the
    /// way down. Fails if a huge page already covers `virt`.
    fn table_for(&mut self, virt: u64, level: u32) -> Result<u64, PagingError> {
        let mut table = self.root;
        for current in (level + 1..=3).rev() {
            let slot = index(virt, current);
            let entry = self.memory.table(table)[slot];
            table = if entry & flags::PRESENT == 0 {
                let next = self
                    .memory
                    .allocate_table()
                    .ok_or(PagingError::OutOfMemory)?;
                self.memory.table(table)[slot] = next | flags::PRESENT | flags::WRITABLE;
                next
            } else if entry & flags::HUGE != 0 {
                return Err(PagingError::AlreadyMapped(virt));
            } else {
                entry & ADDRESS_MASK
            };
        }
        Ok(table)
    }

    fn set_leaf(&mut self, virt: u64, level: u32, value: u64) -> Result<(), PagingError> {
        let table = self.table_for(virt, level)?;
        let slot = &mut self.memory.table(table)[index(virt, level)];
        if *slot & flags::PRESENT != 0 {
            return Err(PagingError::AlreadyMapped(virt));
        }
        *slot = value;
        Ok(())
    }

    /// Maps one 4 KiB page. `leaf_flags` is OR-ed with PRESENT.
    pub fn map_page(&mut self, virt: u64, phys: u64, leaf_flags: u64) -> Result<(), PagingError> {
        if !virt.is_multiple_of(PAGE_SIZE) || !phys.is_multiple_of(PAGE_SIZE) {
            return Err(PagingError::Misaligned(virt | phys));
        }
        self.set_leaf(virt, 0, phys | leaf_flags | flags::PRESENT)
    }

    /// Maps `length` bytes at `virt` to `phys`, with 2 MiB pages wherever
    /// both addresses are 2 MiB-aligned and at least 2 MiB remain.
    pub fn map_range(
        &mut self,
        virt: u64,
        phys: u64,
        length: u64,
        leaf_flags: u64,
    ) -> Result<(), PagingError> {
        if !virt.is_multiple_of(PAGE_SIZE)
            || !phys.is_multiple_of(PAGE_SIZE)
            || !length.is_multiple_of(PAGE_SIZE)
        {
            return Err(PagingError::Misaligned(virt | phys | length));
        }
        let mut done = 0;
        while done < length {
            let (v, p, left) = (virt + done, phys + done, length - done);
            if v.is_multiple_of(LARGE_PAGE_SIZE)
                && p.is_multiple_of(LARGE_PAGE_SIZE)
                && left >= LARGE_PAGE_SIZE
            {
                self.set_leaf(v, 1, p | leaf_flags | flags::PRESENT | flags::HUGE)?;
                done += LARGE_PAGE_SIZE;
            } else {
                self.map_page(v, p, leaf_flags)?;
                done += PAGE_SIZE;
            }
        }
        Ok(())
    }

    /// Copies PML4 entries `from..from + count` to `to..to + count`: with the
    /// HHDM's entries copied to the bottom, the lower half identity-maps what
    /// the HHDM maps, which the hand-over needs for a moment.
    pub fn alias_top_level(&mut self, from: usize, to: usize, count: usize) {
        let root = self.memory.table(self.root);
        root.copy_within(from..from + count, to);
    }

    /// Walks the tables: the physical address `virt` maps to and the leaf's
    /// flags (without the address), or `None` if unmapped.
    pub fn translate(&mut self, virt: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for level in (0..=3).rev() {
            let entry = self.memory.table(table)[index(virt, level)];
            if entry & flags::PRESENT == 0 {
                return None;
            }
            let huge = level > 0 && entry & flags::HUGE != 0;
            if level == 0 || huge {
                let page_mask = (1u64 << (12 + 9 * level)) - 1;
                let phys = (entry & ADDRESS_MASK & !page_mask) | (virt & page_mask);
                return Some((phys, entry & !ADDRESS_MASK));
            }
            table = entry & ADDRESS_MASK;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Simulated physical memory: frames handed out from a counter.
    struct SimulatedMemory {
        frames: BTreeMap<u64, Box<[u64; 512]>>,
        next: u64,
        limit: usize,
    }

    impl SimulatedMemory {
        fn new(limit: usize) -> Self {
            Self {
                frames: BTreeMap::new(),
                next: 0x100_0000,
                limit,
            }
        }
    }

    impl TableMemory for SimulatedMemory {
        fn allocate_table(&mut self) -> Option<u64> {
            if self.frames.len() >= self.limit {
                return None;
            }
            let phys = self.next;
            self.next += PAGE_SIZE;
            self.frames.insert(phys, Box::new([0; 512]));
            Some(phys)
        }
        fn table(&mut self, phys: u64) -> &mut [u64; 512] {
            self.frames
                .get_mut(&phys)
                .expect("a table the builder allocated")
        }
    }

    const HHDM: u64 = crate::HHDM_OFFSET;
    const KERNEL: u64 = 0xffff_ffff_8000_0000;

    #[test]
    fn maps_kernel_pages_with_their_permissions() {
        let mut space = AddressSpace::new(SimulatedMemory::new(64)).expect("root");
        space.map_page(KERNEL, 0x20_0000, 0).expect("text");
        space
            .map_page(
                KERNEL + 0x1000,
                0x20_1000,
                flags::WRITABLE | flags::NO_EXECUTE,
            )
            .expect("data");
        assert_eq!(
            space.translate(KERNEL + 0x123),
            Some((0x20_0123, flags::PRESENT))
        );
        let (phys, f) = space.translate(KERNEL + 0x1008).expect("mapped");
        assert_eq!(phys, 0x20_1008);
        assert_eq!(f, flags::PRESENT | flags::WRITABLE | flags::NO_EXECUTE);
        assert_eq!(space.translate(KERNEL + 0x2000), None);
        assert_eq!(
            space.map_page(KERNEL, 0x30_0000, 0),
            Err(PagingError::AlreadyMapped(KERNEL))
        );
        assert_eq!(
            space.map_page(KERNEL + 1, 0, 0),
            Err(PagingError::Misaligned(KERNEL + 1))
        );
    }

    #[test]
    fn hhdm_ranges_use_large_pages_where_aligned() {
        let mut space = AddressSpace::new(SimulatedMemory::new(64)).expect("root");
        // 4 KiB head, two 2 MiB pages, 4 KiB tail.
        let (phys, len) = (0x1f_f000, 0x40_2000);
        space
            .map_range(HHDM + phys, phys, len, flags::WRITABLE)
            .expect("maps");
        for probe in [
            0x1f_f000u64,
            0x20_0000,
            0x3f_ffff,
            0x40_0000,
            0x60_0000,
            0x60_0fff,
        ] {
            let (p, f) = space.translate(HHDM + probe).expect("mapped");
            assert_eq!(p, probe);
            assert_eq!(f & flags::WRITABLE, flags::WRITABLE);
        }
        assert_eq!(space.translate(HHDM + 0x60_1000), None);
        assert_eq!(space.translate(HHDM + 0x1f_e000), None);
        let (_, f) = space.translate(HHDM + 0x20_0000).expect("mapped");
        assert_ne!(f & flags::HUGE, 0);
        // PML4 + PDPT + PD + 2 page tables.
        assert_eq!(space.memory().frames.len(), 5);
        assert_eq!(
            space.map_page(HHDM + 0x20_0000, 0, 0),
            Err(PagingError::AlreadyMapped(HHDM + 0x20_0000))
        );
    }

    #[test]
    fn lower_half_alias_identity_maps_the_hhdm() {
        let mut space = AddressSpace::new(SimulatedMemory::new(64)).expect("root");
        space
            .map_range(HHDM + 0x10_0000, 0x10_0000, 0x1000, flags::WRITABLE)
            .expect("maps");
        assert_eq!(space.translate(0x10_0000), None);
        space.alias_top_level(256, 0, 255);
        assert_eq!(space.translate(0x10_0010).map(|(p, _)| p), Some(0x10_0010));
        assert_eq!(
            space.translate(HHDM + 0x10_0010).map(|(p, _)| p),
            Some(0x10_0010)
        );
    }

    #[test]
    fn running_out_of_table_frames_is_an_error() {
        let mut space = AddressSpace::new(SimulatedMemory::new(2)).expect("root");
        assert_eq!(space.map_page(KERNEL, 0, 0), Err(PagingError::OutOfMemory));
        assert!(AddressSpace::new(SimulatedMemory::new(0)).is_err());
    }
}
