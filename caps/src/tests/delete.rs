//! drop, revoke, destroy and CSpace teardown.

use std::vec::Vec;

use super::{endpoint, two_spaces};
use crate::{Badge, CSpaceId, CapError, CapRef, FreedObject, Object, Rights, TaskId};

#[test]
fn drop_hands_children_to_the_parent() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let middle = system.copy(a, root, b).unwrap();
    let leaf = system.copy(b, middle, a).unwrap();
    assert_eq!(system.drop_cap(b, middle), Ok(None));
    assert_eq!(
        system.lookup(b, middle, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert_eq!(system.parent(a, leaf), Ok(Some((a, root))));
    assert_eq!(
        system.revoke(a, root),
        Ok(1),
        "the re-parented leaf is still revocable"
    );
}

#[test]
fn dropping_the_last_capability_forgets_the_object() {
    let (mut system, a, _) = two_spaces();
    let timer = system.create_object(a, Object::Timer).unwrap();
    let copy = system.copy(a, timer, a).unwrap();
    let id = system.lookup(a, timer, Rights::empty()).unwrap().object;
    assert_eq!(system.drop_cap(a, timer), Ok(None));
    assert_eq!(system.parent(a, copy), Ok(None), "orphans become roots");
    assert_eq!(
        system.drop_cap(a, copy),
        Ok(Some(FreedObject {
            id,
            object: Object::Timer
        }))
    );
    assert_eq!(system.object(id), None);
    assert_eq!(system.usage().objects, 0);
}

#[test]
fn drop_errors() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    assert_eq!(
        system.drop_cap(a, CapRef::from_raw(3)),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.drop_cap(CSpaceId::from_raw(7), root),
        Err(CapError::InvalidCSpace)
    );
    system.drop_cap(a, root).unwrap();
    assert_eq!(
        system.drop_cap(a, root),
        Err(CapError::InvalidRef),
        "double drop"
    );
}

#[test]
fn revoke_deletes_every_descendant_everywhere_and_keeps_the_source() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let source = system.copy(a, root, a).unwrap();
    let mut doomed: Vec<(CSpaceId, CapRef)> = Vec::new();
    let child = system.copy(a, source, b).unwrap();
    doomed.push((b, child));
    let grandchild = system
        .mint(b, child, a, Rights::WRITE | Rights::GRANT, None)
        .unwrap();
    doomed.push((a, grandchild));
    doomed.push((b, system.move_cap(a, grandchild, b).unwrap()));
    doomed.push((a, system.copy(a, source, a).unwrap()));
    let sibling = system.copy(a, root, b).unwrap();
    assert_eq!(system.revoke(a, source), Ok(3));
    for (space, cap) in doomed {
        assert_eq!(
            system.lookup(space, cap, Rights::empty()),
            Err(CapError::InvalidRef)
        );
    }
    assert!(system.lookup(a, source, Rights::empty()).is_ok());
    assert!(system.lookup(b, sibling, Rights::empty()).is_ok());
    assert_eq!(system.revoke(a, source), Ok(0));
    system.check_invariants().unwrap();
}

#[test]
fn revoke_walks_a_deep_chain_without_recursion() {
    let mut system = crate::CapSystem::new(crate::Limits {
        max_caps: 20_000,
        max_cspace_slots: 20_000,
        ..crate::Limits::default()
    })
    .unwrap();
    let a = system.create_cspace(TaskId(1), 20_000).unwrap();
    let root = endpoint(&mut system, a);
    let mut tip = root;
    for _ in 0..10_000 {
        tip = system.copy(a, tip, a).unwrap();
    }
    assert_eq!(system.revoke(a, root), Ok(10_000));
    assert_eq!(system.usage().caps, 1);
}

#[test]
fn revoke_errors() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    assert_eq!(
        system.revoke(a, CapRef::from_raw(6)),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.revoke(CSpaceId::from_raw(6), root),
        Err(CapError::InvalidCSpace)
    );
}

#[test]
fn destroy_invalidates_every_capability_to_the_object() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let other = system
        .create_object(a, Object::Task { task: TaskId(2) })
        .unwrap();
    let copy = system.copy(a, root, b).unwrap();
    system.drop_cap(a, root).unwrap();
    let orphan_child = system.copy(b, copy, a).unwrap();
    let id = system.lookup(b, copy, Rights::empty()).unwrap().object;
    assert_eq!(system.destroy(id), Ok(2));
    assert_eq!(
        system.lookup(b, copy, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.lookup(a, orphan_child, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert!(system.lookup(a, other, Rights::empty()).is_ok());
    assert_eq!(system.destroy(id), Err(CapError::InvalidObject));
    system.check_invariants().unwrap();
}

#[test]
fn destroy_cspace_reports_objects_that_lost_their_last_capability() {
    let (mut system, a, b) = two_spaces();
    let shared = endpoint(&mut system, a);
    let kept_by_b = system.copy(a, shared, b).unwrap();
    let grandchild = system.copy(b, kept_by_b, b).unwrap();
    let private = system.create_object(a, Object::Irq { line: 1 }).unwrap();
    let private_id = system.lookup(a, private, Rights::empty()).unwrap().object;
    let mut freed = Vec::new();
    assert_eq!(system.destroy_cspace(a, |f| freed.push(f)), Ok(2));
    assert_eq!(
        freed,
        [FreedObject {
            id: private_id,
            object: Object::Irq { line: 1 }
        }]
    );
    assert_eq!(system.parent(b, kept_by_b), Ok(None));
    assert_eq!(system.parent(b, grandchild), Ok(Some((b, kept_by_b))));
    system.check_invariants().unwrap();
}

#[test]
fn a_reply_cannot_be_duplicated() {
    let (mut system, a, _) = two_spaces();
    let reply = system
        .create_object(a, Object::Reply { caller: TaskId(2) })
        .unwrap();
    let no_derive = Err(CapError::MissingRights {
        missing: Rights::DERIVE,
    });
    assert_eq!(system.copy(a, reply, a), no_derive);
    assert_eq!(system.mint(a, reply, a, Rights::WRITE, None), no_derive);
}

#[test]
fn regions_withdrawn_counts_region_capabilities_leaving_a_cspace_and_nothing_else() {
    let (mut system, a, b) = two_spaces();
    let region = system
        .create_object(
            a,
            Object::Region {
                base: 0x1000,
                len: 0x1000,
            },
        )
        .unwrap();
    let other = endpoint(&mut system, a);
    let start = system.regions_withdrawn();
    // Deriving, and anything done to other kinds, withdraws nothing.
    let child = system.copy(a, region, b).unwrap();
    let minted = system
        .mint(a, other, a, Rights::empty(), Badge::new(3))
        .unwrap();
    system.drop_cap(a, minted).unwrap();
    system.revoke(a, other).unwrap();
    let moved_endpoint = system.move_cap(a, other, b).unwrap();
    system.drop_cap(b, moved_endpoint).unwrap();
    assert_eq!(system.regions_withdrawn(), start);
    // A move makes the old ref stale: counted.
    let child = system.move_cap(b, child, a).unwrap();
    assert_eq!(system.regions_withdrawn(), start + 1);
    // A drop, and each capability a revoke deletes.
    let grandchild = system.copy(a, child, b).unwrap();
    assert_eq!(system.revoke(a, region), Ok(2));
    assert_eq!(system.regions_withdrawn(), start + 3);
    assert_eq!(
        system.lookup(b, grandchild, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    system.drop_cap(a, region).unwrap();
    assert_eq!(system.regions_withdrawn(), start + 4);
}

#[test]
fn regions_withdrawn_from_a_cspace_changes_only_when_one_leaves_it() {
    let (mut system, a, b) = two_spaces();
    let region = system
        .create_object(
            a,
            Object::Region {
                base: 0x1000,
                len: 0x1000,
            },
        )
        .unwrap();
    let seen_a = system.regions_withdrawn_from(a).unwrap();
    let seen_b = system.regions_withdrawn_from(b).unwrap();
    assert_ne!(seen_a, seen_b, "two CSpaces never share a value");
    // b drops a copy of its own: a's view stays valid.
    let copy = system.copy(a, region, b).unwrap();
    system.drop_cap(b, copy).unwrap();
    assert_eq!(system.regions_withdrawn_from(a), Some(seen_a));
    let seen_b_after = system.regions_withdrawn_from(b).unwrap();
    assert_ne!(seen_b_after, seen_b);
    // A move out of a, and a revoke reaching into b, each count where the
    // capability left.
    let copy = system.copy(a, region, a).unwrap();
    let moved = system.move_cap(a, copy, b).unwrap();
    let seen_a_after = system.regions_withdrawn_from(a).unwrap();
    assert_ne!(seen_a_after, seen_a);
    assert_eq!(system.regions_withdrawn_from(b), Some(seen_b_after));
    assert_eq!(system.revoke(a, region), Ok(1));
    assert_eq!(system.regions_withdrawn_from(a), Some(seen_a_after));
    assert_ne!(system.regions_withdrawn_from(b), Some(seen_b_after));
    let _ = moved;
    // A CSpace made again in a freed slot starts at a value never seen.
    let before = system.regions_withdrawn_from(b).unwrap();
    system.destroy_cspace(b, |_| {}).unwrap();
    assert_eq!(system.regions_withdrawn_from(b), None);
    let again = system.create_cspace(TaskId(9), 8).unwrap();
    let fresh = system.regions_withdrawn_from(again).unwrap();
    assert!(![seen_a, seen_a_after, seen_b, seen_b_after, before].contains(&fresh));
}
