//! Creation, lookup, and the limits.

use super::{SMALL, endpoint, two_spaces};
use crate::{CSpaceId, CapError, CapRef, CapSystem, Limits, Object, Rights, TaskId};

#[test]
fn new_reports_out_of_memory_instead_of_panicking() {
    let huge = Limits {
        max_cspaces: 4,
        max_cspace_slots: 4,
        max_objects: 4,
        max_caps: u32::MAX,
    };
    assert_eq!(CapSystem::new(huge).err(), Some(CapError::OutOfMemory));
}

#[test]
fn create_cspace_checks_size_and_count() {
    let mut system = CapSystem::new(SMALL).unwrap();
    assert_eq!(
        system.create_cspace(TaskId(1), 0),
        Err(CapError::InvalidCapacity)
    );
    assert_eq!(
        system.create_cspace(TaskId(1), 9),
        Err(CapError::InvalidCapacity)
    );
    for task in 0..4 {
        system.create_cspace(TaskId(task), 8).unwrap();
    }
    assert_eq!(
        system.create_cspace(TaskId(5), 1),
        Err(CapError::TooManyCSpaces)
    );
    assert_eq!(system.usage().cspaces, 4);
}

#[test]
fn a_destroyed_cspace_id_goes_stale_and_its_index_is_reused_with_a_new_id() {
    let (mut system, a, _) = two_spaces();
    let cap = endpoint(&mut system, a);
    assert_eq!(system.destroy_cspace(a, |_| {}), Ok(1));
    assert_eq!(
        system.lookup(a, cap, Rights::empty()),
        Err(CapError::InvalidCSpace)
    );
    assert_eq!(system.cspace_owner(a), None);
    let again = system.create_cspace(TaskId(7), 2).unwrap();
    assert_ne!(again, a);
    assert_eq!(system.cspace_owner(again), Some(TaskId(7)));
    assert_eq!(
        system.lookup(again, cap, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.destroy_cspace(a, |_| {}),
        Err(CapError::InvalidCSpace)
    );
}

#[test]
fn create_object_gives_the_original_full_rights_and_no_parent() {
    let (mut system, a, _) = two_spaces();
    let region = Object::Region {
        base: 0x1000,
        len: 0x2000,
    };
    let cap = system.create_object(a, region).unwrap();
    let (found, object) = system.lookup_object(a, cap, Rights::all()).unwrap();
    assert_eq!(object, region);
    assert_eq!(found.rights, Rights::all());
    assert_eq!(found.badge, None);
    assert_eq!(system.object(found.object), Some(region));
    assert_eq!(system.parent(a, cap), Ok(None));
    let reply = system
        .create_object(a, Object::Reply { caller: TaskId(1) })
        .unwrap();
    let rights = system.lookup(a, reply, Rights::empty()).unwrap().rights;
    assert_eq!(rights, Rights::WRITE | Rights::GRANT);
}

#[test]
fn create_object_errors_in_order() {
    let (mut system, a, b) = two_spaces();
    let bogus = CSpaceId::from_raw(0xdead_0000_0003);
    assert_eq!(
        system.create_object(bogus, Object::Timer),
        Err(CapError::InvalidCSpace)
    );
    let tiny = system.create_cspace(TaskId(3), 1).unwrap();
    system.create_object(tiny, Object::Timer).unwrap();
    assert_eq!(
        system.create_object(tiny, Object::Timer),
        Err(CapError::CSpaceFull)
    );
    for _ in 0..7 {
        system.create_object(a, Object::Inspect).unwrap();
    }
    assert_eq!(
        system.create_object(b, Object::Inspect),
        Err(CapError::TooManyObjects)
    );
    assert_eq!(system.usage().objects, 8);
}

#[test]
fn too_many_capabilities_is_an_error() {
    let (mut system, a, b) = two_spaces();
    let c = system.create_cspace(TaskId(3), 8).unwrap();
    let root = endpoint(&mut system, a);
    for _ in 0..7 {
        system.copy(a, root, a).unwrap();
    }
    for _ in 0..8 {
        system.copy(a, root, b).unwrap();
    }
    assert_eq!(system.usage().caps, 16);
    assert_eq!(system.copy(a, root, c), Err(CapError::TooManyCapabilities));
    assert_eq!(
        system.create_object(c, Object::Timer),
        Err(CapError::TooManyCapabilities)
    );
}

#[test]
fn lookup_checks_cspace_ref_and_rights() {
    let (mut system, a, b) = two_spaces();
    let cap = endpoint(&mut system, a);
    assert!(system.lookup(a, cap, Rights::WRITE | Rights::GRANT).is_ok());
    assert_eq!(
        system.lookup(a, cap, Rights::READ | Rights::WRITE),
        Err(CapError::MissingRights {
            missing: Rights::READ
        })
    );
    // Meaningless in another CSpace, out of range, or forged.
    assert_eq!(
        system.lookup(b, cap, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    let out_of_range = CapRef::from_raw(100);
    assert_eq!(
        system.lookup(a, out_of_range, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    let forged = CapRef::from_raw(cap.to_raw() + (1 << 32));
    assert_eq!(
        system.lookup(a, forged, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    let bogus = CSpaceId::from_raw(a.to_raw() + (1 << 32));
    assert_eq!(
        system.lookup(bogus, cap, Rights::empty()),
        Err(CapError::InvalidCSpace)
    );
}

#[test]
fn a_freed_slot_is_reused_with_a_new_generation() {
    let (mut system, a, _) = two_spaces();
    let first = endpoint(&mut system, a);
    system.drop_cap(a, first).unwrap();
    let second = endpoint(&mut system, a);
    assert_ne!(first, second);
    assert_eq!(first.to_raw() as u32, second.to_raw() as u32, "same slot");
    assert_eq!(
        system.lookup(a, first, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert!(system.lookup(a, second, Rights::empty()).is_ok());
}

#[test]
fn a_slot_whose_generation_would_wrap_is_retired() {
    let mut system = CapSystem::new(SMALL).unwrap();
    let a = system.create_cspace(TaskId(1), 2).unwrap();
    let first = endpoint(&mut system, a);
    let worn = CapRef::new(first.slot(), u32::MAX);
    if let Some(space) = system.cspaces.get_mut(a) {
        space.force_generation(first.slot(), u32::MAX);
    }
    system.drop_cap(a, worn).unwrap();
    let next = endpoint(&mut system, a);
    assert_ne!(next.slot(), first.slot(), "retired slot must not be reused");
    assert_eq!(
        system.create_object(a, Object::Timer),
        Err(CapError::CSpaceFull)
    );
    assert_eq!(
        system.lookup(a, worn, Rights::empty()),
        Err(CapError::InvalidRef)
    );
}

#[test]
fn caps_of_lists_a_cspace_in_slot_order() {
    let (mut system, a, b) = two_spaces();
    let one = endpoint(&mut system, a);
    let two = system.create_object(a, Object::Irq { line: 4 }).unwrap();
    let listed: std::vec::Vec<CapRef> = system.caps_of(a).unwrap().map(|(r, _)| r).collect();
    assert_eq!(listed, [one, two]);
    assert_eq!(system.caps_of(b).unwrap().count(), 0);
    assert!(system.caps_of(CSpaceId::from_raw(u64::MAX)).is_err());
}

#[test]
fn errors_display_one_line() {
    let error = CapError::MissingRights {
        missing: Rights::GRANT,
    };
    assert_eq!(std::format!("{error}"), "capability lacks rights ----g-");
}

#[test]
fn cspace_used_counts_live_capabilities() {
    let (mut system, a, _) = two_spaces();
    assert_eq!(system.cspace_used(a), Some(0));
    let cap = system
        .create_object(a, Object::Endpoint { task: TaskId(1) })
        .unwrap();
    system.copy(a, cap, a).unwrap();
    assert_eq!(system.cspace_used(a), Some(2));
    system.drop_cap(a, cap).unwrap();
    assert_eq!(system.cspace_used(a), Some(1));
    system.destroy_cspace(a, |_| {}).unwrap();
    assert_eq!(system.cspace_used(a), None, "a dead CSpace");
}
