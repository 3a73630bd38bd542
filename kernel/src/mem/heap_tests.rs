use super::*;

/// A heap "range" backed by a buffer: growth hands out more of it until the
/// limit, like mapping pages of a reserved range.
struct ArenaGrowth {
    arena: *mut u8,
    mapped: usize,
    limit: usize,
}

// SAFETY: (test) `arena` is a leaked buffer of `limit` bytes used only by
// the heap; growth only moves the end forward.
unsafe impl HeapGrowth for ArenaGrowth {
    fn grow(&mut self, bytes: usize) -> Result<NonNull<u8>, GrowthRefused> {
        let bytes = bytes.next_multiple_of(PAGE_SIZE as usize);
        if self.mapped + bytes > self.limit {
            return Err(GrowthRefused::RangeFull {
                limit_bytes: self.limit,
            });
        }
        self.mapped += bytes;
        // SAFETY: within the leaked buffer.
        NonNull::new(unsafe { self.arena.add(self.mapped) }).ok_or(GrowthRefused::NotInitialized)
    }
}

fn heap(limit: usize) -> KernelHeap<ArenaGrowth> {
    let arena = Box::leak(vec![0u8; limit].into_boxed_slice()).as_mut_ptr();
    let mut heap = KernelHeap::new();
    heap.init(
        NonNull::new(arena).expect("non-null"),
        ArenaGrowth {
            arena,
            mapped: 0,
            limit,
        },
    );
    heap
}

#[test]
fn grows_on_demand_and_reuses_freed_memory() {
    let mut heap = heap(1 << 20);
    assert_eq!(heap.stats().mapped_bytes, 0);
    let small = Layout::from_size_align(100, 8).expect("layout");
    let first = heap
        .allocate(small)
        .expect("first allocation grows the heap");
    assert_eq!(heap.stats().growths, 1);
    assert!(heap.stats().mapped_bytes >= MIN_GROWTH);
    let big = Layout::from_size_align(200_000, 4096).expect("layout");
    let large = heap.allocate(big).expect("grows again");
    assert_eq!(large.as_ptr() as usize % 4096, 0);
    assert_eq!(heap.stats().growths, 2);
    // SAFETY: allocated above with these layouts.
    unsafe {
        large.as_ptr().write_bytes(0xAB, big.size());
        heap.deallocate(large, big);
        heap.deallocate(first, small);
    }
    let again = heap.allocate(big).expect("freed memory is reused");
    assert_eq!(heap.stats().growths, 2);
    // SAFETY: allocated just above.
    unsafe { heap.deallocate(again, big) };
}

#[test]
fn refused_growth_reports_sizes() {
    let mut heap = heap(256 * 1024);
    let layout = Layout::from_size_align(1 << 20, 8).expect("layout");
    let error = heap.allocate(layout).expect_err("too big for the range");
    let HeapError::OutOfMemory {
        size,
        align,
        heap_bytes,
        cause,
    } = error;
    assert_eq!((size, align, heap_bytes), (1 << 20, 8, 0));
    assert_eq!(
        cause,
        GrowthRefused::RangeFull {
            limit_bytes: 256 * 1024
        }
    );
    assert_eq!(heap.last_failure(), Some(error));
    assert!(error.to_string().contains("1048576 bytes"), "{error}");
    // Smaller requests still work afterwards.
    assert!(heap.allocate(Layout::new::<u64>()).is_ok());
}

#[test]
fn many_allocations_until_exhaustion_are_errors() {
    let mut heap = heap(512 * 1024);
    let layout = Layout::from_size_align(4000, 16).expect("layout");
    let mut count = 0;
    while heap.allocate(layout).is_ok() {
        count += 1;
        assert!(count < 1000, "the arena is bounded");
    }
    assert!(count > 100, "most of the arena is usable: {count}");
    assert_eq!(heap.stats().failures, 1);
}

#[test]
fn uninitialized_heap_refuses() {
    let mut heap = KernelHeap::<ArenaGrowth>::new();
    let error = heap
        .allocate(Layout::new::<u8>())
        .expect_err("no growth yet");
    assert!(matches!(
        error,
        HeapError::OutOfMemory {
            cause: GrowthRefused::NotInitialized,
            ..
        }
    ));
}

#[test]
fn zero_sized_allocations_work() {
    let mut heap = heap(256 * 1024);
    let layout = Layout::from_size_align(0, 1).expect("layout");
    let memory = heap.allocate(layout).expect("zero-size");
    // SAFETY: allocated just above with the same layout.
    unsafe { heap.deallocate(memory, layout) };
}

#[test]
fn locked_heap_works_as_global_alloc() {
    let limit = 256 * 1024;
    let arena = Box::leak(vec![0u8; limit].into_boxed_slice()).as_mut_ptr();
    let heap: LockedHeap<ArenaGrowth> = LockedHeap::new();
    heap.init(
        NonNull::new(arena).expect("non-null"),
        ArenaGrowth {
            arena,
            mapped: 0,
            limit,
        },
    );
    let layout = Layout::from_size_align(64, 8).expect("layout");
    // SAFETY: non-zero layout; freed with the same layout.
    unsafe {
        let memory = heap.alloc(layout);
        assert!(!memory.is_null());
        heap.dealloc(memory, layout);
        assert!(
            heap.alloc(Layout::from_size_align(1 << 20, 8).expect("layout"))
                .is_null()
        );
    }
    assert!(heap.last_failure().is_some());
}
