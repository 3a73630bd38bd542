//! `TaskContext`: the kernel's implementation of `mealy_protocol::Context`,
//! the one a handler gets for the duration of one message.
//!
//! It is a pair of borrows (the kernel tables and the platform) plus the
//! running task's id; every operation checks the task's own CSpace and
//! delegates message passing to `crate::ipc`.

use alloc::vec::Vec;
use core::fmt;

use mealy_caps::{Badge, CapError, CapRef, DeviceRange, Object, ObjectKind, Rights, TaskId};
use mealy_protocol::inspect::{ExitCause, Fault, Query, Report};
use mealy_protocol::mmio::Width;
use mealy_protocol::supervision::FaultKind;
use mealy_protocol::{CallFailure, CallToken, Context, Envelope, IpcError, MessageKind};

use super::handoff::Delivery;
use super::platform::Platform;
use super::reply::{PendingReply, is_reply_ref};
use super::scheduler::KERNEL_TASK;
use super::spec::{DEFAULT_CSPACE_SLOTS, DEFAULT_MAILBOX};
use super::state::{KernelState, TaskShape};
use super::task::{KeptGrant, Origin, Supervisor, TaskState};

/// Most capabilities one `spawn` may grant.
pub const MAX_SPAWN_GRANTS: usize = 8;

/// The Context handed to the handler of task `task`.
pub(crate) struct TaskContext<'k, P: Platform> {
    pub(crate) kernel: &'k mut KernelState,
    pub(crate) platform: &'k mut P,
    pub(crate) task: TaskId,
    /// The lane a message to the next task may be handed off into; `None`
    /// outside dispatch (`start`, `act_as`), where everything goes through
    /// mailboxes.
    pub(crate) lane: Option<&'k mut Delivery>,
}

impl<P: Platform> TaskContext<'_, P> {
    fn cspace(&self) -> Result<mealy_caps::CSpaceId, IpcError> {
        Ok(self.kernel.task(self.task)?.cspace)
    }

    /// The object behind `cap`, if it is of `kind` and carries `rights`.
    fn object_of(
        &self,
        cap: CapRef,
        kind: ObjectKind,
        rights: Rights,
    ) -> Result<(mealy_caps::Cap, Object), IpcError> {
        let (found, object) = match self.kernel.caps.lookup_object(self.cspace()?, cap, rights) {
            Ok(found) => found,
            Err(error) => return Err(self.lookup_failed(cap, error)),
        };
        if object.kind() != kind {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        }
        Ok((found, object))
    }

    /// The live Reply `cap` names in this task's reply table.
    fn pending_reply(&self, cap: CapRef) -> Option<PendingReply> {
        self.kernel.task(self.task).ok()?.replies.get(cap)
    }

    /// A failed capability-table lookup of `cap`: `WrongKind` if `cap` is
    /// one of this task's Replies (which are not in the tables).
    fn lookup_failed(&self, cap: CapRef, error: CapError) -> IpcError {
        if error == CapError::InvalidRef && self.pending_reply(cap).is_some() {
            return IpcError::WrongKind {
                found: ObjectKind::Reply,
            };
        }
        error.into()
    }

    /// `MissingRights` if `cap` is a Reply: it never has DERIVE, so it can
    /// be neither copied nor minted (which keeps it one-shot).
    fn refuse_derive(&self, cap: CapRef) -> Result<(), IpcError> {
        if self.pending_reply(cap).is_some() {
            return Err(IpcError::MissingRights {
                missing: Rights::DERIVE,
            });
        }
        Ok(())
    }

    /// Gives the new task `id` a copy of each grant and the caller a Task
    /// capability for it.
    fn equip(
        &mut self,
        id: TaskId,
        caller: mealy_caps::CSpaceId,
        grants: &[(&'static str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        let target = self.kernel.task(id)?.cspace;
        let kernel_cspace = self.kernel.kernel_cspace;
        for &(name, cap) in grants {
            let copy = self.kernel.caps.copy(caller, cap, target)?;
            self.kernel
                .task_mut(id)?
                .grants
                .push(mealy_protocol::Grant { name, cap: copy });
            // What a restart grants again: a child of the spawner's, so
            // its revoke still reaches every later instance.
            let source = self.kernel.caps.copy(caller, cap, kernel_cspace)?;
            let rights = self
                .kernel
                .caps
                .lookup(kernel_cspace, source, Rights::empty())?
                .rights;
            self.kernel.task_mut(id)?.kept.push(KeptGrant {
                name,
                source,
                rights,
                badge: None,
                own: true,
            });
        }
        let original = self
            .kernel
            .caps
            .create_object(kernel_cspace, Object::Task { task: id })?;
        let object = self
            .kernel
            .caps
            .lookup(kernel_cspace, original, Rights::empty())?
            .object;
        self.kernel.task_mut(id)?.control = Some(object);
        Ok(self.kernel.caps.mint(
            kernel_cspace,
            original,
            caller,
            Rights::READ | Rights::WRITE,
            None,
        )?)
    }

    /// Makes the kernel a Region object of its own over the program file
    /// at `base .. base + len` (sharing its memory), for restarts of the
    /// task `id` (`restart.rs`).
    fn keep_file(&mut self, id: TaskId, base: u64, len: u64) -> Result<(), IpcError> {
        if !self.platform.share_region(base, len) {
            return Err(IpcError::Unsupported);
        }
        let kernel_cspace = self.kernel.kernel_cspace;
        match self
            .kernel
            .caps
            .create_object(kernel_cspace, Object::Region { base, len })
        {
            Ok(file) => {
                self.kernel.task_mut(id)?.origin = Origin::Program { file };
                Ok(())
            }
            Err(error) => {
                self.platform.free_region(base, len);
                Err(error.into())
            }
        }
    }

    /// The task a Task capability controls (needs WRITE).
    fn controlled_task(&self, task: CapRef) -> Result<TaskId, IpcError> {
        match self.object_of(task, ObjectKind::Task, Rights::WRITE)?.1 {
            Object::Task { task } => Ok(task),
            other => Err(IpcError::WrongKind {
                found: other.kind(),
            }),
        }
    }

    /// The CSpace of the task a Task capability controls; the kernel's own
    /// for a Task capability to the kernel.
    fn controlled_cspace(&self, task: CapRef) -> Result<mealy_caps::CSpaceId, IpcError> {
        let target = self.controlled_task(task)?;
        if target == KERNEL_TASK {
            return Ok(self.kernel.kernel_cspace);
        }
        let task = self.kernel.task(target)?;
        if !task.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        Ok(task.cspace)
    }

    /// The I/O port at `offset` in the port range `device` names, checked
    /// for `rights` and bounds.
    fn port(&self, device: CapRef, offset: u16, rights: Rights) -> Result<u16, IpcError> {
        match self.object_of(device, ObjectKind::Device, rights)?.1 {
            Object::Device(DeviceRange::Ports { base, len }) if offset < len => {
                base.checked_add(offset).ok_or(IpcError::OutOfRange {
                    offset: u32::from(offset),
                    len: u32::from(len),
                })
            }
            Object::Device(DeviceRange::Ports { len, .. }) => Err(IpcError::OutOfRange {
                offset: u32::from(offset),
                len: u32::from(len),
            }),
            // An MMIO range is reached through a Region, not ports.
            other => Err(IpcError::WrongKind {
                found: other.kind(),
            }),
        }
    }

    fn region_range(&self, cap: CapRef, rights: Rights) -> Result<(u64, u64), IpcError> {
        match self.object_of(cap, ObjectKind::Region, rights)?.1 {
            Object::Region { base, len } => Ok((base, len)),
            other => Err(IpcError::WrongKind {
                found: other.kind(),
            }),
        }
    }
}

impl<P: Platform> Context for TaskContext<'_, P> {
    fn task_id(&self) -> TaskId {
        self.task
    }

    #[inline]
    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        self.kernel
            .send(self.task, to, payload, caps, self.lane.as_deref_mut())
    }

    #[inline]
    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError> {
        self.kernel
            .call(self.task, to, payload, caps, self.lane.as_deref_mut())
    }

    #[inline]
    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        self.kernel
            .reply(self.task, reply, payload, caps, self.lane.as_deref_mut())
    }

    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError> {
        self.refuse_derive(cap)?;
        let cspace = self.cspace()?;
        Ok(self.kernel.caps.mint(cspace, cap, cspace, rights, badge)?)
    }

    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError> {
        self.refuse_derive(cap)?;
        let cspace = self.cspace()?;
        Ok(self.kernel.caps.copy(cspace, cap, cspace)?)
    }

    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError> {
        if is_reply_ref(cap) {
            // An unanswered call's Reply: the caller is told it was dropped.
            let pending = self
                .kernel
                .task_mut(self.task)?
                .replies
                .take(cap)
                .ok_or(IpcError::InvalidCap)?;
            self.kernel.fail_call(pending, CallFailure::Dropped);
            return Ok(());
        }
        let cspace = self.cspace()?;
        if let Some(freed) = self.kernel.caps.drop_cap(cspace, cap)? {
            self.kernel.release(freed, &mut *self.platform);
        }
        Ok(())
    }

    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError> {
        // Nothing is ever derived from a Reply.
        if self.pending_reply(cap).is_some() {
            return Ok(0);
        }
        let cspace = self.cspace()?;
        Ok(self.kernel.revoke(cspace, cap, &mut *self.platform)?)
    }

    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError> {
        let cspace = self.controlled_cspace(task)?;
        let target = self.controlled_task(task)?;
        if target != KERNEL_TASK
            && self
                .kernel
                .task(target)
                .is_ok_and(|task| task.replies.get(slot).is_some())
        {
            return Ok(0);
        }
        Ok(self.kernel.revoke(cspace, slot, &mut *self.platform)?)
    }

    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let target = self.controlled_task(task)?;
        if target == KERNEL_TASK {
            if !self.platform.can_power_off() {
                return Err(IpcError::Unsupported);
            }
            self.kernel.power_off_requested = true;
        } else if target == self.task {
            return Err(IpcError::Unsupported);
        } else if self.kernel.task(target)?.state.is_alive() {
            self.kernel
                .kill(target, TaskState::Stopped, &mut *self.platform);
            self.kernel.report_exit(
                target,
                Fault {
                    cause: ExitCause::Stopped,
                    address: 0,
                },
            );
        } else if self
            .kernel
            .task(target)
            .is_ok_and(|task| task.reusable && task.supervisor.is_some())
        {
            // A dead supervised program kept for a restart: let it go.
            self.kernel.forget_identity(target, &mut *self.platform);
        } else {
            return Err(IpcError::DeadTask);
        }
        Ok(())
    }

    fn restart_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let target = self.controlled_task(task)?;
        if target == KERNEL_TASK {
            // Restarting the kernel is a reboot, once what was sent is
            // handled (as `stop_task` on it powers off).
            self.kernel.reboot_requested = true;
            return Ok(());
        }
        if target == self.task {
            return Err(IpcError::Unsupported);
        }
        self.kernel.restart(target, &mut *self.platform)
    }

    fn inject_fault(&mut self, task: CapRef, kind: FaultKind) -> Result<(), IpcError> {
        let target = self.controlled_task(task)?;
        // A task may fault itself (the notice comes after this handler).
        if target == KERNEL_TASK {
            return Err(IpcError::Unsupported);
        }
        let found = self.kernel.task_mut(target)?;
        if !found.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        // Only a ring-3 program's runtime knows how to commit a fault in
        // its own context; a ring-0 task's fault is the kernel's.
        if found.ring != 3 {
            return Err(IpcError::Unsupported);
        }
        found
            .mailbox
            .push_notice(MessageKind::InjectFault { kind }, Envelope::default())?;
        self.kernel.make_ready(target);
        Ok(())
    }

    fn supervise(&mut self, task: CapRef, endpoint: CapRef) -> Result<(), IpcError> {
        let target = self.controlled_task(task)?;
        if target == KERNEL_TASK {
            return Err(IpcError::Unsupported);
        }
        let (found, object) = self.object_of(endpoint, ObjectKind::Endpoint, Rights::WRITE)?;
        let Object::Endpoint { task: holder } = object else {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        };
        let supervised = self.kernel.task_mut(target)?;
        supervised.supervisor = Some(Supervisor {
            task: holder,
            badge: found.badge,
        });
        // One that died before it was supervised (a boot task that
        // faulted before the supervisor started): the notice comes now.
        if !supervised.state.is_alive() {
            let fault = supervised.last_fault.unwrap_or(Fault {
                cause: ExitCause::Stopped,
                address: 0,
            });
            let notice = MessageKind::TaskExited {
                task: target,
                cause: fault.cause,
                address: fault.address,
            };
            self.kernel.notify(holder, notice, found.badge);
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(&str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        let (base, len) = match self.object_of(program, ObjectKind::Region, Rights::READ)?.1 {
            Object::Region { base, len } => (base, len),
            other => {
                return Err(IpcError::WrongKind {
                    found: other.kind(),
                });
            }
        };
        if grants.len() > MAX_SPAWN_GRANTS {
            return Err(IpcError::TooManyCaps {
                count: grants.len() as u32,
            });
        }
        let cspace = self.cspace()?;
        let mut named = Vec::new();
        named
            .try_reserve_exact(grants.len())
            .map_err(|_| IpcError::OutOfResources)?;
        for (grant_name, cap) in grants {
            let grant_name = crate::program::names::intern(grant_name)?;
            if let Err(error) =
                self.kernel
                    .caps
                    .lookup(cspace, *cap, Rights::DERIVE | Rights::GRANT)
            {
                return Err(self.lookup_failed(*cap, error));
            }
            named.push((grant_name, *cap));
        }
        let name = crate::program::names::intern(name)?;
        if self.kernel.live_tasks() >= self.kernel.max_tasks {
            return Err(IpcError::OutOfResources);
        }
        let id = self.kernel.next_spawned_id();
        let machine = self.platform.load_program(name, base, len, id)?;
        let id = self.kernel.create_spawned_task(TaskShape {
            name,
            cspace_slots: DEFAULT_CSPACE_SLOTS,
            mailbox: DEFAULT_MAILBOX,
            budget_ns: crate::program::task::USER_BUDGET_NS,
            ring: machine.ring(),
        })?;
        // From here on a failure stops the half-made task, which gives
        // back everything it got.
        let result = self
            .keep_file(id, base, len)
            .and_then(|()| self.equip(id, cspace, &named));
        match result {
            Ok(task_cap) => {
                self.kernel.lifecycle.spawned.push((id, machine));
                self.kernel.pending.post(super::pending::LIFECYCLE_LINE);
                Ok(task_cap)
            }
            Err(error) => {
                self.kernel
                    .kill(id, TaskState::Stopped, &mut *self.platform);
                Err(error)
            }
        }
    }

    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError> {
        self.object_of(inspect, ObjectKind::Inspect, Rights::READ)?;
        crate::inspect::answer(self.kernel, &mut *self.platform, query)
    }

    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError> {
        let cspace = self.cspace()?;
        let (base, len) = self.platform.allocate_region(len as u64)?;
        match self
            .kernel
            .caps
            .create_object(cspace, Object::Region { base, len })
        {
            Ok(cap) => Ok(cap),
            Err(error) => {
                self.platform.free_region(base, len);
                Err(error.into())
            }
        }
    }

    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        super::subregion::derive(self, cap, offset, len, rights)
    }

    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError> {
        let (base, len) = self.region_range(cap, Rights::READ)?;
        self.platform
            .region_bytes(base, len)
            .ok_or(IpcError::Unsupported)
    }

    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError> {
        let (base, len) = self.region_range(cap, Rights::WRITE)?;
        self.platform
            .region_bytes_mut(base, len)
            .ok_or(IpcError::Unsupported)
    }

    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError> {
        let port = self.port(device, offset, Rights::READ)?;
        Ok(self.platform.port_read(port))
    }

    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError> {
        let port = self.port(device, offset, Rights::WRITE)?;
        self.platform.port_write(port, value);
        Ok(())
    }

    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError> {
        match self.object_of(irq, ObjectKind::Irq, Rights::WRITE)?.1 {
            Object::Irq { line } => {
                self.platform.irq_ack(line);
                Ok(())
            }
            other => Err(IpcError::WrongKind {
                found: other.kind(),
            }),
        }
    }

    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError> {
        let (found, _) = self.object_of(timer, ObjectKind::Timer, Rights::WRITE)?;
        let deadline = self.platform.now_ns().saturating_add(after_ns);
        self.kernel
            .timers
            .arm(found.object, self.task, found.badge, deadline)
    }

    fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    fn log(&mut self, line: fmt::Arguments<'_>) {
        let name = self.kernel.task(self.task).map_or("?", |task| task.name);
        self.platform.log(name, line);
    }

    // Device drivers (issue 17): checked here, carried out by the platform.

    fn mmio_read(&mut self, device: CapRef, offset: u64, width: Width) -> Result<u64, IpcError> {
        let phys = self.mmio(device, offset, width, Rights::READ)?;
        self.platform
            .mmio_read(phys, width)
            .ok_or(IpcError::Unsupported)
    }

    fn mmio_write(
        &mut self,
        device: CapRef,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<(), IpcError> {
        let phys = self.mmio(device, offset, width, Rights::WRITE)?;
        if value & !width.mask() != 0 {
            return Err(IpcError::out_of_range(value, width.mask()));
        }
        if self.platform.mmio_write(phys, width, value) {
            Ok(())
        } else {
            Err(IpcError::Unsupported)
        }
    }

    fn region_phys(&self, cap: CapRef, offset: u64) -> Result<u64, IpcError> {
        let needs = Rights::READ | Rights::WRITE | Rights::MAP;
        let (base, len) = self.region_range(cap, needs)?;
        if offset >= len {
            return Err(IpcError::out_of_range(offset, len));
        }
        self.platform
            .region_phys(base, len, offset)
            .ok_or(IpcError::Unsupported)
    }

    fn regions_withdrawn(&self) -> Option<u64> {
        self.kernel.caps.regions_withdrawn_from(self.cspace().ok()?)
    }

    #[inline]
    fn next_call_token(&self) -> Option<CallToken> {
        Some(CallToken(self.kernel.last_call.wrapping_add(1)))
    }

    fn fail_deferred_call(&mut self, token: CallToken, error: IpcError) {
        if self.kernel.last_call.wrapping_add(1) == token.0 {
            self.kernel.last_call = token.0;
        }
        let kind = mealy_protocol::MessageKind::CallFailed {
            token,
            reason: CallFailure::not_sent(error),
        };
        self.kernel.notify(self.task, kind, None);
    }
}

impl<P: Platform> TaskContext<'_, P> {
    /// The physical address of an access of `width` at `offset` of the
    /// MMIO range `device` names, checked for `rights`, alignment and
    /// bounds.
    fn mmio(
        &self,
        device: CapRef,
        offset: u64,
        width: Width,
        rights: Rights,
    ) -> Result<u64, IpcError> {
        match self.object_of(device, ObjectKind::Device, rights)?.1 {
            Object::Device(DeviceRange::Mmio { base, len }) if width.fits(offset, len) => base
                .checked_add(offset)
                .ok_or(IpcError::out_of_range(offset, len)),
            Object::Device(DeviceRange::Mmio { len, .. }) => {
                Err(IpcError::out_of_range(offset, len))
            }
            // Ports are reached with port_read/port_write.
            other => Err(IpcError::WrongKind {
                found: other.kind(),
            }),
        }
    }
}
