//! Deletion: drop one capability, revoke a subtree, destroy an object, tear
//! down a CSpace.
//!
//! Deleting a capability never deletes its descendants: they are handed to
//! its parent (seL4's rule), so a revoke of any ancestor still reaches them.
//! Revoke walks the subtree depth-first through the intrusive links, deleting
//! leaves on the way back up: each node is entered once and deleted once, so
//! revoking N descendants is O(N) with no allocation and no recursion.
//! Destroy uses the object's own list of capabilities instead of the tree,
//! since it removes them all and no link between them needs repair.

use alloc::vec::Vec;

use crate::NONE;
use crate::cap_ref::CapRef;
use crate::cspace::CSpaceId;
use crate::error::CapError;
use crate::object::{ObjectId, ObjectKind};
use crate::system::{CapSystem, FreedObject};

impl CapSystem {
    /// Deletes the capability `cap` from `cspace`. Its children become
    /// children of its parent (or roots if it had none); its slot is freed and
    /// `cap` goes stale. Needs no rights. If it was the last capability to its
    /// object, the object is forgotten too and returned, so the kernel can
    /// release it.
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef`.
    pub fn drop_cap(
        &mut self,
        cspace: CSpaceId,
        cap: CapRef,
    ) -> Result<Option<FreedObject>, CapError> {
        let index = self.index_at(cspace, cap)?;
        Ok(self.delete_node(index))
    }

    /// Deletes every descendant of `cap`, in every CSpace, and keeps `cap`
    /// itself. Afterwards `cap` has no children; every deleted capability's
    /// ref is stale. The object survives (the source still names it). Needs
    /// no rights: holding a capability is the authority to revoke what was
    /// derived from it. Returns how many capabilities were deleted. O(that).
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef`.
    pub fn revoke(&mut self, cspace: CSpaceId, cap: CapRef) -> Result<usize, CapError> {
        self.revoke_with(cspace, cap, |_| {})
    }

    /// [`CapSystem::revoke`], passing every object whose last capability
    /// it deleted to `on_freed` (a derived Region, say), so the owner of
    /// what stands behind the object can release it.
    pub fn revoke_with(
        &mut self,
        cspace: CSpaceId,
        cap: CapRef,
        mut on_freed: impl FnMut(FreedObject),
    ) -> Result<usize, CapError> {
        let source = self.index_at(cspace, cap)?;
        let mut deleted = 0;
        let mut current = source;
        loop {
            let child = self.nodes.first_child(current);
            if child != NONE {
                current = child;
                continue;
            }
            if current == source {
                return Ok(deleted);
            }
            let parent = self.nodes.parent(current);
            // A leaf: nothing to re-parent. The source keeps its own object
            // alive; an object derived from it (a subregion) can go here.
            if let Some(freed) = self.delete_node(current) {
                on_freed(freed);
            }
            deleted += 1;
            current = parent;
            if current == NONE {
                // Unreachable while the tree is consistent; stop rather than loop.
                return Ok(deleted);
            }
        }
    }

    /// Invalidates every capability to `object`, in every CSpace, and forgets
    /// the object: `object` goes stale, and every ref to one of its
    /// capabilities fails lookup with `InvalidRef`. For when the thing behind
    /// it goes away, for example a task that dies. Returns how many
    /// capabilities were deleted. O(that).
    ///
    /// Errors: `InvalidObject` if `object` is not live.
    pub fn destroy(&mut self, object: ObjectId) -> Result<usize, CapError> {
        let live = self.objects.get(object).ok_or(CapError::InvalidObject)?;
        let mut index = live.first_cap;
        let mut deleted = 0;
        while index != NONE {
            let Some(node) = self.nodes.remove(index) else {
                break;
            };
            if let Some(space) = self.cspaces.get_at_mut(node.cspace) {
                space.remove(node.slot);
            }
            deleted += 1;
            index = node.object_next;
        }
        self.objects.remove(object);
        Ok(deleted)
    }

    /// Deletes every capability in `cspace`, as `drop_cap` would one by one
    /// (their children elsewhere are handed to their parents), then destroys
    /// the CSpace: `cspace` goes stale. Every object whose last capability
    /// was here is forgotten and passed to `on_freed`.
    ///
    /// Errors: `InvalidCSpace`.
    pub fn destroy_cspace(
        &mut self,
        cspace: CSpaceId,
        mut on_freed: impl FnMut(FreedObject),
    ) -> Result<usize, CapError> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        // Collected first because deleting mutates the slot array; this is a
        // teardown path, not a per-message one, so the allocation is fine.
        let nodes: Vec<u32> = space.iter().map(|(_, index)| index).collect();
        for &index in &nodes {
            if let Some(freed) = self.delete_node(index) {
                on_freed(freed);
            }
        }
        self.cspaces.remove(cspace);
        Ok(nodes.len())
    }

    /// Deletes node `index`: hands its children to its parent, unlinks it
    /// from its parent and its object, frees its slot and node, and forgets
    /// the object if this was its last capability.
    pub(crate) fn delete_node(&mut self, index: u32) -> Option<FreedObject> {
        self.nodes.reparent_children(index);
        self.nodes.unlink_from_parent(index);
        let (remaining, kind) = self.nodes.unlink_object(&mut self.objects, index);
        let node = self.nodes.remove(index)?;
        if kind == Some(ObjectKind::Region) {
            self.region_left(node.cspace);
        }
        if let Some(space) = self.cspaces.get_at_mut(node.cspace) {
            space.remove(node.slot);
        }
        if remaining == 0 {
            let id = node.cap.object;
            let object = self.objects.remove(id)?.object;
            return Some(FreedObject { id, object });
        }
        None
    }
}
