//! mint, copy and move.

use super::{endpoint, two_spaces};
use crate::{Badge, CSpaceId, CapError, CapRef, Object, Rights, TaskId};

fn badge(value: u64) -> Option<Badge> {
    Badge::new(value)
}

#[test]
fn mint_derives_a_child_with_fewer_rights_and_a_badge() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let minted = system.mint(a, root, b, Rights::WRITE, badge(7)).unwrap();
    let cap = system.lookup(b, minted, Rights::WRITE).unwrap();
    assert_eq!(cap.rights, Rights::WRITE);
    assert_eq!(cap.badge, badge(7));
    assert_eq!(system.parent(b, minted), Ok(Some((a, root))));
}

#[test]
fn mint_from_a_badged_source_inherits_the_badge() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    let badged = system
        .mint(a, root, a, Rights::WRITE | Rights::DERIVE, badge(3))
        .unwrap();
    let again = system.mint(a, badged, a, Rights::WRITE, None).unwrap();
    assert_eq!(
        system.lookup(a, again, Rights::empty()).unwrap().badge,
        badge(3)
    );
    assert_eq!(
        system.mint(a, badged, a, Rights::WRITE, badge(4)),
        Err(CapError::AlreadyBadged)
    );
}

#[test]
fn mint_requires_derive() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    let no_derive = system
        .mint(a, root, a, Rights::WRITE | Rights::GRANT, None)
        .unwrap();
    assert_eq!(
        system.mint(a, no_derive, a, Rights::WRITE, None),
        Err(CapError::MissingRights {
            missing: Rights::DERIVE
        })
    );
}

#[test]
fn mint_into_another_cspace_requires_grant() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let local = system
        .mint(a, root, a, Rights::WRITE | Rights::DERIVE, None)
        .unwrap();
    assert!(system.mint(a, local, a, Rights::WRITE, None).is_ok());
    assert_eq!(
        system.mint(a, local, b, Rights::WRITE, None),
        Err(CapError::MissingRights {
            missing: Rights::GRANT
        })
    );
}

#[test]
fn mint_refuses_to_add_rights() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    assert_eq!(
        system.mint(a, root, a, Rights::READ | Rights::WRITE, None),
        Err(CapError::RightsEscalation {
            excess: Rights::READ
        })
    );
}

#[test]
fn mint_errors_on_bad_names_and_full_destination() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    let bogus_space = CSpaceId::from_raw(u64::MAX);
    let bogus_ref = CapRef::from_raw(u64::MAX);
    assert_eq!(
        system.mint(bogus_space, root, a, Rights::WRITE, None),
        Err(CapError::InvalidCSpace)
    );
    assert_eq!(
        system.mint(a, bogus_ref, a, Rights::WRITE, None),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.mint(a, root, bogus_space, Rights::WRITE, None),
        Err(CapError::InvalidCSpace)
    );
    let tiny = system.create_cspace(TaskId(3), 1).unwrap();
    system.create_object(tiny, Object::Timer).unwrap();
    assert_eq!(
        system.mint(a, root, tiny, Rights::WRITE, None),
        Err(CapError::CSpaceFull)
    );
    assert_eq!(system.usage().caps, 2, "failed mints changed nothing");
}

#[test]
fn copy_keeps_rights_and_badge_and_becomes_a_child() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let badged = system
        .mint(
            a,
            root,
            a,
            Rights::WRITE | Rights::GRANT | Rights::DERIVE,
            badge(5),
        )
        .unwrap();
    let copied = system.copy(a, badged, b).unwrap();
    assert_eq!(
        system.lookup(b, copied, Rights::empty()),
        system.lookup(a, badged, Rights::empty())
    );
    assert_eq!(system.parent(b, copied), Ok(Some((a, badged))));
}

#[test]
fn copy_errors() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let plain = system.mint(a, root, a, Rights::WRITE, None).unwrap();
    assert_eq!(
        system.copy(a, plain, a),
        Err(CapError::MissingRights {
            missing: Rights::DERIVE
        })
    );
    let derivable = system.mint(a, root, a, Rights::DERIVE, None).unwrap();
    assert_eq!(
        system.copy(a, derivable, b),
        Err(CapError::MissingRights {
            missing: Rights::GRANT
        })
    );
    assert_eq!(
        system.copy(a, CapRef::from_raw(77), a),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.copy(a, root, CSpaceId::from_raw(99)),
        Err(CapError::InvalidCSpace)
    );
}

#[test]
fn move_transfers_the_same_capability_and_keeps_its_tree_position() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let middle = system.copy(a, root, a).unwrap();
    let leaf = system.copy(a, middle, a).unwrap();
    let moved = system.move_cap(a, middle, b).unwrap();
    assert_eq!(
        system.lookup(a, middle, Rights::empty()),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.lookup(b, moved, Rights::empty()).unwrap().rights,
        Rights::WRITE | Rights::GRANT | Rights::DERIVE
    );
    assert_eq!(system.parent(b, moved), Ok(Some((a, root))));
    assert_eq!(system.parent(a, leaf), Ok(Some((b, moved))));
    assert_eq!(system.revoke(a, root), Ok(2));
}

#[test]
fn move_within_a_cspace_changes_slot() {
    let (mut system, a, _) = two_spaces();
    let root = endpoint(&mut system, a);
    let moved = system.move_cap(a, root, a).unwrap();
    assert_ne!(moved, root);
    assert!(system.lookup(a, moved, Rights::empty()).is_ok());
    assert_eq!(
        system.lookup(a, root, Rights::empty()),
        Err(CapError::InvalidRef)
    );
}

#[test]
fn move_errors() {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let no_grant = system.mint(a, root, a, Rights::WRITE, None).unwrap();
    assert_eq!(
        system.move_cap(a, no_grant, b),
        Err(CapError::MissingRights {
            missing: Rights::GRANT
        })
    );
    assert_eq!(
        system.move_cap(a, CapRef::from_raw(5), b),
        Err(CapError::InvalidRef)
    );
    assert_eq!(
        system.move_cap(CSpaceId::from_raw(9), root, b),
        Err(CapError::InvalidCSpace)
    );
    assert_eq!(
        system.move_cap(a, root, CSpaceId::from_raw(9)),
        Err(CapError::InvalidCSpace)
    );
    let tiny = system.create_cspace(TaskId(3), 1).unwrap();
    system.create_object(tiny, Object::Timer).unwrap();
    assert_eq!(system.move_cap(a, root, tiny), Err(CapError::CSpaceFull));
    assert!(
        system.lookup(a, root, Rights::empty()).is_ok(),
        "failed move changed nothing"
    );
}
