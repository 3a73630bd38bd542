//! `CapSystem`: every CSpace, every object and the derivation tree in one
//! value the kernel embeds, and the operations that create, use and derive
//! capabilities. Deletion (drop, revoke, destroy) lives in `revoke.rs`.
//!
//! Every operation checks all its error cases, in the documented order,
//! before it changes anything, so a failed operation has no effect. Tables
//! are reserved once in [`CapSystem::new`] and [`CapSystem::create_cspace`];
//! no other operation allocates. Lookup is the hot path: three indexings
//! (CSpace, slot, node), two generation compares and a rights test.

use crate::NONE;
use crate::cap::{Badge, Cap};
use crate::cap_ref::CapRef;
use crate::cspace::{CSpaceId, CSpaceTable};
use crate::derivation::{Node, NodeArena};
use crate::error::CapError;
use crate::object::{Object, ObjectId, ObjectKind, ObjectTable, TaskId};
use crate::rights::Rights;

/// The bounds of a [`CapSystem`]. Exceeding one is an error value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// How many CSpaces (tasks) may exist at once.
    pub max_cspaces: u32,
    /// The largest CSpace `create_cspace` accepts, in slots.
    pub max_cspace_slots: u32,
    /// How many objects may exist at once.
    pub max_objects: u32,
    /// How many capabilities may exist at once, across all CSpaces.
    pub max_caps: u32,
}

impl Default for Limits {
    /// Sized for the phase-1 kernel: a few hundred tasks, ~4 MiB of tables.
    fn default() -> Self {
        Self {
            max_cspaces: 256,
            max_cspace_slots: 4096,
            max_objects: 16 * 1024,
            max_caps: 64 * 1024,
        }
    }
}

/// How many of each bounded resource are in use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Usage {
    pub cspaces: u32,
    pub objects: u32,
    pub caps: u32,
}

/// An object whose last capability was just deleted: the capability model has
/// forgotten it, and the kernel should release whatever backs it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FreedObject {
    pub id: ObjectId,
    pub object: Object,
}

/// Every CSpace, every object and the derivation tree. See the crate docs.
#[derive(Debug)]
pub struct CapSystem {
    pub(crate) cspaces: CSpaceTable,
    pub(crate) objects: ObjectTable,
    pub(crate) nodes: NodeArena,
    limits: Limits,
    /// See [`CapSystem::regions_withdrawn`].
    pub(crate) regions_withdrawn: u64,
}

/// `Ok` when `held` covers `required`, else `MissingRights` with the gap.
#[inline]
pub(crate) fn require(held: Rights, required: Rights) -> Result<(), CapError> {
    let missing = required.difference(held);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CapError::MissingRights { missing })
    }
}

impl CapSystem {
    /// An empty system with room for `limits`. Reserves the CSpace, object
    /// and node tables up front (about 56 bytes per capability).
    ///
    /// Errors: `OutOfMemory` if the heap cannot provide the tables.
    pub fn new(limits: Limits) -> Result<Self, CapError> {
        Ok(Self {
            cspaces: CSpaceTable::new(limits.max_cspaces)?,
            objects: ObjectTable::new(limits.max_objects)?,
            nodes: NodeArena::new(limits.max_caps.min(NONE - 1))?,
            limits,
            regions_withdrawn: 0,
        })
    }

    /// How many times a Region capability has left a CSpace: deleted
    /// (dropped, revoked, consumed with its task) or moved (to another
    /// CSpace, or to another slot, which makes its old ref stale), plus
    /// one per CSpace made. It wraps, and is only ever compared for
    /// equality.
    pub fn regions_withdrawn(&self) -> u64 {
        self.regions_withdrawn
    }

    /// A number that changes whenever a Region capability leaves `cspace`
    /// (as counted by [`regions_withdrawn`](Self::regions_withdrawn)),
    /// and only then; `None` if `cspace` is gone. A holder of a cached
    /// view of the Region capabilities in one CSpace (the kernel's
    /// mappings of a ring-3 task's Regions) checks them again only when
    /// this changed: one compare instead of one lookup per Region, and
    /// what other tasks drop does not count. Values are never reused by
    /// another CSpace.
    pub fn regions_withdrawn_from(&self, cspace: CSpaceId) -> Option<u64> {
        self.cspaces
            .get(cspace)
            .map(|space| space.regions_withdrawn)
    }

    /// Counts a Region capability leaving the CSpace at index `space`.
    pub(crate) fn region_left(&mut self, space: u32) {
        self.regions_withdrawn = self.regions_withdrawn.wrapping_add(1);
        if let Some(space) = self.cspaces.get_at_mut(space) {
            space.regions_withdrawn = self.regions_withdrawn;
        }
    }

    /// The limits this system was created with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How many CSpaces, objects and capabilities exist now.
    pub fn usage(&self) -> Usage {
        Usage {
            cspaces: self.cspaces.live_count(),
            objects: self.objects.live_count(),
            caps: self.nodes.live_count(),
        }
    }

    /// Creates an empty CSpace of `slots` slots for `owner`.
    ///
    /// Errors, in order: `InvalidCapacity` if `slots` is 0 or above
    /// `max_cspace_slots`; `TooManyCSpaces` if the table is full;
    /// `OutOfMemory` if the slot array cannot be reserved.
    pub fn create_cspace(&mut self, owner: TaskId, slots: u32) -> Result<CSpaceId, CapError> {
        if slots == 0 || slots > self.limits.max_cspace_slots {
            return Err(CapError::InvalidCapacity);
        }
        // A fresh stamp: a new CSpace in a reused slot never matches what
        // a holder saw of the old one.
        self.regions_withdrawn = self.regions_withdrawn.wrapping_add(1);
        self.cspaces.create(owner, slots, self.regions_withdrawn)
    }

    /// How many capabilities `cspace` holds, if it is live. O(1): the
    /// kernel checks it on every call (a Reply needs a free slot).
    #[inline]
    pub fn cspace_used(&self, cspace: CSpaceId) -> Option<u32> {
        self.cspaces.get(cspace).map(|space| space.live())
    }

    /// The task that owns `cspace`, if it is live.
    pub fn cspace_owner(&self, cspace: CSpaceId) -> Option<TaskId> {
        self.cspaces.get(cspace).map(|space| space.owner())
    }

    /// Registers a new object and places its original capability, with
    /// [`Object::full_rights`] and no badge, in `dest`. The original has no
    /// parent: it is the root of the object's derivation tree.
    ///
    /// Errors, in order: `InvalidCSpace` (`dest` not live); `CSpaceFull`;
    /// `TooManyObjects`; `TooManyCapabilities`.
    pub fn create_object(&mut self, dest: CSpaceId, object: Object) -> Result<CapRef, CapError> {
        self.create(dest, object).map(|(cap_ref, _)| cap_ref)
    }

    /// `create_object`, also returning the new object's id.
    #[inline]
    pub(crate) fn create(
        &mut self,
        dest: CSpaceId,
        object: Object,
    ) -> Result<(CapRef, ObjectId), CapError> {
        self.check_room(dest)?;
        if !self.objects.has_room() {
            return Err(CapError::TooManyObjects);
        }
        if !self.nodes.has_room() {
            return Err(CapError::TooManyCapabilities);
        }
        let id = self.objects.register(object)?;
        let cap = Cap {
            object: id,
            rights: object.full_rights(),
            badge: None,
        };
        let (_, cap_ref) = self.place(dest, cap)?;
        Ok((cap_ref, id))
    }

    /// The descriptor of a live object.
    pub fn object(&self, id: ObjectId) -> Option<Object> {
        self.objects.get(id).map(|live| live.object)
    }

    /// Resolves `cap` in `cspace` for a use that needs `required`.
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef` (out of range, empty
    /// slot or stale generation); `MissingRights { missing }` with the
    /// required rights the capability lacks. O(1), no allocation.
    #[inline]
    pub fn lookup(&self, cspace: CSpaceId, cap: CapRef, required: Rights) -> Result<Cap, CapError> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        let found = space.get_cap(cap).ok_or(CapError::InvalidRef)?;
        require(found.rights, required)?;
        Ok(found)
    }

    /// Like [`CapSystem::lookup`], also returning the object's descriptor.
    /// Same errors.
    #[inline]
    pub fn lookup_object(
        &self,
        cspace: CSpaceId,
        cap: CapRef,
        required: Rights,
    ) -> Result<(Cap, Object), CapError> {
        let found = self.lookup(cspace, cap, required)?;
        let live = self.objects.get(found.object).ok_or(CapError::InvalidRef)?;
        Ok((found, live.object))
    }

    /// Derives a new capability from `src` (in `cspace`) into `dest`, with
    /// `rights` and, if the source is unbadged, an optional `badge`. The new
    /// capability names the same object, carries `rights` and
    /// `badge.or(source badge)`, and becomes a child of `src` in the
    /// derivation tree. `dest` may equal `cspace`.
    ///
    /// Errors, in order: `InvalidCSpace` (`cspace`); `InvalidRef` (`src`);
    /// `InvalidCSpace` (`dest`); `MissingRights` if `src` lacks DERIVE, or
    /// lacks GRANT when `dest != cspace`; `RightsEscalation { excess }` if
    /// `rights` is not a subset of the source's; `AlreadyBadged` if `badge` is
    /// `Some` and the source is badged; `CSpaceFull` (`dest`);
    /// `TooManyCapabilities`.
    pub fn mint(
        &mut self,
        cspace: CSpaceId,
        src: CapRef,
        dest: CSpaceId,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, CapError> {
        self.derive(cspace, src, dest, Some(rights), badge)
    }

    /// Derives an identical capability (same rights and badge) from `src`
    /// into `dest`, as a child of `src`: mint with the source's rights and no
    /// new badge.
    ///
    /// Errors, in order: `InvalidCSpace` (`cspace`); `InvalidRef` (`src`);
    /// `InvalidCSpace` (`dest`); `MissingRights` if `src` lacks DERIVE, or
    /// lacks GRANT when `dest != cspace`; `CSpaceFull` (`dest`);
    /// `TooManyCapabilities`.
    pub fn copy(
        &mut self,
        cspace: CSpaceId,
        src: CapRef,
        dest: CSpaceId,
    ) -> Result<CapRef, CapError> {
        self.derive(cspace, src, dest, None, None)
    }

    /// Moves the capability `src` from `cspace` into a free slot of `dest`.
    /// It keeps its rights, badge, parent and children; `src` goes stale and
    /// the returned ref names it in `dest`. `dest` may equal `cspace` (the
    /// capability changes slot), which still needs a free slot.
    ///
    /// Errors, in order: `InvalidCSpace` (`cspace`); `InvalidRef` (`src`);
    /// `InvalidCSpace` (`dest`); `MissingRights` if `src` lacks GRANT;
    /// `CSpaceFull` (`dest`).
    pub fn move_cap(
        &mut self,
        cspace: CSpaceId,
        src: CapRef,
        dest: CSpaceId,
    ) -> Result<CapRef, CapError> {
        let rights = self.node_at(cspace, src)?.cap.rights;
        if self.cspaces.get(dest).is_none() {
            return Err(CapError::InvalidCSpace);
        }
        require(rights, Rights::GRANT)?;
        self.check_room(dest)?;
        let index = self
            .cspaces
            .get(cspace)
            .and_then(|space| space.get(src))
            .ok_or(CapError::InvalidRef)?;
        let held = self.nodes.get(index).ok_or(CapError::InvalidRef)?.cap;
        let dest_space = self.cspaces.get_mut(dest).ok_or(CapError::InvalidCSpace)?;
        let moved = dest_space.insert(index, held).ok_or(CapError::CSpaceFull)?;
        if let Some(space) = self.cspaces.get_mut(cspace) {
            space.remove(src.slot());
        }
        if self
            .object(held.object)
            .is_some_and(|o| o.kind() == ObjectKind::Region)
        {
            self.region_left(cspace.index());
        }
        if let Some(node) = self.nodes.get_mut(index) {
            node.cspace = dest.index();
            node.slot = moved.slot();
        }
        Ok(moved)
    }

    /// The capability `cap` was derived from, as (CSpace, ref), or `None`
    /// for a root (an original, or one whose ancestors were all deleted).
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef`.
    pub fn parent(
        &self,
        cspace: CSpaceId,
        cap: CapRef,
    ) -> Result<Option<(CSpaceId, CapRef)>, CapError> {
        let node = self.node_at(cspace, cap)?;
        Ok(self.location(node.parent))
    }

    /// Every capability in `cspace`, in slot order.
    ///
    /// Errors: `InvalidCSpace`.
    pub fn caps_of(
        &self,
        cspace: CSpaceId,
    ) -> Result<impl Iterator<Item = (CapRef, Cap)> + '_, CapError> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        Ok(space
            .iter()
            .filter_map(|(cap_ref, index)| Some((cap_ref, self.nodes.get(index)?.cap))))
    }

    /// The node `cap` names in `cspace`.
    #[inline]
    pub(crate) fn node_at(&self, cspace: CSpaceId, cap: CapRef) -> Result<&Node, CapError> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        let index = space.get(cap).ok_or(CapError::InvalidRef)?;
        self.nodes.get(index).ok_or(CapError::InvalidRef)
    }

    /// The node index `cap` names in `cspace`.
    pub(crate) fn index_at(&self, cspace: CSpaceId, cap: CapRef) -> Result<u32, CapError> {
        let space = self.cspaces.get(cspace).ok_or(CapError::InvalidCSpace)?;
        space.get(cap).ok_or(CapError::InvalidRef)
    }

    /// Where node `index` lives, as (CSpace, ref).
    pub(crate) fn location(&self, index: u32) -> Option<(CSpaceId, CapRef)> {
        let node = self.nodes.get(index)?;
        let id = self.cspaces.key_at(node.cspace)?;
        let cap_ref = self.cspaces.get(id)?.ref_at(node.slot)?;
        Some((id, cap_ref))
    }

    /// `InvalidCSpace` if `dest` is not live, `CSpaceFull` if it has no slot.
    pub(crate) fn check_room(&self, dest: CSpaceId) -> Result<(), CapError> {
        let space = self.cspaces.get(dest).ok_or(CapError::InvalidCSpace)?;
        if space.has_room() {
            Ok(())
        } else {
            Err(CapError::CSpaceFull)
        }
    }

    fn derive(
        &mut self,
        cspace: CSpaceId,
        src: CapRef,
        dest: CSpaceId,
        rights: Option<Rights>,
        badge: Option<Badge>,
    ) -> Result<CapRef, CapError> {
        let source = self.node_at(cspace, src)?.cap;
        if self.cspaces.get(dest).is_none() {
            return Err(CapError::InvalidCSpace);
        }
        let mut required = Rights::DERIVE;
        if dest != cspace {
            required |= Rights::GRANT;
        }
        require(source.rights, required)?;
        let rights = rights.unwrap_or(source.rights);
        let excess = rights.difference(source.rights);
        if !excess.is_empty() {
            return Err(CapError::RightsEscalation { excess });
        }
        if badge.is_some() && source.badge.is_some() {
            return Err(CapError::AlreadyBadged);
        }
        self.check_room(dest)?;
        let parent = self.index_at(cspace, src)?;
        let cap = Cap {
            object: source.object,
            rights,
            badge: badge.or(source.badge),
        };
        let (child, cap_ref) = self.place(dest, cap)?;
        self.nodes.link_child(parent, child);
        Ok(cap_ref)
    }

    /// Puts a new, parentless capability in `dest` and on its object's list.
    /// Errors: `InvalidCSpace`; `CSpaceFull`; `TooManyCapabilities`.
    pub(crate) fn place(&mut self, dest: CSpaceId, cap: Cap) -> Result<(u32, CapRef), CapError> {
        self.check_room(dest)?;
        let index = self
            .nodes
            .insert(Node::new(cap))
            .ok_or(CapError::TooManyCapabilities)?;
        let space = self.cspaces.get_mut(dest).ok_or(CapError::InvalidCSpace)?;
        let Some(cap_ref) = space.insert(index, cap) else {
            self.nodes.remove(index);
            return Err(CapError::CSpaceFull);
        };
        if let Some(node) = self.nodes.get_mut(index) {
            node.cspace = dest.index();
            node.slot = cap_ref.slot();
        }
        self.nodes.link_object(&mut self.objects, index);
        Ok((index, cap_ref))
    }
}
