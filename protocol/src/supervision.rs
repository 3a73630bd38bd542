//! Supervision and fault injection, as they cross a boundary: the restart
//! policies the task list gives (and the supervisor reads from its
//! `policy` grant, postcard-encoded), the policy the kernel applies when
//! the supervisor itself ends, and the faults `Context::inject_fault`
//! can make a ring-3 task commit.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// The grant under which the supervisor finds its policy table.
pub const POLICY_GRANT: &str = "policy";
/// The grant under which the supervisor finds an endpoint to itself
/// (WRITE and DERIVE), which it mints once per supervised task so each
/// notice's badge says whose it is.
pub const SELF_GRANT: &str = "self";
/// The supervisor's task name.
pub const SUPERVISOR_NAME: &str = "supervisor";
/// The name whose Task capability (`task:kernel`) controls the kernel:
/// `restart_task` on it reboots, `stop_task` powers off.
pub const KERNEL_NAME: &str = "kernel";

/// What a supervisor does when a task it supervises faults or is
/// stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// It stays dead.
    Never,
    /// It is restarted, at most `max_restarts` times in any `window_ns`
    /// of time; one more exit inside the window and the supervisor gives
    /// up on it and says so.
    Always { max_restarts: u32, window_ns: u64 },
    /// The machine is rebooted.
    Reboot,
}

/// The boot services' default: five restarts in any ten seconds.
pub const DEFAULT_POLICY: RestartPolicy = RestartPolicy::Always {
    max_restarts: 5,
    window_ns: 10_000_000_000,
};

/// What the kernel does when a task no one supervises (the supervisor
/// itself) faults: it prints one report line first, either way.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum UnsupervisedPolicy {
    /// Reset the machine.
    Reboot,
    /// Power off.
    PowerOff,
}

/// One supervised task: its name (its Task capability is the grant
/// `task:<name>`) and its policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PolicyEntry<'a> {
    pub task: &'a str,
    pub policy: RestartPolicy,
}

/// The supervisor's `policy` grant, postcard-encoded.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PolicyTable<'a> {
    #[serde(borrow)]
    pub entries: Vec<PolicyEntry<'a>>,
}

/// The grant name of the Task capability for task `name`.
pub fn task_grant(name: &str) -> alloc::string::String {
    alloc::format!("task:{name}")
}

/// A fault `Context::inject_fault` makes a ring-3 task commit, in its
/// own context, the next time it handles a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[repr(u8)]
pub enum FaultKind {
    /// A read of an unmapped page (#PF).
    PageFault = 0,
    /// A non-canonical address (#GP).
    GeneralProtection = 1,
    /// `ud2` (#UD).
    InvalidOpcode = 2,
    /// A division by zero (#DE).
    DivideError = 3,
    /// Unbounded recursion into the stack's guard page (#PF there).
    StackOverflow = 4,
    /// A Rust panic: the runtime's handler ends the task.
    Panic = 5,
    /// A loop that never ends: the handler goes over its budget.
    Loop = 6,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::PageFault,
        FaultKind::GeneralProtection,
        FaultKind::InvalidOpcode,
        FaultKind::DivideError,
        FaultKind::StackOverflow,
        FaultKind::Panic,
        FaultKind::Loop,
    ];

    /// The kind numbered `number` (its `repr`), if any.
    pub fn from_number(number: u64) -> Option<FaultKind> {
        Self::ALL.get(usize::try_from(number).ok()?).copied()
    }

    /// Its short name, as the shell's `fault` and `fault=NAME:KIND` take it.
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::PageFault => "pf",
            FaultKind::GeneralProtection => "gp",
            FaultKind::InvalidOpcode => "ud",
            FaultKind::DivideError => "de",
            FaultKind::StackOverflow => "stack",
            FaultKind::Panic => "panic",
            FaultKind::Loop => "loop",
        }
    }

    /// The kind whose [`FaultKind::name`] is `name`.
    pub fn parse(name: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds_round_trip_by_number_and_name() {
        for (number, kind) in FaultKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as u8 as usize, number);
            assert_eq!(FaultKind::from_number(number as u64), Some(kind));
            assert_eq!(FaultKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(FaultKind::from_number(7), None);
        assert_eq!(FaultKind::from_number(u64::MAX), None);
        assert_eq!(FaultKind::parse("segv"), None);
    }

    #[test]
    fn a_policy_table_round_trips_through_postcard() {
        let table = PolicyTable {
            entries: alloc::vec![
                PolicyEntry {
                    task: "echo",
                    policy: DEFAULT_POLICY
                },
                PolicyEntry {
                    task: "pinger",
                    policy: RestartPolicy::Never
                },
            ],
        };
        let bytes = postcard::to_allocvec(&table).unwrap();
        assert_eq!(
            postcard::from_bytes::<PolicyTable<'_>>(&bytes).unwrap(),
            table
        );
    }
}
