//! CSpaces: one bounded slot array per task, and the table of all of them.
//!
//! A slot holds the index of a capability node (see `derivation.rs`) and a
//! generation. Lookup is two bounds-checked indexings plus two generation
//! compares: no hashing, no search. Freed slots go on an intrusive free list
//! and are reused with their generation bumped, so old refs go stale; a slot
//! whose generation would wrap is retired instead, trading one slot of
//! capacity every 2^32 reuses for never resolving a stale ref. Each slot
//! array is reserved once at creation, so no operation after that allocates.

use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::NONE;
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

#[derive(Clone, Copy, Debug)]
enum SlotState {
    Free {
        next_free: u32,
    },
    /// `cap` duplicates the node's (immutable) capability so that lookup
    /// reads one slot and never touches the node arena.
    Occupied {
        node: u32,
        cap: Cap,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u32,
    state: SlotState,
}

/// One task's capability slots.
#[derive(Debug)]
pub(crate) struct CSpace {
    owner: TaskId,
    slots: Vec<Slot>,
    capacity: u32,
    free_head: u32,
    live: u32,
}

impl CSpace {
    fn new(owner: TaskId, capacity: u32) -> Result<Self, CapError> {
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity as usize)
            .map_err(|_| CapError::OutOfMemory)?;
        Ok(Self {
            owner,
            slots,
            capacity,
            free_head: NONE,
            live: 0,
        })
    }

    pub(crate) fn owner(&self) -> TaskId {
        self.owner
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    pub(crate) fn live(&self) -> u32 {
        self.live
    }

    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.free_head != NONE || (self.slots.len() as u32) < self.capacity
    }

    /// The node in the slot `cap` names, if the slot is occupied and its
    /// generation matches.
    #[inline]
    pub(crate) fn get(&self, cap: CapRef) -> Option<u32> {
        let slot = self.slots.get(cap.slot() as usize)?;
        match slot.state {
            SlotState::Occupied { node, .. } if slot.generation == cap.generation() => Some(node),
            _ => None,
        }
    }

    /// The capability in the slot `cap` names: the lookup fast path.
    #[inline]
    pub(crate) fn get_cap(&self, cap: CapRef) -> Option<Cap> {
        let slot = self.slots.get(cap.slot() as usize)?;
        match slot.state {
            SlotState::Occupied { cap: held, .. } if slot.generation == cap.generation() => {
                Some(held)
            }
            _ => None,
        }
    }

    /// The ref that currently names the occupied slot `index`.
    pub(crate) fn ref_at(&self, index: u32) -> Option<CapRef> {
        let slot = self.slots.get(index as usize)?;
        match slot.state {
            SlotState::Occupied { .. } => Some(CapRef::new(index, slot.generation)),
            SlotState::Free { .. } => None,
        }
    }

    /// Puts `node` in a free slot; `None` when the CSpace is full.
    #[inline(always)]
    pub(crate) fn insert(&mut self, node: u32, cap: Cap) -> Option<CapRef> {
        let index = if self.free_head != NONE {
            let index = self.free_head;
            let slot = self.slots.get_mut(index as usize)?;
            if let SlotState::Free { next_free } = slot.state {
                self.free_head = next_free;
            }
            slot.state = SlotState::Occupied { node, cap };
            index
        } else if (self.slots.len() as u32) < self.capacity {
            self.slots.push(Slot {
                generation: 0,
                state: SlotState::Occupied { node, cap },
            });
            self.slots.len() as u32 - 1
        } else {
            return None;
        };
        self.live += 1;
        let generation = self.slots.get(index as usize).map_or(0, |s| s.generation);
        Some(CapRef::new(index, generation))
    }

    /// Empties slot `index`, bumping its generation (or retiring it when the
    /// generation would wrap). Returns the node it held.
    #[inline(always)]
    pub(crate) fn remove(&mut self, index: u32) -> Option<u32> {
        let slot = self.slots.get_mut(index as usize)?;
        let SlotState::Occupied { node, .. } = slot.state else {
            return None;
        };
        self.live -= 1;
        match slot.generation.checked_add(1) {
            Some(next) => {
                slot.generation = next;
                slot.state = SlotState::Free {
                    next_free: self.free_head,
                };
                self.free_head = index;
            }
            None => slot.state = SlotState::Free { next_free: NONE },
        }
        Some(node)
    }

    /// Every occupied slot as (ref, node), in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (CapRef, u32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| match slot.state {
                SlotState::Occupied { node, .. } => {
                    Some((CapRef::new(index as u32, slot.generation), node))
                }
                SlotState::Free { .. } => None,
            })
    }

    #[cfg(test)]
    pub(crate) fn force_generation(&mut self, index: u32, generation: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.generation = generation;
        }
    }
}

#[derive(Debug)]
struct CSpaceEntry {
    generation: u32,
    space: Option<CSpace>,
    next_free: u32,
}

/// Every task's CSpace, addressed by `CSpaceId`.
#[derive(Debug)]
pub(crate) struct CSpaceTable {
    entries: Vec<CSpaceEntry>,
    capacity: u32,
    free_head: u32,
    live: u32,
}

impl CSpaceTable {
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

    pub(crate) fn live_count(&self) -> u32 {
        self.live
    }

    pub(crate) fn create(&mut self, owner: TaskId, slots: u32) -> Result<CSpaceId, CapError> {
        let index = if self.free_head != NONE {
            self.free_head
        } else if (self.entries.len() as u32) < self.capacity {
            self.entries.len() as u32
        } else {
            return Err(CapError::TooManyCSpaces);
        };
        let space = CSpace::new(owner, slots)?;
        if index == self.entries.len() as u32 {
            self.entries.push(CSpaceEntry {
                generation: 0,
                space: Some(space),
                next_free: NONE,
            });
        } else {
            let entry = self
                .entries
                .get_mut(index as usize)
                .ok_or(CapError::TooManyCSpaces)?;
            self.free_head = entry.next_free;
            entry.space = Some(space);
        }
        self.live += 1;
        let generation = self.entries.get(index as usize).map_or(0, |e| e.generation);
        Ok(CSpaceId { index, generation })
    }

    #[inline]
    pub(crate) fn get(&self, id: CSpaceId) -> Option<&CSpace> {
        let entry = self.entries.get(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.space.as_ref()
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, id: CSpaceId) -> Option<&mut CSpace> {
        let entry = self.entries.get_mut(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.space.as_mut()
    }

    /// The CSpace at `index`, whatever its generation: for following the
    /// back-pointers of capability nodes, which always name live CSpaces.
    pub(crate) fn by_index_mut(&mut self, index: u32) -> Option<&mut CSpace> {
        self.entries.get_mut(index as usize)?.space.as_mut()
    }

    /// The id of the live CSpace at `index`.
    pub(crate) fn id_at(&self, index: u32) -> Option<CSpaceId> {
        let entry = self.entries.get(index as usize)?;
        entry.space.as_ref().map(|_| CSpaceId {
            index,
            generation: entry.generation,
        })
    }

    /// Frees the entry (its slots must already be empty) so `id` goes stale.
    #[inline]
    pub(crate) fn remove(&mut self, id: CSpaceId) -> Option<CSpace> {
        let entry = self.entries.get_mut(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        let space = entry.space.take()?;
        self.live -= 1;
        if let Some(next) = entry.generation.checked_add(1) {
            entry.generation = next;
            entry.next_free = self.free_head;
            self.free_head = id.index;
        }
        Some(space)
    }

    /// Every live CSpace, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (CSpaceId, &CSpace)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let id = CSpaceId {
                    index: index as u32,
                    generation: entry.generation,
                };
                entry.space.as_ref().map(|space| (id, space))
            })
    }
}
