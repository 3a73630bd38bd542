//! The supervisor: holds a Task capability for each task it supervises
//! and restarts it, by its restart policy, whenever the kernel says it
//! ended (Hubris's jefe, as a state machine).
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, depends only on
//! `mealy-protocol` and `postcard`. It runs the same in ring 0 or ring 3:
//! everything it knows comes from its grants.
//!
//! # Grants
//!
//! - `policy`: a READ Region holding a postcard
//!   [`PolicyTable`](mealy_protocol::supervision::PolicyTable): each
//!   supervised task's name and [`RestartPolicy`]. One that does not
//!   decode, or names a task twice, is one error line, and nothing is
//!   supervised.
//! - `task:<name>`: the Task capability (WRITE) of each task in the table.
//! - `self`: an endpoint to itself (WRITE, DERIVE). At start it mints one
//!   child per task, badged with the task's index + 1, and names it with
//!   `Context::supervise`, so the badge of each notice says whose it is.
//!
//! # Policy
//!
//! On a `TaskExited` notice (a kind only the kernel sets, so it cannot be
//! forged) for a task whose policy is
//! - `Never`: one line; the task stays down.
//! - `Always { max_restarts, window_ns }`: if it was restarted fewer than
//!   `max_restarts` times in the last `window_ns` (a sliding window over
//!   the times of its restarts, from `now_ns`), `restart_task`; otherwise
//!   it gives up, in one report line
//!   (`[supervisor] fs: gave up after 5 restarts in 10 s (last: #PF@0x0)`),
//!   and leaves it down. A later notice (the shell's `restart` brought it
//!   back) starts its count afresh.
//! - `Reboot`: one line, then `restart_task` on the kernel's Task
//!   capability (`task:kernel`), which resets the machine.
//!
//! It serves no requests: each is refused as malformed (a caller gets an
//! error reply); other kinds are ignored.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use mealy_protocol::inspect::Fault;
use mealy_protocol::supervision::{
    POLICY_GRANT, PolicyTable, RestartPolicy, SELF_GRANT, SUPERVISOR_NAME, task_grant,
};
use mealy_protocol::{
    CapRef, CodecError, Context, Grants, HandleError, Incoming, MessageKind, Rights, StateMachine,
};

/// The most tasks one table may name: a bound on what a bad table costs.
pub const MAX_SUPERVISED: usize = 64;
/// The most restarts per window a policy may allow: each task's record of
/// restart times is allocated at start for its policy's count, so the
/// supervisor's memory does not grow while it works.
pub const MAX_RESTARTS: u32 = 1024;

/// One supervised task.
#[derive(Debug)]
struct Supervised {
    name: String,
    task: CapRef,
    policy: RestartPolicy,
    /// When each restart inside the current window happened, oldest first.
    restarts: VecDeque<u64>,
    /// Gave up on it: the next notice starts its count afresh.
    gave_up: bool,
}

/// The supervisor's state.
#[derive(Debug, Default)]
pub struct Supervisor {
    supervised: Vec<Supervised>,
    /// The kernel's Task capability, for `Reboot`.
    kernel: Option<CapRef>,
    /// Restarts made, in all.
    pub restarts: u64,
    /// Tasks given up on, in all.
    pub given_up: u64,
}

/// Why the policy table was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableError {
    Missing,
    Unreadable(mealy_protocol::IpcError),
    Malformed,
    TooMany(usize),
    Duplicate(String),
    BadPolicy(String),
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TableError::Missing => write!(f, "no `{POLICY_GRANT}` grant"),
            TableError::Unreadable(error) => write!(f, "cannot read it: {error}"),
            TableError::Malformed => f.write_str("it does not decode"),
            TableError::TooMany(count) => {
                write!(f, "{count} tasks (at most {MAX_SUPERVISED})")
            }
            TableError::Duplicate(name) => write!(f, "{name} is named twice"),
            TableError::BadPolicy(name) => {
                write!(
                    f,
                    "{name}: `always` needs a window and 1 to {MAX_RESTARTS} restarts"
                )
            }
        }
    }
}

/// Decodes and checks a policy table: at most [`MAX_SUPERVISED`] tasks,
/// each named once, every `Always` with a non-zero window and count.
pub fn parse_table(bytes: &[u8]) -> Result<Vec<(String, RestartPolicy)>, TableError> {
    // A Region is zero after its bytes; postcard ignores what follows.
    let table: PolicyTable<'_> = postcard::from_bytes(bytes).map_err(|_| TableError::Malformed)?;
    if table.entries.len() > MAX_SUPERVISED {
        return Err(TableError::TooMany(table.entries.len()));
    }
    let mut out: Vec<(String, RestartPolicy)> = Vec::new();
    for entry in table.entries {
        if out.iter().any(|(name, _)| name == entry.task) {
            return Err(TableError::Duplicate(entry.task.into()));
        }
        if let RestartPolicy::Always {
            max_restarts,
            window_ns,
        } = entry.policy
            && (max_restarts == 0 || max_restarts > MAX_RESTARTS || window_ns == 0)
        {
            return Err(TableError::BadPolicy(entry.task.into()));
        }
        out.push((entry.task.into(), entry.policy));
    }
    Ok(out)
}

impl Supervisor {
    pub const fn new() -> Self {
        Self {
            supervised: Vec::new(),
            kernel: None,
            restarts: 0,
            given_up: 0,
        }
    }

    /// The names of the tasks it supervises, in table order.
    pub fn supervised(&self) -> impl Iterator<Item = &str> {
        self.supervised.iter().map(|task| task.name.as_str())
    }

    fn table(
        cx: &mut dyn Context,
        grants: &Grants<'_>,
    ) -> Result<Vec<(String, RestartPolicy)>, TableError> {
        let region = grants.get(POLICY_GRANT).ok_or(TableError::Missing)?;
        let bytes = cx.region(region).map_err(TableError::Unreadable)?;
        parse_table(bytes)
    }

    fn exited(&mut self, cx: &mut dyn Context, index: usize, fault: Fault) {
        let now = cx.now_ns();
        let Some(task) = self.supervised.get_mut(index) else {
            return;
        };
        match task.policy {
            RestartPolicy::Never => {
                cx.log(format_args!(
                    "{}: ended ({fault}); policy never: it stays down",
                    task.name
                ));
            }
            RestartPolicy::Reboot => {
                cx.log(format_args!(
                    "{}: ended ({fault}); policy reboot: rebooting",
                    task.name
                ));
                let result = match self.kernel {
                    Some(kernel) => cx.restart_task(kernel),
                    None => Err(mealy_protocol::IpcError::InvalidCap),
                };
                if let Err(error) = result {
                    cx.log(format_args!("cannot reboot: {error}"));
                }
            }
            RestartPolicy::Always {
                max_restarts,
                window_ns,
            } => {
                if task.gave_up {
                    task.gave_up = false;
                    task.restarts.clear();
                }
                while task
                    .restarts
                    .front()
                    .is_some_and(|&at| now.saturating_sub(at) >= window_ns)
                {
                    task.restarts.pop_front();
                }
                if task.restarts.len() >= max_restarts as usize {
                    task.gave_up = true;
                    self.given_up += 1;
                    cx.log(format_args!(
                        "{}: gave up after {} restarts in {} (last: {fault})",
                        task.name,
                        task.restarts.len(),
                        Seconds(window_ns),
                    ));
                    return;
                }
                match cx.restart_task(task.task) {
                    Ok(()) => {
                        task.restarts.push_back(now);
                        self.restarts += 1;
                        cx.log(format_args!(
                            "{}: restarted after {fault} ({} in {})",
                            task.name,
                            task.restarts.len(),
                            Seconds(window_ns),
                        ));
                    }
                    Err(error) => cx.log(format_args!("{}: restart failed: {error}", task.name)),
                }
            }
        }
    }
}

/// A window, written in whole seconds when it is whole (`10 s`), else in
/// milliseconds.
struct Seconds(u64);

impl core::fmt::Display for Seconds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_multiple_of(1_000_000_000) {
            write!(f, "{} s", self.0 / 1_000_000_000)
        } else {
            write!(f, "{} ms", self.0 / 1_000_000)
        }
    }
}

impl StateMachine for Supervisor {
    fn name(&self) -> &'static str {
        SUPERVISOR_NAME
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.kernel = grants.get(&task_grant(mealy_protocol::supervision::KERNEL_NAME));
        let table = match Self::table(cx, &grants) {
            Ok(table) => table,
            Err(error) => {
                cx.log(format_args!(
                    "bad policy table: {error}; supervising nothing"
                ));
                return Ok(());
            }
        };
        let Some(own) = grants.get(SELF_GRANT) else {
            cx.log(format_args!(
                "no `{SELF_GRANT}` endpoint; supervising nothing"
            ));
            return Ok(());
        };
        for (name, policy) in table {
            let Some(task) = grants.get(&task_grant(&name)) else {
                cx.log(format_args!("{name}: no Task capability; not supervised"));
                continue;
            };
            let badge = mealy_protocol::Badge::new(self.supervised.len() as u64 + 1);
            let named = cx
                .mint(own, Rights::WRITE, badge)
                .and_then(|endpoint| cx.supervise(task, endpoint));
            if let Err(error) = named {
                cx.log(format_args!("{name}: cannot supervise: {error}"));
                continue;
            }
            let kept = match policy {
                RestartPolicy::Always { max_restarts, .. } => max_restarts as usize,
                _ => 0,
            };
            self.supervised.push(Supervised {
                name,
                task,
                policy,
                restarts: VecDeque::with_capacity(kept),
                gave_up: false,
            });
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::TaskExited { cause, address, .. } => {
                let index = msg
                    .badge()
                    .and_then(|badge| usize::try_from(badge.get()).ok())
                    .and_then(|badge| badge.checked_sub(1));
                if let Some(index) = index {
                    self.exited(cx, index, Fault { cause, address });
                }
                Ok(())
            }
            // It serves no requests: a caller gets an error reply rather
            // than waiting for ever (and a look-alike of a notice is one).
            MessageKind::Request => Err(HandleError::Malformed(CodecError::Invalid)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
