//! The persistent disk format, version 2: a crash-consistent copy-on-write
//! layout for a block device, so files outlive a reboot and a power cut
//! (issue 17). The read-only boot image of [`crate::format`] (version 1)
//! stays as it is; this is the format of the data disk.
//!
//! **Why copy-on-write with a superblock pair, not a journal.** The fs
//! keeps every file in RAM and writes back only on `sync`, so a commit is
//! naturally "write the new state somewhere else, then switch": nothing
//! the committed generation references is ever written, so a power cut
//! during a commit leaves it intact, and the switch is one 64-byte
//! superblock in one 512-byte sector, checksummed, into the slot the
//! *older* generation occupies. A journal would write everything twice
//! and need replay logic at mount; here mount only picks the newest
//! superblock that verifies. The price is that metadata is rewritten whole
//! on every commit (it is small: names, sizes, extents) and that free space
//! must hold the changed files a second time until the commit lands.
//!
//! **Asynchronous I/O.** Nothing here performs I/O inside a decision. A
//! commit is a [`CommitPlan`]: a list of [`Step`]s (block writes, then a
//! flush barrier, the superblock write, a flush barrier) that the fs
//! service executes by messages to the block driver, one acknowledgement
//! at a time, and calls [`CommitPlan::finish`] only when every step was
//! acknowledged. Mount is likewise [`Mounting`], a machine that asks for
//! one block range at a time and decides from the bytes it is given;
//! [`mount_image`] runs it over the disk's bytes. [`BlockDevice`] and
//! [`CommitPlan::execute`] run the same plan synchronously for the host
//! tools and the crash harness.
//!
//! | file | concept |
//! | --- | --- |
//! | `superblock.rs` | the 64-byte superblock, its two slots, encode and check |
//! | `catalog.rs` | the metadata: every path, kind, size, data checksum, extents; encode and validate |
//! | `space.rs` | the block map: which blocks a generation references, allocation |
//! | `mount.rs` | the mount rules and results; [`Committed`], [`mount_image`] over a byte slice |
//! | `mounting.rs` | mount as a sequence of reads, [`Mounting`], for a service to drive by messages |
//! | `changes.rs` | what each [`Change`] does to the namespace being committed |
//! | `commit.rs` | a [`CommitPlan`]: the ordered writes and barriers of a commit |
//! | `device.rs` | [`BlockDevice`], an in-memory disk, formatting a fresh disk |
//! | `fuzz.rs` | the body of the `mount` fuzz target, run on stable by the tests too |
//!
//! The byte layout is specified in `services/fs/README.md` ("The disk
//! format (version 2)").

mod catalog;
mod changes;
mod commit;
mod device;
mod fuzz;
mod mount;
mod mounting;
mod space;
mod superblock;
#[cfg(test)]
mod tests;

use core::fmt;

pub use catalog::{Catalog, Entry, Extent, FileEntry, MetaError, normalize_path};
pub use changes::Change;
pub use commit::{CommitError, CommitPlan, Source, Step, Write};
pub use device::{BlockDevice, MemoryDisk, format_image};
pub use fuzz::{disk_with_catalog, fuzz_mount};
pub use mount::{Committed, MountError, Mounted, Rejected, mount_image, read_file};
pub use mounting::{MAX_READ_BLOCKS, MountStep, Mounting, Read, ReadFor};
pub use space::BlockMap;
pub use superblock::{Superblock, SuperblockError};

/// The unit of allocation and of every write the fs asks for.
pub const BLOCK: usize = 4096;
/// The device's atomic unit: a write may be torn at any multiple of this.
pub const SECTOR: usize = 512;
/// The two superblock slots: generation `g` lives in block `g % 2`.
pub const SLOTS: u64 = 2;
/// The smallest disk: two superblocks and one metadata block.
pub const MIN_BLOCKS: u64 = 3;
/// The disk format's version (the boot image's is 1).
pub const VERSION: u32 = 2;

/// CRC-32/ISO-HDLC, the checksum of the boot image format too, computed
/// 16 bytes at a step (a 16 KiB table) since mount checks every file's
/// bytes: about 4 times the speed of the byte-wise table. A static so a
/// running digest can be kept between mount steps.
pub(crate) static CRC32: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Blocks needed for `bytes` bytes (`None` on overflow).
pub(crate) fn blocks_for(bytes: u64) -> Option<u64> {
    Some(bytes.checked_add(BLOCK as u64 - 1)? / BLOCK as u64)
}

/// A failed read or write of the disk as the host tools see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IoError {
    /// Blocks `block..block + blocks` are not all on the device.
    OutOfRange { block: u64, blocks: u64 },
    /// A buffer that is not a whole number of blocks.
    Unaligned,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::OutOfRange { block, blocks } => {
                write!(f, "blocks {block}..+{blocks} are past the end of the disk")
            }
            IoError::Unaligned => f.write_str("a transfer that is not whole blocks"),
        }
    }
}

impl core::error::Error for IoError {}
