//! The shell task's [`System`]: every command is an operation on a
//! capability the task holds, checked like any other task's.
//!
//! - `ps`, `caps`, `graph`, `mem`, `stats`, `bench`: `Context::inspect`
//!   through its Inspect capability ([`INSPECT`]);
//! - `send` and the file commands: calls through its endpoint to the task
//!   (named after it);
//! - `run`: `Context::spawn` with the file's Region, passing on those
//!   endpoints; the Task capability it answers with is kept in
//!   [`Programs`];
//! - `revoke` and `kill`: `revoke_in` / `stop_task` through its Task
//!   capability for the task (a started program's from [`Programs`], a
//!   boot task's granted as [`task_grant`]; `task:kernel` reaches the
//!   kernel's CSpace of originals);
//! - `shutdown`: `stop_task` on `task:kernel`, which powers off once every
//!   message already sent has been handled.
//!
//! Revoke one of those capabilities and the command that needs it fails
//! with the capability error.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_caps::{CapRef, Object, Rights, Snapshot, TaskId};
use mealy_protocol::inspect::{Query, Report, TaskStatus};
use mealy_protocol::{Context, Grant, IpcError};

use crate::command::{SlotRef, TaskRef};
use crate::programs::{Program, Programs, SpawnRefused};
use crate::system::{BenchReport, Call, CapRow, MemReport, Started, Stats, System, TaskRow};

/// The grant name of the shell's Inspect capability.
pub const INSPECT: &str = "inspect";

/// The name `ps` and the Task capabilities give the kernel.
pub const KERNEL: &str = "kernel";

/// The grant name of the shell's Task capability for `task`.
pub fn task_grant(task: &str) -> String {
    format!("task:{task}")
}

/// The running system as the shell's task sees it, for the length of one
/// message.
pub struct ContextSystem<'a> {
    pub cx: &'a mut dyn Context,
    /// What the task list granted the shell, by name.
    pub grants: &'a [Grant],
    /// The programs the shell started, which outlive the message.
    pub programs: &'a mut Programs,
}

impl ContextSystem<'_> {
    /// The shell's capability named `name`.
    fn grant(&self, name: &str) -> Result<CapRef, String> {
        self.grants
            .iter()
            .find(|grant| grant.name == name)
            .map(|grant| grant.cap)
            .ok_or_else(|| format!("the shell holds no capability `{name}`"))
    }

    fn inspect(&mut self, query: Query) -> Result<Report, String> {
        let inspect = self.grant(INSPECT)?;
        self.cx
            .inspect(inspect, query)
            .map_err(|error| error.to_string())
    }

    fn snapshot(&mut self) -> Result<Snapshot, String> {
        match self.inspect(Query::Graph)? {
            Report::Graph(snapshot) => Ok(snapshot),
            _ => wrong_answer(),
        }
    }

    /// The id and name of the task `task` refers to: the kernel, or any
    /// task ever started, running or not. A name that several tasks had
    /// (a program run twice) is the first of them that has not stopped,
    /// else the first.
    fn resolve(&mut self, task: &TaskRef) -> Result<(TaskId, String), String> {
        if task.matches(TaskId::KERNEL.0, KERNEL) {
            return Ok((TaskId::KERNEL, KERNEL.to_string()));
        }
        let named: Vec<TaskRow> = self
            .tasks()?
            .into_iter()
            .filter(|row| task.matches(row.id, &row.name))
            .collect();
        named
            .iter()
            .find(|row| row.state != TaskStatus::Stopped)
            .or(named.first())
            .map(|row| (TaskId(row.id), row.name.clone()))
            .ok_or_else(|| format!("there is no {}", describe(task)))
    }

    /// The shell's Task capability for the task `id`, called `name`: a
    /// program's it started, else the one the task list granted.
    fn control(&self, id: TaskId, name: &str) -> Result<CapRef, String> {
        match self.programs.control_of(id, name) {
            Some(control) => Ok(control),
            None => self.grant(&task_grant(name)),
        }
    }

    /// Whether the task table shows the task `id` stopped.
    fn has_stopped(&mut self, id: TaskId) -> bool {
        self.tasks().is_ok_and(|rows| {
            rows.iter()
                .any(|row| row.id == id.0 && row.state == TaskStatus::Stopped)
        })
    }

    /// The task the shell's Task capability `control` controls, as the
    /// capability graph shows it.
    fn task_of(&mut self, control: CapRef) -> Result<TaskId, String> {
        let shell = self.cx.task_id();
        let snapshot = self.snapshot()?;
        let cspace = snapshot
            .cspace_of(shell)
            .ok_or("the shell has no capability space")?;
        let object = snapshot
            .caps_in(cspace)
            .find(|held| held.at.cap == control)
            .map(|held| held.cap.object)
            .ok_or("the shell does not hold the Task capability")?;
        match snapshot.objects.iter().find(|node| node.id == object) {
            Some(node) => match node.object {
                Object::Task { task } => Ok(task),
                _ => Err("the capability names no task".into()),
            },
            None => Err("a capability names a missing object".into()),
        }
    }
}

fn describe(task: &TaskRef) -> String {
    match task {
        TaskRef::Id(id) => format!("task {id}"),
        TaskRef::Name(name) => format!("task `{name}`"),
    }
}

fn wrong_answer<T>() -> Result<T, String> {
    Err("the kernel answered another question".into())
}

impl System for ContextSystem<'_> {
    fn tasks(&mut self) -> Result<Vec<TaskRow>, String> {
        match self.inspect(Query::Tasks)? {
            Report::Tasks(rows) => Ok(rows),
            _ => wrong_answer(),
        }
    }

    fn caps(&mut self, task: Option<&TaskRef>) -> Result<Vec<CapRow>, String> {
        let only = task
            .map(|task| self.resolve(task).map(|(id, _)| id))
            .transpose()?;
        let snapshot = self.snapshot()?;
        let mut rows = Vec::new();
        for node in &snapshot.tasks {
            // The kernel's originals are listed only when asked for.
            let wanted = match only {
                Some(id) => id == node.task,
                None => node.task != TaskId::KERNEL,
            };
            if !wanted {
                continue;
            }
            for cap in snapshot.caps_in(node.cspace) {
                rows.push(CapRow {
                    task: node.task.0,
                    slot: cap.at.cap,
                    rights: cap.cap.rights,
                    badge: cap.cap.badge,
                    object: snapshot
                        .objects
                        .iter()
                        .find(|object| object.id == cap.cap.object)
                        .map(|object| object.object)
                        .ok_or_else(|| "a capability names a missing object".to_string())?,
                });
            }
        }
        Ok(rows)
    }

    fn graph(&mut self) -> Result<Snapshot, String> {
        self.snapshot()
    }

    fn memory(&mut self) -> Result<MemReport, String> {
        match self.inspect(Query::Memory)? {
            Report::Memory(report) => Ok(report),
            _ => wrong_answer(),
        }
    }

    fn call(&mut self, task: &TaskRef, request: &[u8]) -> Result<Call, String> {
        let (peer, endpoint) = self.endpoint(task)?;
        let token = self
            .cx
            .call(endpoint, request, &[])
            .map_err(|error| format!("{peer}: {error}"))?;
        Ok(Call { token, peer })
    }

    fn endpoint(&mut self, task: &TaskRef) -> Result<(String, CapRef), String> {
        let (_, peer) = self.resolve(task)?;
        let endpoint = self
            .grant(&peer)
            .map_err(|_| format!("the shell holds no endpoint to {peer}"))?;
        Ok((peer, endpoint))
    }

    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(String, CapRef)],
    ) -> Result<Started, String> {
        let named: Vec<(&str, CapRef)> = grants
            .iter()
            .map(|(name, cap)| (name.as_str(), *cap))
            .collect();
        let control = self.cx.spawn(program, name, &named).map_err(|error| {
            let names: Vec<&str> = named.iter().map(|(name, _)| *name).collect();
            SpawnRefused::new(error, name, &names).to_string()
        })?;
        // Started: an id that cannot be read is not worth an error.
        let id = self.task_of(control).ok();
        self.programs.add(Program {
            id,
            name: name.to_string(),
            control,
        });
        Ok(Started {
            id: id.map(|id| id.0),
        })
    }

    fn read_region(&mut self, region: CapRef, read: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let pages = self.cx.region(region).map_err(|error| error.to_string())?;
        read(pages);
        Ok(())
    }

    fn write_region(
        &mut self,
        region: CapRef,
        write: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), String> {
        let pages = self
            .cx
            .region_mut(region)
            .map_err(|error| error.to_string())?;
        write(pages);
        Ok(())
    }

    fn rights(&mut self, cap: CapRef) -> Result<Rights, String> {
        let shell = self.cx.task_id();
        let snapshot = self.snapshot()?;
        let cspace = snapshot
            .cspace_of(shell)
            .ok_or("the shell has no capability space")?;
        snapshot
            .caps_in(cspace)
            .find(|held| held.at.cap == cap)
            .map(|held| held.cap.rights)
            .ok_or_else(|| "the shell does not hold that capability".into())
    }

    fn drop_cap(&mut self, cap: CapRef) {
        let _ = self.cx.drop_cap(cap);
    }

    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String> {
        let (id, name) = self.resolve(task)?;
        let snapshot = self.snapshot()?;
        let cspace = snapshot
            .cspace_of(id)
            .ok_or("the task has no capability space")?;
        let cap = snapshot
            .caps_in(cspace)
            .map(|cap| cap.at.cap)
            .find(|cap| slot.matches(*cap))
            .ok_or_else(|| format!("{} holds nothing in that slot", describe(task)))?;
        let control = self.control(id, &name)?;
        self.cx
            .revoke_in(control, cap)
            .map_err(|error| error.to_string())
    }

    fn kill(&mut self, task: &TaskRef) -> Result<(), String> {
        let (id, name) = self.resolve(task)?;
        if id == TaskId::KERNEL {
            return Err("the kernel cannot be killed; use shutdown".into());
        }
        if id == self.cx.task_id() {
            return Err("the shell cannot kill itself".into());
        }
        let control = match self.control(id, &name) {
            Ok(control) => control,
            // A program killed before: the shell let go of it then.
            Err(_) if self.has_stopped(id) => return Err("it is not running".into()),
            Err(error) => return Err(error),
        };
        let stopped = self.cx.stop_task(control);
        // A program stopped now or before, or whose capability was
        // revoked, needs the shell's hold on it no more.
        if matches!(
            stopped,
            Ok(()) | Err(IpcError::DeadTask | IpcError::InvalidCap)
        ) && self.programs.forget(control)
        {
            let _ = self.cx.drop_cap(control);
        }
        stopped.map_err(|error| match error {
            IpcError::DeadTask => "it is not running".to_string(),
            other => other.to_string(),
        })
    }

    fn restart(&mut self, task: &TaskRef) -> Result<(), String> {
        let (id, name) = self.resolve(task)?;
        if id == TaskId::KERNEL {
            return Err("the kernel cannot be restarted".into());
        }
        if id == self.cx.task_id() {
            return Err("the shell cannot restart itself".into());
        }
        // A boot task's Task capability outlives its instances; a program
        // killed before was let go of then.
        let control = match self.control(id, &name) {
            Ok(control) => control,
            Err(_) if self.has_stopped(id) => return Err("it is gone for good".into()),
            Err(error) => return Err(error),
        };
        self.cx.restart_task(control).map_err(|error| match error {
            IpcError::DeadTask | IpcError::InvalidCap => "it is gone for good".to_string(),
            other => other.to_string(),
        })
    }

    fn fault(
        &mut self,
        task: &TaskRef,
        kind: mealy_protocol::supervision::FaultKind,
    ) -> Result<(), String> {
        let (id, name) = self.resolve(task)?;
        if id == TaskId::KERNEL {
            return Err("only a ring-3 task can be made to fault".into());
        }
        let control = self.control(id, &name)?;
        self.cx
            .inject_fault(control, kind)
            .map_err(|error| match error {
                IpcError::DeadTask => "it is not running".to_string(),
                IpcError::Unsupported => "only a ring-3 task can be made to fault".to_string(),
                other => other.to_string(),
            })
    }

    fn stats(&mut self) -> Result<Stats, String> {
        match self.inspect(Query::Stats)? {
            Report::Stats(stats) => Ok(stats),
            _ => wrong_answer(),
        }
    }

    fn bench(&mut self) -> Result<BenchReport, String> {
        match self.inspect(Query::Bench)? {
            Report::Bench(report) => Ok(report),
            _ => wrong_answer(),
        }
    }

    fn uptime_ns(&mut self) -> Result<u64, String> {
        Ok(self.cx.now_ns())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        let kernel = self.grant(&task_grant(KERNEL))?;
        self.cx.stop_task(kernel).map_err(|error| error.to_string())
    }
}
