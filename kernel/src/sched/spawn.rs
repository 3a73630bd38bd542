//! Building tasks from the task list ([`TaskSpec`]s): create every task,
//! then grant every capability (so any task may name any other, in any
//! order), then start each one in list order.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_caps::{CapRef, Object, TaskId};
use mealy_protocol::{Grant, Grants, IpcError, StateMachine};

use super::context::TaskContext;
use super::platform::Platform;
use super::scheduler::{KERNEL_TASK, Scheduler};
use super::spec::{CapSource, CapSpec, KERNEL_NAME, SpawnError, TaskSpec, new_object};
use super::state::IrqRoute;
use super::state::TaskShape;
use super::task::{KeptGrant, Origin};

impl<P: Platform> Scheduler<P> {
    /// Creates, equips and starts every task in `specs`; returns their ids
    /// in list order. Peers may also be tasks spawned earlier. On error,
    /// the tasks this call created are stopped and the error says which
    /// entry was wrong.
    pub fn spawn_all(&mut self, specs: &[TaskSpec]) -> Result<Vec<TaskId>, SpawnError> {
        self.spawn_all_with(specs, |spec| (spec.factory)())
    }

    /// Like [`Scheduler::spawn_all`], with the state machines built by
    /// `make` instead of each spec's factory (a test keeps a handle on the
    /// machine; the shell's `spawn` may pass arguments).
    pub fn spawn_all_with(
        &mut self,
        specs: &[TaskSpec],
        make: impl FnMut(&TaskSpec) -> Box<dyn StateMachine>,
    ) -> Result<Vec<TaskId>, SpawnError> {
        let first = self.kernel.tasks.next_id();
        let result = self.build(specs, make);
        if result.is_err() {
            for id in self.kernel.tasks.ids_from(first) {
                self.stop(id);
            }
        }
        let ids = result?;
        for &id in &ids {
            self.start(id);
        }
        Ok(ids)
    }

    fn build(
        &mut self,
        specs: &[TaskSpec],
        mut make: impl FnMut(&TaskSpec) -> Box<dyn StateMachine>,
    ) -> Result<Vec<TaskId>, SpawnError> {
        let mut ids = Vec::new();
        for spec in specs {
            ids.push(self.create(spec, &mut make)?);
        }
        for (spec, &id) in specs.iter().zip(&ids) {
            for cap in spec.caps {
                let Some((granted, kept)) = self.grant(spec.name, id, cap)? else {
                    continue;
                };
                if let Some(task) = self.kernel.tasks.get_mut(id) {
                    task.grants.push(Grant {
                        name: cap.name,
                        cap: granted,
                    });
                    task.kept.push(kept);
                }
            }
        }
        Ok(ids)
    }

    /// A new Idle task with its CSpace, Endpoint and mailbox.
    fn create(
        &mut self,
        spec: &TaskSpec,
        make: &mut impl FnMut(&TaskSpec) -> Box<dyn StateMachine>,
    ) -> Result<TaskId, SpawnError> {
        if self.task_by_name(spec.name).is_some() {
            return Err(SpawnError::DuplicateName(spec.name));
        }
        if self.kernel.live_tasks() >= self.kernel.max_tasks {
            return Err(SpawnError::TooManyTasks);
        }
        let machine = make(spec);
        let shape = TaskShape {
            name: spec.name,
            cspace_slots: spec.cspace_slots,
            mailbox: spec.mailbox,
            budget_ns: spec.budget_ns.unwrap_or(self.budget_ns),
            ring: machine.ring(),
        };
        let id = self
            .kernel
            .create_task(shape)
            .map_err(|error| SpawnError::Capability {
                task: spec.name,
                cap: "(task)",
                error,
            })?;
        self.machines.set(id, Some(machine));
        self.kernel.tasks[id].origin = Origin::Factory(spec.factory);
        self.kernel.tasks[id].unsupervised = spec.unsupervised;
        Ok(id)
    }

    /// Says that boot task `id` runs the program in `file` (a boot
    /// module's bytes, which nothing writes) rather than its factory's
    /// machine: a restart loads it again (`restart.rs`).
    pub fn keep_program_image(&mut self, id: TaskId, file: &'static [u8]) {
        if let Some(task) = self.kernel.tasks.get_mut(id) {
            task.origin = Origin::Image(file);
        }
    }

    /// Places the capability `cap` describes in task `id`'s CSpace, and
    /// says how to grant it again on restart; `None` for a boot module the
    /// platform does not have.
    fn grant(
        &mut self,
        name: &'static str,
        id: TaskId,
        cap: &CapSpec,
    ) -> Result<Option<(CapRef, KeptGrant)>, SpawnError> {
        let failed = |error: IpcError| SpawnError::Capability {
            task: name,
            cap: cap.name,
            error,
        };
        let kernel_cspace = self.kernel.kernel_cspace;
        let original = match cap.source {
            CapSource::Endpoint { peer } => {
                let peer_id = self
                    .peer_by_name(peer)
                    .ok_or(SpawnError::UnknownPeer { task: name, peer })?;
                self.kernel.tasks[peer_id].endpoint
            }
            CapSource::Task { peer } => {
                let peer_id = if peer == KERNEL_NAME {
                    KERNEL_TASK
                } else {
                    self.peer_by_name(peer)
                        .ok_or(SpawnError::UnknownPeer { task: name, peer })?
                };
                self.create_original(Object::Task { task: peer_id })
                    .map_err(failed)?
            }
            CapSource::Region { len } => {
                let (base, len) = self.platform.allocate_region(len).map_err(failed)?;
                self.create_original(Object::Region { base, len })
                    .map_err(failed)?
            }
            CapSource::Dma { len } => {
                let (base, len) = self.platform.allocate_dma(len).map_err(failed)?;
                self.create_original(Object::Region { base, len })
                    .map_err(failed)?
            }
            CapSource::Bytes { bytes } => {
                let (base, len) = self
                    .platform
                    .allocate_region(bytes.len().max(1) as u64)
                    .map_err(failed)?;
                let Some(target) = self.platform.region_bytes_mut(base, len) else {
                    self.platform.free_region(base, len);
                    return Err(failed(IpcError::BadAddress));
                };
                target[..bytes.len()].copy_from_slice(bytes);
                self.create_original(Object::Region { base, len })
                    .map_err(failed)?
            }
            CapSource::BootModule { cmdline } => {
                let Some((base, len)) = self.platform.boot_module(cmdline) else {
                    return Ok(None);
                };
                self.create_original(Object::Region { base, len })
                    .map_err(failed)?
            }
            CapSource::Framebuffer => {
                let (base, len) = self.platform.framebuffer_region().map_err(failed)?;
                self.create_original(Object::Region { base, len })
                    .map_err(failed)?
            }
            source => {
                if let CapSource::Irq { line } = source
                    && self.kernel.irq_routes[usize::from(line)].is_some()
                {
                    return Err(SpawnError::IrqTaken { task: name, line });
                }
                let object = new_object(source).ok_or(failed(IpcError::Unsupported))?;
                self.create_original(object).map_err(failed)?
            }
        };
        let (held, object) = self
            .kernel
            .caps
            .lookup_object(kernel_cspace, original, mealy_caps::Rights::empty())
            .map_err(|error| failed(error.into()))?;
        let rights = cap.rights.unwrap_or(held.rights);
        let cspace = self.kernel.tasks[id].cspace;
        let granted = self
            .kernel
            .caps
            .mint(kernel_cspace, original, cspace, rights, cap.badge)
            .map_err(|error| failed(error.into()))?;
        if let Object::Irq { line } = object {
            self.kernel.irq_routes[usize::from(line)] = Some(IrqRoute {
                task: id,
                badge: cap.badge,
            });
        }
        let kept = KeptGrant {
            name: cap.name,
            source: original,
            rights,
            badge: cap.badge,
            own: false,
        };
        Ok(Some((granted, kept)))
    }

    fn create_original(&mut self, object: Object) -> Result<CapRef, IpcError> {
        Ok(self
            .kernel
            .caps
            .create_object(self.kernel.kernel_cspace, object)?)
    }

    /// Drops the state machines of tasks killed inside a handler (which
    /// gives a program's memory back), then takes in the tasks handlers
    /// spawned (`Context::spawn`) and starts each. Called after a handler
    /// that did either.
    #[cold]
    pub(crate) fn settle_lifecycle(&mut self) {
        while !self.kernel.lifecycle.is_settled() {
            for id in core::mem::take(&mut self.kernel.lifecycle.killed) {
                if let Some(machine) = self.machines.get_mut(id) {
                    *machine = None;
                }
            }
            if !self.kernel.lifecycle.spawned.is_empty() {
                let (id, machine) = self.kernel.lifecycle.spawned.remove(0);
                // Stopped again in the handler that made it (a spawn or
                // restart, then a kill): it never starts.
                if self.kernel.task(id).is_ok_and(|task| task.state.is_alive()) {
                    self.machines.set(id, Some(machine));
                    self.start(id);
                }
            }
        }
    }

    /// Calls task `id`'s `start` hook with its grants; errors are handled
    /// as a handler's would be.
    fn start(&mut self, id: TaskId) {
        let Some(Some(machine)) = self.machines.get_mut(id) else {
            return;
        };
        let grants: Vec<Grant> = self.kernel.tasks[id].grants.clone();
        let mut cx = TaskContext {
            kernel: &mut self.kernel,
            platform: &mut self.platform,
            task: id,
            lane: None,
        };
        let result = machine.start(&mut cx, Grants(&grants));
        if let Err(error) = result {
            self.handler_failed(id, error, None);
            return;
        }
        self.fault_if_asked(id);
    }

    /// `fault=NAME:KIND`: queues the fault notice for a ring-3 task named
    /// NAME that just started (`Scheduler::fault_at_every_start`).
    fn fault_if_asked(&mut self, id: TaskId) {
        let Some((name, kind)) = self.kernel.fault_at_start else {
            return;
        };
        let Some(task) = self.kernel.tasks.get_mut(id) else {
            return;
        };
        if task.name != name || task.ring != 3 || !task.state.is_alive() {
            return;
        }
        let notice = mealy_protocol::MessageKind::InjectFault { kind };
        if task
            .mailbox
            .push_notice(notice, mealy_protocol::Envelope::default())
            .is_ok()
        {
            self.kernel.make_ready(id);
        }
    }
}
