//! Deriving a Region capability for a sub-range of a region: how the file
//! system hands out one file's pages of its image without copying them.
//!
//! A capability names an object, and an object has one range, so a
//! sub-range is a new Region object. Its original is placed as a *child* of
//! the source capability in the derivation tree, not as a root, so revoking
//! the source (or any ancestor) deletes it, and with it the only capability
//! that names the new object. The capability model only records ranges; the
//! kernel decides what backs them (alignment rules, keeping the memory alive
//! while any object over it lives) and checks those before calling this.

use crate::cap::Cap;
use crate::cap_ref::CapRef;
use crate::cspace::CSpaceId;
use crate::error::CapError;
use crate::object::Object;
use crate::rights::Rights;
use crate::system::{CapSystem, require};

impl CapSystem {
    /// Creates a Region object for `offset .. offset + len` of the region
    /// `src` names (in `cspace`) and places a capability to it with
    /// `rights` in `cspace`, as a child of `src`. The badge is inherited.
    /// Returns the new capability and the new object's descriptor.
    ///
    /// Errors, in order: `InvalidCSpace`; `InvalidRef` (`src`);
    /// `WrongKind` if `src` is not a Region; `MissingRights` if `src` lacks
    /// DERIVE; `RightsEscalation { excess }` if `rights` is not a subset of
    /// the source's; `OutOfRange` if `len` is 0 or the range does not lie
    /// inside the source region; `CSpaceFull`; `TooManyObjects`;
    /// `TooManyCapabilities`.
    pub fn derive_region(
        &mut self,
        cspace: CSpaceId,
        src: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<(CapRef, Object), CapError> {
        let source = self.node_at(cspace, src)?.cap;
        let object = self
            .objects
            .get(source.object)
            .ok_or(CapError::InvalidRef)?
            .object;
        let Object::Region {
            base,
            len: source_len,
        } = object
        else {
            return Err(CapError::WrongKind {
                found: object.kind(),
            });
        };
        require(source.rights, Rights::DERIVE)?;
        let excess = rights.difference(source.rights);
        if !excess.is_empty() {
            return Err(CapError::RightsEscalation { excess });
        }
        let end = offset.checked_add(len).ok_or(CapError::OutOfRange)?;
        if len == 0 || end > source_len {
            return Err(CapError::OutOfRange);
        }
        let sub = Object::Region {
            base: base + offset,
            len,
        };
        self.check_room(cspace)?;
        if !self.objects.has_room() {
            return Err(CapError::TooManyObjects);
        }
        if !self.nodes.has_room() {
            return Err(CapError::TooManyCapabilities);
        }
        let parent = self.index_at(cspace, src)?;
        let id = self.objects.register(sub)?;
        let cap = Cap {
            object: id,
            rights,
            badge: source.badge,
        };
        let (child, cap_ref) = self.place(cspace, cap)?;
        self.nodes.link_child(parent, child);
        Ok((cap_ref, sub))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::two_spaces;
    use crate::{CapError, Object, ObjectKind, Rights, TaskId};

    fn region(system: &mut crate::CapSystem, space: crate::CSpaceId) -> crate::CapRef {
        system
            .create_object(
                space,
                Object::Region {
                    base: 0x10_0000,
                    len: 0x4000,
                },
            )
            .unwrap()
    }

    #[test]
    fn a_subregion_names_the_sub_range_with_the_asked_rights() {
        let (mut system, a, _) = two_spaces();
        let image = region(&mut system, a);
        let (file, object) = system
            .derive_region(a, image, 0x1000, 0x2000, Rights::READ)
            .unwrap();
        assert_eq!(
            object,
            Object::Region {
                base: 0x10_1000,
                len: 0x2000
            }
        );
        let (cap, found) = system.lookup_object(a, file, Rights::READ).unwrap();
        assert_eq!(found, object);
        assert_eq!(cap.rights, Rights::READ);
        assert_eq!(system.parent(a, file), Ok(Some((a, image))));
        assert!(matches!(
            system.lookup(a, file, Rights::WRITE),
            Err(CapError::MissingRights { .. })
        ));
    }

    #[test]
    fn revoke_with_hands_over_each_derived_object_it_freed() {
        let (mut system, a, _) = two_spaces();
        let image = region(&mut system, a);
        let (_, first) = system
            .derive_region(a, image, 0, 0x1000, Rights::READ)
            .unwrap();
        let (second_cap, second) = system
            .derive_region(a, image, 0x1000, 0x1000, Rights::READ | Rights::DERIVE)
            .unwrap();
        // A copy of the second: its object goes only with the last cap.
        system.copy(a, second_cap, a).unwrap();
        let mut freed = std::vec::Vec::new();
        let deleted = system
            .revoke_with(a, image, |object| freed.push(object.object))
            .unwrap();
        assert_eq!(deleted, 3);
        assert_eq!(freed.len(), 2);
        assert!(freed.contains(&first) && freed.contains(&second));
        // The source's own object stays.
        assert!(system.lookup(a, image, Rights::READ).is_ok());
    }

    #[test]
    fn revoking_the_source_deletes_the_subregion_and_forgets_its_object() {
        let (mut system, a, _) = two_spaces();
        let image = region(&mut system, a);
        let before = system.usage().objects;
        let (file, _) = system
            .derive_region(a, image, 0, 0x1000, Rights::READ | Rights::DERIVE)
            .unwrap();
        let minted = system.mint(a, file, a, Rights::READ, None).unwrap();
        assert_eq!(system.usage().objects, before + 1);
        assert_eq!(system.revoke(a, image), Ok(2));
        assert_eq!(
            system.lookup(a, file, Rights::empty()),
            Err(CapError::InvalidRef)
        );
        assert_eq!(
            system.lookup(a, minted, Rights::empty()),
            Err(CapError::InvalidRef)
        );
        assert_eq!(system.usage().objects, before);
    }

    #[test]
    fn a_subregion_never_has_more_rights_than_its_source() {
        let (mut system, a, _) = two_spaces();
        let image = region(&mut system, a);
        let read_only = system
            .mint(a, image, a, Rights::READ | Rights::DERIVE, None)
            .unwrap();
        assert_eq!(
            system.derive_region(a, read_only, 0, 0x1000, Rights::READ | Rights::WRITE),
            Err(CapError::RightsEscalation {
                excess: Rights::WRITE
            })
        );
        let no_derive = system.mint(a, image, a, Rights::READ, None).unwrap();
        assert_eq!(
            system.derive_region(a, no_derive, 0, 0x1000, Rights::READ),
            Err(CapError::MissingRights {
                missing: Rights::DERIVE
            })
        );
    }

    #[test]
    fn a_range_outside_the_source_is_refused() {
        let (mut system, a, _) = two_spaces();
        let image = region(&mut system, a);
        for (offset, len) in [(0, 0), (0, 0x4001), (0x4000, 1), (u64::MAX, 2)] {
            assert_eq!(
                system.derive_region(a, image, offset, len, Rights::READ),
                Err(CapError::OutOfRange),
                "{offset:#x}+{len:#x}"
            );
        }
        assert!(
            system
                .derive_region(a, image, 0x3000, 0x1000, Rights::READ)
                .is_ok()
        );
    }

    #[test]
    fn only_a_region_has_subregions() {
        let (mut system, a, _) = two_spaces();
        let endpoint = system
            .create_object(a, Object::Endpoint { task: TaskId(3) })
            .unwrap();
        assert_eq!(
            system.derive_region(a, endpoint, 0, 1, Rights::empty()),
            Err(CapError::WrongKind {
                found: ObjectKind::Endpoint
            })
        );
    }
}
