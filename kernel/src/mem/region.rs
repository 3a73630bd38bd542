//! A region: a live range of the single address space together with the
//! frames that back it, who owns it and what it permits. It is what a
//! `Region` capability refers to.
//!
//! Ownership carries meaning (the Theseus habit): a `Region` is not `Clone`,
//! it owns its frames and its reservation, and dropping it unmaps the pages,
//! flushes the TLB, returns the frames and releases the range. [`Region::free`]
//! does the same and reports errors; `Drop` can only log them.
//!
//! Trade-off: one slot per page (`Vec<Option<PhysFrame>>`), allocated up
//! front when the region is made, so a region can be partly mapped (heaps,
//! files that grow) and no heap allocation happens while memory locks are
//! held. That costs 16 bytes of heap per page of region; a run-length form
//! can replace it if huge regions appear.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use x86_64::structures::paging::{Page, PhysFrame};

use super::PAGE_SIZE;
use super::address_space::{SpaceError, VirtRange};
use super::frame::FrameError;
use super::mapper::{MapError, Permissions};
use super::system::MemoryBackend;

/// Who a region belongs to: a task id, or [`Owner::KERNEL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner(pub u64);

impl Owner {
    pub const KERNEL: Self = Self(0);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    Space(SpaceError),
    Frames(FrameError),
    Map(MapError),
    /// A page range outside the region.
    OutOfBounds {
        start: u64,
        end: u64,
        region_pages: u64,
    },
    /// The heap could not hold the region's bookkeeping.
    NoHeap {
        bytes: usize,
    },
    /// A page no longer mapped the frame the region gave it.
    MappingChanged {
        page: Page,
    },
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Space(error) => write!(f, "{error}"),
            Self::Frames(error) => write!(f, "{error}"),
            Self::Map(error) => write!(f, "{error}"),
            Self::OutOfBounds {
                start,
                end,
                region_pages,
            } => write!(
                f,
                "pages {start}..{end} lie outside a region of {region_pages} page(s)"
            ),
            Self::NoHeap { bytes } => {
                write!(f, "out of heap for {bytes} bytes of region bookkeeping")
            }
            Self::MappingChanged { page } => write!(
                f,
                "page {:#x} no longer mapped the region's frame",
                page.start_address().as_u64()
            ),
        }
    }
}

/// See the module documentation.
pub struct Region<'m> {
    memory: &'m dyn MemoryBackend,
    range: VirtRange,
    /// Slot `i` holds the frame mapped at page `i`, if any.
    frames: Vec<Option<PhysFrame>>,
    owner: Owner,
    permissions: Permissions,
    /// False once the range has been released (after `free` or `Drop`).
    reserved: bool,
}

impl<'m> Region<'m> {
    /// Reserves `pages` pages with `guard_pages` guard pages each side;
    /// nothing is mapped yet.
    pub fn new(
        memory: &'m dyn MemoryBackend,
        pages: u64,
        guard_pages: u64,
        owner: Owner,
        permissions: Permissions,
    ) -> Result<Self, RegionError> {
        let mut frames = Vec::new();
        let slots = usize::try_from(pages).unwrap_or(usize::MAX);
        let bytes = slots.saturating_mul(size_of::<Option<PhysFrame>>());
        frames
            .try_reserve_exact(slots)
            .map_err(|_| RegionError::NoHeap { bytes })?;
        frames.resize(slots, None);
        let range = memory
            .reserve(pages, guard_pages)
            .map_err(RegionError::Space)?;
        Ok(Self {
            memory,
            range,
            frames,
            owner,
            permissions,
            reserved: true,
        })
    }

    /// Reserves and maps every page with fresh frames.
    pub fn new_mapped(
        memory: &'m dyn MemoryBackend,
        pages: u64,
        guard_pages: u64,
        owner: Owner,
        permissions: Permissions,
    ) -> Result<Self, RegionError> {
        let mut region = Self::new(memory, pages, guard_pages, owner, permissions)?;
        region.map(0..pages)?;
        Ok(region)
    }

    /// Backs the unmapped pages in `pages` (indices into the region) with
    /// fresh frames. On error, pages mapped so far stay mapped and owned.
    pub fn map(&mut self, pages: Range<u64>) -> Result<(), RegionError> {
        let (first, slots) = self.slots(pages)?;
        self.memory
            .map_pages(first, &mut self.frames[slots], self.permissions)
    }

    /// Unmaps the mapped pages in `pages` and returns their frames.
    pub fn unmap(&mut self, pages: Range<u64>) -> Result<(), RegionError> {
        let (first, slots) = self.slots(pages.clone())?;
        let flush = VirtRange::of_pages(first, pages.end - pages.start);
        self.memory
            .unmap_pages(first, &mut self.frames[slots], flush)
    }

    /// Changes the permissions of the whole region (mapped pages now,
    /// pages mapped later too).
    pub fn protect(&mut self, permissions: Permissions) -> Result<(), RegionError> {
        self.permissions = permissions;
        let (first, slots) = self.slots(0..self.range.pages())?;
        self.memory
            .protect_pages(first, &self.frames[slots], permissions, self.range)
    }

    /// Unmaps everything, returns the frames and releases the range.
    pub fn free(mut self) -> Result<(), RegionError> {
        self.teardown()
    }

    pub fn range(&self) -> VirtRange {
        self.range
    }

    pub fn base(&self) -> x86_64::VirtAddr {
        self.range.start()
    }

    pub fn len_bytes(&self) -> u64 {
        self.range.len_bytes()
    }

    pub fn owner(&self) -> Owner {
        self.owner
    }

    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    pub fn mapped_pages(&self) -> u64 {
        self.frames.iter().flatten().count() as u64
    }

    /// The frame backing page `index`, if mapped.
    pub fn frame(&self, index: u64) -> Option<PhysFrame> {
        self.frames
            .get(usize::try_from(index).ok()?)
            .copied()
            .flatten()
    }

    fn slots(&self, pages: Range<u64>) -> Result<(Page, Range<usize>), RegionError> {
        let region_pages = self.range.pages();
        if pages.start > pages.end || pages.end > region_pages {
            return Err(RegionError::OutOfBounds {
                start: pages.start,
                end: pages.end,
                region_pages,
            });
        }
        let first = Page::containing_address(self.range.start() + pages.start * PAGE_SIZE);
        Ok((first, pages.start as usize..pages.end as usize))
    }

    fn teardown(&mut self) -> Result<(), RegionError> {
        let mut result = Ok(());
        if let Some(first) = self.range.page(0)
            && self.frames.iter().any(Option::is_some)
        {
            result = self.memory.unmap_pages(first, &mut self.frames, self.range);
        }
        if self.reserved {
            self.reserved = false;
            let released = self.memory.release(self.range).map_err(RegionError::Space);
            result = result.and(released);
        }
        result
    }
}

impl Drop for Region<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.teardown() {
            log::error!(
                "dropping region {} of {:?}: {error}",
                self.range,
                self.owner
            );
        }
    }
}

impl fmt::Debug for Region<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("range", &self.range)
            .field("mapped_pages", &self.mapped_pages())
            .field("owner", &self.owner)
            .field("permissions", &self.permissions)
            .finish()
    }
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod tests;
