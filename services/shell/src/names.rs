//! How a command line names things: a task ([`TaskRef`], by name or
//! id), a capability slot ([`SlotRef`]), and, for `run`, a program (the
//! file's base name) and the tasks whose endpoints it is given.
//! Each check returns a [`CommandError`], so a bad word is one line.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::CapRef;
use mealy_protocol::abi::GRANT_NAME;

use crate::command::CommandError;

/// A task as the user names it: all digits is an id, anything else a name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TaskRef {
    Id(u32),
    Name(String),
}

impl TaskRef {
    /// Reads a task argument; `BadNumber` for digits that overflow a `u32`.
    pub fn parse(command: &'static str, word: &str) -> Result<Self, CommandError> {
        if word.bytes().all(|byte| byte.is_ascii_digit()) {
            parse_number(command, word).map(TaskRef::Id)
        } else {
            Ok(TaskRef::Name(word.to_string()))
        }
    }

    /// Whether this names the task with `id` and `name`.
    pub fn matches(&self, id: u32, name: &str) -> bool {
        match self {
            TaskRef::Id(wanted) => *wanted == id,
            TaskRef::Name(wanted) => wanted == name,
        }
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRef::Id(id) => write!(f, "{id}"),
            TaskRef::Name(name) => f.write_str(name),
        }
    }
}

/// A capability slot as the user names it: `3`, or `3#1` to insist on a
/// generation (as `caps` prints it), so a stale number cannot hit a
/// capability that has since reused the slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SlotRef {
    pub slot: u32,
    pub generation: Option<u32>,
}

impl SlotRef {
    pub fn parse(command: &'static str, word: &str) -> Result<Self, CommandError> {
        let (slot, generation) = match word.split_once('#') {
            Some((slot, generation)) => (slot, Some(parse_number(command, generation)?)),
            None => (word, None),
        };
        Ok(SlotRef {
            slot: parse_number(command, slot)?,
            generation,
        })
    }

    /// Whether `cap` is the capability this names.
    pub fn matches(&self, cap: CapRef) -> bool {
        // The ABI form keeps the slot in the low half, generation in the high.
        let raw = cap.to_raw();
        let slot = (raw & u64::from(u32::MAX)) as u32;
        let generation = (raw >> 32) as u32;
        slot == self.slot && self.generation.is_none_or(|wanted| wanted == generation)
    }
}

impl fmt::Display for SlotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.slot)?;
        if let Some(generation) = self.generation {
            write!(f, "#{generation}")?;
        }
        Ok(())
    }
}

/// The most grants `run` takes. The kernel takes more; four peers are
/// plenty for a program started from one line, and a line of more is
/// more likely a typo than a plan.
pub const MAX_GRANTS: usize = 4;

fn parse_number(command: &'static str, word: &str) -> Result<u32, CommandError> {
    // `u32::from_str` also takes a leading '+'; the shell does not.
    let digits_only = !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_digit());
    let number = if digits_only { word.parse().ok() } else { None };
    number.ok_or_else(|| CommandError::BadNumber {
        command,
        text: word.to_string(),
    })
}

fn bad_argument(text: &str, why: &'static str) -> CommandError {
    CommandError::BadArgument {
        command: "run",
        text: text.to_string(),
        why,
    }
}

/// The name a program in the file at `path` runs under: the file's base
/// name (`/bin/hello` is `hello`). It must be a name `kill` and `send` can
/// use, so not all digits (that would read as an id).
pub(crate) fn program_name(path: &str) -> Result<&str, CommandError> {
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        return Err(bad_argument(path, "names no file"));
    }
    if name.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad_argument(
            name,
            "cannot name a task: a name of digits reads as an id",
        ));
    }
    Ok(name)
}

/// The grant words of `run`: each a task the shell has an endpoint to,
/// by name or id, at most [`MAX_GRANTS`] and none twice. The program
/// gets the endpoint under the task's name, so a name must fit a grant
/// record.
pub(crate) fn run_grants<'a>(
    words: impl Iterator<Item = &'a str>,
) -> Result<Vec<TaskRef>, CommandError> {
    let mut grants: Vec<TaskRef> = Vec::new();
    for word in words {
        if grants.len() == MAX_GRANTS {
            return Err(CommandError::TooManyArguments { command: "run" });
        }
        let grant = TaskRef::parse("run", word)?;
        if matches!(grant, TaskRef::Name(_)) && word.len() > GRANT_NAME {
            return Err(bad_argument(word, TOO_LONG));
        }
        if grants.contains(&grant) {
            return Err(bad_argument(word, "is granted twice"));
        }
        grants.push(grant);
    }
    Ok(grants)
}

const TOO_LONG: &str = "is longer than a grant's name can be (24 bytes)";
// The text above says 24.
const _: () = assert!(GRANT_NAME == 24);
