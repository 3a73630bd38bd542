//! The fake's side of [`Context`]: every operation checked as the kernel
//! checks it (kind, rights, staleness, limits), then recorded.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::{Badge, CapRef, DeviceRange, ObjectKind, Rights, TaskId};

use crate::context::Context;
use crate::envelope::{CapList, check_payload};
use crate::error::IpcError;
use crate::incoming::CallToken;
use crate::inspect::{Query, Report};

use super::*;

impl FakeContext {
    pub(super) fn injected(&self, operation: Operation) -> Result<(), IpcError> {
        match self.failures.iter().find(|(op, _)| *op == operation) {
            Some((_, error)) => Err(*error),
            None => Ok(()),
        }
    }

    pub(super) fn lookup(&self, cap: CapRef) -> Result<(usize, &FakeCap), IpcError> {
        let raw = cap.to_raw();
        let index = (raw & 0xffff_ffff) as usize;
        let generation = (raw >> 32) as u32;
        match self.slots.get(index) {
            Some(Slot {
                generation: live,
                cap: Some(found),
            }) if *live == generation => Ok((index, found)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    pub(super) fn checked(
        &self,
        cap: CapRef,
        kind: ObjectKind,
        needs: Rights,
    ) -> Result<(usize, &FakeCap), IpcError> {
        let (index, found) = self.lookup(cap)?;
        if found.object.kind() != kind {
            return Err(IpcError::WrongKind {
                found: found.object.kind(),
            });
        }
        let missing = needs.difference(found.rights);
        if !missing.is_empty() {
            return Err(IpcError::MissingRights { missing });
        }
        Ok((index, found))
    }

    pub(super) fn remove(&mut self, index: usize) -> Option<FakeCap> {
        let slot = self.slots.get_mut(index)?;
        let cap = slot.cap.take();
        slot.generation = slot.generation.wrapping_add(1);
        cap
    }

    /// Checks and takes the capabilities a message moves.
    pub(super) fn take_caps(&mut self, caps: &[CapRef]) -> Result<Vec<FakeObject>, IpcError> {
        CapList::from_slice(caps)?;
        let mut indexes = Vec::new();
        for cap in caps {
            let (index, found) = self.lookup(*cap)?;
            if !found.rights.contains(Rights::GRANT) {
                return Err(IpcError::MissingRights {
                    missing: Rights::GRANT,
                });
            }
            if indexes.contains(&index) {
                return Err(IpcError::DuplicateCap);
            }
            indexes.push(index);
        }
        Ok(indexes
            .into_iter()
            .filter_map(|index| self.remove(index).map(|cap| cap.object))
            .collect())
    }

    pub(super) fn endpoint_name(
        &self,
        to: CapRef,
    ) -> Result<(&'static str, Option<Badge>), IpcError> {
        let (_, found) = self.checked(to, ObjectKind::Endpoint, Rights::WRITE)?;
        match found.object {
            FakeObject::Endpoint(name) => Ok((name, found.badge)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    pub(super) fn region_span(
        &self,
        cap: CapRef,
        needs: Rights,
    ) -> Result<(usize, usize, usize), IpcError> {
        let (_, found) = self.checked(cap, ObjectKind::Region, needs)?;
        match found.object {
            FakeObject::Region {
                backing,
                offset,
                len,
            } => Ok((backing, offset, len)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    pub(super) fn port(&self, device: CapRef, offset: u16, needs: Rights) -> Result<u16, IpcError> {
        let (_, found) = self.checked(device, ObjectKind::Device, needs)?;
        match found.object {
            FakeObject::Device(DeviceRange::Ports { base, len }) if offset < len => {
                Ok(base.wrapping_add(offset))
            }
            FakeObject::Device(DeviceRange::Ports { len, .. }) => {
                Err(IpcError::out_of_range(u64::from(offset), u64::from(len)))
            }
            _ => Err(IpcError::WrongKind {
                found: ObjectKind::Device,
            }),
        }
    }

    pub(super) fn descendants(&self, index: usize) -> Vec<usize> {
        let mut found = Vec::new();
        let mut frontier = vec![index];
        while let Some(parent) = frontier.pop() {
            for (child, slot) in self.slots.iter().enumerate() {
                if slot.cap.as_ref().and_then(|cap| cap.parent) == Some(parent) {
                    found.push(child);
                    frontier.push(child);
                }
            }
        }
        found
    }
}

impl Context for FakeContext {
    fn task_id(&self) -> TaskId {
        self.task
    }

    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        let (name, badge) = self.endpoint_name(to)?;
        check_payload(payload.len())?;
        self.injected(Operation::Send)?;
        let caps = self.take_caps(caps)?;
        self.sends.push(Sent {
            to: name,
            badge,
            payload: payload.to_vec(),
            caps,
        });
        Ok(())
    }

    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError> {
        let (name, _) = self.endpoint_name(to)?;
        check_payload(payload.len())?;
        self.injected(Operation::Call)?;
        let caps = self.take_caps(caps)?;
        let token = CallToken(self.next_token);
        self.next_token += 1;
        self.calls.push(SentCall {
            to: name,
            token,
            payload: payload.to_vec(),
            caps,
        });
        Ok(token)
    }

    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        let (index, _) = self.checked(reply, ObjectKind::Reply, Rights::empty())?;
        check_payload(payload.len())?;
        self.injected(Operation::Reply)?;
        let caps = self.take_caps(caps)?;
        self.remove(index);
        self.replies.push(SentReply {
            reply,
            payload: payload.to_vec(),
            caps,
        });
        Ok(())
    }

    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError> {
        let (index, found) = self.lookup(cap)?;
        if !found.rights.contains(Rights::DERIVE) {
            return Err(IpcError::MissingRights {
                missing: Rights::DERIVE,
            });
        }
        let excess = rights.difference(found.rights);
        if !excess.is_empty() {
            return Err(IpcError::RightsEscalation { excess });
        }
        if badge.is_some() && found.badge.is_some() {
            return Err(IpcError::AlreadyBadged);
        }
        self.injected(Operation::Mint)?;
        let (object, badge) = (found.object.clone(), badge.or(found.badge));
        Ok(self.insert_child(object, rights, badge, Some(index)))
    }

    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError> {
        let rights = self.lookup(cap)?.1.rights;
        self.mint(cap, rights, None)
    }

    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError> {
        let (index, _) = self.lookup(cap)?;
        self.remove(index);
        Ok(())
    }

    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError> {
        let (index, _) = self.lookup(cap)?;
        let descendants = self.descendants(index);
        for child in &descendants {
            self.remove(*child);
        }
        Ok(descendants.len())
    }

    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::RevokeIn)?;
        let deleted = self.revoke_in_deletes.ok_or(IpcError::Unsupported)?;
        self.revoked_in.push((name, slot));
        Ok(deleted)
    }

    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::StopTask)?;
        self.stopped.push(name);
        Ok(())
    }

    fn restart_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::RestartTask)?;
        self.restarted.push(name);
        Ok(())
    }

    fn supervise(&mut self, task: CapRef, endpoint: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        let (_, endpoint) = self.checked(endpoint, ObjectKind::Endpoint, Rights::WRITE)?;
        let badge = endpoint.badge;
        self.injected(Operation::Supervise)?;
        self.supervised.push((name, badge));
        Ok(())
    }

    fn inject_fault(
        &mut self,
        task: CapRef,
        kind: crate::supervision::FaultKind,
    ) -> Result<(), IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::InjectFault)?;
        self.injected_faults.push((name, kind));
        Ok(())
    }

    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(&str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        self.checked(program, ObjectKind::Region, Rights::READ)?;
        for (_, cap) in grants {
            let (_, found) = self.lookup(*cap)?;
            let missing = (Rights::DERIVE | Rights::GRANT).difference(found.rights);
            if !missing.is_empty() {
                return Err(IpcError::MissingRights { missing });
            }
        }
        self.injected(Operation::Spawn)?;
        self.spawned.push((
            String::from(name),
            grants.iter().map(|(name, _)| String::from(*name)).collect(),
        ));
        let name: &'static str = String::from(name).leak();
        Ok(self.insert(FakeObject::Task(name), Rights::READ | Rights::WRITE))
    }

    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError> {
        self.checked(inspect, ObjectKind::Inspect, Rights::READ)?;
        self.injected(Operation::Inspect)?;
        let report = self
            .inspect_answers
            .iter()
            .find(|(asked, _)| *asked == query)
            .map(|(_, report)| report)
            .or(self.inspect_default.as_ref())
            .cloned()
            .ok_or(IpcError::Unsupported)?;
        self.queries.push(query);
        Ok(report)
    }

    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError> {
        self.injected(Operation::AllocRegion)?;
        let len = len.div_ceil(PAGE).max(1) * PAGE;
        let used: usize = self.regions.iter().map(Vec::len).sum();
        if used.saturating_add(len) > self.region_budget {
            return Err(IpcError::OutOfResources);
        }
        self.regions.push(vec![0u8; len]);
        let backing = self.regions.len() - 1;
        let object = FakeObject::Region {
            backing,
            offset: 0,
            len,
        };
        Ok(self.insert(object, Rights::all()))
    }

    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        let (backing, base, whole) = self.region_span(cap, Rights::DERIVE)?;
        let (index, found) = self.lookup(cap)?;
        let excess = rights.difference(found.rights);
        if !excess.is_empty() {
            return Err(IpcError::RightsEscalation { excess });
        }
        let page = PAGE as u64;
        let end = offset.checked_add(len);
        if !offset.is_multiple_of(page)
            || !len.is_multiple_of(page)
            || end.is_none_or(|end| end > whole as u64)
        {
            return Err(IpcError::out_of_range(offset, whole as u64));
        }
        self.injected(Operation::Subregion)?;
        let object = FakeObject::Region {
            backing,
            offset: base + offset as usize,
            len: len as usize,
        };
        Ok(self.insert_child(object, rights, None, Some(index)))
    }

    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError> {
        let (backing, offset, len) = self.region_span(cap, Rights::READ)?;
        self.regions
            .get(backing)
            .and_then(|memory| memory.get(offset..offset + len))
            .ok_or(IpcError::InvalidCap)
    }

    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError> {
        let (backing, offset, len) = self.region_span(cap, Rights::WRITE)?;
        self.regions
            .get_mut(backing)
            .and_then(|memory| memory.get_mut(offset..offset + len))
            .ok_or(IpcError::InvalidCap)
    }

    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError> {
        let port = self.port(device, offset, Rights::READ)?;
        self.injected(Operation::PortRead)?;
        Ok(self
            .port_input
            .get_mut(&port)
            .and_then(VecDeque::pop_front)
            .unwrap_or(0xff))
    }

    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError> {
        let port = self.port(device, offset, Rights::WRITE)?;
        self.injected(Operation::PortWrite)?;
        self.port_writes.push((port, value));
        Ok(())
    }

    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(irq, ObjectKind::Irq, Rights::WRITE)?;
        if let FakeObject::Irq(line) = found.object {
            self.irq_acks.push(line);
        }
        Ok(())
    }

    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError> {
        self.checked(timer, ObjectKind::Timer, Rights::WRITE)?;
        self.injected(Operation::SetTimer)?;
        self.timers.push((timer, after_ns));
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn log(&mut self, line: fmt::Arguments<'_>) {
        self.logs.push(format!("{line}"));
    }

    fn mmio_read(
        &mut self,
        device: CapRef,
        offset: u64,
        width: crate::mmio::Width,
    ) -> Result<u64, IpcError> {
        self.read_register(device, offset, width)
    }

    fn mmio_write(
        &mut self,
        device: CapRef,
        offset: u64,
        width: crate::mmio::Width,
        value: u64,
    ) -> Result<(), IpcError> {
        self.write_register(device, offset, width, value)
    }

    fn region_phys(&self, cap: CapRef, offset: u64) -> Result<u64, IpcError> {
        self.physical(cap, offset)
    }
}
