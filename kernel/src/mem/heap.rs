//! The kernel heap: `talc` (a well-kept, fast `no_std` allocator) over one
//! reserved virtual range that is mapped on demand from its base upwards.
//!
//! Growth policy: when an allocation does not fit, ask [`HeapGrowth`] to map
//! more memory directly after what is mapped (at least the request plus
//! allocator overhead, and at least [`MIN_GROWTH`] so small allocations do
//! not map a page at a time), extend the allocator over it and retry. When
//! growth is refused the allocation fails with [`HeapError::OutOfMemory`],
//! which names the request, the heap's size and why growth was refused.
//! The heap never shrinks: kernel heap memory is not returned to the frame
//! allocator (simple, and the kernel's heap is small next to regions).
//!
//! The arch layer installs the `#[global_allocator]` (a [`LockedHeap`]).
//! Stable Rust has no custom allocation-error handler, so the panic handler
//! reads [`LockedHeap::last_failure`] to say why memory ran out.

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::{NonNull, null_mut};

use spin::Mutex;
use talc::base::Talc;
use talc::source::Manual;
use talc::{DefaultBinning, min_first_heap_size};
use x86_64::structures::paging::Page;

use super::PAGE_SIZE;
use super::address_space::VirtRange;
use super::mapper::Permissions;
use super::region::RegionError;
use super::system::MemoryBackend;

/// Smallest amount the heap grows by.
pub const MIN_GROWTH: usize = 64 * 1024;

/// Why the heap could not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowthRefused {
    /// The heap's reserved range is full.
    RangeFull { limit_bytes: usize },
    /// Frames or page tables ran out.
    Memory(RegionError),
    /// [`KernelHeap::init`] has not run.
    NotInitialized,
}

impl fmt::Display for GrowthRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RangeFull { limit_bytes } => {
                write!(f, "its reserved range of {limit_bytes} bytes is full")
            }
            Self::Memory(error) => write!(f, "{error}"),
            Self::NotInitialized => write!(f, "the heap is not initialized"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapError {
    OutOfMemory {
        size: usize,
        align: usize,
        heap_bytes: usize,
        cause: GrowthRefused,
    },
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory {
                size,
                align,
                heap_bytes,
                cause,
            } => write!(
                f,
                "kernel heap out of memory: {size} bytes (align {align}) requested, heap is {heap_bytes} bytes and cannot grow: {cause}"
            ),
        }
    }
}

/// Maps more memory for the heap, contiguous with what is mapped already.
///
/// # Safety
/// On `Ok(new_end)`, every byte from the heap base (given to
/// [`KernelHeap::init`]) up to `new_end` must be mapped writable and used
/// by nothing but the heap. Implementations must not allocate on the heap.
pub unsafe trait HeapGrowth {
    /// Maps at least `bytes` more; returns the new end of mapped memory.
    fn grow(&mut self, bytes: usize) -> Result<NonNull<u8>, GrowthRefused>;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes mapped for the heap.
    pub mapped_bytes: usize,
    /// Times the heap grew.
    pub growths: u64,
    /// Allocations refused.
    pub failures: u64,
}

/// The heap's logic without its lock. See the module documentation.
pub struct KernelHeap<G: HeapGrowth> {
    talc: Talc<Manual, DefaultBinning>,
    growth: Option<G>,
    base: usize,
    /// Where talc's heap ends; `None` until the first claim.
    talc_end: Option<NonNull<u8>>,
    stats: HeapStats,
    last_failure: Option<HeapError>,
}

// SAFETY: the raw pointers refer to the heap's own memory, which moves with
// the heap; `G: Send` covers the growth state.
unsafe impl<G: HeapGrowth + Send> Send for KernelHeap<G> {}

impl<G: HeapGrowth> KernelHeap<G> {
    pub const fn new() -> Self {
        Self {
            talc: Talc::new(Manual),
            growth: None,
            base: 0,
            talc_end: None,
            stats: HeapStats {
                mapped_bytes: 0,
                growths: 0,
                failures: 0,
            },
            last_failure: None,
        }
    }

    /// Starts the heap at `base`, where `growth` maps memory from. Nothing
    /// needs to be mapped yet: the first allocation grows the heap.
    pub fn init(&mut self, base: NonNull<u8>, growth: G) {
        self.base = base.as_ptr() as usize;
        self.growth = Some(growth);
    }

    pub fn allocate(&mut self, layout: Layout) -> Result<NonNull<u8>, HeapError> {
        let layout = nonzero(layout);
        // A few rounds at most: each one adds room for the whole request.
        for _ in 0..3 {
            // SAFETY: `nonzero` made the size non-zero.
            if let Some(memory) = unsafe { self.talc.try_allocate(layout) } {
                return Ok(memory);
            }
            if let Err(cause) = self.grow_for(layout) {
                return Err(self.fail(layout, cause));
            }
        }
        // SAFETY: as above.
        unsafe { self.talc.try_allocate(layout) }.ok_or_else(|| {
            self.fail(
                layout,
                GrowthRefused::RangeFull {
                    limit_bytes: self.stats.mapped_bytes,
                },
            )
        })
    }

    /// # Safety
    /// `memory` must come from [`allocate`](Self::allocate) on this heap with
    /// the same `layout`, and not have been deallocated since.
    pub unsafe fn deallocate(&mut self, memory: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract, with the same size adjustment
        // `allocate` made.
        unsafe { self.talc.deallocate(memory.as_ptr(), nonzero(layout)) }
    }

    pub fn stats(&self) -> HeapStats {
        self.stats
    }

    pub fn last_failure(&self) -> Option<HeapError> {
        self.last_failure
    }

    fn fail(&mut self, layout: Layout, cause: GrowthRefused) -> HeapError {
        let error = HeapError::OutOfMemory {
            size: layout.size(),
            align: layout.align(),
            heap_bytes: self.stats.mapped_bytes,
            cause,
        };
        self.stats.failures += 1;
        self.last_failure = Some(error);
        error
    }

    fn grow_for(&mut self, layout: Layout) -> Result<(), GrowthRefused> {
        let growth = self.growth.as_mut().ok_or(GrowthRefused::NotInitialized)?;
        // Room for the request at any alignment, talc's per-chunk tags, and
        // on the first growth talc's own metadata.
        let overhead = 4 * size_of::<usize>() + talc::base::CHUNK_UNIT;
        let metadata = if self.talc_end.is_none() {
            min_first_heap_size::<DefaultBinning>()
        } else {
            0
        };
        let needed = layout
            .size()
            .saturating_add(layout.align())
            .saturating_add(overhead + metadata)
            .max(MIN_GROWTH);
        let new_end = growth.grow(needed)?;
        let mapped = new_end.as_ptr() as usize - self.base;
        // SAFETY: `HeapGrowth`'s contract: base..new_end is mapped, writable
        // and the heap's alone; talc's current end came from talc.
        let end = unsafe {
            match self.talc_end {
                None => self.talc.claim(self.base as *mut u8, mapped),
                Some(end) => Some(self.talc.extend(end, new_end.as_ptr())),
            }
        };
        self.talc_end = end.or(self.talc_end);
        self.stats.mapped_bytes = mapped;
        self.stats.growths += 1;
        Ok(())
    }
}

impl<G: HeapGrowth> Default for KernelHeap<G> {
    fn default() -> Self {
        Self::new()
    }
}

/// Zero-size requests get one byte, consistently in both directions.
fn nonzero(layout: Layout) -> Layout {
    Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(layout)
}

/// The kernel heap behind a spin lock: what `#[global_allocator]` names.
pub struct LockedHeap<G: HeapGrowth>(Mutex<KernelHeap<G>>);

impl<G: HeapGrowth> LockedHeap<G> {
    pub const fn new() -> Self {
        Self(Mutex::new(KernelHeap::new()))
    }

    pub fn init(&self, base: NonNull<u8>, growth: G) {
        self.0.lock().init(base, growth);
    }

    pub fn stats(&self) -> HeapStats {
        self.0.lock().stats()
    }

    /// Why the last allocation failed. Does not wait for the lock, so a
    /// panic handler can call it even if the panic came from inside.
    pub fn last_failure(&self) -> Option<HeapError> {
        self.0.try_lock().and_then(|heap| heap.last_failure())
    }
}

impl<G: HeapGrowth> Default for LockedHeap<G> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `KernelHeap` hands out disjoint blocks of memory it owns, valid
// for the layout asked, and takes them back only through `deallocate`.
unsafe impl<G: HeapGrowth> GlobalAlloc for LockedHeap<G> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .allocate(layout)
            .map_or(null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, memory: *mut u8, layout: Layout) {
        if let Some(memory) = NonNull::new(memory) {
            // SAFETY: `GlobalAlloc::dealloc`'s contract is ours.
            unsafe { self.0.lock().deallocate(memory, layout) }
        }
    }
}

/// [`HeapGrowth`] over the memory system: maps fresh frames page by page
/// into the heap's reserved range.
pub struct SystemHeapGrowth<'m> {
    memory: &'m dyn MemoryBackend,
    range: VirtRange,
    mapped_pages: u64,
}

impl<'m> SystemHeapGrowth<'m> {
    /// Sets aside `max_bytes` of address space for the heap (nothing
    /// mapped, no heap used) through [`AddressSpace::set_aside_heap`]:
    /// call before any region exists. Returns the heap base for
    /// [`KernelHeap::init`] and the growth.
    ///
    /// [`AddressSpace::set_aside_heap`]: super::AddressSpace::set_aside_heap
    pub fn reserve(
        memory: &'m dyn MemoryBackend,
        max_bytes: u64,
    ) -> Result<(NonNull<u8>, Self), RegionError> {
        let pages = max_bytes.div_ceil(PAGE_SIZE);
        let range = memory.set_aside_heap(pages).map_err(RegionError::Space)?;
        let base =
            NonNull::new(range.start().as_mut_ptr::<u8>()).ok_or(RegionError::OutOfBounds {
                start: 0,
                end: pages,
                region_pages: pages,
            })?;
        Ok((
            base,
            Self {
                memory,
                range,
                mapped_pages: 0,
            },
        ))
    }

    pub fn range(&self) -> VirtRange {
        self.range
    }
}

// SAFETY: pages are mapped in order from the range start, so base..end is
// mapped; the range is reserved for the heap alone; `map_untracked` does
// not allocate on the heap.
unsafe impl HeapGrowth for SystemHeapGrowth<'_> {
    fn grow(&mut self, bytes: usize) -> Result<NonNull<u8>, GrowthRefused> {
        let pages = (bytes as u64).div_ceil(PAGE_SIZE);
        let limit_bytes = self.range.len_bytes() as usize;
        if self.mapped_pages + pages > self.range.pages() {
            return Err(GrowthRefused::RangeFull { limit_bytes });
        }
        let first: Page =
            Page::containing_address(self.range.start() + self.mapped_pages * PAGE_SIZE);
        self.memory
            .map_untracked(first, pages, Permissions::KERNEL_DATA)
            .map_err(GrowthRefused::Memory)?;
        self.mapped_pages += pages;
        let end = self.range.start() + self.mapped_pages * PAGE_SIZE;
        NonNull::new(end.as_mut_ptr::<u8>()).ok_or(GrowthRefused::RangeFull { limit_bytes })
    }
}

#[cfg(test)]
#[path = "heap_tests.rs"]
mod tests;
