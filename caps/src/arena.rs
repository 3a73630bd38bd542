//! `Arena`: a fixed-capacity table with an intrusive free list, the one
//! structure behind every capability table: the derivation nodes
//! (`derivation.rs`), the objects (`object.rs`), the CSpaces and each
//! CSpace's slots (`cspace.rs`).
//!
//! An entry is named by a [`Key`]: a bare `u32` index for the node arena,
//! whose indices never leave the crate, or an index plus a generation
//! (`ObjectId`, `CSpaceId`, `CapRef`) for the tables whose names the kernel
//! and tasks hold, so that a name goes stale when its entry is freed.
//! Written here rather than taken from `slab` or `slotmap` because the
//! tables need three things at once: memory reserved once at creation, so
//! that exhaustion is a value and nothing allocates afterwards; `u32`
//! indices, so that intrusive links stay four bytes with [`NONE`] for "no
//! index"; and an entry whose generation would wrap retired rather than
//! reused, so that a stale name never resolves again.
//!
//! # Invariant
//!
//! Every entry ever used (at most `capacity`) is live or free. A free entry
//! is on the free list exactly once, unless it is retired: then it is on no
//! list and never used again. `free_head` is [`NONE`] or a free entry, and
//! `live` counts the live entries. Indices stay below the capacity (at most
//! `u32::MAX`), so `NONE` is never one. An entry's generation changes only
//! when the entry is freed and never repeats, so a key resolves only to the
//! entry it was issued for.
//!
//! # Operations
//!
//! Each method's doc lists its errors in the order they are checked; an
//! error is a value (`None`, or `OutOfMemory` from [`Arena::new`]), never a
//! panic, and changes nothing. Costs:
//!
//! | operation | cost |
//! |---|---|
//! | `new` | one allocation of `capacity` entries |
//! | `insert`, `remove`, `remove_at` | O(1), no allocation |
//! | `get`, `get_mut`, `get_at_mut`, `key_at`, `has_room` | O(1): one bounds-checked indexing (and a generation compare) |
//! | `iter` | O(entries ever used) |
//!
//! `insert` reuses the most recently freed entry first, and only then takes
//! a never-used one, so a busy table stays dense at its low indices.

use alloc::vec::Vec;
use core::fmt::Debug;
use core::mem;

use crate::NONE;
use crate::error::CapError;

/// What an entry keeps across reuse so that old keys go stale.
pub(crate) trait Generation: Copy + Eq + Debug {
    /// The generation of an entry's first use.
    const FIRST: Self;

    /// The generation the entry takes when it is freed; `None` when that
    /// would wrap, and the entry is retired instead.
    fn next(self) -> Option<Self>;
}

/// No generation: for the node arena, whose indices never leave the crate.
impl Generation for () {
    const FIRST: Self = ();

    #[inline]
    fn next(self) -> Option<Self> {
        Some(())
    }
}

impl Generation for u32 {
    const FIRST: Self = 0;

    #[inline]
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// How an arena's entries are named: an index and a generation.
pub(crate) trait Key: Copy {
    type Generation: Generation;

    fn join(index: u32, generation: Self::Generation) -> Self;

    fn split(self) -> (u32, Self::Generation);
}

/// A bare index: the node arena's key.
impl Key for u32 {
    type Generation = ();

    #[inline]
    fn join(index: u32, (): ()) -> Self {
        index
    }

    #[inline]
    fn split(self) -> (u32, ()) {
        (self, ())
    }
}

/// One entry. The generation sits in both variants, not beside the enum,
/// so that it shares the tag's aligned word: a CSpace slot entry is 40
/// bytes this way and 48 the other.
#[derive(Debug)]
enum Entry<T, G> {
    Free { generation: G, next_free: u32 },
    Live { generation: G, value: T },
}

/// A fixed-capacity table of `T` named by keys `K`. See the module docs.
#[derive(Debug)]
pub(crate) struct Arena<T, K: Key> {
    entries: Vec<Entry<T, K::Generation>>,
    capacity: u32,
    free_head: u32,
    live: u32,
}

impl<T, K: Key> Arena<T, K> {
    /// An empty arena of `capacity` entries, all reserved now.
    ///
    /// Errors: `OutOfMemory` if the heap cannot provide them.
    pub(crate) fn new(capacity: u32) -> Result<Self, CapError> {
        let mut entries = Vec::new();
        entries
            .try_reserve_exact(capacity as usize)
            .map_err(|_| CapError::OutOfMemory)?;
        Ok(Self {
            entries,
            capacity,
            free_head: NONE,
            live: 0,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    #[inline]
    pub(crate) fn live_count(&self) -> u32 {
        self.live
    }

    /// Whether the next [`Arena::insert`] will succeed.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.free_head != NONE || (self.entries.len() as u32) < self.capacity
    }

    /// Stores `value` and returns its key: the most recently freed entry's
    /// index with that entry's new generation, else the first never-used
    /// index with the first generation.
    ///
    /// Errors: `None` (and `value` is dropped) when every entry is live or
    /// retired.
    #[inline(always)]
    pub(crate) fn insert(&mut self, value: T) -> Option<K> {
        let key = if self.free_head != NONE {
            let index = self.free_head;
            let entry = self.entries.get_mut(index as usize)?;
            let Entry::Free {
                generation,
                next_free,
            } = *entry
            else {
                // Unreachable while the invariant holds; refuse rather than
                // overwrite a live entry.
                return None;
            };
            self.free_head = next_free;
            *entry = Entry::Live { generation, value };
            K::join(index, generation)
        } else if (self.entries.len() as u32) < self.capacity {
            let index = self.entries.len() as u32;
            // Within the reservation made in `new`: never reallocates.
            self.entries.push(Entry::Live {
                generation: Generation::FIRST,
                value,
            });
            K::join(index, Generation::FIRST)
        } else {
            return None;
        };
        self.live += 1;
        Some(key)
    }

    /// Frees the entry `key` names and returns its value; `key` goes stale.
    ///
    /// Errors, in order: `None` if the index is out of range, the entry is
    /// free, or its generation is not `key`'s.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: K) -> Option<T> {
        let (index, generation) = key.split();
        match self.entries.get(index as usize)? {
            Entry::Live {
                generation: current,
                ..
            } if *current == generation => self.remove_at(index),
            _ => None,
        }
    }

    /// Frees the live entry at `index`, whatever its generation, and returns
    /// its value: for following the crate's own links, which always name
    /// live entries. The generation moves on, or the entry is retired when
    /// it would wrap, trading one entry every 2^32 reuses for never
    /// resolving a stale key.
    ///
    /// Errors, in order: `None` if `index` is out of range or free.
    #[inline(always)]
    pub(crate) fn remove_at(&mut self, index: u32) -> Option<T> {
        let entry = self.entries.get_mut(index as usize)?;
        // Checked before the replace below so the compiler can drop its
        // restoring arm: otherwise it moves the whole entry out and back.
        let Entry::Live { generation, .. } = *entry else {
            return None;
        };
        let next = generation.next();
        // A retired entry keeps its last generation and joins no list.
        let freed = match next {
            Some(generation) => Entry::Free {
                generation,
                next_free: self.free_head,
            },
            None => Entry::Free {
                generation,
                next_free: NONE,
            },
        };
        let value = match mem::replace(entry, freed) {
            Entry::Live { value, .. } => value,
            free @ Entry::Free { .. } => {
                *entry = free;
                return None;
            }
        };
        if next.is_some() {
            self.free_head = index;
        }
        self.live -= 1;
        Some(value)
    }

    /// The value `key` names.
    ///
    /// Errors, in order: `None` if the index is out of range, the entry is
    /// free, or its generation is not `key`'s.
    #[inline]
    pub(crate) fn get(&self, key: K) -> Option<&T> {
        let (index, generation) = key.split();
        match self.entries.get(index as usize)? {
            Entry::Live {
                generation: current,
                value,
            } if *current == generation => Some(value),
            _ => None,
        }
    }

    /// [`Arena::get`], mutable. Same errors.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut T> {
        let (index, generation) = key.split();
        match self.entries.get_mut(index as usize)? {
            Entry::Live {
                generation: current,
                value,
            } if *current == generation => Some(value),
            _ => None,
        }
    }

    /// The live value at `index`, whatever its generation (see
    /// [`Arena::remove_at`]).
    ///
    /// Errors, in order: `None` if `index` is out of range or free.
    #[inline]
    pub(crate) fn get_at_mut(&mut self, index: u32) -> Option<&mut T> {
        match self.entries.get_mut(index as usize)? {
            Entry::Live { value, .. } => Some(value),
            Entry::Free { .. } => None,
        }
    }

    /// The key that names the live entry at `index` now.
    ///
    /// Errors, in order: `None` if `index` is out of range or free.
    #[inline]
    pub(crate) fn key_at(&self, index: u32) -> Option<K> {
        match *self.entries.get(index as usize)? {
            Entry::Live { generation, .. } => Some(K::join(index, generation)),
            Entry::Free { .. } => None,
        }
    }

    /// Every live entry with its key, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| match entry {
                Entry::Live { generation, value } => {
                    Some((K::join(index as u32, *generation), value))
                }
                Entry::Free { .. } => None,
            })
    }

    /// Test-only: age the entry at `index` to `generation`, to reach the
    /// wrap without 2^32 reuses.
    #[cfg(test)]
    pub(crate) fn set_generation(&mut self, index: u32, generation: K::Generation) {
        if let Some(
            Entry::Free {
                generation: aged, ..
            }
            | Entry::Live {
                generation: aged, ..
            },
        ) = self.entries.get_mut(index as usize)
        {
            *aged = generation;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// A generation that wraps after four uses, so that tests reach
    /// retirement quickly.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct Tiny(u8);

    const TINY_LAST: u8 = 3;

    impl Generation for Tiny {
        const FIRST: Self = Tiny(0);

        fn next(self) -> Option<Self> {
            (self.0 < TINY_LAST).then_some(Tiny(self.0 + 1))
        }
    }

    /// An index and a generation, as `ObjectId`, `CSpaceId` and `CapRef` are.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct Named<G>(u32, G);

    impl<G: Generation> Key for Named<G> {
        type Generation = G;

        fn join(index: u32, generation: G) -> Self {
            Named(index, generation)
        }

        fn split(self) -> (u32, G) {
            (self.0, self.1)
        }
    }

    type TinyKey = Named<Tiny>;

    #[test]
    fn full_is_a_value_and_changes_nothing() {
        let mut arena: Arena<char, u32> = Arena::new(2).unwrap();
        assert_eq!(arena.insert('a'), Some(0));
        assert_eq!(arena.insert('b'), Some(1));
        assert!(!arena.has_room());
        assert_eq!(arena.insert('c'), None);
        assert_eq!(arena.live_count(), 2);
        assert_eq!(arena.get(0), Some(&'a'));
        assert_eq!(arena.get(1), Some(&'b'));
        let empty: Arena<char, u32> = Arena::new(0).unwrap();
        assert!(!empty.has_room());
    }

    #[test]
    fn a_huge_capacity_is_out_of_memory_not_a_panic() {
        // 2^32 entries of 4 GiB each cannot even be sized.
        let huge = Arena::<[u8; 1 << 32], u32>::new(u32::MAX);
        assert_eq!(huge.err(), Some(CapError::OutOfMemory));
    }

    #[test]
    fn the_last_freed_index_is_reused_first_with_a_new_generation() {
        let mut arena: Arena<char, Named<u32>> = Arena::new(4).unwrap();
        let a = arena.insert('a').unwrap();
        let b = arena.insert('b').unwrap();
        let c = arena.insert('c').unwrap();
        assert_eq!((a, b, c), (Named(0, 0), Named(1, 0), Named(2, 0)));
        assert_eq!(arena.remove(a), Some('a'));
        assert_eq!(arena.remove(c), Some('c'));
        assert_eq!(arena.insert('d'), Some(Named(2, 1)));
        assert_eq!(arena.insert('e'), Some(Named(0, 1)));
        assert_eq!(arena.insert('f'), Some(Named(3, 0)), "then a fresh one");
        assert_eq!(arena.insert('g'), None);
        // The old keys are stale for every keyed operation.
        assert_eq!(arena.get(a), None);
        assert_eq!(arena.get_mut(c), None);
        assert_eq!(arena.remove(a), None);
        assert_eq!(arena.get(Named(0, 1)), Some(&'e'));
        // By index, the generation does not matter.
        assert_eq!(arena.get_at_mut(0), Some(&mut 'e'));
        assert_eq!(arena.key_at(2), Some(Named(2, 1)));
        assert_eq!(arena.live_count(), 4);
    }

    #[test]
    fn removing_a_free_or_unknown_entry_changes_nothing() {
        let mut arena: Arena<char, Named<u32>> = Arena::new(3).unwrap();
        let a = arena.insert('a').unwrap();
        arena.insert('b').unwrap();
        assert_eq!(arena.remove(a), Some('a'));
        assert_eq!(arena.remove_at(0), None, "already free");
        assert_eq!(arena.remove_at(2), None, "never used");
        assert_eq!(arena.remove_at(u32::MAX), None);
        assert_eq!(arena.live_count(), 1);
        // The free list is intact: index 0 once, then the fresh index 2.
        assert_eq!(arena.insert('c'), Some(Named(0, 1)));
        assert_eq!(arena.insert('d'), Some(Named(2, 0)));
        assert_eq!(arena.insert('e'), None);
    }

    #[test]
    fn an_entry_whose_generation_would_wrap_is_retired() {
        let mut arena: Arena<char, Named<u32>> = Arena::new(2).unwrap();
        let worn = arena.insert('a').unwrap();
        arena.set_generation(worn.0, u32::MAX);
        let worn = Named(worn.0, u32::MAX);
        assert_eq!(arena.remove(worn), Some('a'));
        assert_eq!(arena.key_at(worn.0), None);
        assert_eq!(arena.insert('b'), Some(Named(1, 0)), "not the retired 0");
        assert_eq!(arena.insert('c'), None, "the retired entry counts as used");
        assert_eq!(arena.get(worn), None);
    }

    #[test]
    fn bare_indices_are_reused_without_end() {
        // No generation: nothing ever retires.
        let mut arena: Arena<u64, u32> = Arena::new(1).unwrap();
        for round in 0..1000 {
            assert_eq!(arena.insert(round), Some(0));
            assert_eq!(arena.remove(0), Some(round));
        }
        assert!(arena.has_room());
    }

    #[test]
    fn iter_lists_live_entries_in_index_order_with_their_keys() {
        let mut arena: Arena<char, Named<u32>> = Arena::new(4).unwrap();
        let keys: Vec<Named<u32>> = "abcd".chars().filter_map(|c| arena.insert(c)).collect();
        arena.remove(keys[1]);
        arena.remove(keys[3]);
        let again = arena.insert('e').unwrap();
        let listed: Vec<(Named<u32>, char)> = arena.iter().map(|(key, &c)| (key, c)).collect();
        assert_eq!(listed, [(keys[0], 'a'), (keys[2], 'c'), (again, 'e')]);
        assert_eq!(again, Named(3, 1));
    }

    /// One step of the model test; operands pick among keys ever issued.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Insert,
        Remove(usize),
        RemoveAt(u32),
        Get(usize),
        GetAt(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Insert),
            3 => any::<usize>().prop_map(Step::Remove),
            1 => (0u32..8).prop_map(Step::RemoveAt),
            2 => any::<usize>().prop_map(Step::Get),
            1 => (0u32..8).prop_map(Step::GetAt),
        ]
    }

    /// The plain meaning of the arena: a `Vec<Option<_>>` indexed by the
    /// arena's own index choice, plus which indices are retired.
    struct Model {
        capacity: u32,
        entries: Vec<Option<(TinyKey, u32)>>,
        retired: Vec<bool>,
        issued: Vec<TinyKey>,
        next_value: u32,
    }

    impl Model {
        fn reusable(&self, index: usize) -> bool {
            self.entries[index].is_none() && !self.retired[index]
        }

        fn has_room(&self) -> bool {
            (0..self.entries.len()).any(|i| self.reusable(i))
                || self.entries.len() < self.capacity as usize
        }

        fn live(&self) -> u32 {
            self.entries.iter().flatten().count() as u32
        }

        fn free(&mut self, index: usize, key: TinyKey) {
            self.entries[index] = None;
            self.retired[index] = key.1 == Tiny(TINY_LAST);
        }
    }

    fn check_step(
        arena: &mut Arena<u32, TinyKey>,
        model: &mut Model,
        step: Step,
    ) -> Result<(), TestCaseError> {
        let pick =
            |i: usize| (!model.issued.is_empty()).then(|| model.issued[i % model.issued.len()]);
        match step {
            Step::Insert => {
                let value = model.next_value;
                model.next_value += 1;
                let expect_room = model.has_room();
                prop_assert_eq!(arena.has_room(), expect_room);
                let Some(key) = arena.insert(value) else {
                    prop_assert!(!expect_room, "refused with room");
                    return Ok(());
                };
                prop_assert!(expect_room, "accepted when full");
                prop_assert!(!model.issued.contains(&key), "key {:?} re-issued", key);
                let index = key.0 as usize;
                let any_reusable = (0..model.entries.len()).any(|i| model.reusable(i));
                if index < model.entries.len() {
                    prop_assert!(model.reusable(index), "index {} collides", index);
                } else {
                    prop_assert_eq!(index, model.entries.len(), "skipped an index");
                    prop_assert!(!any_reusable, "grew while a freed index was free");
                    prop_assert_eq!(key.1, Tiny::FIRST);
                    model.entries.push(None);
                    model.retired.push(false);
                }
                model.entries[index] = Some((key, value));
                model.issued.push(key);
            }
            Step::Remove(i) => {
                let Some(key) = pick(i) else {
                    return Ok(());
                };
                let index = key.0 as usize;
                let expected = match model.entries.get(index) {
                    Some(&Some((live, value))) if live == key => Some(value),
                    _ => None,
                };
                prop_assert_eq!(arena.remove(key), expected);
                if expected.is_some() {
                    model.free(index, key);
                }
            }
            Step::RemoveAt(index) => {
                let expected = model.entries.get(index as usize).copied().flatten();
                prop_assert_eq!(arena.remove_at(index), expected.map(|(_, value)| value));
                if let Some((key, _)) = expected {
                    model.free(index as usize, key);
                }
            }
            Step::Get(i) => {
                let Some(key) = pick(i) else {
                    return Ok(());
                };
                let expected = match model.entries.get(key.0 as usize) {
                    Some(&Some((live, value))) if live == key => Some(value),
                    _ => None,
                };
                prop_assert_eq!(arena.get(key).copied(), expected);
                prop_assert_eq!(arena.get_mut(key).map(|v| *v), expected);
            }
            Step::GetAt(index) => {
                let expected = model.entries.get(index as usize).copied().flatten();
                prop_assert_eq!(
                    arena.get_at_mut(index).map(|v| *v),
                    expected.map(|(_, v)| v)
                );
                prop_assert_eq!(arena.key_at(index), expected.map(|(key, _)| key));
            }
        }
        prop_assert_eq!(arena.live_count(), model.live());
        let listed: Vec<(TinyKey, u32)> = arena.iter().map(|(key, &v)| (key, v)).collect();
        let expected: Vec<(TinyKey, u32)> = model.entries.iter().flatten().copied().collect();
        prop_assert_eq!(listed, expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn the_arena_matches_a_vec_of_options(
            capacity in 0u32..6,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let mut arena: Arena<u32, TinyKey> = Arena::new(capacity).unwrap();
            let mut model = Model {
                capacity,
                entries: Vec::new(),
                retired: Vec::new(),
                issued: Vec::new(),
                next_value: 0,
            };
            for step in steps {
                check_step(&mut arena, &mut model, step)?;
            }
        }
    }
}
