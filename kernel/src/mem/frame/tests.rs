use std::collections::BTreeSet;

use proptest::prelude::*;
use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use super::*;
use crate::mem::testing::{VecMemory, reclaimable, usable};

const MIB: u64 = 1 << 20;

fn allocator(map: &[MemoryRange]) -> FrameAllocator<VecMemory> {
    FrameAllocator::new(map, VecMemory::covering(map)).expect("allocator builds")
}

fn frame(address: u64) -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(address))
}

#[test]
fn empty_map_is_an_error() {
    let map = [MemoryRange {
        base: MIB,
        length: MIB,
        kind: MemoryKind::Reserved,
    }];
    let error = FrameAllocator::new(&map, VecMemory::covering(&map)).err();
    assert_eq!(error, Some(FrameError::NoUsableMemory));
}

#[test]
fn metadata_that_fits_nowhere_is_an_error() {
    // One usable frame, but the bitmaps must cover a far-away reclaimable range.
    let map = [usable(MIB, 1), reclaimable(1 << 40, 1)];
    let memory = VecMemory::new(MIB, PAGE_SIZE);
    assert!(matches!(
        FrameAllocator::new(&map, memory).err(),
        Some(FrameError::MetadataDoesNotFit { .. })
    ));
}

#[test]
fn counts_add_up_and_metadata_is_used() {
    let mut frames = allocator(&[usable(MIB, 256)]);
    let stats = frames.stats();
    assert_eq!(stats.total, 256);
    assert!(stats.used >= 1, "the bitmaps take at least one frame");
    assert_eq!(stats.free + stats.used, stats.total);
    let taken = frames.allocate().expect("a frame");
    assert_eq!(frames.stats().free, stats.free - 1);
    frames.free(taken).expect("frees");
    assert_eq!(frames.stats(), stats);
}

#[test]
fn unaligned_ranges_are_trimmed_to_whole_frames() {
    let map = [MemoryRange {
        base: MIB + 100,
        length: 10 * PAGE_SIZE,
        kind: MemoryKind::Usable,
    }];
    let frames = allocator(&map);
    assert_eq!(frames.stats().total, 9);
}

#[test]
fn exhaustion_is_an_error_not_a_panic() {
    let mut frames = allocator(&[usable(MIB, 64)]);
    let free = frames.stats().free;
    for _ in 0..free {
        frames.allocate().expect("frame while some are free");
    }
    assert_eq!(
        frames.allocate(),
        Err(FrameError::OutOfFrames {
            requested: 1,
            free: 0
        })
    );
}

#[test]
fn double_free_and_foreign_frames_are_reported() {
    let mut frames = allocator(&[usable(MIB, 64)]);
    let taken = frames.allocate().expect("frame");
    frames.free(taken).expect("first free");
    assert_eq!(
        frames.free(taken),
        Err(FrameError::DoubleFree {
            frame: taken.start_address()
        })
    );
    let foreign = frame(64 * MIB);
    assert_eq!(
        frames.free(foreign),
        Err(FrameError::NotManaged {
            frame: foreign.start_address()
        })
    );
    assert_eq!(
        frames.free(frame(0)),
        Err(FrameError::NotManaged {
            frame: PhysAddr::new(0)
        })
    );
}

#[test]
fn partly_bad_run_frees_nothing() {
    let mut frames = allocator(&[usable(MIB, 64)]);
    let run = frames.allocate_contiguous(4, 1).expect("run");
    frames.free(run + 1).expect("free one");
    let free = frames.stats().free;
    assert_eq!(
        frames.free_contiguous(run, 4),
        Err(FrameError::DoubleFree {
            frame: (run + 1).start_address()
        })
    );
    assert_eq!(frames.stats().free, free);
}

#[test]
fn bad_requests_are_errors() {
    let mut frames = allocator(&[usable(MIB, 64)]);
    assert_eq!(frames.allocate_contiguous(0, 1), Err(FrameError::ZeroCount));
    assert_eq!(
        frames.allocate_contiguous(1, 3),
        Err(FrameError::BadAlignment { align: 3 })
    );
    let huge = (1 << MAX_ORDER) + 1;
    assert_eq!(
        frames.allocate_contiguous(huge, 1),
        Err(FrameError::TooLarge {
            count: huge,
            align: 1
        })
    );
    assert_eq!(
        frames.allocate_contiguous(u64::MAX, 1),
        Err(FrameError::TooLarge {
            count: u64::MAX,
            align: 1
        })
    );
    assert!(matches!(
        frames.allocate_contiguous(128, 1),
        Err(FrameError::OutOfFrames { requested: 128, .. })
    ));
}

#[test]
fn contiguous_runs_are_aligned() {
    let mut frames = allocator(&[usable(MIB, 512)]);
    let run = frames.allocate_contiguous(16, 16).expect("aligned run");
    assert_eq!(run.start_address().as_u64() % (16 * PAGE_SIZE), 0);
    let odd = frames.allocate_contiguous(3, 1).expect("odd run");
    let before = frames.stats().free;
    frames.free_contiguous(odd, 3).expect("free odd run");
    assert_eq!(frames.stats().free, before + 3);
}

#[test]
fn reclaimable_memory_joins_later_once() {
    let map = [usable(MIB, 64), reclaimable(MIB + 64 * PAGE_SIZE, 64)];
    let mut frames = allocator(&map);
    assert_eq!(frames.stats().total, 64);
    assert_eq!(frames.add_reclaimable(&map), Ok(64));
    assert_eq!(frames.stats().total, 128);
    assert_eq!(
        frames.add_reclaimable(&map),
        Ok(0),
        "adding twice adds nothing"
    );
    // Usable and reclaimable are adjacent: they merge into a 128-frame run
    // once the metadata frame at the start is out of the way.
    let run = frames.allocate_contiguous(64, 64);
    assert!(run.is_ok(), "{run:?}");
    let outside = [reclaimable(512 * MIB, 1)];
    assert_eq!(
        frames.add_reclaimable(&outside),
        Err(FrameError::OutsideSpan {
            base: 512 * MIB,
            length: PAGE_SIZE
        })
    );
}

#[test]
fn overlapping_map_entries_are_counted_once() {
    let frames = allocator(&[usable(MIB, 64), usable(MIB + 32 * PAGE_SIZE, 64)]);
    assert_eq!(frames.stats().total, 96);
}

#[derive(Clone, Debug)]
enum Op {
    Allocate,
    AllocateRun {
        count: u64,
        align_log2: u32,
    },
    /// Free the `n`th live allocation (modulo the live count).
    Free(usize),
    DoubleFree(usize),
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Allocate),
        3 => (1u64..40, 0u32..5).prop_map(|(count, align_log2)| Op::AllocateRun { count, align_log2 }),
        4 => any::<usize>().prop_map(Op::Free),
        1 => any::<usize>().prop_map(Op::DoubleFree),
        1 => Just(Op::Reclaim),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Against a model (the set of frames handed out): no frame is handed
    /// out twice, every run is aligned and in managed memory, exhaustion is
    /// an error, counts always add up, and freeing everything restores the
    /// starting free count (no leak).
    #[test]
    fn frames_never_overlap_or_leak(
        usable_frames in 1u64..200,
        gap in 0u64..8,
        reclaim_frames in 0u64..100,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let reclaim_base = MIB + (usable_frames + gap) * PAGE_SIZE;
        let mut map = vec![usable(MIB, usable_frames)];
        if reclaim_frames > 0 {
            map.push(reclaimable(reclaim_base, reclaim_frames));
        }
        let mut frames = allocator(&map);
        let managed = |address: u64| {
            (MIB..MIB + usable_frames * PAGE_SIZE).contains(&address)
                || (reclaim_base..reclaim_base + reclaim_frames * PAGE_SIZE).contains(&address)
        };
        let start_free = frames.stats().free;
        let mut reclaimed = 0;
        let mut handed_out = BTreeSet::new();
        let mut live: Vec<(PhysFrame, u64)> = Vec::new();
        let mut freed: Vec<PhysFrame> = Vec::new();
        for op in ops {
            match op {
                Op::Allocate | Op::AllocateRun { .. } => {
                    let (count, align) = match op {
                        Op::AllocateRun { count, align_log2 } => (count, 1 << align_log2),
                        _ => (1, 1),
                    };
                    match frames.allocate_contiguous(count, align) {
                        Ok(first) => {
                            let start = first.start_address().as_u64();
                            prop_assert_eq!(start % (align * PAGE_SIZE), 0);
                            for index in 0..count {
                                let address = start + index * PAGE_SIZE;
                                prop_assert!(managed(address), "{:#x} not managed", address);
                                prop_assert!(handed_out.insert(address), "{:#x} handed out twice", address);
                            }
                            live.push((first, count));
                        }
                        Err(FrameError::OutOfFrames { requested, free }) => {
                            prop_assert_eq!(requested, count);
                            prop_assert_eq!(free, frames.stats().free);
                        }
                        Err(other) => prop_assert!(false, "unexpected {}", other),
                    }
                }
                Op::Free(pick) if !live.is_empty() => {
                    let (first, count) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(frames.free_contiguous(first, count), Ok(()));
                    for index in 0..count {
                        handed_out.remove(&(first.start_address().as_u64() + index * PAGE_SIZE));
                    }
                    freed.push(first);
                }
                Op::DoubleFree(pick) if !freed.is_empty() => {
                    let first = freed[pick % freed.len()];
                    if !handed_out.contains(&first.start_address().as_u64()) {
                        prop_assert_eq!(frames.free(first), Err(FrameError::DoubleFree { frame: first.start_address() }));
                    }
                }
                Op::Reclaim => {
                    reclaimed += frames.add_reclaimable(&map).map_err(|error| TestCaseError::fail(error.to_string()))?;
                }
                _ => {}
            }
            let stats = frames.stats();
            prop_assert_eq!(stats.free + stats.used, stats.total);
            prop_assert_eq!(stats.free, start_free + reclaimed - handed_out.len() as u64);
        }
        for (first, count) in live {
            prop_assert_eq!(frames.free_contiguous(first, count), Ok(()));
        }
        prop_assert_eq!(frames.stats().free, start_free + reclaimed);
        // Everything merged back: the allocator can hand out every free frame.
        for _ in 0..frames.stats().free {
            prop_assert!(frames.allocate().is_ok());
        }
        prop_assert!(frames.allocate().is_err());
    }
}
