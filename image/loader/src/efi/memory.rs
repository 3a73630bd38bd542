//! Physical memory from the firmware, for everything the kernel inherits.
//!
//! Every block is allocated with `AllocatePages` as `LOADER_DATA` before
//! ExitBootServices, so it is identity-mapped while the loader runs, lies in
//! memory the HHDM covers, and ends up bootloader-reclaimable in the Limine
//! map unless it is laid over as executable-and-modules. Nothing is ever
//! freed: the kernel is entered or the machine goes back to the firmware.

use core::ptr::NonNull;

use mealy_loader::paging::TableMemory;
use mealy_loader::{PAGE_SIZE, hhdm};
use uefi::boot::{self, AllocateType, MemoryType};

use super::error::{BootError, Problem};

/// A zeroed, physically contiguous run of pages the loader owns.
pub struct PageBlock {
    start: NonNull<u8>,
    pages: u64,
}

impl PageBlock {
    /// Allocates `bytes` (rounded up to pages, at least one page), zeroed.
    /// `what` names the thing in the error message.
    pub fn allocate(bytes: u64, what: &str) -> Result<Self, BootError> {
        let pages = bytes.div_ceil(PAGE_SIZE).max(1);
        let oom = || BootError::new(what, Problem::OutOfMemory { pages });
        let count = usize::try_from(pages).map_err(|_| oom())?;
        let start = boot::allocate_pages(AllocateType::AnyPages, MemoryType::LOADER_DATA, count)
            .map_err(|_| oom())?;
        // SAFETY: the firmware just gave us `count` pages at `start`,
        // identity-mapped and writable; nothing else refers to them.
        unsafe { core::ptr::write_bytes(start.as_ptr(), 0, count * PAGE_SIZE as usize) };
        Ok(Self { start, pages })
    }

    /// Physical (= current virtual) address of the first byte.
    pub fn phys(&self) -> u64 {
        self.start.as_ptr() as u64
    }

    /// The block's address in the kernel's HHDM.
    pub fn hhdm(&self) -> u64 {
        hhdm(self.phys())
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.pages * PAGE_SIZE
    }

    /// The whole block as bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the block is `len()` bytes of memory this value owns
        // exclusively (it is never freed), initialised by the zeroing above.
        unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), self.len() as usize) }
    }
}

/// Page-table frames straight from the firmware.
pub struct FirmwareTables;

impl TableMemory for FirmwareTables {
    fn allocate_table(&mut self) -> Option<u64> {
        let block = PageBlock::allocate(PAGE_SIZE, "page tables").ok()?;
        Some(block.phys())
    }

    fn table(&mut self, phys: u64) -> &mut [u64; 512] {
        // SAFETY: `phys` is a frame `allocate_table` returned (the builder
        // only follows addresses it stored), page-aligned, identity-mapped
        // during boot services, and only the builder touches it.
        unsafe { &mut *(phys as *mut [u64; 512]) }
    }
}

/// A bump allocator over one block, for responses and their strings. Hands
/// out (physical pointer, HHDM address) pairs.
pub struct Arena {
    block: PageBlock,
    used: u64,
}

impl Arena {
    pub fn new(bytes: u64) -> Result<Self, BootError> {
        Ok(Self {
            block: PageBlock::allocate(bytes, "responses")?,
            used: 0,
        })
    }

    fn reserve(&mut self, size: u64) -> Result<u64, BootError> {
        let at = self.used.next_multiple_of(16);
        if at + size > self.block.len() {
            return Err(BootError::new(
                "responses",
                Problem::OutOfMemory {
                    pages: (at + size).div_ceil(PAGE_SIZE),
                },
            ));
        }
        self.used = at + size;
        Ok(self.block.phys() + at)
    }

    /// Places `value` in the arena; returns its HHDM address.
    pub fn put<T: Copy>(&mut self, value: T) -> Result<u64, BootError> {
        let phys = self.reserve(size_of::<T>() as u64)?;
        // SAFETY: `reserve` returned `size_of::<T>()` unused bytes of our
        // block, 16-byte aligned (enough for every response type).
        unsafe { (phys as *mut T).write(value) };
        Ok(hhdm(phys))
    }

    /// Places a NUL-terminated copy of `text`; returns its HHDM address.
    pub fn put_str(&mut self, text: &str) -> Result<u64, BootError> {
        let phys = self.reserve(text.len() as u64 + 1)?;
        // SAFETY: `reserve` returned `len + 1` unused bytes of our block;
        // the trailing NUL is already there (the block is zeroed).
        unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), phys as *mut u8, text.len()) };
        Ok(hhdm(phys))
    }

    /// Places an array of words; returns its HHDM address.
    pub fn put_words(&mut self, words: &[u64]) -> Result<u64, BootError> {
        let phys = self.reserve(words.len() as u64 * 8)?;
        // SAFETY: as in `put`, for `words.len()` words.
        unsafe { core::ptr::copy_nonoverlapping(words.as_ptr(), phys as *mut u64, words.len()) };
        Ok(hhdm(phys))
    }
}
