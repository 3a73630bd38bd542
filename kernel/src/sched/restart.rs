//! Restart in place and supervision: a task's identity outlives its
//! instances.
//!
//! A task is an identity (its `TaskId`, its Endpoint object, the Task
//! objects that control it) and, at any time, at most one instance (a
//! CSpace, a mailbox, a reply table and a state machine). `kill` ends the
//! instance; [`KernelState::restart`] ends it too and makes a fresh one
//! under the same identity, so every endpoint capability any client holds
//! reaches the new instance without being handed out again.
//!
//! What a fresh instance is made from is kept per task when it is first
//! made ([`Origin`], [`KeptGrant`]):
//!
//! - its machine: a boot task's factory; a boot program's ELF in the boot
//!   module (which nothing writes: a restart loads what boot loaded); a
//!   spawned program's file, through a Region object the kernel made over
//!   the file's memory at spawn, so the spawner may drop its own.
//! - its grants: for a boot task, the task list's originals (already in
//!   the kernel's CSpace) with the listed rights and badge, minted again,
//!   so it gets the same objects (a Region keeps its contents: the fs's
//!   image is its disk); for a spawned task, a copy of each of the
//!   spawner's capabilities made into the kernel's CSpace at spawn. Those
//!   copies are children of the spawner's, so revoking the spawner's still
//!   takes the grant away, from this instance and every later one: a
//!   restart never gives back what was revoked.
//!
//! Calls in flight die with the old instance (`PeerDied`), and replies
//! meant for its own calls are forgotten by their callees, as for a reused
//! slot: the new instance never sees an answer to a call it did not make.
//!
//! Supervision: a task's supervisor ([`Supervisor`], named by an Endpoint
//! capability through `Context::supervise`) is sent a
//! `MessageKind::TaskExited` notice whenever an instance faults or is
//! stopped. A kind is set only by the kernel (`send` and `call` always
//! deliver `Request`), so no task can forge one: a task that sends the
//! same bytes delivers a `Request`. A supervised spawned task keeps its
//! identity when it dies, for its supervisor to restart; `stop_task` on
//! it once dead lets it go.
//!
//! None of this is on the message path: restart and notices cost only
//! when a task dies.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_caps::{Object, Rights, TaskId};
use mealy_protocol::inspect::{ExitCause, Fault};
use mealy_protocol::supervision::UnsupervisedPolicy;
use mealy_protocol::{Grant, IpcError, MessageKind, StateMachine};

use super::mailbox::Mailbox;
use super::platform::Platform;
use super::reply::ReplyTable;
use super::state::{IrqRoute, KernelState};
use super::task::{Origin, TaskState};

impl KernelState {
    /// Restarts task `id` in place (see the module docs): the new machine
    /// is built first, so a file that no longer loads leaves the old
    /// instance as it was; then the old instance, if alive, is stopped,
    /// and the fresh one waits in `lifecycle.spawned` for its `start`.
    ///
    /// Errors, in order: `DeadTask` (no such task, or a spawned one whose
    /// identity is gone); `Unsupported` (its machine cannot be remade);
    /// the load's error; `OutOfResources` and the capability system's
    /// errors making the new CSpace (the task is then left stopped).
    pub(crate) fn restart<P: Platform>(
        &mut self,
        id: TaskId,
        platform: &mut P,
    ) -> Result<(), IpcError> {
        let task = self.task(id)?;
        if !task.state.is_alive() && task.reusable && task.supervisor.is_none() {
            return Err(IpcError::DeadTask);
        }
        let machine = self.remake(id, platform)?;
        self.end_instance(id, TaskState::Stopped, platform);
        // The id now names a new instance: no callee may answer the old
        // one's calls into it.
        for other in self.tasks.iter_mut() {
            other.replies.forget_caller(id);
        }
        self.revive(id)?;
        // A fresh instance replaces one made earlier in this handler and
        // not started yet.
        self.lifecycle.spawned.retain(|(spawned, _)| *spawned != id);
        self.lifecycle.spawned.push((id, machine));
        self.pending.post(super::pending::LIFECYCLE_LINE);
        Ok(())
    }

    /// A fresh state machine for task `id`, from its [`Origin`].
    fn remake<P: Platform>(
        &mut self,
        id: TaskId,
        platform: &mut P,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let task = self.task(id)?;
        let name = task.name;
        match task.origin {
            Origin::Unknown => Err(IpcError::Unsupported),
            Origin::Factory(factory) => Ok(factory()),
            Origin::Image(file) => platform.load_program_file(name, file, id, task.budget_ns),
            Origin::Program { file } => {
                match self
                    .caps
                    .lookup_object(self.kernel_cspace, file, Rights::empty())?
                    .1
                {
                    Object::Region { base, len } => platform.load_program(name, base, len, id),
                    other => Err(IpcError::WrongKind {
                        found: other.kind(),
                    }),
                }
            }
        }
    }

    /// Gives the dead task `id` a new instance: a CSpace holding its kept
    /// grants (one whose source was revoked since is not given), its
    /// interrupts routed to it again, a mailbox and reply table of its
    /// size; Idle, with one more restart counted.
    fn revive(&mut self, id: TaskId) -> Result<(), IpcError> {
        let task = self.task(id)?;
        let (slots, letters) = (task.cspace_slots, task.mailbox_letters);
        let kept = task.kept.clone();
        let mailbox = Mailbox::new(letters)?;
        let replies = ReplyTable::new(letters as usize)?;
        let cspace = self.caps.create_cspace(id, slots)?;
        let mut grants = Vec::new();
        grants
            .try_reserve_exact(kept.len())
            .map_err(|_| IpcError::OutOfResources)?;
        for grant in kept {
            let Ok(cap) = self.caps.mint(
                self.kernel_cspace,
                grant.source,
                cspace,
                grant.rights,
                grant.badge,
            ) else {
                continue;
            };
            if let Ok((_, Object::Irq { line })) =
                self.caps
                    .lookup_object(self.kernel_cspace, grant.source, Rights::empty())
                && let Some(route) = self.irq_routes.get_mut(usize::from(line))
            {
                *route = Some(IrqRoute {
                    task: id,
                    badge: grant.badge,
                });
            }
            grants.push(Grant {
                name: grant.name,
                cap,
            });
        }
        let task = self.task_mut(id)?;
        task.cspace = cspace;
        task.mailbox = mailbox;
        task.replies = replies;
        task.grants = grants;
        task.state = TaskState::Idle;
        task.restarts = task.restarts.saturating_add(1);
        Ok(())
    }

    /// Records how an instance of task `id` ended and tells its
    /// supervisor. A stop by a Task capability's holder is not a fault:
    /// `last_fault` keeps the one before.
    pub(crate) fn report_exit(&mut self, id: TaskId, fault: Fault) {
        let Ok(task) = self.task_mut(id) else {
            return;
        };
        if fault.cause != ExitCause::Stopped {
            task.last_fault = Some(fault);
        }
        if let Some(supervisor) = task.supervisor {
            let notice = MessageKind::TaskExited {
                task: id,
                cause: fault.cause,
                address: fault.address,
            };
            self.notify(supervisor.task, notice, supervisor.badge);
        } else if fault.cause != ExitCause::Stopped
            && let Some(policy) = task.unsupervised
        {
            let name = task.name;
            // No one above it (the supervisor itself): the kernel applies
            // its policy, after one report line.
            let action = match policy {
                UnsupervisedPolicy::Reboot => {
                    self.reboot_requested = true;
                    "rebooting"
                }
                UnsupervisedPolicy::PowerOff => {
                    self.power_off_requested = true;
                    "powering off"
                }
            };
            log::error!("{name}: unsupervised task ended ({fault}); its policy: {action}");
        }
    }

    /// Lets the dead spawned task `id` go for good: its Task object,
    /// Endpoint, kept grants and program file are deleted, and its slot
    /// may be reused.
    pub(crate) fn forget_identity<P: Platform>(&mut self, id: TaskId, platform: &mut P) {
        let Ok(task) = self.task_mut(id) else {
            return;
        };
        task.supervisor = None;
        let control = task.control.take();
        let endpoint = task.endpoint;
        let kept = core::mem::take(&mut task.kept);
        let origin = core::mem::replace(&mut task.origin, Origin::Unknown);
        // Its slot will be reused: no callee may answer into it.
        for other in self.tasks.iter_mut() {
            other.replies.forget_caller(id);
        }
        if let Some(control) = control {
            let _ = self.caps.destroy(control);
        }
        if let Ok(found) = self
            .caps
            .lookup(self.kernel_cspace, endpoint, Rights::empty())
        {
            let _ = self.caps.destroy(found.object);
        }
        let kernel_cspace = self.kernel_cspace;
        let own = kept
            .iter()
            .filter(|grant| grant.own)
            .map(|grant| grant.source);
        let file = match origin {
            Origin::Program { file } => Some(file),
            _ => None,
        };
        for cap in own.chain(file) {
            if let Ok(Some(freed)) = self.caps.drop_cap(kernel_cspace, cap) {
                self.release(freed, platform);
            }
        }
    }
}
