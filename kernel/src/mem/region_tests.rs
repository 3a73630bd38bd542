use proptest::prelude::*;

use super::*;
use crate::mem::address_space::AddressSpace;
use crate::mem::frame::FrameAllocator;
use crate::mem::system::MemorySystem;
use crate::mem::testing::{HashMapMapper, VecMemory, usable};

const MIB: u64 = 1 << 20;
const SPACE_BASE: u64 = 0x1000_0000;

type TestSystem = MemorySystem<VecMemory, HashMapMapper>;

fn system(frames: u64, space_pages: u64) -> TestSystem {
    let map = [usable(MIB, frames)];
    let allocator = FrameAllocator::new(&map, VecMemory::covering(&map)).expect("frames");
    let space = AddressSpace::new(SPACE_BASE, SPACE_BASE + space_pages * PAGE_SIZE).expect("space");
    MemorySystem::new(allocator, space, HashMapMapper::default())
}

#[test]
fn map_protect_and_free_return_everything() {
    let memory = system(128, 1024);
    let start = memory.frame_stats();
    let mut region =
        Region::new_mapped(&memory, 8, 1, Owner(7), Permissions::KERNEL_DATA).expect("region");
    assert_eq!(region.mapped_pages(), 8);
    assert_eq!(memory.frame_stats().free, start.free - 8);
    memory.with_mapper(|mapper| {
        let page = region.range().page(3).expect("page");
        assert_eq!(
            mapper.pages.get(&page).map(|entry| entry.0),
            region.frame(3)
        );
    });
    region
        .protect(Permissions::NO_EXECUTE | Permissions::USER)
        .expect("protect");
    memory.with_mapper(|mapper| {
        assert!(mapper.pages.values().all(|(_, permissions)| *permissions == Permissions::NO_EXECUTE | Permissions::USER));
        assert!(mapper.flushes >= 1);
    });
    region.free().expect("free");
    assert_eq!(memory.frame_stats(), start);
    assert_eq!(memory.space_stats().live_ranges, 0);
    memory.with_mapper(|mapper| assert!(mapper.pages.is_empty()));
}

#[test]
fn drop_unmaps_and_returns_frames() {
    let memory = system(128, 1024);
    let start = memory.frame_stats();
    {
        let _region =
            Region::new_mapped(&memory, 4, 2, Owner::KERNEL, Permissions::WRITE).expect("region");
        assert_eq!(memory.space_stats().live_ranges, 1);
    }
    assert_eq!(memory.frame_stats(), start);
    assert_eq!(memory.space_stats().live_ranges, 0);
}

#[test]
fn partial_map_and_unmap() {
    let memory = system(128, 1024);
    let mut region = Region::new(&memory, 16, 1, Owner(1), Permissions::WRITE).expect("region");
    region.map(4..8).expect("map");
    region.map(6..10).expect("map overlapping: only new pages");
    assert_eq!(region.mapped_pages(), 6);
    region.unmap(0..7).expect("unmap");
    assert_eq!(region.mapped_pages(), 3);
    assert!(region.frame(6).is_none() && region.frame(7).is_some());
    assert_eq!(
        region.map(10..17),
        Err(RegionError::OutOfBounds {
            start: 10,
            end: 17,
            region_pages: 16
        })
    );
    region.map(16..16).expect("empty range at the end is fine");
}

#[test]
fn frame_exhaustion_keeps_what_was_mapped() {
    let memory = system(16, 1024);
    let free = memory.frame_stats().free;
    let mut region =
        Region::new(&memory, free + 4, 1, Owner(1), Permissions::WRITE).expect("region");
    let result = region.map(0..free + 4);
    assert!(
        matches!(
            result,
            Err(RegionError::Frames(FrameError::OutOfFrames { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(region.mapped_pages(), free);
    drop(region);
    assert_eq!(memory.frame_stats().free, free);
}

#[test]
fn address_space_exhaustion_is_an_error() {
    let memory = system(16, 8);
    assert!(matches!(
        Region::new(&memory, 8, 1, Owner(1), Permissions::WRITE),
        Err(RegionError::Space(SpaceError::Exhausted { .. }))
    ));
}

#[test]
fn heap_growth_maps_contiguously() {
    use crate::mem::heap::{HeapGrowth, SystemHeapGrowth};
    let memory = system(64, 1024);
    let (base, mut growth) = SystemHeapGrowth::reserve(&memory, 8 * PAGE_SIZE).expect("reserve");
    let end = growth.grow(5000).expect("two pages");
    assert_eq!(end.as_ptr() as u64 - base.as_ptr() as u64, 2 * PAGE_SIZE);
    let end = growth.grow(1).expect("one more");
    assert_eq!(end.as_ptr() as u64 - base.as_ptr() as u64, 3 * PAGE_SIZE);
    assert!(
        growth.grow(6 * PAGE_SIZE as usize).is_err(),
        "range is 8 pages"
    );
    memory.with_mapper(|mapper| assert_eq!(mapper.pages.len(), 3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever is mapped and unmapped, freeing (or dropping) every region
    /// returns every frame and every range.
    #[test]
    fn freeing_regions_returns_every_frame(
        regions in prop::collection::vec((1u64..12, prop::collection::vec((0u64..12, 0u64..12, any::<bool>()), 0..6), any::<bool>()), 1..8),
    ) {
        let memory = system(96, 4096);
        let start = memory.frame_stats();
        let mut live = Vec::new();
        for (pages, ops, free_explicitly) in regions {
            let Ok(mut region) = Region::new(&memory, pages, 1, Owner(1), Permissions::WRITE) else { continue };
            for (a, b, map) in ops {
                let range = a.min(b).min(pages)..a.max(b).min(pages);
                let result = if map { region.map(range) } else { region.unmap(range) };
                let acceptable = matches!(result, Ok(()) | Err(RegionError::Frames(FrameError::OutOfFrames { .. })));
                prop_assert!(acceptable, "{:?}", result);
            }
            live.push((region, free_explicitly));
            let mapped: u64 = live.iter().map(|(region, _)| region.mapped_pages()).sum();
            prop_assert_eq!(memory.frame_stats().free, start.free - mapped);
        }
        for (region, free_explicitly) in live {
            if free_explicitly { prop_assert_eq!(region.free(), Ok(())); } else { drop(region); }
        }
        prop_assert_eq!(memory.frame_stats(), start);
        prop_assert_eq!(memory.space_stats().live_ranges, 0);
        prop_assert!(memory.with_mapper(|mapper| mapper.pages.is_empty()));
    }
}
