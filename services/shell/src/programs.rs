//! The programs the shell starts with `run`: the Task capability
//! `Context::spawn` answers with is kept here ([`Programs`]), so `kill`
//! and `revoke` reach a started program exactly as they reach a boot task
//! through its `task:<name>` grant; and what a refused spawn means, in
//! words for the person who typed the line ([`SpawnRefused`]).
//!
//! A program's Task capability is the shell's only hold on it: the boot
//! list granted nothing for it. It is dropped when `kill` has stopped the
//! program (or found it stopped already), so a killed program leaves no
//! capability behind in the shell.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use alloc::format;
use mealy_caps::{CapRef, Rights, TaskId};
use mealy_protocol::IpcError;
use mealy_protocol::abi::GRANT_NAME;

use crate::command::TaskRef;
use crate::system::System;

/// A program the shell started and has not killed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Program {
    /// Its task id, as the kernel's capability graph showed it right
    /// after the spawn; `None` if that could not be read.
    pub id: Option<TaskId>,
    pub name: String,
    /// The Task capability `spawn` answered with (READ and WRITE).
    pub control: CapRef,
}

/// Every program the shell started and has not killed, oldest first.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Programs {
    started: Vec<Program>,
}

impl Programs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, program: Program) {
        self.started.push(program);
    }

    /// The Task capability for the task `id`, called `name`, if the shell
    /// started it: by id, or by name for a program whose id is unknown.
    pub fn control_of(&self, id: TaskId, name: &str) -> Option<CapRef> {
        self.started
            .iter()
            .find(|program| match program.id {
                Some(known) => known == id,
                None => program.name == name,
            })
            .map(|program| program.control)
    }

    /// Forgets the program controlled through `control`; whether there
    /// was one.
    pub fn forget(&mut self, control: CapRef) -> bool {
        let before = self.started.len();
        self.started.retain(|program| program.control != control);
        self.started.len() != before
    }

    pub fn iter(&self) -> impl Iterator<Item = &Program> {
        self.started.iter()
    }
}

/// The shell's endpoints to the tasks `grants`, each named as the program
/// gets it (the task's name), or why the first that cannot be given
/// cannot.
pub fn endpoints(
    system: &mut dyn System,
    grants: &[TaskRef],
) -> Result<Vec<(String, CapRef)>, String> {
    let mut named: Vec<(String, CapRef)> = Vec::new();
    for grant in grants {
        let (name, endpoint) = system
            .endpoint(grant)
            .map_err(|reason| format!("cannot grant {grant}: {reason}"))?;
        if name.len() > GRANT_NAME {
            return Err(format!(
                "cannot grant {name}: its name is longer than a grant's can be ({GRANT_NAME} bytes)"
            ));
        }
        // `echo` and its id are the same grant.
        if named.iter().any(|(taken, _)| *taken == name) {
            return Err(format!("{name} is granted twice"));
        }
        named.push((name, endpoint));
    }
    Ok(named)
}

/// Why the kernel did not start a program, from the `IpcError` its spawn
/// answered with.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SpawnRefused {
    /// `Malformed`: the file is no static-PIE ELF the kernel runs.
    NotAProgram { name: String },
    /// `MissingRights` with GRANT: the shell may not pass on one of these
    /// endpoints (the task list gave it without GRANT).
    CannotGrant { grants: Vec<String> },
    /// `Unsupported`: this kernel starts no programs.
    Unsupported,
    /// Anything else, as the kernel said it.
    Kernel(IpcError),
}

impl SpawnRefused {
    /// What `error`, the answer to spawning `name` with `grants` (their
    /// names), means.
    pub fn new(error: IpcError, name: &str, grants: &[&str]) -> Self {
        match error {
            IpcError::Malformed => SpawnRefused::NotAProgram {
                name: name.to_string(),
            },
            IpcError::MissingRights { missing }
                if missing.intersects(Rights::DERIVE | Rights::GRANT) && !grants.is_empty() =>
            {
                SpawnRefused::CannotGrant {
                    grants: grants.iter().map(ToString::to_string).collect(),
                }
            }
            IpcError::Unsupported => SpawnRefused::Unsupported,
            other => SpawnRefused::Kernel(other),
        }
    }
}

impl fmt::Display for SpawnRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnRefused::NotAProgram { name } => write!(
                f,
                "{name} is not a program (not a static-PIE ELF the kernel can run)"
            ),
            SpawnRefused::CannotGrant { grants } => match grants.as_slice() {
                [one] => write!(
                    f,
                    "the shell may not pass on its endpoint to {one} (it lacks DERIVE or GRANT)"
                ),
                many => write!(
                    f,
                    "the shell lacks DERIVE or GRANT on one of its endpoints to {}",
                    many.join(", ")
                ),
            },
            SpawnRefused::Unsupported => f.write_str("this kernel cannot start programs"),
            SpawnRefused::Kernel(error) => write!(f, "the kernel refused: {error}"),
        }
    }
}
