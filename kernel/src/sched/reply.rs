//! Reply capabilities: the one-shot right to answer one `call`, kept in a
//! small table of the callee's task record instead of the capability
//! tables.
//!
//! A call gives the callee a [`CapRef`] into its own [`ReplyTable`]: the
//! slot index with [`REPLY_SLOT`] set, and the entry's generation. Like
//! every `CapRef` it means something only to its holder, is checked on
//! every use and goes stale when the entry is freed (the generation is
//! bumped; an entry whose generation would wrap is retired). So a reply
//! ref is unforgeable, stale-proof and one-shot exactly as a
//! capability-table Reply was: `take` frees the entry, so a second reply
//! through the same ref fails with `InvalidCap`. The entry records the
//! caller and the call's token (a kernel-wide counter, so unique for
//! ever), which is all an answer needs.
//!
//! The trade-off, and why: a Reply used to be a capability-table object
//! (slot, derivation node and object entry, created and destroyed once per
//! call), about 130 instructions of every round trip. An entry here is
//! written once and freed once, in a table the kernel already holds when it
//! resolves the callee. The price is that the operations that take any
//! capability learn this second kind of ref (`sched/context.rs`: drop
//! fails the call with `Dropped`, copy and mint refuse it with
//! `MissingRights`, revoke finds nothing derived from it, other uses are
//! `WrongKind`; `ipc.rs` moves it in a message like any capability with
//! GRANT), and that replies waiting for an answer are not part of the
//! capability graph (`caps` and `graph` do not list them). They still
//! count against the callee's CSpace slots, so a CSpace's bound covers
//! them as it did; and a dying callee fails every entry (`PeerDied`).

use alloc::vec::Vec;

use mealy_caps::{CapRef, TaskId};
use mealy_protocol::{CallToken, IpcError};

/// Set in the slot half of every reply ref, which a CSpace slot never has
/// (CSpaces are far smaller than 2^31 slots).
pub(crate) const REPLY_SLOT: u32 = 1 << 31;

/// A free entry's next free entry when there is none.
const NO_ENTRY: u32 = u32::MAX;

/// One outstanding answer: who called, and the token the answer carries.
#[derive(Clone, Copy, Debug)]
struct Entry {
    generation: u32,
    /// The caller; `None` while the entry is free.
    caller: Option<TaskId>,
    /// The next free entry while this one is free.
    next_free: u32,
    token: CallToken,
}

/// What a reply ref names: the caller to answer and the call's token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PendingReply {
    pub(crate) caller: TaskId,
    pub(crate) token: CallToken,
}

/// One task's outstanding replies.
#[derive(Debug)]
pub(crate) struct ReplyTable {
    entries: Vec<Entry>,
    free_head: u32,
    live: u32,
}

/// Whether `cap` is shaped like a reply ref (it may still be stale).
#[inline(always)]
pub(crate) fn is_reply_ref(cap: CapRef) -> bool {
    cap.to_raw() as u32 & REPLY_SLOT != 0
}

#[inline(always)]
fn reply_ref(index: u32, generation: u32) -> CapRef {
    CapRef::from_raw((u64::from(generation) << 32) | u64::from(index | REPLY_SLOT))
}

impl ReplyTable {
    /// An empty table with room for `reserve` entries before it grows.
    ///
    /// Errors: `OutOfResources` if the heap cannot hold them.
    pub(crate) fn new(reserve: usize) -> Result<Self, IpcError> {
        let mut entries = Vec::new();
        entries
            .try_reserve(reserve)
            .map_err(|_| IpcError::OutOfResources)?;
        Ok(Self {
            entries,
            free_head: NO_ENTRY,
            live: 0,
        })
    }

    /// How many replies are outstanding.
    #[inline(always)]
    pub(crate) fn live(&self) -> u32 {
        self.live
    }

    /// Records a call from `caller` answered with `token`; returns the ref
    /// the callee answers through. Reuses a freed entry if there is one,
    /// otherwise grows the table (fallibly: `OutOfResources`).
    #[inline(always)]
    pub(crate) fn insert(&mut self, caller: TaskId, token: CallToken) -> Result<CapRef, IpcError> {
        if let Some(entry) = self.entries.get_mut(self.free_head as usize) {
            let index = self.free_head;
            self.free_head = entry.next_free;
            entry.caller = Some(caller);
            entry.token = token;
            self.live += 1;
            return Ok(reply_ref(index, entry.generation));
        }
        self.grow(caller, token)
    }

    /// `insert` with no free entry: a new one at the end.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, caller: TaskId, token: CallToken) -> Result<CapRef, IpcError> {
        let index = self.entries.len() as u32;
        if index >= REPLY_SLOT - 1 {
            return Err(IpcError::OutOfResources);
        }
        self.entries
            .try_reserve(1)
            .map_err(|_| IpcError::OutOfResources)?;
        self.entries.push(Entry {
            generation: 0,
            caller: Some(caller),
            next_free: NO_ENTRY,
            token,
        });
        self.live += 1;
        Ok(reply_ref(index, 0))
    }

    /// What the live reply ref `cap` names; `None` if it is not a reply
    /// ref, or is stale, consumed or forged.
    #[inline(always)]
    pub(crate) fn get(&self, cap: CapRef) -> Option<PendingReply> {
        let raw = cap.to_raw();
        let slot = raw as u32;
        if slot & REPLY_SLOT == 0 {
            return None;
        }
        let entry = self.entries.get((slot & !REPLY_SLOT) as usize)?;
        if entry.generation != (raw >> 32) as u32 {
            return None;
        }
        Some(PendingReply {
            caller: entry.caller?,
            token: entry.token,
        })
    }

    /// Consumes the live reply ref `cap`: the entry is freed and `cap` is
    /// stale from now on. `None` (and nothing changed) if `cap` is not live.
    #[inline(always)]
    pub(crate) fn take(&mut self, cap: CapRef) -> Option<PendingReply> {
        let pending = self.get(cap)?;
        self.free(cap);
        Some(pending)
    }

    /// Frees the entry of `cap`, which [`ReplyTable::get`] has just found
    /// live (nothing changed since): the consuming half of `take`, for a
    /// caller that checks something between finding and consuming.
    #[inline(always)]
    pub(crate) fn free(&mut self, cap: CapRef) {
        let raw = cap.to_raw();
        let index = raw as u32 & !REPLY_SLOT;
        let Some(entry) = self.entries.get_mut(index as usize) else {
            return;
        };
        if entry.caller.is_none() || entry.generation != (raw >> 32) as u32 {
            return;
        }
        entry.caller = None;
        self.live -= 1;
        // A generation that would wrap retires the entry: never reused, so
        // no old ref can ever name it again.
        if let Some(next) = entry.generation.checked_add(1) {
            entry.generation = next;
            entry.next_free = self.free_head;
            self.free_head = index;
        }
    }

    /// Frees every entry, returning what each named (a dying callee: each
    /// caller is told its call failed).
    pub(crate) fn drain(&mut self) -> Vec<PendingReply> {
        let mut pending = Vec::new();
        let live: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&index| {
                self.entries
                    .get(index as usize)
                    .is_some_and(|entry| entry.caller.is_some())
            })
            .collect();
        for index in live {
            let generation = self.entries.get(index as usize).map_or(0, |e| e.generation);
            if let Some(taken) = self.take(reply_ref(index, generation)) {
                pending.push(taken);
            }
        }
        pending
    }

    /// Frees every entry whose caller is `caller` (a task that died: its
    /// slot may be reused, and no answer may reach the next task there).
    pub(crate) fn forget_caller(&mut self, caller: TaskId) {
        for index in 0..self.entries.len() as u32 {
            let Some(entry) = self.entries.get(index as usize) else {
                continue;
            };
            if entry.caller == Some(caller) {
                let generation = entry.generation;
                self.free(reply_ref(index, generation));
            }
        }
    }

    /// Every live reply ref with what it names, in slot order (for
    /// inspection and tests).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (CapRef, PendingReply)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let pending = PendingReply {
                    caller: entry.caller?,
                    token: entry.token,
                };
                Some((reply_ref(index as u32, entry.generation), pending))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_stale_and_forged_refs_fail() {
        let mut table = ReplyTable::new(2).unwrap();
        let first = table.insert(TaskId(3), CallToken(1)).unwrap();
        assert!(is_reply_ref(first));
        assert_eq!(
            table.get(first),
            Some(PendingReply {
                caller: TaskId(3),
                token: CallToken(1)
            })
        );
        assert_eq!(table.take(first).map(|p| p.token), Some(CallToken(1)));
        assert_eq!(table.take(first), None, "one shot");
        assert_eq!(table.get(first), None);
        // The entry is reused with a new generation: the old ref stays dead.
        let second = table.insert(TaskId(4), CallToken(2)).unwrap();
        assert_ne!(second, first);
        assert_eq!(table.get(first), None);
        assert_eq!(table.get(second).map(|p| p.caller), Some(TaskId(4)));
        // Forged: not a reply ref, an index past the end, a wrong generation.
        for forged in [
            CapRef::from_raw(0),
            CapRef::from_raw(u64::from(REPLY_SLOT | 9)),
            CapRef::from_raw(second.to_raw() ^ (1 << 40)),
        ] {
            assert_eq!(table.get(forged), None, "{forged:?}");
            assert_eq!(table.take(forged), None, "{forged:?}");
        }
        assert_eq!(table.live(), 1);
    }

    #[test]
    fn a_wrapping_generation_retires_the_entry() {
        let mut table = ReplyTable::new(1).unwrap();
        let cap = table.insert(TaskId(1), CallToken(1)).unwrap();
        if let Some(entry) = table.entries.get_mut(0) {
            entry.generation = u32::MAX;
        }
        let cap = CapRef::from_raw((u64::from(u32::MAX) << 32) | (cap.to_raw() & 0xffff_ffff));
        assert!(table.take(cap).is_some());
        let next = table.insert(TaskId(2), CallToken(2)).unwrap();
        assert_ne!(next.to_raw() as u32, cap.to_raw() as u32, "a fresh entry");
        assert_eq!(table.get(cap), None);
    }

    #[test]
    fn drain_frees_everything_once() {
        let mut table = ReplyTable::new(0).unwrap();
        let refs: Vec<CapRef> = (0..5)
            .map(|n| table.insert(TaskId(n), CallToken(u64::from(n))).unwrap())
            .collect();
        table.take(refs[2]).unwrap();
        let drained: Vec<u32> = table.drain().iter().map(|p| p.caller.0).collect();
        assert_eq!(drained, [0, 1, 3, 4]);
        assert_eq!(table.live(), 0);
        assert!(refs.iter().all(|r| table.get(*r).is_none()));
        assert_eq!(table.iter().count(), 0);
    }
}
