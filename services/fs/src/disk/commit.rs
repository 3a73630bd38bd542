//! A commit: from the committed generation and a list of [`Change`]s to a
//! [`CommitPlan`], the exact, ordered I/O that makes the changes durable
//! as generation + 1, all or nothing:
//!
//! 1. every changed file's bytes and the new catalog, written to blocks
//!    the committed generation does not reference (in any order, the
//!    device may reorder them); when formatting (generation 0), first
//!    zero both slots and flush, so no old fs is left pointing at blocks
//!    this overwrites;
//! 2. [`Step::Flush`]: all of that is on the medium;
//! 3. the new superblock, into the slot of the generation before the
//!    committed one (`generation % 2`);
//! 4. [`Step::Flush`]: the commit is durable; only now may the caller
//!    [`CommitPlan::finish`] and reuse the old generation's blocks.
//!
//! A power cut before step 3 reaches the medium leaves the committed
//! generation as the newest valid one (step 1 touched none of its blocks);
//! a torn superblock fails its checksum, so the same. Planning does no
//! I/O and changes nothing. A plan that fails part way may have landed
//! its superblock or not; [`CommitPlan::abandon`] gives the state to plan
//! the retry from, which avoids the blocks of both.
//!
//! The plan does not copy file data: a [`Write`] names its [`Source`]
//! (the change it came from and an offset, the plan's metadata, its
//! superblock, or zeros) and [`CommitPlan::fill`] produces the block
//! bytes when the executor needs them. The caller must pass the same
//! changes, with the same bytes, to `plan` and `fill` (the checksums are
//! computed when planning): the fs service snapshots a file that is open
//! writable before it plans.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::catalog::{Catalog, Entry, Extent};
use super::changes::{Change, CommittedFiles, apply};
use super::mount::Committed;
use super::space::BlockMap;
use super::superblock::Superblock;
use super::{BLOCK, BlockDevice, IoError, SLOTS, blocks_for, crc32};

/// Where a write's bytes come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// `changes[index]`'s data, from byte `offset`.
    Change { index: usize, offset: u64 },
    /// The plan's encoded catalog, from byte `offset`.
    Metadata { offset: u64 },
    /// The plan's superblock block.
    Superblock,
    /// Zeros (clearing a stale slot when formatting).
    Zero,
}

/// Write `blocks` blocks at `block`: `len` bytes from `source`, then zeros.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Write {
    pub block: u64,
    pub blocks: u64,
    pub source: Source,
    pub len: u64,
}

impl Write {
    /// Block `index` of this write as a write of its own (`None` past its
    /// end): for an executor whose device takes one block per request.
    /// Filling each of them gives the bytes filling the whole write does.
    pub fn block(&self, index: u64) -> Option<Write> {
        if index >= self.blocks {
            return None;
        }
        let skip = index * BLOCK as u64;
        let source = match self.source {
            Source::Change { index, offset } => Source::Change {
                index,
                offset: offset + skip,
            },
            Source::Metadata { offset } => Source::Metadata {
                offset: offset + skip,
            },
            Source::Superblock if index == 0 => Source::Superblock,
            Source::Superblock | Source::Zero => Source::Zero,
        };
        let len = match source {
            Source::Zero => 0,
            _ => self.len.saturating_sub(skip).min(BLOCK as u64),
        };
        Some(Write {
            block: self.block + index,
            blocks: 1,
            source,
            len,
        })
    }
}

/// One step of a commit, executed in order; a flush must complete (be
/// acknowledged) before any later step is issued.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Write(Write),
    Flush,
}

/// Why changes cannot be committed. `change` is the index of the change
/// at fault; nothing was written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CommitError {
    /// The path is the root, or has a name the format does not allow.
    BadPath {
        change: usize,
    },
    NotFound {
        change: usize,
    },
    /// The parent directory does not exist or is a file.
    NoParent {
        change: usize,
    },
    Exists {
        change: usize,
    },
    /// Writing file contents to a directory.
    IsADirectory {
        change: usize,
    },
    NotEmpty {
        change: usize,
    },
    /// Renaming a directory into itself.
    IntoItself {
        change: usize,
    },
    /// `needed` free blocks (a contiguous run, for the metadata) are not
    /// there: the committed generation holds the rest.
    NoSpace {
        needed: u64,
        free: u64,
    },
    /// The catalog would be larger than the format allows (or the
    /// generation number is exhausted).
    TooLarge,
    /// `fill` was given changes that are not the planned ones.
    WrongChanges,
    /// A `Keep` names a file that is not in the committed generation (a
    /// stale entry, from an older generation).
    NotCommitted {
        change: usize,
    },
    /// Two entries of the planned generation would share block `block`:
    /// a file kept twice, or kept while still at its old path.
    Shared {
        block: u64,
    },
    /// The device failed ([`CommitPlan::execute`] only).
    Io(IoError),
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::BadPath { change } => write!(f, "change {change}: bad path"),
            CommitError::NotFound { change } => write!(f, "change {change}: not found"),
            CommitError::NoParent { change } => {
                write!(f, "change {change}: no such parent directory")
            }
            CommitError::Exists { change } => write!(f, "change {change}: already exists"),
            CommitError::IsADirectory { change } => {
                write!(f, "change {change}: is a directory")
            }
            CommitError::NotEmpty { change } => {
                write!(f, "change {change}: directory not empty")
            }
            CommitError::IntoItself { change } => {
                write!(f, "change {change}: a directory cannot move into itself")
            }
            CommitError::NoSpace { needed, free } => {
                write!(f, "no space: {needed} blocks needed, {free} free")
            }
            CommitError::TooLarge => f.write_str("the catalog is too large"),
            CommitError::WrongChanges => f.write_str("not the changes the plan was made from"),
            CommitError::NotCommitted { change } => {
                write!(
                    f,
                    "change {change}: kept file is not in the committed generation"
                )
            }
            CommitError::Shared { block } => write!(f, "two entries would share block {block}"),
            CommitError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for CommitError {}

/// The I/O of one commit, and the generation it makes.
#[derive(Clone, Debug)]
pub struct CommitPlan {
    steps: Vec<Step>,
    metadata: Vec<u8>,
    superblock: Vec<u8>,
    /// Change index -> the length of its data, to catch a wrong `fill`.
    sources: Vec<Option<u64>>,
    next: Committed,
}

impl CommitPlan {
    /// Plans generation `committed.generation + 1`: `committed` with
    /// `changes` applied in order.
    pub fn plan(committed: &Committed, changes: &[Change<'_>]) -> Result<Self, CommitError> {
        Self::plan_from(committed, committed.catalog.clone(), changes)
    }

    /// Plans generation `committed.generation + 1` as exactly the
    /// namespace `changes` build from nothing: what the fs does at sync,
    /// listing every directory (`Mkdir`, parents first), every clean file
    /// (`Keep`) and every changed one (`Write`), so it need not keep a log
    /// of removals and renames.
    pub fn replace(committed: &Committed, changes: &[Change<'_>]) -> Result<Self, CommitError> {
        Self::plan_from(committed, Catalog::new(), changes)
    }

    fn plan_from(
        committed: &Committed,
        mut catalog: Catalog,
        changes: &[Change<'_>],
    ) -> Result<Self, CommitError> {
        let mut space = committed.used.clone();
        let mut steps = Vec::new();
        let mut sources = vec![None; changes.len()];
        let files = CommittedFiles::new(committed, changes);
        for (index, change) in changes.iter().enumerate() {
            if let Change::Write { data, .. } = change {
                sources[index] = Some(data.len() as u64);
            }
            apply(&mut catalog, &mut space, &mut steps, &files, index, change)?;
        }
        let metadata = catalog.encode();
        let meta_len = u32::try_from(metadata.len()).map_err(|_| CommitError::TooLarge)?;
        let meta_blocks = blocks_for(u64::from(meta_len)).ok_or(CommitError::TooLarge)?;
        let meta_block = space
            .allocate_run(meta_blocks)
            .ok_or(CommitError::NoSpace {
                needed: meta_blocks,
                free: space.free(),
            })?;
        steps.push(Step::Write(Write {
            block: meta_block,
            blocks: meta_blocks,
            source: Source::Metadata { offset: 0 },
            len: u64::from(meta_len),
        }));
        let generation = committed
            .generation
            .checked_add(1)
            .ok_or(CommitError::TooLarge)?;
        let superblock = Superblock {
            generation,
            block_count: committed.block_count,
            meta_block,
            meta_len,
            meta_checksum: crc32(&metadata),
        };
        if committed.generation == 0 {
            // Formatting a disk that may hold an older fs: both slots are
            // cleared, and that is on the medium, before anything is
            // written over that fs's blocks. A format cut short leaves a
            // whole generation of the old fs, no fs, or the new one.
            let clear = |slot| {
                Step::Write(Write {
                    block: slot,
                    blocks: 1,
                    source: Source::Zero,
                    len: 0,
                })
            };
            steps.splice(0..0, [clear(0), clear(1), Step::Flush]);
        }
        steps.push(Step::Flush);
        steps.push(Step::Write(Write {
            block: superblock.slot(),
            blocks: 1,
            source: Source::Superblock,
            len: BLOCK as u64,
        }));
        steps.push(Step::Flush);
        let used = referenced(&catalog, committed.block_count, meta_block, meta_blocks)?;
        Ok(CommitPlan {
            steps,
            superblock: superblock.encode().to_vec(),
            metadata,
            sources,
            next: Committed {
                generation: superblock.generation,
                block_count: committed.block_count,
                catalog,
                used,
            },
        })
    }

    /// The I/O, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The generation this plan commits.
    pub fn generation(&self) -> u64 {
        self.next.generation
    }

    /// Fills `out` (`write.blocks` blocks long) with what `write` puts on
    /// the disk, taking file bytes from `changes`, the same ones planned.
    pub fn fill(
        &self,
        write: &Write,
        changes: &[Change<'_>],
        out: &mut [u8],
    ) -> Result<(), CommitError> {
        let wrong = CommitError::WrongChanges;
        if changes.len() != self.sources.len() {
            return Err(wrong);
        }
        let (bytes, offset): (&[u8], u64) = match write.source {
            Source::Change { index, offset } => match (changes.get(index), self.sources[index]) {
                (Some(Change::Write { data, .. }), Some(len)) if data.len() as u64 == len => {
                    (data, offset)
                }
                _ => return Err(wrong),
            },
            Source::Metadata { offset } => (&self.metadata, offset),
            Source::Superblock => (&self.superblock, 0),
            Source::Zero => (&[], 0),
        };
        let start = usize::try_from(offset).map_err(|_| wrong)?;
        let end = start.checked_add(write.len as usize).ok_or(wrong)?;
        let from = bytes.get(start..end).ok_or(wrong)?;
        let to = out.get_mut(..from.len()).ok_or(wrong)?;
        to.copy_from_slice(from);
        out[from.len()..].fill(0);
        Ok(())
    }

    /// The committed generation once every step was acknowledged.
    pub fn finish(self) -> Committed {
        self.next
    }

    /// What to plan from after this plan failed part way (a step refused,
    /// or never acknowledged): `committed`, the generation it was planned
    /// from, with every block this plan's generation references counted
    /// as used, since its superblock may have reached the disk. The next
    /// plan then writes the same generation number into the same slot and
    /// touches nothing either candidate needs, so whichever superblock the
    /// slot ends up holding describes intact blocks.
    pub fn abandon(self, committed: &Committed) -> Committed {
        let mut used = committed.used.clone();
        used.include(&self.next.used);
        Committed {
            used,
            ..committed.clone()
        }
    }

    /// Runs every step against `device`, synchronously (the host tools
    /// and the crash harness; the fs service sends the steps as messages).
    pub fn execute(
        self,
        changes: &[Change<'_>],
        device: &mut impl BlockDevice,
    ) -> Result<Committed, CommitError> {
        for step in &self.steps {
            match step {
                Step::Write(write) => {
                    let mut buffer = vec![0u8; write.blocks as usize * BLOCK];
                    self.fill(write, changes, &mut buffer)?;
                    device
                        .write(write.block, &buffer)
                        .map_err(CommitError::Io)?;
                }
                Step::Flush => device.flush().map_err(CommitError::Io)?,
            }
        }
        Ok(self.finish())
    }
}

/// The block map of a planned generation: what its catalog references.
fn referenced(
    catalog: &Catalog,
    block_count: u64,
    meta_block: u64,
    meta_blocks: u64,
) -> Result<BlockMap, CommitError> {
    let mut used = BlockMap::new(block_count);
    let broken = |block| CommitError::Shared { block };
    used.mark(0, SLOTS).map_err(broken)?;
    used.mark(meta_block, meta_blocks).map_err(broken)?;
    for (_, entry) in catalog.entries() {
        if let Entry::File(file) = entry {
            for &Extent { block, blocks } in &file.extents {
                used.mark(block, blocks).map_err(broken)?;
            }
        }
    }
    Ok(used)
}
