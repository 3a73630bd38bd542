use proptest::prelude::*;
use x86_64::VirtAddr;

use super::*;

const BASE: u64 = 0x1000_0000;

fn small_space(pages: u64) -> AddressSpace {
    AddressSpace::new(BASE, BASE + pages * PAGE_SIZE).expect("valid bounds")
}

#[test]
fn bad_bounds_and_requests_are_errors() {
    assert!(AddressSpace::new(BASE + 1, BASE + PAGE_SIZE).is_err());
    assert!(AddressSpace::new(BASE, BASE).is_err());
    assert!(AddressSpace::new(0x0000_8000_0000_0000, 0x0000_8000_0001_0000).is_err());
    let mut space = small_space(16);
    assert_eq!(space.reserve(0, 1), Err(SpaceError::ZeroPages));
    assert_eq!(space.reserve(1, 0), Err(SpaceError::NoGuard));
    assert_eq!(
        space.reserve(u64::MAX, 1),
        Err(SpaceError::Exhausted {
            pages: u64::MAX,
            guard_pages: 1
        })
    );
}

#[test]
fn lower_half_is_canonical() {
    let mut space = AddressSpace::lower_half();
    let range = space.reserve(4, 1).expect("room");
    assert_eq!(range.start().as_u64(), LOWER_HALF_START + PAGE_SIZE);
}

#[test]
fn guards_separate_ranges_and_lookup_names_them() {
    let mut space = small_space(16);
    let first = space.reserve(2, 1).expect("first");
    let second = space.reserve(2, 1).expect("second");
    assert_eq!(first.start().as_u64(), BASE + PAGE_SIZE);
    assert_eq!(
        second.start().as_u64(),
        first.end().as_u64() + 2 * PAGE_SIZE
    );
    assert_eq!(space.lookup(first.start()), Some((first, false)));
    assert_eq!(
        space.lookup(first.end()),
        Some((first, true)),
        "page after is a guard"
    );
    assert_eq!(space.lookup(second.start() - 1u64), Some((second, true)));
    assert_eq!(space.lookup(VirtAddr::new(BASE + 15 * PAGE_SIZE)), None);
}

#[test]
fn exhaustion_then_release_makes_room() {
    let mut space = small_space(8);
    let range = space.reserve(6, 1).expect("fits exactly");
    assert_eq!(
        space.reserve(1, 1),
        Err(SpaceError::Exhausted {
            pages: 1,
            guard_pages: 1
        })
    );
    space.release(range).expect("release");
    assert_eq!(space.release(range), Err(SpaceError::NotLive { range }));
    assert!(space.reserve(6, 1).is_ok());
}

#[test]
fn heap_range_is_set_aside_once_and_looked_up() {
    let mut space = small_space(32);
    let heap = space.set_aside_heap(8).expect("heap");
    assert_eq!(heap.start().as_u64(), BASE + PAGE_SIZE);
    assert_eq!(space.set_aside_heap(1), Err(SpaceError::HeapAlreadySet));
    let other = space.reserve(2, 1).expect("other");
    assert!(other.start().as_u64() >= heap.end().as_u64() + 2 * PAGE_SIZE);
    assert_eq!(space.lookup(heap.start()), Some((heap, false)));
    assert_eq!(space.lookup(heap.end()), Some((heap, true)));
    assert_eq!(
        space.release(heap),
        Err(SpaceError::NotLive { range: heap })
    );
}

#[test]
fn released_addresses_are_reused_late() {
    let mut space = small_space(64);
    let first = space.reserve(2, 1).expect("first");
    space.release(first).expect("release");
    let second = space.reserve(2, 1).expect("second");
    assert_ne!(first.start(), second.start(), "next-fit moves on");
}

#[test]
fn release_needs_the_exact_range() {
    let mut space = small_space(16);
    let range = space.reserve(4, 1).expect("range");
    let shorter = VirtRange::of_pages(range.page(0).expect("page"), 3);
    assert_eq!(
        space.release(shorter),
        Err(SpaceError::NotLive { range: shorter })
    );
    assert_eq!(space.stats().live_ranges, 1);
}

#[derive(Clone, Debug)]
enum Op {
    Reserve { pages: u64, guard_pages: u64 },
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u64..20, 1u64..4).prop_map(|(pages, guard_pages)| Op::Reserve { pages, guard_pages }),
        2 => any::<usize>().prop_map(Op::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Live ranges never overlap, each keeps its guard pages clear of every
    /// other range, stays inside the space, is never handed out while live,
    /// and exhaustion is an error that only happens when no gap fits.
    #[test]
    fn ranges_never_overlap_and_keep_guards(
        space_pages in 8u64..300,
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let mut space = small_space(space_pages);
        let mut live: Vec<(VirtRange, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Reserve { pages, guard_pages } => match space.reserve(pages, guard_pages) {
                    Ok(range) => {
                        let guard = guard_pages * PAGE_SIZE;
                        let (start, end) = (range.start().as_u64(), range.end().as_u64());
                        prop_assert_eq!(start % PAGE_SIZE, 0);
                        prop_assert!(start - guard >= BASE);
                        prop_assert!(end + guard <= BASE + space_pages * PAGE_SIZE);
                        for (other, other_guard) in &live {
                            let other_guard = other_guard * PAGE_SIZE;
                            let (other_start, other_end) = (other.start().as_u64(), other.end().as_u64());
                            // Footprints (range plus its guards) are disjoint.
                            prop_assert!(
                                end + guard <= other_start - other_guard || other_end + other_guard <= start - guard,
                                "{} overlaps {}", range, other
                            );
                        }
                        live.push((range, guard_pages));
                    }
                    Err(SpaceError::Exhausted { .. }) => {
                        // Genuine: no gap between live footprints fits the new one.
                        let needed = (pages + 2 * guard_pages) * PAGE_SIZE;
                        let mut footprints: Vec<(u64, u64)> = live
                            .iter()
                            .map(|(range, guard)| {
                                (range.start().as_u64() - guard * PAGE_SIZE, range.end().as_u64() + guard * PAGE_SIZE)
                            })
                            .collect();
                        footprints.sort();
                        let mut cursor = BASE;
                        for (start, end) in footprints {
                            prop_assert!(start - cursor < needed, "gap at {:#x} fits", cursor);
                            cursor = end;
                        }
                        prop_assert!(BASE + space_pages * PAGE_SIZE - cursor < needed);
                    }
                    Err(other) => prop_assert!(false, "unexpected {}", other),
                },
                Op::Release(pick) if !live.is_empty() => {
                    let (range, _) = live.swap_remove(pick % live.len());
                    prop_assert_eq!(space.release(range), Ok(()));
                    prop_assert_eq!(space.release(range), Err(SpaceError::NotLive { range }));
                }
                Op::Release(_) => {}
            }
            prop_assert_eq!(space.stats().live_ranges, live.len());
            for (range, guard) in &live {
                prop_assert_eq!(space.lookup(range.start()), Some((*range, false)));
                prop_assert_eq!(space.lookup(range.end() - 1u64), Some((*range, false)));
                prop_assert_eq!(space.lookup(range.start() - guard * PAGE_SIZE), Some((*range, true)));
                prop_assert_eq!(space.lookup(range.end() + (guard * PAGE_SIZE - 1)), Some((*range, true)));
            }
        }
    }
}
