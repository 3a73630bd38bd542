//! Host stand-ins for the hardware: physical memory as a buffer, page tables
//! as a `HashMap`. Shared by the tests of every `mem` module and, through
//! the `testing` feature, by the memory benchmark.

extern crate std;

use std::boxed::Box;
use std::collections::HashMap;
use std::vec;

use x86_64::PhysAddr;
use x86_64::structures::paging::{Page, PhysFrame};

use super::PAGE_SIZE;
use super::address_space::VirtRange;
use super::frame::{FrameSource, MemoryKind, MemoryRange, PhysicalMemory};
use super::mapper::{MapError, Mapper, Permissions};

/// Simulated physical memory covering `base..base + bytes`.
pub struct VecMemory {
    base: u64,
    bytes: u64,
    storage: *mut u64,
}

impl VecMemory {
    pub fn new(base: u64, bytes: u64) -> Self {
        let words = vec![0u64; (bytes / 8) as usize].into_boxed_slice();
        Self {
            base,
            bytes,
            storage: Box::into_raw(words).cast(),
        }
    }

    /// Memory covering every range in `map`.
    pub fn covering(map: &[MemoryRange]) -> Self {
        let low = map.iter().map(|range| range.base).min().unwrap_or(0);
        let high = map
            .iter()
            .map(|range| range.base + range.length)
            .max()
            .unwrap_or(0);
        Self::new(low, high - low)
    }
}

impl Drop for VecMemory {
    fn drop(&mut self) {
        let words = (self.bytes / 8) as usize;
        // SAFETY: `storage` came from `Box::into_raw` of a slice of `words`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.storage, words)) });
    }
}

// SAFETY: (test) the buffer covers every frame the tests hand out, is
// contiguous and lives as long as `self`. Tests run with debug assertions,
// so an out-of-range address panics there; the benchmark (optimised)
// measures the allocator without the check, as the kernel's HHDM is one add.
unsafe impl PhysicalMemory for VecMemory {
    fn ptr(&self, phys: PhysAddr) -> *mut u8 {
        let offset = phys.as_u64().wrapping_sub(self.base);
        debug_assert!(
            phys.as_u64() >= self.base && offset + PAGE_SIZE <= self.bytes,
            "{:#x} outside simulated memory",
            phys.as_u64()
        );
        self.storage.cast::<u8>().wrapping_add(offset as usize)
    }
}

// SAFETY: (test) the buffer is owned by `self` and moves with it.
unsafe impl Send for VecMemory {}

pub fn usable(base: u64, frames: u64) -> MemoryRange {
    MemoryRange {
        base,
        length: frames * PAGE_SIZE,
        kind: MemoryKind::Usable,
    }
}

pub fn reclaimable(base: u64, frames: u64) -> MemoryRange {
    MemoryRange {
        base,
        length: frames * PAGE_SIZE,
        kind: MemoryKind::BootloaderReclaimable,
    }
}

/// Page tables as a map; counts flushes so tests can see them happen.
#[derive(Default)]
pub struct HashMapMapper {
    pub pages: HashMap<Page, (PhysFrame, Permissions)>,
    pub flushes: usize,
}

impl Mapper for HashMapMapper {
    fn map(
        &mut self,
        page: Page,
        frame: PhysFrame,
        permissions: Permissions,
        _table_frames: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        if self.pages.contains_key(&page) {
            return Err(MapError::AlreadyMapped { page });
        }
        self.pages.insert(page, (frame, permissions));
        Ok(())
    }

    fn unmap(&mut self, page: Page) -> Option<PhysFrame> {
        self.pages.remove(&page).map(|(frame, _)| frame)
    }

    fn protect(&mut self, page: Page, permissions: Permissions) -> Result<(), MapError> {
        let entry = self
            .pages
            .get_mut(&page)
            .ok_or(MapError::NotMapped { page })?;
        entry.1 = permissions;
        Ok(())
    }

    fn flush(&mut self, _range: VirtRange) {
        self.flushes += 1;
    }
}
