//! What each [`Change`] does to the namespace a commit builds: paths
//! checked and made canonical, parents required, directories moved with
//! everything under them, a file's new bytes given blocks the committed
//! generation does not reference (and their writes queued), a kept file
//! checked against the committed generation. `commit.rs` turns the result
//! into ordered I/O.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::catalog::{Catalog, Entry, FileEntry, normalize_path, parent_of};
use super::commit::{CommitError, Source, Step, Write};
use super::mount::Committed;
use super::space::BlockMap;
use super::{BLOCK, blocks_for, crc32};

/// One change to the namespace. Paths are `/`-separated; empty names are
/// ignored (`/a//b` is `a/b`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Change<'a> {
    /// Creates the file, or replaces its whole contents.
    Write {
        path: &'a str,
        data: &'a [u8],
    },
    Mkdir {
        path: &'a str,
    },
    /// A file or an empty directory.
    Remove {
        path: &'a str,
    },
    /// `to` must not exist; a directory moves with everything under it.
    Rename {
        from: &'a str,
        to: &'a str,
    },
    /// Puts a file of the committed generation, unchanged, at `path`
    /// (creating or replacing what is there), without writing its bytes:
    /// `file` is its entry in the committed catalog, which the fs keeps
    /// for each clean file, wherever it has moved since. With
    /// [`CommitPlan::replace`](super::CommitPlan::replace) this is how
    /// unchanged files carry over.
    Keep {
        path: &'a str,
        file: &'a FileEntry,
    },
}

/// The committed generation's files by first block, to check a `Keep`
/// (filled only if there is one).
pub(crate) struct CommittedFiles<'c>(BTreeMap<u64, &'c FileEntry>);

impl<'c> CommittedFiles<'c> {
    pub(crate) fn new(committed: &'c Committed, changes: &[Change<'_>]) -> Self {
        let mut files = BTreeMap::new();
        if changes.iter().any(|c| matches!(c, Change::Keep { .. })) {
            for (_, entry) in committed.catalog.entries() {
                if let Entry::File(file) = entry
                    && let Some(first) = file.extents.first()
                {
                    files.insert(first.block, file);
                }
            }
        }
        CommittedFiles(files)
    }

    /// Whether `file` is a file of the committed generation, as it is
    /// there (an empty file references no block and is always one).
    fn contains(&self, file: &FileEntry) -> bool {
        match file.extents.first() {
            None => file.size == 0 && file.data_crc == crc32(&[]),
            Some(first) => self.0.get(&first.block).is_some_and(|c| *c == file),
        }
    }
}

/// Applies one change to the planned catalog, allocating and queueing the
/// writes of a file's new contents.
pub(crate) fn apply(
    catalog: &mut Catalog,
    space: &mut BlockMap,
    steps: &mut Vec<Step>,
    committed: &CommittedFiles<'_>,
    change: usize,
    what: &Change<'_>,
) -> Result<(), CommitError> {
    let path = |raw: &str| {
        normalize_path(raw)
            .filter(|p| !p.is_empty())
            .ok_or(CommitError::BadPath { change })
    };
    let has_parent = |catalog: &Catalog, p: &str| {
        if catalog.is_dir(parent_of(p)) {
            Ok(())
        } else {
            Err(CommitError::NoParent { change })
        }
    };
    match *what {
        Change::Write { path: raw, data } => {
            let p = path(raw)?;
            has_parent(catalog, &p)?;
            if let Some(Entry::Directory) = catalog.get(&p) {
                return Err(CommitError::IsADirectory { change });
            }
            let blocks = blocks_for(data.len() as u64).ok_or(CommitError::TooLarge)?;
            let extents = space.allocate(blocks).ok_or(CommitError::NoSpace {
                needed: blocks,
                free: space.free(),
            })?;
            let mut offset = 0u64;
            for extent in &extents {
                let len = (extent.blocks * BLOCK as u64).min(data.len() as u64 - offset);
                steps.push(Step::Write(Write {
                    block: extent.block,
                    blocks: extent.blocks,
                    source: Source::Change {
                        index: change,
                        offset,
                    },
                    len,
                }));
                offset += len;
            }
            let file = FileEntry {
                size: data.len() as u64,
                data_crc: crc32(data),
                extents,
            };
            catalog.entries.insert(p, Entry::File(file));
        }
        Change::Keep { path: raw, file } => {
            let p = path(raw)?;
            has_parent(catalog, &p)?;
            if let Some(Entry::Directory) = catalog.get(&p) {
                return Err(CommitError::IsADirectory { change });
            }
            if !committed.contains(file) {
                return Err(CommitError::NotCommitted { change });
            }
            catalog.entries.insert(p, Entry::File(file.clone()));
        }
        Change::Mkdir { path: raw } => {
            let p = path(raw)?;
            has_parent(catalog, &p)?;
            if catalog.get(&p).is_some() {
                return Err(CommitError::Exists { change });
            }
            catalog.entries.insert(p, Entry::Directory);
        }
        Change::Remove { path: raw } => {
            let p = path(raw)?;
            match catalog.get(&p) {
                None => return Err(CommitError::NotFound { change }),
                Some(Entry::Directory) if has_children(catalog, &p) => {
                    return Err(CommitError::NotEmpty { change });
                }
                Some(_) => {}
            }
            catalog.entries.remove(&p);
        }
        Change::Rename { from, to } => {
            let from = path(from)?;
            let to = path(to)?;
            if catalog.get(&from).is_none() {
                return Err(CommitError::NotFound { change });
            }
            if to == from || to.starts_with(&alloc::format!("{from}/")) {
                return Err(CommitError::IntoItself { change });
            }
            if catalog.get(&to).is_some() {
                return Err(CommitError::Exists { change });
            }
            has_parent(catalog, &to)?;
            let prefix = alloc::format!("{from}/");
            let moved: Vec<alloc::string::String> = catalog
                .entries
                .keys()
                .filter(|k| **k == from || k.starts_with(&prefix))
                .cloned()
                .collect();
            for old in moved {
                if let Some(entry) = catalog.entries.remove(&old) {
                    let new = alloc::format!("{to}{}", &old[from.len()..]);
                    catalog.entries.insert(new, entry);
                }
            }
        }
    }
    Ok(())
}

fn has_children(catalog: &Catalog, dir: &str) -> bool {
    let prefix = alloc::format!("{dir}/");
    catalog
        .entries
        .range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&prefix))
}
