//! Tests of the disk format: the crash harness (`sim.rs` the simulated
//! disk, `crash.rs` the workloads and the count of crash points),
//! corruption (`corrupt.rs`: damaged superblocks, metadata and data, and
//! hand-made catalogs that break each rule), mount as steps
//! (`mounting.rs`: the reads in order, fallback, short replies), recovery
//! (`recovery.rs`: a commit retried after a failure, a format cut short),
//! and commit planning
//! (`commit.rs`: each refusal, block reuse, that a plan never writes a
//! block the committed generation references).
//!
//! The model a disk is checked against is [`State`]: every path, `None`
//! for a directory, a file's bytes otherwise.

mod commit;
mod corrupt;
mod crash;
mod mounting;
mod recovery;
mod sim;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Change, Committed, Entry, MountError, Mounted, mount_image, read_file};

/// What a generation holds.
pub type State = BTreeMap<String, Option<Vec<u8>>>;

/// The state of a mounted generation, file bytes read from `disk`.
pub fn state_of(disk: &[u8], mounted: &Committed) -> State {
    mounted
        .catalog
        .entries()
        .map(|(path, entry)| {
            let bytes = match entry {
                Entry::Directory => None,
                Entry::File(file) => Some(read_file(disk, file).expect("validated extents")),
            };
            (String::from(path), bytes)
        })
        .collect()
}

/// Mounts `disk` and reads its state.
pub fn mount_state(disk: &[u8]) -> Result<(Mounted, State), MountError> {
    let mounted = mount_image(disk)?;
    let state = state_of(disk, &mounted.committed);
    Ok((mounted, state))
}

/// The model's view of one change (workloads only contain valid ones).
pub fn apply_model(state: &mut State, change: &OwnedChange) {
    match change {
        OwnedChange::Write(path, data) => {
            state.insert(path.clone(), Some(data.clone()));
        }
        OwnedChange::Mkdir(path) => {
            state.insert(path.clone(), None);
        }
        OwnedChange::Remove(path) => {
            state.remove(path);
        }
        OwnedChange::Rename(from, to) => {
            let prefix = alloc::format!("{from}/");
            let moved: Vec<String> = state
                .keys()
                .filter(|k| *k == from || k.starts_with(&prefix))
                .cloned()
                .collect();
            for old in moved {
                let value = state.remove(&old).expect("listed");
                state.insert(alloc::format!("{to}{}", &old[from.len()..]), value);
            }
        }
    }
}

/// An owned change, for workloads built at run time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum OwnedChange {
    Write(String, Vec<u8>),
    Mkdir(String),
    Remove(String),
    Rename(String, String),
}

impl OwnedChange {
    pub fn borrow(&self) -> Change<'_> {
        match self {
            OwnedChange::Write(path, data) => Change::Write { path, data },
            OwnedChange::Mkdir(path) => Change::Mkdir { path },
            OwnedChange::Remove(path) => Change::Remove { path },
            OwnedChange::Rename(from, to) => Change::Rename { from, to },
        }
    }
}

pub fn borrow_all(changes: &[OwnedChange]) -> Vec<Change<'_>> {
    changes.iter().map(OwnedChange::borrow).collect()
}

pub fn write(path: &str, data: &[u8]) -> OwnedChange {
    OwnedChange::Write(path.into(), data.to_vec())
}

pub fn mkdir(path: &str) -> OwnedChange {
    OwnedChange::Mkdir(path.into())
}

pub fn remove(path: &str) -> OwnedChange {
    OwnedChange::Remove(path.into())
}

pub fn rename(from: &str, to: &str) -> OwnedChange {
    OwnedChange::Rename(from.into(), to.into())
}

/// `len` bytes of a pattern that differs per `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
