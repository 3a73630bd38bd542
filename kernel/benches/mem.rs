//! Host benchmarks of the portable memory-management paths: the frame
//! allocator and region map/unmap. The region numbers go through a
//! `HashMap` standing in for page tables, so they are host-simulated: they
//! show the bookkeeping cost, not the cost of touching real page tables.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mealy_kernel::mem::testing::{HashMapMapper, VecMemory};
use mealy_kernel::mem::{
    AddressSpace, FrameAllocator, MemoryKind, MemoryRange, MemorySystem, Owner, Permissions, Region,
};

const MIB: u64 = 1 << 20;

fn frames() -> FrameAllocator<VecMemory> {
    // 64 MiB of usable memory at 1 MiB.
    let map = [MemoryRange {
        base: MIB,
        length: 64 * MIB,
        kind: MemoryKind::Usable,
    }];
    FrameAllocator::new(&map, VecMemory::new(MIB, 64 * MIB)).expect("allocator")
}

fn benches(c: &mut Criterion) {
    let mut allocator = frames();
    // Fragment a little so the paths split and merge rather than hit one list.
    let held: Vec<_> = (0..1000)
        .map(|_| allocator.allocate().expect("frame"))
        .collect();
    for frame in held.iter().step_by(2) {
        allocator.free(*frame).expect("free");
    }
    c.bench_function("frame allocate+free (single)", |b| {
        b.iter(|| {
            let frame = allocator.allocate().expect("frame");
            allocator.free(black_box(frame)).expect("free");
        })
    });
    c.bench_function("frame allocate_contiguous(16)+free_contiguous", |b| {
        b.iter(|| {
            let first = allocator.allocate_contiguous(16, 1).expect("run");
            allocator
                .free_contiguous(black_box(first), 16)
                .expect("free");
        })
    });

    let space = AddressSpace::new(0x1000_0000, 0x1000_0000 + (1 << 32)).expect("space");
    let system = MemorySystem::new(frames(), space, HashMapMapper::default());
    let mut region = Region::new(&system, 16, 1, Owner(1), Permissions::WRITE).expect("region");
    c.bench_function(
        "region map+unmap 16 pages (host-simulated, HashMap page tables)",
        |b| {
            b.iter(|| {
                region.map(0..16).expect("map");
                region.unmap(0..16).expect("unmap");
            })
        },
    );
}

criterion_group! {
    name = mem;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = benches
}
criterion_main!(mem);
