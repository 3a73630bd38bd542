//! The catalog: a generation's metadata, every directory and file by full
//! path, with each file's size, the checksum of its bytes, and the extents
//! holding them. It is rewritten whole on every commit, so it is a flat,
//! sorted list rather than the boot image's breadth-first tables: sorted
//! by path (byte order), a directory always comes before everything under
//! it (a prefix sorts first), which lets [`Catalog::decode`] check each
//! entry's parent with one lookup, and makes the encoding canonical.
//!
//! ```text
//! header (16 bytes)
//!  0  magic        [u8; 8]  b"MEALYCAT"
//!  8  entry_count  u32      at most 2^20; the root is implied, not listed
//! 12  reserved     u32      zero
//! entry (24 bytes, then the path, then the extents)
//!  0  kind         u8       1 directory, 2 file
//!  1  reserved     u8       zero
//!  2  path_len     u16      1..=4096
//!  4  extent_count u32      directory: 0
//!  8  size         u64      directory: 0
//! 16  data_crc     u32      CRC-32/ISO-HDLC of the file's size bytes; directory: 0
//! 20  reserved     u32      zero
//! 24  path         [u8; path_len]  UTF-8, names joined by `/`, no leading `/`
//!     extents      extent_count * (block u64, blocks u64)
//! ```
//!
//! Validation refuses, as a [`MetaError`] naming the entry: a bad kind or
//! reserved byte, a path that is not canonical (empty or `.`/`..` names,
//! `/` or NUL in a name, a name over 255 bytes, deeper than 32), entries
//! out of order or repeated, a parent that is missing or a file, an
//! extent that is empty, in the superblock slots, past the disk, or
//! overlapping the metadata or another extent, extents that do not add up
//! to exactly the blocks `size` needs, and bytes after the last entry.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::space::BlockMap;
use super::{SLOTS, blocks_for, u16_at, u32_at, u64_at};
use crate::format::{MAX_DEPTH, MAX_INODES, valid_name};

pub const CATALOG_MAGIC: [u8; 8] = *b"MEALYCAT";
const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 24;
const EXTENT_LEN: usize = 16;
const KIND_DIR: u8 = 1;
const KIND_FILE: u8 = 2;
/// The longest path: 32 names of at most 255 bytes fit well inside this.
pub const MAX_PATH: usize = 4096;

/// A run of `blocks` blocks from `block`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Extent {
    pub block: u64,
    pub blocks: u64,
}

/// A file as a generation records it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileEntry {
    pub size: u64,
    /// CRC-32 of the file's `size` bytes.
    pub data_crc: u32,
    /// The blocks holding those bytes, in file order; together exactly
    /// the blocks `size` needs (none for an empty file).
    pub extents: Vec<Extent>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Entry {
    Directory,
    File(FileEntry),
}

/// The namespace of one generation. The root directory is implicit.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Catalog {
    pub(crate) entries: BTreeMap<String, Entry>,
}

/// Why a generation's metadata (or, at mount, its file data) is not
/// trusted. `entry` counts from 0 in catalog order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MetaError {
    /// The metadata's bytes do not match the superblock's checksum.
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// The metadata ends inside the header or an entry.
    Truncated,
    BadMagic,
    /// A reserved field is not zero (`entry` is `None` in the header).
    Reserved {
        entry: Option<u32>,
    },
    /// More entries than the format allows.
    BadCount,
    BadKind {
        entry: u32,
    },
    /// Not a canonical path, or not UTF-8.
    BadPath {
        entry: u32,
    },
    /// Not strictly after the entry before it.
    Unsorted {
        entry: u32,
    },
    /// Its parent is not an earlier directory entry.
    NoParent {
        entry: u32,
    },
    /// A directory with a size, extents or checksum; or an empty extent,
    /// one in the slots or past the disk.
    BadExtent {
        entry: u32,
    },
    /// Block `block` is used twice (by this entry and an earlier one or
    /// the metadata).
    Overlap {
        entry: u32,
        block: u64,
    },
    /// The extents are not exactly the blocks the size needs.
    SizeMismatch {
        entry: u32,
    },
    /// Bytes after the last entry.
    Trailing,
    /// The file's bytes do not match its checksum.
    DataChecksum {
        entry: u32,
    },
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Checksum { stored, computed } => write!(
                f,
                "metadata checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            MetaError::Truncated => f.write_str("metadata truncated"),
            MetaError::BadMagic => f.write_str("metadata has no catalog magic"),
            MetaError::Reserved { entry: None } => f.write_str("catalog header: reserved field"),
            MetaError::Reserved { entry: Some(e) } => write!(f, "entry {e}: reserved field"),
            MetaError::BadCount => f.write_str("too many catalog entries"),
            MetaError::BadKind { entry } => write!(f, "entry {entry}: unknown kind"),
            MetaError::BadPath { entry } => write!(f, "entry {entry}: bad path"),
            MetaError::Unsorted { entry } => write!(f, "entry {entry}: out of order"),
            MetaError::NoParent { entry } => write!(f, "entry {entry}: no parent directory"),
            MetaError::BadExtent { entry } => write!(f, "entry {entry}: bad extent"),
            MetaError::Overlap { entry, block } => {
                write!(f, "entry {entry}: block {block} is used twice")
            }
            MetaError::SizeMismatch { entry } => {
                write!(f, "entry {entry}: extents do not match the size")
            }
            MetaError::Trailing => f.write_str("bytes after the last catalog entry"),
            MetaError::DataChecksum { entry } => {
                write!(f, "entry {entry}: file data checksum mismatch")
            }
        }
    }
}

impl core::error::Error for MetaError {}

/// The canonical form of `path` (names joined by `/`, no empty name, the
/// root is `""`), or `None` if a name is not allowed or it is too deep.
pub fn normalize_path(path: &str) -> Option<String> {
    let mut out = String::new();
    let mut depth = 0;
    for name in path.split('/').filter(|n| !n.is_empty()) {
        depth += 1;
        if !valid_name(name) || depth > MAX_DEPTH {
            return None;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(name);
    }
    (out.len() <= MAX_PATH).then_some(out)
}

/// The directory holding `path` (`""` for the root).
pub(crate) fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |at| &path[..at])
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry, sorted by path (a directory before its contents).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries
            .iter()
            .map(|(path, entry)| (path.as_str(), entry))
    }

    /// The entry at `path` (canonical form; the root is not an entry).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `path` is the root or a directory entry.
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || matches!(self.entries.get(path), Some(Entry::Directory))
    }

    /// The bytes [`Catalog::decode`] reads back.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&CATALOG_MAGIC);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for (path, entry) in &self.entries {
            let (kind, size, crc, extents): (u8, u64, u32, &[Extent]) = match entry {
                Entry::Directory => (KIND_DIR, 0, 0, &[]),
                Entry::File(file) => (KIND_FILE, file.size, file.data_crc, &file.extents),
            };
            out.push(kind);
            out.push(0);
            out.extend_from_slice(&(path.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extents.len() as u32).to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(path.as_bytes());
            for extent in extents {
                out.extend_from_slice(&extent.block.to_le_bytes());
                out.extend_from_slice(&extent.blocks.to_le_bytes());
            }
        }
        out
    }

    /// Validates `bytes` as a catalog on a disk whose `used` map already
    /// holds the slots and the metadata's blocks; marks every extent in it.
    pub fn decode(bytes: &[u8], used: &mut BlockMap) -> Result<Catalog, MetaError> {
        let header = bytes.get(..HEADER_LEN).ok_or(MetaError::Truncated)?;
        if header[..8] != CATALOG_MAGIC {
            return Err(MetaError::BadMagic);
        }
        let count = u32_at(header, 8).ok_or(MetaError::Truncated)?;
        if u32_at(header, 12) != Some(0) {
            return Err(MetaError::Reserved { entry: None });
        }
        if count > MAX_INODES {
            return Err(MetaError::BadCount);
        }
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        let mut at = HEADER_LEN;
        let mut previous: Option<String> = None;
        for index in 0..count {
            let (path, entry, next) = decode_entry(bytes, at, index, used)?;
            if previous.as_deref().is_some_and(|p| p >= path.as_str()) {
                return Err(MetaError::Unsorted { entry: index });
            }
            let parent = parent_of(&path);
            if !parent.is_empty() && !matches!(entries.get(parent), Some(Entry::Directory)) {
                return Err(MetaError::NoParent { entry: index });
            }
            previous = Some(path.clone());
            entries.insert(path, entry);
            at = next;
        }
        if at != bytes.len() {
            return Err(MetaError::Trailing);
        }
        Ok(Catalog { entries })
    }
}

/// One entry at `at`: its path, what it is, and where the next starts.
fn decode_entry(
    bytes: &[u8],
    at: usize,
    index: u32,
    used: &mut BlockMap,
) -> Result<(String, Entry, usize), MetaError> {
    let raw = bytes.get(at..at + ENTRY_LEN).ok_or(MetaError::Truncated)?;
    let truncated = MetaError::Truncated;
    if raw[1] != 0 || u32_at(raw, 20) != Some(0) {
        return Err(MetaError::Reserved { entry: Some(index) });
    }
    let path_len = usize::from(u16_at(raw, 2).ok_or(truncated)?);
    let extent_count = u32_at(raw, 4).ok_or(truncated)?;
    let size = u64_at(raw, 8).ok_or(truncated)?;
    let data_crc = u32_at(raw, 16).ok_or(truncated)?;
    let path_at = at + ENTRY_LEN;
    let path_bytes = bytes
        .get(path_at..path_at + path_len)
        .ok_or(MetaError::Truncated)?;
    let bad_path = MetaError::BadPath { entry: index };
    let path = core::str::from_utf8(path_bytes).map_err(|_| bad_path)?;
    if path.is_empty() || path_len > MAX_PATH || normalize_path(path).as_deref() != Some(path) {
        return Err(bad_path);
    }
    let extents_at = path_at + path_len;
    let bad_extent = MetaError::BadExtent { entry: index };
    let entry = match raw[0] {
        KIND_DIR => {
            if extent_count != 0 || size != 0 || data_crc != 0 {
                return Err(bad_extent);
            }
            Entry::Directory
        }
        KIND_FILE => {
            let needed = blocks_for(size).ok_or(MetaError::SizeMismatch { entry: index })?;
            // Each extent holds at least a block, so more extents than
            // blocks is a mismatch; this also bounds the allocation.
            if u64::from(extent_count) > needed {
                return Err(MetaError::SizeMismatch { entry: index });
            }
            let table_len = (extent_count as usize)
                .checked_mul(EXTENT_LEN)
                .ok_or(truncated)?;
            let table = bytes
                .get(extents_at..extents_at + table_len)
                .ok_or(truncated)?;
            let mut extents = Vec::with_capacity(extent_count as usize);
            let mut total: u64 = 0;
            for raw_extent in table.chunks_exact(EXTENT_LEN) {
                let block = u64_at(raw_extent, 0).ok_or(truncated)?;
                let blocks = u64_at(raw_extent, 8).ok_or(truncated)?;
                if blocks == 0 || block < SLOTS {
                    return Err(bad_extent);
                }
                used.mark(block, blocks).map_err(|conflict| {
                    if conflict >= used.len() {
                        bad_extent
                    } else {
                        MetaError::Overlap {
                            entry: index,
                            block: conflict,
                        }
                    }
                })?;
                total = total.saturating_add(blocks);
                extents.push(Extent { block, blocks });
            }
            if total != needed {
                return Err(MetaError::SizeMismatch { entry: index });
            }
            Entry::File(FileEntry {
                size,
                data_crc,
                extents,
            })
        }
        _ => return Err(MetaError::BadKind { entry: index }),
    };
    let next = extents_at + extent_count as usize * EXTENT_LEN;
    Ok((String::from(path), entry, next))
}
