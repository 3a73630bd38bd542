//! Unit tests of the `CapSystem` operations: one test (at least) per
//! operation and per error case, grouped by concern. The model-based
//! proptest lives in `model/properties.rs`.

mod create;
mod delete;
mod derive;
mod graph;

use crate::{CSpaceId, CapRef, CapSystem, Limits, Object, TaskId};

pub(crate) const SMALL: Limits = Limits {
    max_cspaces: 4,
    max_cspace_slots: 8,
    max_objects: 8,
    max_caps: 16,
};

/// A system with two CSpaces (tasks 1 and 2) of 8 slots.
pub(crate) fn two_spaces() -> (CapSystem, CSpaceId, CSpaceId) {
    let mut system = CapSystem::new(SMALL).expect("small limits fit");
    let a = system.create_cspace(TaskId(1), 8).expect("room");
    let b = system.create_cspace(TaskId(2), 8).expect("room");
    (system, a, b)
}

pub(crate) fn endpoint(system: &mut CapSystem, space: CSpaceId) -> CapRef {
    system
        .create_object(space, Object::Endpoint { task: TaskId(9) })
        .expect("room")
}
