//! The memory system: the frame allocator, the address space and the page
//! tables behind one object, so a [`Region`](super::Region) can map, unmap
//! and free itself (also from `Drop`) and the heap can grow.
//!
//! Regions reach it through the object-safe [`MemoryBackend`] trait, so a
//! capability holding a region does not carry the arch layer's types.
//!
//! Trade-off: three spin locks, taken in a fixed order (address space, then
//! mapper, then frames; frames is innermost and held only per frame), rather
//! than one big lock: the frame allocator stays usable while a long mapping
//! batch runs. No heap allocation happens under these locks, so the kernel
//! heap can grow through this same system. The locks do not mask
//! interrupts: interrupt handlers must not map memory (they post messages).

use spin::Mutex;
use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, PhysFrame};

use super::address_space::{AddressSpace, SpaceError, SpaceStats, VirtRange};
use super::frame::{FrameAllocator, FrameError, FrameSource, FrameStats, PhysicalMemory};
use super::mapper::{Mapper, Permissions};
use super::region::RegionError;

/// What regions and the heap need from memory management.
pub trait MemoryBackend: Sync {
    fn reserve(&self, pages: u64, guard_pages: u64) -> Result<VirtRange, SpaceError>;
    fn release(&self, range: VirtRange) -> Result<(), SpaceError>;
    /// See [`AddressSpace::set_aside_heap`]: reserves without using the heap.
    fn set_aside_heap(&self, pages: u64) -> Result<VirtRange, SpaceError>;
    /// For each empty slot, allocates a frame and maps `first + index` to
    /// it, recording the frame in the slot. On error, slots already filled
    /// stay filled (and mapped): the caller still owns them.
    fn map_pages(
        &self,
        first: Page,
        slots: &mut [Option<PhysFrame>],
        permissions: Permissions,
    ) -> Result<(), RegionError>;
    /// Unmaps every filled slot's page, flushes `range`, then frees the
    /// frames and empties the slots.
    fn unmap_pages(
        &self,
        first: Page,
        slots: &mut [Option<PhysFrame>],
        range: VirtRange,
    ) -> Result<(), RegionError>;
    /// Changes the permissions of every filled slot's page and flushes.
    fn protect_pages(
        &self,
        first: Page,
        slots: &[Option<PhysFrame>],
        permissions: Permissions,
        range: VirtRange,
    ) -> Result<(), RegionError>;
    /// Maps `count` fresh frames from `first` without recording them: for
    /// the kernel heap, which never gives memory back. All or nothing.
    fn map_untracked(
        &self,
        first: Page,
        count: u64,
        permissions: Permissions,
    ) -> Result<(), RegionError>;
}

/// The kernel's one memory system. See the module documentation.
pub struct MemorySystem<M: PhysicalMemory, P: Mapper> {
    space: Mutex<AddressSpace>,
    mapper: Mutex<P>,
    frames: Mutex<FrameAllocator<M>>,
}

/// Page-table frames for the mapper, taken from the frame lock one at a
/// time so the lock is never held across a mapper call.
struct LockedFrames<'a, M: PhysicalMemory>(&'a Mutex<FrameAllocator<M>>);

impl<M: PhysicalMemory> FrameSource for LockedFrames<'_, M> {
    fn allocate_frame(&mut self) -> Result<PhysFrame, FrameError> {
        self.0.lock().allocate()
    }

    fn free_frame(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        self.0.lock().free(frame)
    }
}

fn page_at(first: Page, index: usize) -> Page {
    first + index as u64
}

impl<M: PhysicalMemory, P: Mapper> MemorySystem<M, P> {
    pub fn new(frames: FrameAllocator<M>, space: AddressSpace, mapper: P) -> Self {
        Self {
            space: Mutex::new(space),
            mapper: Mutex::new(mapper),
            frames: Mutex::new(frames),
        }
    }

    pub fn frame_stats(&self) -> FrameStats {
        self.frames.lock().stats()
    }

    pub fn space_stats(&self) -> SpaceStats {
        self.space.lock().stats()
    }

    /// Every live range of the address space (not the heap's), for `mem`.
    pub fn live_ranges(&self) -> alloc::vec::Vec<VirtRange> {
        self.space.lock().live_ranges().collect()
    }

    /// Which region (or guard page of one) `address` belongs to.
    pub fn lookup(&self, address: VirtAddr) -> Option<(VirtRange, bool)> {
        self.space.lock().lookup(address)
    }

    /// [`lookup`](Self::lookup) for a fault handler: `Err(())` instead of
    /// waiting when the address space is locked (the fault may have struck
    /// while it was held).
    #[allow(clippy::result_unit_err)]
    pub fn try_lookup(&self, address: VirtAddr) -> Result<Option<(VirtRange, bool)>, ()> {
        self.space
            .try_lock()
            .map(|space| space.lookup(address))
            .ok_or(())
    }

    /// Maps `count` pages of physical memory the frame allocator does not
    /// own (device registers, firmware tables) from `first` into a fresh
    /// range with a guard page. The mapping is permanent: devices and
    /// firmware tables do not go away.
    pub fn map_physical(
        &self,
        first: PhysFrame,
        count: u64,
        permissions: Permissions,
    ) -> Result<VirtRange, RegionError> {
        let range = self
            .space
            .lock()
            .reserve(count, 1)
            .map_err(RegionError::Space)?;
        let mut mapper = self.mapper.lock();
        for index in 0..count {
            let page = Page::containing_address(range.start()) + index;
            mapper
                .map(
                    page,
                    first + index,
                    permissions,
                    &mut LockedFrames(&self.frames),
                )
                .map_err(RegionError::Map)?;
        }
        Ok(range)
    }

    /// Direct access to the frame allocator, e.g. for
    /// [`FrameAllocator::add_reclaimable`]. Do not call into the system
    /// from inside `f`: the frame lock is held.
    pub fn with_frames<R>(&self, f: impl FnOnce(&mut FrameAllocator<M>) -> R) -> R {
        f(&mut self.frames.lock())
    }

    /// Direct access to the mapper (e.g. to map MMIO). Frames are reachable
    /// from inside `f`; the address space is not.
    pub fn with_mapper<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        f(&mut self.mapper.lock())
    }

    fn map_one(
        &self,
        mapper: &mut P,
        page: Page,
        permissions: Permissions,
    ) -> Result<PhysFrame, RegionError> {
        let frame = self.frames.lock().allocate().map_err(RegionError::Frames)?;
        if let Err(error) = mapper.map(page, frame, permissions, &mut LockedFrames(&self.frames)) {
            // The frame never became visible; give it straight back.
            let _ = self.frames.lock().free(frame);
            return Err(RegionError::Map(error));
        }
        Ok(frame)
    }
}

impl<M: PhysicalMemory + Send, P: Mapper + Send> MemoryBackend for MemorySystem<M, P> {
    fn reserve(&self, pages: u64, guard_pages: u64) -> Result<VirtRange, SpaceError> {
        self.space.lock().reserve(pages, guard_pages)
    }

    fn release(&self, range: VirtRange) -> Result<(), SpaceError> {
        self.space.lock().release(range)
    }

    fn set_aside_heap(&self, pages: u64) -> Result<VirtRange, SpaceError> {
        self.space.lock().set_aside_heap(pages)
    }

    fn map_pages(
        &self,
        first: Page,
        slots: &mut [Option<PhysFrame>],
        permissions: Permissions,
    ) -> Result<(), RegionError> {
        let mut mapper = self.mapper.lock();
        for (index, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(self.map_one(&mut mapper, page_at(first, index), permissions)?);
            }
        }
        Ok(())
    }

    fn unmap_pages(
        &self,
        first: Page,
        slots: &mut [Option<PhysFrame>],
        range: VirtRange,
    ) -> Result<(), RegionError> {
        let mut mapper = self.mapper.lock();
        let mut mismatch = None;
        for (index, slot) in slots.iter().enumerate() {
            if let Some(frame) = slot {
                let page = page_at(first, index);
                if mapper.unmap(page) != Some(*frame) {
                    mismatch.get_or_insert(page);
                }
            }
        }
        // Frames go back only once no core can still reach them.
        mapper.flush(range);
        // Page tables the range emptied go back too: regions come from
        // next-fit addresses, so otherwise every new stretch of the
        // address space would keep its tables for good.
        mapper.reclaim_tables(range, &mut LockedFrames(&self.frames));
        drop(mapper);
        let mut frames = self.frames.lock();
        let mut first_error = None;
        for slot in slots.iter_mut() {
            if let Some(frame) = slot.take()
                && let Err(error) = frames.free(frame)
            {
                first_error.get_or_insert(error);
            }
        }
        match (mismatch, first_error) {
            (Some(page), _) => Err(RegionError::MappingChanged { page }),
            (None, Some(error)) => Err(RegionError::Frames(error)),
            (None, None) => Ok(()),
        }
    }

    fn protect_pages(
        &self,
        first: Page,
        slots: &[Option<PhysFrame>],
        permissions: Permissions,
        range: VirtRange,
    ) -> Result<(), RegionError> {
        let mut mapper = self.mapper.lock();
        let mut result = Ok(());
        for (index, slot) in slots.iter().enumerate() {
            if slot.is_some()
                && let Err(error) = mapper.protect(page_at(first, index), permissions)
            {
                result = Err(RegionError::Map(error));
                break;
            }
        }
        // Flush even after a failure: some pages may have changed already.
        mapper.flush(range);
        result
    }

    fn map_untracked(
        &self,
        first: Page,
        count: u64,
        permissions: Permissions,
    ) -> Result<(), RegionError> {
        let mut mapper = self.mapper.lock();
        for index in 0..count {
            if let Err(error) = self.map_one(&mut mapper, first + index, permissions) {
                // All or nothing: undo the pages mapped so far.
                for undo in 0..index {
                    if let Some(frame) = mapper.unmap(first + undo) {
                        mapper.flush(VirtRange::of_pages(first + undo, 1));
                        let _ = self.frames.lock().free(frame);
                    }
                }
                return Err(error);
            }
        }
        Ok(())
    }
}
