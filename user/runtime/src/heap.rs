//! The program's heap: `talc` (the allocator the kernel uses too) over
//! Regions that the program allocates from the kernel as it needs them.
//!
//! Growth: when an allocation does not fit, [`RegionSource::grow`] gets a
//! fresh Region of at least the request plus talc's overhead, and at least
//! [`MIN_GROWTH`] (so the first allocation makes a 64 KiB heap), and talc
//! claims it as one more heap; then the allocation is retried. Regions
//! come from the one address-space allocator, with guard pages around
//! each, so they are never contiguous: each is its own claim. Nothing is
//! given back (a program's heap only grows; its Regions go with the task).
//!
//! Exhaustion: when the kernel refuses a Region (`AllocRegion` fails), the
//! allocation returns null. Stable Rust has no custom allocation-error
//! handler; `alloc::alloc::handle_alloc_error` in a `no_std` program panics
//! with "memory allocation of N bytes failed", which reaches this
//! runtime's panic handler (logged, then `Done(DONE_FATAL)`).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{NonNull, null_mut};

use spin::Mutex;
use talc::base::Talc;
use talc::source::Manual;
use talc::{DefaultBinning, min_first_heap_size};

/// Smallest amount the heap grows by.
pub const MIN_GROWTH: usize = 64 * 1024;
const PAGE: usize = 4096;

/// Where the heap's memory comes from.
pub trait RegionSource {
    /// A fresh writable block of at least `len` bytes that nothing else
    /// uses, or `None` when there is no more.
    fn grow(&mut self, len: usize) -> Option<(NonNull<u8>, usize)>;
}

/// The heap's logic, without its lock.
pub struct UserHeap<S: RegionSource> {
    talc: Talc<Manual, DefaultBinning>,
    source: S,
    /// Bytes claimed from regions so far.
    pub claimed: usize,
}

impl<S: RegionSource> UserHeap<S> {
    pub const fn new(source: S) -> Self {
        Self {
            talc: Talc::new(Manual),
            source,
            claimed: 0,
        }
    }

    /// Memory for `layout`, or null when the source has no more.
    pub fn allocate(&mut self, layout: Layout) -> *mut u8 {
        let layout = nonzero(layout);
        // Each growth has room for the whole request, so two rounds do.
        for _ in 0..2 {
            // SAFETY: `nonzero` made the size non-zero.
            if let Some(memory) = unsafe { self.talc.try_allocate(layout) } {
                return memory.as_ptr();
            }
            if !self.grow_for(layout) {
                return null_mut();
            }
        }
        // SAFETY: as above.
        unsafe { self.talc.try_allocate(layout) }.map_or(null_mut(), NonNull::as_ptr)
    }

    /// # Safety
    /// `memory` came from [`allocate`](Self::allocate) on this heap with
    /// `layout`, and has not been freed since.
    pub unsafe fn deallocate(&mut self, memory: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, with `allocate`'s size adjustment.
        unsafe { self.talc.deallocate(memory, nonzero(layout)) }
    }

    fn grow_for(&mut self, layout: Layout) -> bool {
        let overhead = 4 * size_of::<usize>() + talc::base::CHUNK_UNIT;
        let metadata = if self.talc.is_metadata_established() {
            0
        } else {
            min_first_heap_size::<DefaultBinning>()
        };
        let Some(needed) = layout
            .size()
            .checked_add(layout.align())
            .and_then(|n| n.checked_add(overhead + metadata))
            .map(|n| n.max(MIN_GROWTH))
            .and_then(|n| n.checked_next_multiple_of(PAGE))
        else {
            return false;
        };
        let Some((base, len)) = self.source.grow(needed) else {
            return false;
        };
        // SAFETY: `RegionSource`'s contract: `len` writable bytes at
        // `base`, used by nothing else, for as long as the program runs.
        let claimed = unsafe { self.talc.claim(base.as_ptr(), len) };
        if claimed.is_some() {
            self.claimed += len;
        }
        claimed.is_some()
    }
}

/// Zero-size requests get one byte, consistently in both directions.
fn nonzero(layout: Layout) -> Layout {
    Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(layout)
}

/// The heap behind a spin lock: what `#[global_allocator]` names. One
/// thread runs, so the lock is never contended; it keeps `GlobalAlloc`'s
/// `&self` honest.
pub struct LockedHeap<S: RegionSource>(Mutex<UserHeap<S>>);

impl<S: RegionSource> LockedHeap<S> {
    pub const fn new(source: S) -> Self {
        Self(Mutex::new(UserHeap::new(source)))
    }
}

// SAFETY: `allocate` hands out blocks talc owns exclusively, aligned as
// `layout` asks, or null; `dealloc` passes back what `alloc` gave.
unsafe impl<S: RegionSource> GlobalAlloc for LockedHeap<S> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate(layout)
    }

    unsafe fn dealloc(&self, memory: *mut u8, layout: Layout) {
        // SAFETY: `GlobalAlloc`'s contract for `dealloc`.
        unsafe { self.0.lock().deallocate(memory, layout) }
    }
}

/// Heap memory from the kernel: `AllocRegion`, then `Region` (writable)
/// to map it and learn its address.
#[derive(Debug, Default)]
pub struct KernelRegions;

impl RegionSource for KernelRegions {
    fn grow(&mut self, len: usize) -> Option<(NonNull<u8>, usize)> {
        use crate::syscall::{Kernel, Trap};
        use mealy_protocol::abi::Syscall;
        let (cap, _) = Trap
            .syscall(Syscall::AllocRegion, [len as u64, 0, 0, 0, 0, 0])
            .result()
            .ok()?;
        let (address, mapped) = Trap
            .syscall(Syscall::Region, [cap, 1, 0, 0, 0, 0])
            .result()
            .ok()?;
        let mapped = usize::try_from(mapped).ok()?;
        let base = NonNull::new(usize::try_from(address).ok()? as *mut u8)?;
        Some((base, mapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Hands out leaked, page-aligned host blocks up to a budget.
    struct Budget {
        left: usize,
        blocks: usize,
    }

    impl RegionSource for Budget {
        fn grow(&mut self, len: usize) -> Option<(NonNull<u8>, usize)> {
            if len > self.left {
                return None;
            }
            self.left -= len;
            self.blocks += 1;
            let layout = Layout::from_size_align(len, PAGE).ok()?;
            // SAFETY: a non-zero size; the block is leaked on purpose.
            NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).map(|base| (base, len))
        }
    }

    #[test]
    fn grows_by_regions_and_returns_null_when_they_run_out() {
        let mut heap = UserHeap::new(Budget {
            left: 4 * MIN_GROWTH,
            blocks: 0,
        });
        let small = Layout::from_size_align(100, 8).unwrap();
        let first = heap.allocate(small);
        assert!(!first.is_null());
        assert_eq!(heap.source.blocks, 1);
        assert_eq!(heap.claimed, MIN_GROWTH);
        // A request larger than one growth gets a region of its own.
        let big = Layout::from_size_align(2 * MIN_GROWTH, 4096).unwrap();
        let block = heap.allocate(big);
        assert!(!block.is_null());
        assert_eq!(block as usize % 4096, 0);
        assert_eq!(heap.source.blocks, 2);
        // Exhaustion is null, not a panic; freed memory is reused.
        let mut held = Vec::new();
        loop {
            let memory = heap.allocate(small);
            if memory.is_null() {
                break;
            }
            held.push(memory);
        }
        assert!(held.len() > 100);
        assert!(heap.allocate(big).is_null());
        // SAFETY: allocated above with `small`, freed once.
        unsafe { heap.deallocate(held[0], small) };
        assert!(!heap.allocate(small).is_null());
    }

    #[test]
    fn absurd_requests_are_null() {
        let mut heap = UserHeap::new(Budget {
            left: usize::MAX,
            blocks: 0,
        });
        let huge = Layout::from_size_align(isize::MAX as usize - 4096, 4096).unwrap();
        assert!(heap.allocate(huge).is_null());
    }
}
