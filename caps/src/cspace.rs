//! CSpaces: one bounded slot array per task, and the table of all of them.
//!
//! A slot holds the index of a capability node (see `derivation.rs`) and a
//! generation. Lookup is two bounds-checked indexings plus two generation
//! compares: no hashing, no search. Freed slots go on an intrusive free list
//! and are reused with their generation bumped, so old refs go stale; a slot
//! whose generation would wrap is retired instead, trading one slot of
//! capacity every 2^32 reuses for never resolving a stale ref. Each slot
//! array is reserved once at creation, so no operation after that allocates.
//! Both the slot array and the table of CSpaces are an `Arena` (`arena.rs`).

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::arena::{Arena, Key};
use crate::cap::Cap;
use crate::cap_ref::CapRef;
use crate::error::CapError;
use crate::object::TaskId;

/// Names one CSpace in a [`crate::CapSystem`]: table index plus generation,
/// stale once the CSpace is destroyed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct CSpaceId {
    index: u32,
    generation: u32,
}

impl CSpaceId {
    /// The ABI form: generation in the high 32 bits, index in the low 32.
    pub const fn to_raw(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }

    /// Rebuilds an id from its ABI form; a bogus value fails every operation
    /// with `InvalidCSpace`.
    pub const fn from_raw(raw: u64) -> Self {
        Self {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }

    pub(crate) const fn index(self) -> u32 {
        self.index
    }
}

impl fmt::Display for CSpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cspace {}#{}", self.index, self.generation)
    }
}

impl Key for CSpaceId {
    type Generation = u32;

    #[inline]
    fn join(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    #[inline]
    fn split(self) -> (u32, u32) {
        (self.index, self.generation)
    }
}

/// An occupied slot. `cap` duplicates the node's (immutable) capability so
/// that lookup reads one slot and never touches the node arena.
#[derive(Clone, Copy, Debug)]
struct Slot {
    node: u32,
    cap: Cap,
}

/// One task's capability slots.
#[derive(Debug)]
pub(crate) struct CSpace {
    owner: TaskId,
    slots: Arena<Slot, CapRef>,
    /// The system's withdrawal count when a Region capability last left
    /// this CSpace, or when it was made (`CapSystem::regions_withdrawn`).
    pub(crate) regions_withdrawn: u64,
}

impl CSpace {
    fn new(owner: TaskId, capacity: u32, stamp: u64) -> Result<Self, CapError> {
        Ok(Self {
            owner,
            slots: Arena::new(capacity)?,
            regions_withdrawn: stamp,
        })
    }

    pub(crate) fn owner(&self) -> TaskId {
        self.owner
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.slots.capacity()
    }

    #[inline]
    pub(crate) fn live(&self) -> u32 {
        self.slots.live_count()
    }

    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.slots.has_room()
    }

    /// The node in the slot `cap` names, if the slot is occupied and its
    /// generation matches.
    #[inline]
    pub(crate) fn get(&self, cap: CapRef) -> Option<u32> {
        self.slots.get(cap).map(|slot| slot.node)
    }

    /// The capability in the slot `cap` names: the lookup fast path.
    #[inline]
    pub(crate) fn get_cap(&self, cap: CapRef) -> Option<Cap> {
        self.slots.get(cap).map(|slot| slot.cap)
    }

    /// The ref that currently names the occupied slot `index`.
    pub(crate) fn ref_at(&self, index: u32) -> Option<CapRef> {
        self.slots.key_at(index)
    }

    /// Puts `node` in a free slot; `None` when the CSpace is full.
    #[inline(always)]
    pub(crate) fn insert(&mut self, node: u32, cap: Cap) -> Option<CapRef> {
        self.slots.insert(Slot { node, cap })
    }

    /// Empties slot `index`, bumping its generation (or retiring it when the
    /// generation would wrap). Returns the node it held.
    #[inline(always)]
    pub(crate) fn remove(&mut self, index: u32) -> Option<u32> {
        self.slots.remove_at(index).map(|slot| slot.node)
    }

    /// Every occupied slot as (ref, node), in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (CapRef, u32)> + '_ {
        self.slots
            .iter()
            .map(|(cap_ref, slot)| (cap_ref, slot.node))
    }

    #[cfg(test)]
    pub(crate) fn force_generation(&mut self, index: u32, generation: u32) {
        self.slots.set_generation(index, generation);
    }
}

/// Every task's CSpace, addressed by `CSpaceId`.
pub(crate) type CSpaceTable = Arena<CSpace, CSpaceId>;

impl Arena<CSpace, CSpaceId> {
    /// Creates an empty CSpace of `slots` slots for `owner`.
    ///
    /// Errors, in order: `TooManyCSpaces`; `OutOfMemory` if the slot array
    /// cannot be reserved.
    pub(crate) fn create(
        &mut self,
        owner: TaskId,
        slots: u32,
        stamp: u64,
    ) -> Result<CSpaceId, CapError> {
        if !self.has_room() {
            return Err(CapError::TooManyCSpaces);
        }
        let space = CSpace::new(owner, slots, stamp)?;
        self.insert(space).ok_or(CapError::TooManyCSpaces)
    }
}
