//! The interpreter: applies each [`Op`] to the real system and the model,
//! compares results, then checks every invariant. See the module docs of
//! `model` for the list.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::ops::Op;
use super::reference::{Model, ModelCap, ModelObject};
use crate::{
    Badge, CSpaceId, Cap, CapError, CapRef, CapSystem, DeviceRange, FreedObject, Limits, Object,
    Rights, TaskId,
};

/// Deliberately tiny, so CSpaceFull, TooManyCapabilities, TooManyObjects and
/// TooManyCSpaces all occur in short random sequences.
pub const LIMITS: Limits = Limits {
    max_cspaces: 4,
    max_cspace_slots: 4,
    max_objects: 6,
    max_caps: 12,
};

/// The first disagreement between the real system and the model.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// Index of the operation after which it was found.
    pub step: usize,
    pub op: Op,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "after step {} ({:?}): {}", self.step, self.op, self.what)
    }
}

/// Runs `ops` from a fresh system (two empty CSpaces of four slots).
pub fn run(ops: &[Op]) -> Result<(), Violation> {
    let mut harness = Harness::new().map_err(|what| Violation {
        step: 0,
        op: Op::CreateCSpace { capacity: 4 },
        what,
    })?;
    for (step, &op) in ops.iter().enumerate() {
        harness
            .step(op)
            .and_then(|()| harness.check())
            .map_err(|what| Violation { step, op, what })?;
    }
    Ok(())
}

/// The real system and the model, in lock step.
pub struct Harness {
    pub(super) system: CapSystem,
    pub(super) model: Model,
}

fn pick(index: u8, len: usize) -> Option<usize> {
    (len > 0).then(|| index as usize % len)
}

fn object_for(kind: u8, space: usize) -> Object {
    let task = TaskId(space as u32);
    let k = u64::from(kind);
    match kind % 9 {
        0 => Object::Endpoint { task },
        1 => Object::Reply { caller: task },
        2 => Object::Region {
            base: 0x10_0000 * (k + 1),
            len: 0x1000,
        },
        3 => Object::Device(DeviceRange::Mmio {
            base: 0xfee0_0000,
            len: 0x1000,
        }),
        4 => Object::Device(DeviceRange::Ports {
            base: 0x3f8,
            len: 8,
        }),
        5 => Object::Irq { line: kind },
        6 => Object::Timer,
        7 => Object::Inspect,
        _ => Object::Task { task },
    }
}

pub(super) fn agree<T: PartialEq + fmt::Debug>(
    what: &str,
    real: &T,
    expected: &T,
) -> Result<(), String> {
    if real == expected {
        Ok(())
    } else {
        Err(format!("{what}: real {real:?}, model {expected:?}"))
    }
}

impl Harness {
    pub fn new() -> Result<Self, String> {
        let mut harness = Self {
            system: CapSystem::new(LIMITS).map_err(|e| format!("new: {e}"))?,
            model: Model::default(),
        };
        for _ in 0..2 {
            harness.step(Op::CreateCSpace { capacity: 4 })?;
        }
        Ok(harness)
    }

    /// The real system, for extra checks by the caller.
    pub fn system(&self) -> &CapSystem {
        &self.system
    }

    pub(super) fn space_id(&self, space: usize) -> CSpaceId {
        self.model
            .spaces
            .get(space)
            .map_or(CSpaceId::from_raw(u64::MAX), |s| s.id)
    }

    pub(super) fn expected_cap(&self, index: usize) -> Option<Cap> {
        let cap = self.model.cap(index)?;
        Some(Cap {
            object: self.model.object_id(cap.object)?,
            rights: cap.rights,
            badge: cap.badge,
        })
    }

    /// A ref the real system just issued must never have been issued before
    /// in that CSpace: the heart of "no stale ref ever resolves".
    fn fresh(&self, space: usize, at: CapRef) -> Result<(), String> {
        if self.model.issued.contains(&(space, at)) {
            return Err(format!("ref {at} re-issued in space {space}"));
        }
        Ok(())
    }

    /// Applies `op` to both sides and compares the results.
    pub fn step(&mut self, op: Op) -> Result<(), String> {
        let spaces = self.model.spaces.len();
        let issued = self.model.issued.len();
        match op {
            Op::CreateCSpace { capacity } => self.create_cspace(u32::from(capacity % 6)),
            Op::DestroyCSpace { space } => match pick(space, spaces) {
                Some(space) => self.destroy_cspace(space),
                None => Ok(()),
            },
            Op::CreateObject { space, kind } => match pick(space, spaces) {
                Some(space) => self.create_object(space, object_for(kind, space)),
                None => Ok(()),
            },
            Op::Lookup { cap, rights } => match pick(cap, issued) {
                Some(i) => {
                    let (space, at) = self.model.issued[i];
                    self.lookup(space, at, Rights::from_bits_truncate(rights))
                }
                None => Ok(()),
            },
            Op::LookupForged {
                space,
                slot,
                generation,
            } => match pick(space, spaces) {
                Some(space) => {
                    let raw = (u64::from(generation % 4) << 32) | u64::from(slot % 6);
                    self.lookup(space, CapRef::from_raw(raw), Rights::empty())
                }
                None => Ok(()),
            },
            Op::Mint {
                cap,
                dest,
                rights,
                badge,
            } => match (pick(cap, issued), pick(dest, spaces)) {
                (Some(i), Some(dest)) => {
                    let rights = Rights::from_bits_truncate(rights);
                    self.derive(i, dest, Some((rights, Badge::new(u64::from(badge % 4)))))
                }
                _ => Ok(()),
            },
            Op::Copy { cap, dest } => match (pick(cap, issued), pick(dest, spaces)) {
                (Some(i), Some(dest)) => self.derive(i, dest, None),
                _ => Ok(()),
            },
            Op::Move { cap, dest } => match (pick(cap, issued), pick(dest, spaces)) {
                (Some(i), Some(dest)) => self.move_cap(i, dest),
                _ => Ok(()),
            },
            Op::Drop { cap } => match pick(cap, issued) {
                Some(i) => self.drop_cap(i),
                None => Ok(()),
            },
            Op::Revoke { cap } => match pick(cap, issued) {
                Some(i) => self.revoke(i),
                None => Ok(()),
            },
            Op::Destroy { object } => match pick(object, self.model.objects.len()) {
                Some(object) => self.destroy(object),
                None => Ok(()),
            },
        }
    }

    fn create_cspace(&mut self, capacity: u32) -> Result<(), String> {
        let space = self.model.spaces.len();
        let expected = if capacity == 0 || capacity > LIMITS.max_cspace_slots {
            Err(CapError::InvalidCapacity)
        } else if self.model.live_spaces() >= LIMITS.max_cspaces as usize {
            Err(CapError::TooManyCSpaces)
        } else {
            Ok(())
        };
        let real = self.system.create_cspace(Model::owner_of(space), capacity);
        agree("create_cspace", &real.map(|_| ()), &expected)?;
        if let Ok(id) = real {
            if self.model.spaces.iter().any(|s| s.id == id) {
                return Err(format!("CSpace id {id} re-issued"));
            }
            self.model.add_space(id, capacity);
        }
        Ok(())
    }

    fn destroy_cspace(&mut self, space: usize) -> Result<(), String> {
        let mut real_freed = Vec::new();
        let real = self
            .system
            .destroy_cspace(self.space_id(space), |freed| real_freed.push(freed));
        let expected = self
            .model
            .space_alive(space)
            .map(|()| self.model.caps_in(space));
        agree("destroy_cspace", &real, &expected)?;
        if real.is_err() {
            return Ok(());
        }
        let mut model_freed = Vec::new();
        for index in 0..self.model.caps.len() {
            let in_space = self
                .model
                .cap(index)
                .is_some_and(|c| c.alive && c.space == space);
            if in_space && let Some(object) = self.model.kill(index) {
                let record = &self.model.objects[object];
                model_freed.push(FreedObject {
                    id: record.id,
                    object: record.object,
                });
            }
        }
        real_freed.sort_by_key(|f| f.id);
        model_freed.sort_by_key(|f| f.id);
        agree("destroy_cspace freed objects", &real_freed, &model_freed)?;
        if let Some(record) = self.model.spaces.get_mut(space) {
            record.alive = false;
        }
        Ok(())
    }

    fn create_object(&mut self, space: usize, object: Object) -> Result<(), String> {
        let expected = self.model.space_room(space).and_then(|()| {
            if self.model.live_objects() >= LIMITS.max_objects as usize {
                Err(CapError::TooManyObjects)
            } else if self.model.live_caps() >= LIMITS.max_caps as usize {
                Err(CapError::TooManyCapabilities)
            } else {
                Ok(())
            }
        });
        let real = self.system.create_object(self.space_id(space), object);
        agree("create_object", &real.map(|_| ()), &expected)?;
        if let Ok(at) = real {
            self.fresh(space, at)?;
            let found = self
                .system
                .lookup(self.space_id(space), at, Rights::empty());
            let id = found
                .map_err(|e| format!("new object's cap fails lookup: {e}"))?
                .object;
            if self.model.objects.iter().any(|o| o.id == id) {
                return Err(format!("object id {id} re-issued"));
            }
            self.model.objects.push(ModelObject {
                id,
                object,
                alive: true,
            });
            self.model.add_cap(ModelCap {
                space,
                at,
                object: self.model.objects.len() - 1,
                rights: object.full_rights(),
                badge: None,
                derived_from: None,
                alive: true,
            });
        }
        Ok(())
    }

    fn lookup(&mut self, space: usize, at: CapRef, required: Rights) -> Result<(), String> {
        let expected = self.model.resolve(space, at).and_then(|index| {
            let cap = self.expected_cap(index).ok_or(CapError::InvalidRef)?;
            let missing = required.difference(cap.rights);
            if missing.is_empty() {
                Ok(cap)
            } else {
                Err(CapError::MissingRights { missing })
            }
        });
        let real = self.system.lookup(self.space_id(space), at, required);
        agree("lookup", &real, &expected)
    }

    fn derive(
        &mut self,
        i: usize,
        dest: usize,
        mint: Option<(Rights, Option<Badge>)>,
    ) -> Result<(), String> {
        let (space, at) = self.model.issued[i];
        let expected = self.model.resolve(space, at).and_then(|source| {
            self.model.space_alive(dest)?;
            let held = self.model.caps[source];
            let mut required = Rights::DERIVE;
            if dest != space {
                required |= Rights::GRANT;
            }
            let missing = required.difference(held.rights);
            if !missing.is_empty() {
                return Err(CapError::MissingRights { missing });
            }
            let (rights, badge) = mint.unwrap_or((held.rights, None));
            let excess = rights.difference(held.rights);
            if !excess.is_empty() {
                return Err(CapError::RightsEscalation { excess });
            }
            if badge.is_some() && held.badge.is_some() {
                return Err(CapError::AlreadyBadged);
            }
            self.model.space_room(dest)?;
            if self.model.live_caps() >= LIMITS.max_caps as usize {
                return Err(CapError::TooManyCapabilities);
            }
            Ok(ModelCap {
                space: dest,
                at,
                object: held.object,
                rights,
                badge: badge.or(held.badge),
                derived_from: Some(source),
                alive: true,
            })
        });
        let (from, to) = (self.space_id(space), self.space_id(dest));
        let real = match mint {
            Some((rights, badge)) => self.system.mint(from, at, to, rights, badge),
            None => self.system.copy(from, at, to),
        };
        agree("mint/copy", &real.map(|_| ()), &expected.map(|_| ()))?;
        if let (Ok(new_at), Ok(mut cap)) = (real, expected) {
            self.fresh(dest, new_at)?;
            cap.at = new_at;
            self.model.add_cap(cap);
        }
        Ok(())
    }

    fn move_cap(&mut self, i: usize, dest: usize) -> Result<(), String> {
        let (space, at) = self.model.issued[i];
        let expected = self.model.resolve(space, at).and_then(|source| {
            self.model.space_alive(dest)?;
            if !self.model.caps[source].rights.contains(Rights::GRANT) {
                return Err(CapError::MissingRights {
                    missing: Rights::GRANT,
                });
            }
            self.model.space_room(dest)?;
            Ok(source)
        });
        let real = self
            .system
            .move_cap(self.space_id(space), at, self.space_id(dest));
        agree("move", &real.map(|_| ()), &expected.map(|_| ()))?;
        if let (Ok(new_at), Ok(source)) = (real, expected) {
            self.fresh(dest, new_at)?;
            self.model.caps[source].space = dest;
            self.model.caps[source].at = new_at;
            self.model.issued.push((dest, new_at));
        }
        Ok(())
    }

    fn drop_cap(&mut self, i: usize) -> Result<(), String> {
        let (space, at) = self.model.issued[i];
        let expected = self.model.resolve(space, at);
        let real = self.system.drop_cap(self.space_id(space), at);
        agree("drop", &real.map(|_| ()), &expected.map(|_| ()))?;
        if let (Ok(real_freed), Ok(index)) = (real, expected) {
            let model_freed = self.model.kill(index).map(|object| {
                let record = &self.model.objects[object];
                FreedObject {
                    id: record.id,
                    object: record.object,
                }
            });
            agree("drop freed object", &real_freed, &model_freed)?;
        }
        Ok(())
    }

    fn revoke(&mut self, i: usize) -> Result<(), String> {
        let (space, at) = self.model.issued[i];
        let expected = self.model.resolve(space, at).map(|source| {
            let doomed: Vec<usize> = (0..self.model.caps.len())
                .filter(|&c| self.model.caps[c].alive && self.model.descends_from(c, source))
                .collect();
            (source, doomed)
        });
        let real = self.system.revoke(self.space_id(space), at);
        let expected_count = expected.as_ref().map(|(_, doomed)| doomed.len());
        agree("revoke", &real, &expected_count.map_err(|e| *e))?;
        let Ok((source, doomed)) = expected else {
            return Ok(());
        };
        for c in doomed {
            if self.model.kill(c).is_some() {
                return Err(String::from("model: revoke killed an object"));
            }
        }
        // Independently of the model: nothing in the real graph descends from the source.
        let snapshot = self.system.snapshot();
        let source_at = crate::CapAddress {
            cspace: self.space_id(space),
            cap: at,
        };
        if snapshot.children_of(source_at).next().is_some() {
            return Err(format!("revoke left children of cap {source}"));
        }
        Ok(())
    }

    fn destroy(&mut self, object: usize) -> Result<(), String> {
        let record = &self.model.objects[object];
        let id = record.id;
        let expected = if record.alive {
            Ok(self
                .model
                .caps
                .iter()
                .filter(|c| c.alive && c.object == object)
                .count())
        } else {
            Err(CapError::InvalidObject)
        };
        let real = self.system.destroy(id);
        agree("destroy", &real, &expected)?;
        if real.is_ok() {
            for index in 0..self.model.caps.len() {
                if self.model.caps[index].object == object {
                    self.model.kill(index);
                }
            }
            self.model.objects[object].alive = false;
        }
        Ok(())
    }
}
