//! One-shot reply capabilities as capability-table objects.
//!
//! The kernel no longer uses these for `call`: it keeps each call's Reply
//! in the callee's reply table (`kernel/src/sched/reply.rs`), which costs a
//! fraction of an object, a node and a slot per call. They stay part of
//! the model (and of its proptest), for a holder that wants a Reply in the
//! derivation tree.
//!
//! A `call` gives the callee a capability to a fresh Reply object
//! (`create_reply`). Replying consumes it: `take_reply` checks and deletes
//! the capability and forgets the object in one step, so a second reply
//! through the same ref fails with `InvalidRef`. `take_reply_if` is the
//! same with a caller-supplied last check between the two (the kernel's
//! "can the caller take the answer"), so a reply needs one lookup. A Reply is never created
//! with DERIVE, and rights only shrink, so there is never a second
//! capability to the same Reply.
//!
//! Both run once per call, so both are written out for that one shape (a
//! new object with exactly one, parentless, childless capability) instead
//! of going through the general create and destroy paths; the result, the
//! errors and their order are exactly those of `create_object` and of
//! `lookup` + `destroy`. `create_reply` reads the slot and node index the
//! inserts will take before inserting, so the slot, the node and the object
//! entry are each written once, complete; both are `inline(always)` with
//! the table inserts and removes they use, since on the IPC path the call
//! overhead was a good part of their cost (`tests/create.rs` checks the
//! tables stay consistent on fresh and reused entries, and that every
//! error leaves nothing behind).

use crate::cap::Cap;
use crate::cap_ref::CapRef;
use crate::cspace::CSpaceId;
use crate::derivation::Node;
use crate::error::CapError;
use crate::object::{Object, ObjectId, TaskId};
use crate::rights::Rights;
use crate::system::{CapSystem, require};

/// Where a consumed reply goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReplyTarget {
    /// The Reply object, now forgotten.
    pub object: ObjectId,
    /// The task whose `call` this answers.
    pub caller: TaskId,
}

impl CapSystem {
    /// Creates a Reply object answering `caller` and places its only
    /// capability (WRITE and GRANT, never DERIVE) in `dest`: what a `call`
    /// gives the callee. Returns the ref and the object's id (the call's
    /// identity until the reply is consumed).
    ///
    /// Errors, in order: those of [`CapSystem::create_object`].
    #[inline(always)]
    pub fn create_reply(
        &mut self,
        dest: CSpaceId,
        caller: TaskId,
    ) -> Result<(CapRef, ObjectId), CapError> {
        // Each table is written once: the slot and the node index the
        // inserts will take are read first (`next_slot`, `next_index`), so
        // the node is built complete and the object knows its one
        // capability from the start.
        let space = self.cspaces.get_mut(dest).ok_or(CapError::InvalidCSpace)?;
        let slot = space.next_slot().ok_or(CapError::CSpaceFull)?;
        if !self.objects.has_room() {
            return Err(CapError::TooManyObjects);
        }
        let index = self
            .nodes
            .next_index()
            .ok_or(CapError::TooManyCapabilities)?;
        let object = Object::Reply { caller };
        let id = self.objects.insert_with_cap(object, index)?;
        let cap = Cap {
            object: id,
            rights: object.full_rights(),
            badge: None,
        };
        let mut node = Node::new(cap);
        node.cspace = dest.index();
        node.slot = slot;
        let placed = self.nodes.insert(node);
        let cap_ref = space.insert(index, cap);
        match (placed, cap_ref) {
            (Some(placed), Some(cap_ref)) if placed == index && cap_ref.slot() == slot => {
                Ok((cap_ref, id))
            }
            // Unreachable: both indices were read from the same free lists
            // just above. Undo whatever happened rather than leave a half
            // capability.
            (placed, cap_ref) => {
                if let Some(cap_ref) = cap_ref {
                    space.remove(cap_ref.slot());
                }
                if let Some(placed) = placed {
                    self.nodes.remove(placed);
                }
                self.objects.remove(id);
                Err(CapError::CSpaceFull)
            }
        }
    }

    /// Consumes the Reply capability `cap`: on success the capability is
    /// deleted, its ref is stale and the Reply object is forgotten (together
    /// with any other capability to it), and the kernel delivers the answer
    /// to the returned caller.
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef`; `WrongKind` if `cap`
    /// does not name a Reply; `MissingRights` if it lacks WRITE.
    #[inline]
    pub fn take_reply(&mut self, cspace: CSpaceId, cap: CapRef) -> Result<ReplyTarget, CapError> {
        self.take_reply_if(cspace, cap, |_| Ok(()))
            .map(|(target, ())| target)
    }

    /// [`CapSystem::take_reply`] with a last check: once `cap` is known to
    /// be a usable Reply, `ready(caller)` runs, and only if it succeeds is
    /// the Reply consumed (its value is returned with the target). So the
    /// kernel resolves the Reply once per answer, checks that the caller
    /// can take the answer, and consumes it, all in one lookup.
    ///
    /// Errors, in order: those of `take_reply` (as `E`), then `ready`'s;
    /// on any error nothing changed.
    #[inline(always)]
    pub fn take_reply_if<T, E: From<CapError>>(
        &mut self,
        cspace: CSpaceId,
        cap: CapRef,
        ready: impl FnOnce(TaskId) -> Result<T, E>,
    ) -> Result<(ReplyTarget, T), E> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        let (index, found) = space.get_entry(cap).ok_or(CapError::InvalidRef)?;
        let live = self.objects.get(found.object).ok_or(CapError::InvalidRef)?;
        let Object::Reply { caller } = live.object else {
            return Err(CapError::WrongKind {
                found: live.object.kind(),
            }
            .into());
        };
        require(found.rights, Rights::WRITE)?;
        let only = live.cap_count == 1;
        let value = ready(caller)?;
        if only {
            // The only capability to the object, so it has no parent and no
            // children (derivation links only capabilities to one object):
            // deleting it is freeing its node and slot, then the object.
            self.nodes.remove(index);
            if let Some(space) = self.cspaces.get_mut(cspace) {
                space.remove(cap.slot());
            }
            self.objects.remove(found.object);
        } else {
            self.destroy(found.object)?;
        }
        Ok((
            ReplyTarget {
                object: found.object,
                caller,
            },
            value,
        ))
    }
}
