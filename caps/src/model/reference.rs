//! The reference model: the meaning of every operation, written as plainly
//! as possible, with no concern for speed.
//!
//! Capabilities are never removed from the model's list, only marked dead,
//! and each remembers the capability it was derived from at creation. A
//! capability's parent is then simply its nearest live ancestor, and revoke
//! kills every live capability with the source among its ancestors: two
//! one-line definitions that the real tree's re-parenting and O(N) walk must
//! agree with.

use alloc::vec::Vec;

use crate::{Badge, CSpaceId, CapError, CapRef, Object, ObjectId, Rights, TaskId};

pub(crate) struct ModelSpace {
    pub(crate) id: CSpaceId,
    pub(crate) capacity: u32,
    pub(crate) alive: bool,
}

#[derive(Clone, Copy)]
pub(crate) struct ModelCap {
    pub(crate) space: usize,
    pub(crate) at: CapRef,
    pub(crate) object: usize,
    pub(crate) rights: Rights,
    pub(crate) badge: Option<Badge>,
    pub(crate) derived_from: Option<usize>,
    pub(crate) alive: bool,
}

pub(crate) struct ModelObject {
    pub(crate) id: ObjectId,
    pub(crate) object: Object,
    pub(crate) alive: bool,
}

#[derive(Default)]
pub(crate) struct Model {
    pub(crate) spaces: Vec<ModelSpace>,
    pub(crate) caps: Vec<ModelCap>,
    pub(crate) objects: Vec<ModelObject>,
    /// Every (space, ref) ever handed out, live or stale.
    pub(crate) issued: Vec<(usize, CapRef)>,
}

impl Model {
    pub(crate) fn live_spaces(&self) -> usize {
        self.spaces.iter().filter(|s| s.alive).count()
    }

    pub(crate) fn live_caps(&self) -> usize {
        self.caps.iter().filter(|c| c.alive).count()
    }

    pub(crate) fn live_objects(&self) -> usize {
        self.objects.iter().filter(|o| o.alive).count()
    }

    pub(crate) fn caps_in(&self, space: usize) -> usize {
        self.caps
            .iter()
            .filter(|c| c.alive && c.space == space)
            .count()
    }

    pub(crate) fn space_alive(&self, space: usize) -> Result<(), CapError> {
        match self.spaces.get(space) {
            Some(s) if s.alive => Ok(()),
            _ => Err(CapError::InvalidCSpace),
        }
    }

    pub(crate) fn space_room(&self, space: usize) -> Result<(), CapError> {
        self.space_alive(space)?;
        let capacity = self.spaces.get(space).map_or(0, |s| s.capacity);
        if self.caps_in(space) as u32 >= capacity {
            return Err(CapError::CSpaceFull);
        }
        Ok(())
    }

    /// The live capability `at` names in `space`.
    pub(crate) fn resolve(&self, space: usize, at: CapRef) -> Result<usize, CapError> {
        self.space_alive(space)?;
        self.caps
            .iter()
            .position(|c| c.alive && c.space == space && c.at == at)
            .ok_or(CapError::InvalidRef)
    }

    pub(crate) fn cap(&self, index: usize) -> Option<&ModelCap> {
        self.caps.get(index)
    }

    /// The nearest live ancestor: what the real tree must call the parent.
    pub(crate) fn parent(&self, index: usize) -> Option<usize> {
        let mut ancestor = self.caps.get(index)?.derived_from;
        while let Some(a) = ancestor {
            let cap = self.caps.get(a)?;
            if cap.alive {
                return Some(a);
            }
            ancestor = cap.derived_from;
        }
        None
    }

    /// Whether `ancestor` is among the capabilities `index` was derived from.
    pub(crate) fn descends_from(&self, index: usize, ancestor: usize) -> bool {
        let mut current = self.caps.get(index).and_then(|c| c.derived_from);
        while let Some(a) = current {
            if a == ancestor {
                return true;
            }
            current = self.caps.get(a).and_then(|c| c.derived_from);
        }
        false
    }

    pub(crate) fn object_id(&self, object: usize) -> Option<ObjectId> {
        self.objects.get(object).map(|o| o.id)
    }

    /// Kills one capability; the object dies with its last capability.
    /// Returns the object if it died.
    pub(crate) fn kill(&mut self, index: usize) -> Option<usize> {
        let cap = self.caps.get_mut(index)?;
        cap.alive = false;
        let object = cap.object;
        if self.caps.iter().any(|c| c.alive && c.object == object) {
            return None;
        }
        let record = self.objects.get_mut(object)?;
        record.alive = false;
        Some(object)
    }

    pub(crate) fn add_space(&mut self, id: CSpaceId, capacity: u32) {
        self.spaces.push(ModelSpace {
            id,
            capacity,
            alive: true,
        });
    }

    pub(crate) fn add_cap(&mut self, cap: ModelCap) {
        self.issued.push((cap.space, cap.at));
        self.caps.push(cap);
    }

    pub(crate) fn owner_of(space: usize) -> TaskId {
        TaskId(space as u32)
    }
}
