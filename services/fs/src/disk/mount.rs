//! Mount: which generation to trust. Both slots are read; each that
//! decodes (magic, version, checksum, slot, bounds) is a candidate, newest
//! first. A candidate is trusted only if its metadata matches the
//! superblock's checksum, the catalog validates (every extent in bounds,
//! no block used twice), and every file's bytes match the file's checksum;
//! otherwise the next older one is tried. If none is left, mount refuses
//! with one [`MountError`]: it never trusts part of a generation.
//!
//! Why the data checksums: a commit reuses the blocks the generation
//! before the committed one referenced, so falling back to that older
//! generation (when the newest is damaged) may find its files partly
//! overwritten; their checksums tell. After a power cut the newest valid
//! superblock is always intact, since a commit writes only blocks it does
//! not reference.
//!
//! The rules are carried out by [`Mounting`] (`mounting.rs`), one read at
//! a time, which the fs service drives by messages; [`mount_image`] drives
//! it over a byte slice (the host tools, or a service that read the whole
//! disk first). The cost is one pass over the catalog and one CRC over
//! every file's bytes.

use alloc::vec::Vec;
use core::fmt;

use super::catalog::{Catalog, FileEntry, MetaError};
use super::mounting::{MountStep, Mounting};
use super::space::BlockMap;
use super::superblock::SuperblockError;
use super::{BLOCK, IoError, MIN_BLOCKS, SLOTS};

/// The generation the fs is running on: what a commit starts from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Committed {
    /// 0 for a disk not yet formatted (nothing is committed).
    pub generation: u64,
    pub block_count: u64,
    pub catalog: Catalog,
    /// The blocks this generation references: the slots, the metadata,
    /// every extent. A commit writes only blocks outside it.
    pub used: BlockMap,
}

impl Committed {
    /// A disk of `block_count` blocks with nothing on it yet: the first
    /// commit formats it (and clears the other slot). `None` if it is
    /// smaller than [`MIN_BLOCKS`].
    pub fn unformatted(block_count: u64) -> Option<Self> {
        if block_count < MIN_BLOCKS {
            return None;
        }
        let mut used = BlockMap::new(block_count);
        used.mark(0, SLOTS).ok()?;
        Some(Committed {
            generation: 0,
            block_count,
            catalog: Catalog::new(),
            used,
        })
    }

    /// Blocks free for the next commit.
    pub fn free_blocks(&self) -> u64 {
        self.used.free()
    }
}

/// A newer generation mount did not trust, and why.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rejected {
    pub generation: u64,
    pub error: MetaError,
}

/// A mounted disk.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Mounted {
    pub committed: Committed,
    /// Set when the newest superblock was valid but its generation was
    /// not (mount fell back to the older one): worth a log line.
    pub fell_back: Option<Rejected>,
}

/// Why a disk did not mount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MountError {
    /// Fewer than [`MIN_BLOCKS`] blocks.
    TooSmall { blocks: u64 },
    /// Neither slot holds a valid superblock: not formatted, not Mealy's,
    /// or both destroyed. Each slot's reason.
    NoSuperblock {
        slot0: SuperblockError,
        slot1: SuperblockError,
    },
    /// Every superblock was valid but no generation was: the newest's
    /// reason (and the older one's, if there was one).
    Corrupt {
        newest: Rejected,
        older: Option<Rejected>,
    },
    /// [`Mounting::supply`] was called after the mount was done (a bug in
    /// the caller, answered rather than a panic).
    NoReadPending,
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::TooSmall { blocks } => {
                write!(f, "disk too small: {blocks} blocks of {BLOCK} bytes")
            }
            MountError::NoSuperblock { slot0, slot1 } => {
                write!(f, "no valid superblock (slot 0: {slot0}; slot 1: {slot1})")
            }
            MountError::Corrupt { newest, older } => {
                write!(
                    f,
                    "corrupt: generation {}: {}",
                    newest.generation, newest.error
                )?;
                if let Some(older) = older {
                    write!(f, "; generation {}: {}", older.generation, older.error)?;
                }
                Ok(())
            }
            MountError::NoReadPending => f.write_str("bytes supplied with no read pending"),
        }
    }
}

impl core::error::Error for MountError {}

/// Mounts the disk whose bytes are `disk` (bytes past the last whole
/// block, and blocks past the generation's `block_count`, are ignored):
/// [`Mounting`] with every read answered from the slice.
pub fn mount_image(disk: &[u8]) -> Result<Mounted, MountError> {
    let (mut mounting, mut step) = Mounting::start((disk.len() / BLOCK) as u64);
    loop {
        match step {
            MountStep::Done(result) => return result,
            MountStep::Read(read) => {
                let bytes = usize::try_from(read.block)
                    .ok()
                    .and_then(|block| block.checked_mul(BLOCK))
                    .and_then(|start| {
                        disk.get(start..start.checked_add(read.blocks as usize * BLOCK)?)
                    })
                    .unwrap_or(&[]);
                step = mounting.supply(bytes);
            }
        }
    }
}

/// Calls `each` with the file's bytes, extent by extent (the last one
/// cut at the file's size).
fn for_each_chunk(
    disk: &[u8],
    file: &FileEntry,
    mut each: impl FnMut(&[u8]),
) -> Result<(), IoError> {
    let mut left = file.size;
    for extent in &file.extents {
        let out_of_range = IoError::OutOfRange {
            block: extent.block,
            blocks: extent.blocks,
        };
        let start = usize::try_from(extent.block)
            .ok()
            .and_then(|b| b.checked_mul(BLOCK))
            .ok_or(out_of_range)?;
        let bytes = extent.blocks.saturating_mul(BLOCK as u64).min(left);
        let end = start.checked_add(bytes as usize).ok_or(out_of_range)?;
        each(disk.get(start..end).ok_or(out_of_range)?);
        left -= bytes;
    }
    Ok(())
}

/// A file's bytes, gathered from its extents.
pub fn read_file(disk: &[u8], file: &FileEntry) -> Result<Vec<u8>, IoError> {
    let mut out = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0).min(disk.len()));
    for_each_chunk(disk, file, |chunk| out.extend_from_slice(chunk))?;
    Ok(out)
}
