//! The debug shell's [`System`], carried out as the shell's own task: every
//! command is an operation on a capability that task holds, checked like
//! any other task's.
//!
//! - `ps`, `caps`, `graph`, `mem`, `stats`, `bench`: `Context::inspect`
//!   through its Inspect capability (`inspect`);
//! - `send`: a call through its endpoint to the task (named after it);
//! - `revoke` and `kill`: `revoke_in` / `stop_task` through its Task
//!   capability for the task (`task:<name>`, `task:kernel` for the
//!   kernel's CSpace of originals);
//! - `shutdown`: `stop_task` on `task:kernel`, which powers off once every
//!   message already sent has been handled.
//!
//! Revoke one of those capabilities and the command that needs it fails
//! with the capability error. Portable (generic over the [`Platform`]), so
//! the whole shell runs on the host in tests.
//!
//! The shell's line handling runs in the kernel's console loop, which
//! calls this: `send` must wait for an answer, and it does so by running
//! the other tasks (`dispatch_one`) until the answer arrives, which only
//! the loop that owns the scheduler can do.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_caps::{CapRef, Rights, Snapshot};
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::text::{TextAnswer, TextCommand};
use mealy_protocol::{Context, Grant, IpcError, decode, encode};
use mealy_shell::{BenchReport, CapRow, MemReport, SlotRef, Stats, System, TaskRef, TaskRow};

use crate::console_task::{self, CallAnswer};
use crate::sched::{CapSpec, KERNEL_NAME, KERNEL_TASK, Platform, Scheduler, TaskSpec};

/// The name of the shell task's Inspect capability.
pub const INSPECT: &str = "inspect";

/// The grant name of the shell task's Task capability for `task`.
pub fn task_grant(task: &str) -> String {
    format!("task:{task}")
}

/// The capabilities the shell's task starts with, for a boot list of
/// `tasks`: an endpoint to each (named after it), a Task capability for
/// each and for the kernel, and the Inspect capability.
pub fn shell_caps(tasks: &[TaskSpec]) -> Vec<CapSpec> {
    let mut caps: Vec<CapSpec> = tasks
        .iter()
        .map(|task| CapSpec::endpoint(task.name, task.name, Rights::WRITE, 0))
        .collect();
    for name in tasks.iter().map(|task| task.name).chain([KERNEL_NAME]) {
        let grant: &'static str = String::leak(task_grant(name));
        caps.push(CapSpec::task(grant, name));
    }
    caps.push(CapSpec::inspect(INSPECT));
    caps
}

/// The running system as the shell's task `shell` sees it.
pub struct ShellSystem<'a, P: Platform> {
    pub scheduler: &'a mut Scheduler<P>,
    pub shell: mealy_caps::TaskId,
}

impl<P: Platform> ShellSystem<'_, P> {
    /// The shell task's capability named `name`.
    fn grant(&self, name: &str) -> Result<CapRef, String> {
        self.scheduler
            .grants(self.shell)
            .iter()
            .find(|grant: &&Grant| grant.name == name)
            .map(|grant| grant.cap)
            .ok_or_else(|| format!("the shell holds no capability `{name}`"))
    }

    /// Runs `act` as the shell's task.
    fn act<R>(&mut self, act: impl FnOnce(&mut dyn Context) -> R) -> Result<R, String> {
        self.scheduler
            .act_as(self.shell, act)
            .ok_or_else(|| "the shell task is not running".to_string())
    }

    fn inspect(&mut self, query: Query) -> Result<Report, String> {
        let inspect = self.grant(INSPECT)?;
        self.act(|cx| cx.inspect(inspect, query))?
            .map_err(|error| error.to_string())
    }

    fn snapshot(&mut self) -> Result<Snapshot, String> {
        match self.inspect(Query::Graph)? {
            Report::Graph(snapshot) => Ok(snapshot),
            _ => Err("the kernel answered another question".into()),
        }
    }

    /// The id and name of the task `task` refers to: the kernel, or any
    /// task ever started, running or not.
    fn resolve(&mut self, task: &TaskRef) -> Result<(mealy_caps::TaskId, String), String> {
        if task.matches(KERNEL_TASK.0, KERNEL_NAME) {
            return Ok((KERNEL_TASK, KERNEL_NAME.to_string()));
        }
        self.tasks()?
            .into_iter()
            .find(|row| task.matches(row.id, &row.name))
            .map(|row| (mealy_caps::TaskId(row.id), row.name))
            .ok_or_else(|| format!("there is no {}", describe(task)))
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

impl<P: Platform> System for ShellSystem<'_, P> {
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
                None => node.task != KERNEL_TASK,
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

    fn send(&mut self, task: &TaskRef, text: &str) -> Result<Option<String>, String> {
        let (_, name) = self.resolve(task)?;
        let endpoint = self
            .grant(&name)
            .map_err(|_| format!("the shell holds no endpoint to {name}"))?;
        let mut buffer = [0u8; mealy_protocol::MAX_PAYLOAD];
        let payload =
            encode(&TextCommand { line: text }, &mut buffer).map_err(|error| error.to_string())?;
        let token = self
            .act(|cx| cx.call(endpoint, payload, &[]))?
            .map_err(|error| format!("{name}: {error}"))?;
        loop {
            if let Some(answer) = console_task::take_answer(token) {
                return match answer {
                    CallAnswer::Reply(bytes) => Ok(Some(match decode::<TextAnswer<'_>>(&bytes) {
                        Ok(answer) => answer.text.to_string(),
                        Err(_) => {
                            format!("{name} answered {} bytes that are not text", bytes.len())
                        }
                    })),
                    CallAnswer::Failed(reason) => Err(format!("{name}: {reason}")),
                };
            }
            if !self.scheduler.dispatch_one() {
                return Err(format!("{name} did not answer"));
            }
        }
    }

    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String> {
        let (id, name) = self.resolve(task)?;
        let snapshot = self.snapshot()?;
        let node = snapshot
            .tasks
            .iter()
            .find(|node| node.task == id)
            .ok_or("the task has no capability space")?;
        let cap = snapshot
            .caps_in(node.cspace)
            .map(|cap| cap.at.cap)
            .find(|cap| slot.matches(*cap))
            .ok_or_else(|| format!("{} holds nothing in that slot", describe(task)))?;
        let control = self.grant(&task_grant(&name))?;
        self.act(|cx| cx.revoke_in(control, cap))?
            .map_err(|error| error.to_string())
    }

    fn kill(&mut self, task: &TaskRef) -> Result<(), String> {
        let (id, name) = self.resolve(task)?;
        if id == KERNEL_TASK {
            return Err("the kernel cannot be killed; use shutdown".into());
        }
        if id == self.shell {
            return Err("the shell cannot kill itself".into());
        }
        let control = self.grant(&task_grant(&name))?;
        self.act(|cx| cx.stop_task(control))?
            .map_err(|error| match error {
                IpcError::DeadTask => "it is not running".to_string(),
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
        self.act(|cx| cx.now_ns())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        let kernel = self.grant(&task_grant(KERNEL_NAME))?;
        self.act(|cx| cx.stop_task(kernel))?
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use mealy_shell::Shell;

    use super::*;
    use crate::sched::{HostPlatform, PendingInterrupts, SchedConfig};

    static PENDING: PendingInterrupts = PendingInterrupts::new();

    /// The boot tasks and the shell's task, as the kernel starts them.
    fn boot() -> (Scheduler<HostPlatform>, mealy_caps::TaskId) {
        let mut sched = Scheduler::new(
            crate::tasks::host_platform(),
            &PENDING,
            SchedConfig::default(),
        )
        .unwrap();
        sched.spawn_all(&crate::tasks::boot_list()).unwrap();
        sched.run_until_idle(100_000);
        let shell = sched.task_by_name(console_task::NAME).unwrap();
        (sched, shell)
    }

    fn run(sched: &mut Scheduler<HostPlatform>, shell: mealy_caps::TaskId, line: &str) -> String {
        let mut system = ShellSystem {
            scheduler: sched,
            shell,
        };
        let text = Shell::new().feed(line.as_bytes(), &mut system).text;
        match text.strip_suffix(mealy_shell::PROMPT) {
            Some(text) => text.to_string(),
            None => text,
        }
    }

    /// The kernel slot holding the original the shell's `name` grant
    /// was minted from.
    fn original_of(sched: &Scheduler<HostPlatform>, shell: mealy_caps::TaskId, name: &str) -> u32 {
        let cap = sched
            .grants(shell)
            .iter()
            .find(|grant| grant.name == name)
            .unwrap()
            .cap;
        let snapshot = sched.caps().snapshot();
        let kernel = snapshot
            .tasks
            .iter()
            .find(|node| node.task == KERNEL_TASK)
            .unwrap();
        let original = snapshot
            .caps_in(kernel.cspace)
            .find(|original| {
                snapshot
                    .children_of(original.at)
                    .any(|child| child.cap == cap)
            })
            .unwrap();
        (original.at.cap.to_raw() & u64::from(u32::MAX)) as u32
    }

    #[test]
    fn ps_reads_the_task_table_through_the_inspect_capability() {
        let (mut sched, shell) = boot();
        let out = run(&mut sched, shell, "ps\n");
        assert!(out.contains("echo"), "{out}");
        assert!(out.contains("pinger"), "{out}");
        assert!(out.contains(console_task::NAME), "{out}");

        // Take the Inspect capability away: ps fails with the cap error.
        let slot = original_of(&sched, shell, INSPECT);
        let out = run(&mut sched, shell, &format!("revoke kernel {slot}\n"));
        assert!(out.contains("revoked 1"), "{out}");
        let out = run(&mut sched, shell, "ps\n");
        assert!(
            out.contains("error: ps: invalid or stale capability"),
            "{out}"
        );
        let out = run(&mut sched, shell, "graph\n");
        assert!(out.contains("error: graph:"), "{out}");
    }

    #[test]
    fn kill_goes_through_a_task_capability_and_its_peers_get_errors() {
        let (mut sched, shell) = boot();
        let out = run(&mut sched, shell, "kill echo\n");
        assert!(!out.contains("error"), "{out}");
        let echo = sched.task_by_name("echo");
        assert_eq!(echo, None, "echo is no longer alive");
        let out = run(&mut sched, shell, "kill echo\n");
        assert!(out.contains("error: kill: it is not running"), "{out}");
        // A peer's next call fails.
        let pinger = sched.task_by_name("pinger").unwrap();
        let endpoint = sched.grants(pinger)[0].cap;
        let sent = sched
            .act_as(pinger, |cx| cx.call(endpoint, b"x", &[]))
            .unwrap();
        assert_eq!(sent, Err(IpcError::DeadTask));
        // Without its Task capability the shell cannot kill.
        let slot = original_of(&sched, shell, &task_grant("pinger"));
        run(&mut sched, shell, &format!("revoke kernel {slot}\n"));
        let out = run(&mut sched, shell, "kill pinger\n");
        assert!(
            out.contains("error: kill: invalid or stale capability"),
            "{out}"
        );
        assert!(sched.task_by_name("pinger").is_some());
    }

    #[test]
    fn shutdown_stops_the_kernel_through_its_task_capability() {
        let (mut sched, shell) = boot();
        assert!(!sched.power_off_requested());
        let out = run(&mut sched, shell, "shutdown\n");
        assert!(out.contains("shutting down"), "{out}");
        assert!(sched.power_off_requested());
    }

    #[test]
    fn the_shell_cannot_kill_itself_or_the_kernel() {
        let (mut sched, shell) = boot();
        let out = run(&mut sched, shell, &format!("kill {}\n", console_task::NAME));
        assert!(
            out.contains("error: kill: the shell cannot kill itself"),
            "{out}"
        );
        let out = run(&mut sched, shell, "kill kernel\n");
        assert!(
            out.contains("error: kill: the kernel cannot be killed"),
            "{out}"
        );
        assert!(!sched.power_off_requested());
    }
}
