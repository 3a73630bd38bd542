//! A block device as the host tools and tests drive it synchronously, an
//! in-memory one, and building a formatted disk image in one go (what
//! `mealy-image` puts in the data partition).
//!
//! The fs service does not use this trait: it sends a [`CommitPlan`]'s
//! steps to the block driver as messages. The trait exists so the same
//! plan can run against a file, a `Vec`, or the crash harness's
//! simulated disk.

use alloc::vec;
use alloc::vec::Vec;

use super::changes::Change;
use super::commit::{CommitError, CommitPlan};
use super::mount::Committed;
use super::{BLOCK, IoError};

/// A disk of [`BLOCK`]-sized blocks. Writes between two flushes may reach
/// the medium in any order, or (after a power cut) not at all, and a write
/// may be torn at a sector boundary; a flush returns once every earlier
/// write is on the medium.
pub trait BlockDevice {
    fn block_count(&self) -> u64;
    /// Reads `out.len() / BLOCK` blocks from `block`.
    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), IoError>;
    /// Writes `data.len() / BLOCK` blocks at `block`.
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError>;
    fn flush(&mut self) -> Result<(), IoError>;
}

/// A disk in a `Vec`: every write lands at once, flush does nothing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MemoryDisk {
    pub bytes: Vec<u8>,
}

impl MemoryDisk {
    /// A zeroed disk of `blocks` blocks.
    pub fn new(blocks: u64) -> Self {
        MemoryDisk {
            bytes: vec![0; blocks as usize * BLOCK],
        }
    }
}

/// The byte range of `blocks` blocks from `block` on a disk of `len`
/// bytes, for a transfer of `bytes` bytes.
pub(crate) fn range(
    block: u64,
    bytes: usize,
    len: usize,
) -> Result<core::ops::Range<usize>, IoError> {
    if !bytes.is_multiple_of(BLOCK) {
        return Err(IoError::Unaligned);
    }
    let out_of_range = IoError::OutOfRange {
        block,
        blocks: (bytes / BLOCK) as u64,
    };
    let start = usize::try_from(block)
        .ok()
        .and_then(|b| b.checked_mul(BLOCK))
        .ok_or(out_of_range)?;
    let end = start.checked_add(bytes).ok_or(out_of_range)?;
    if end > len {
        return Err(out_of_range);
    }
    Ok(start..end)
}

impl BlockDevice for MemoryDisk {
    fn block_count(&self) -> u64 {
        (self.bytes.len() / BLOCK) as u64
    }

    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), IoError> {
        let range = range(block, out.len(), self.bytes.len())?;
        out.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError> {
        let range = range(block, data.len(), self.bytes.len())?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// A formatted disk image of `blocks` blocks whose generation 1 holds
/// `changes` (directories before what they hold).
pub fn format_image(blocks: u64, changes: &[Change<'_>]) -> Result<Vec<u8>, CommitError> {
    let fresh = Committed::unformatted(blocks).ok_or(CommitError::NoSpace {
        needed: super::MIN_BLOCKS,
        free: blocks,
    })?;
    let mut disk = MemoryDisk::new(blocks);
    CommitPlan::plan(&fresh, changes)?.execute(changes, &mut disk)?;
    Ok(disk.bytes)
}
