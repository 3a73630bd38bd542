//! The Mealy file-system image format, version 1: one definition shared
//! by the builder (`build`, used by the host's `image` crate and the
//! guest's fs benchmark) and the validating parser (`parse`, used by the fs service), so
//! the two cannot drift.
//!
//! Everything is little-endian. An image is a whole number of 4096-byte
//! pages: metadata first (superblock, inode table, extent table, names),
//! then file data, every extent starting on a page boundary so a file's
//! pages can be handed out as a Region without copying.
//!
//! ```text
//! superblock (64 bytes at offset 0)
//!   0  magic         [u8; 8]  b"MEALYFS\0"
//!   8  version       u32      1
//!  12  checksum      u32      CRC-32/ISO-HDLC of bytes 0..meta_len, this field read as 0
//!  16  image_len     u64      bytes in the image, a multiple of 4096
//!  24  meta_len      u32      bytes of metadata (superblock, tables, names)
//!  28  inode_count   u32      >= 1; inode 0 is the root directory
//!  32  inode_offset  u32      the inode table: inode_count * 32 bytes
//!  36  extent_count  u32
//!  40  extent_offset u32      the extent table: extent_count * 16 bytes
//!  44  names_offset  u32      names: UTF-8, names_len bytes
//!  48  names_len     u32
//!  52  reserved      [u8; 12] zero
//! inode (32 bytes)
//!   0  kind          u8       1 directory, 2 file
//!   1  reserved      u8       zero
//!   2  name_len      u16
//!   4  name_offset   u32      into the names area; the root's name is empty
//!   8  parent        u32      the directory that lists it (the root: 0)
//!  12  first         u32      directory: first child inode; file: first extent
//!  16  count         u32      directory: children; file: extents
//!  20  reserved      u32      zero
//!  24  size          u64      file: bytes; directory: 0
//! extent (16 bytes)
//!   0  offset        u64      page-aligned, at or after the first page past the metadata
//!   8  len           u64      a non-zero multiple of 4096: the file's capacity
//! ```
//!
//! The layout is canonical, which is what lets the parser check it in one
//! pass with no heap: inodes are in breadth-first order, so the children of
//! every directory are one contiguous run of later inodes, and the runs of
//! all directories, in inode order, tile `1..inode_count` exactly; children
//! are sorted by name (strictly, so names are unique and lookup is a
//! binary search); files own consecutive runs of the extent table, in
//! inode order, and extents are sorted by offset and do not overlap. A
//! child always has a larger index than its parent, so the tree has no
//! cycle; its depth is bounded by [`MAX_DEPTH`].
//!
//! A file's size may be less than its capacity (the sum of its extents):
//! the builder reserves [`BuildOptions::reserve_pages`] behind each file so
//! it can grow without its address moving. The checksum covers the
//! metadata only, not file data, since data is written in place through a
//! file's Region; changing a size invalidates it until the fs syncs.
//!
//! The builder writes one extent per file, and the fs service hands out a
//! Region only for a single-extent file: the format allows more so a later
//! writer can extend a file elsewhere.

mod build;
mod fuzz;
mod parse;
#[cfg(test)]
mod tests;

use core::fmt;

pub use build::{BuildError, BuildOptions, Node, build};
pub use fuzz::fuzz_parse;
pub(crate) use parse::valid_name;
pub use parse::{DirEntries, Entry, Image, Inode, Layout, PathError};

/// The page size file data is aligned to.
pub const PAGE: u64 = 4096;
pub const MAGIC: [u8; 8] = *b"MEALYFS\0";
pub const VERSION: u32 = 1;
pub const SUPERBLOCK_LEN: usize = 64;
pub const INODE_LEN: usize = 32;
pub const EXTENT_LEN: usize = 16;
/// The deepest a path may go (the root is depth 0).
pub const MAX_DEPTH: u32 = 32;
/// The most inodes (and extents) an image may have.
pub const MAX_INODES: u32 = 1 << 20;
/// The longest name, in bytes.
pub const MAX_NAME: usize = 255;

pub(crate) const KIND_DIR: u8 = 1;
pub(crate) const KIND_FILE: u8 = 2;
pub const CHECKSUM_AT: usize = 12;

/// CRC-32/ISO-HDLC (the zlib/PNG one).
pub(crate) const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The checksum of `meta` (the image's first `meta_len` bytes), with the
/// checksum field itself read as zero.
pub fn checksum(meta: &[u8]) -> u32 {
    let mut digest = CRC.digest();
    digest.update(meta.get(..CHECKSUM_AT).unwrap_or(meta));
    digest.update(&[0; 4]);
    digest.update(meta.get(CHECKSUM_AT + 4..).unwrap_or(&[]));
    digest.finalize()
}

/// Whether an inode is a directory or a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Directory,
    File,
}

/// Why an image did not validate. Each names the first thing found wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FormatError {
    /// Fewer bytes than the superblock, or than `image_len` says.
    Truncated {
        len: u64,
        needed: u64,
    },
    BadMagic,
    UnsupportedVersion(u32),
    /// `image_len` is not a multiple of the page size.
    Unaligned {
        image_len: u64,
    },
    /// A reserved field is not zero.
    Reserved,
    /// The metadata's checksum does not match.
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// Too many inodes or extents, or no root.
    BadCount,
    /// A table or the names area lies outside the metadata, inside the
    /// superblock, or overlaps another.
    BadTable,
    /// Inode `inode` has an unknown kind.
    BadKind {
        inode: u32,
    },
    /// Inode `inode`'s name is out of bounds, not UTF-8, empty, `.`, `..`,
    /// too long, or contains `/` or NUL (or the root's is not empty).
    BadName {
        inode: u32,
    },
    /// The root is not a directory whose parent is itself.
    BadRoot,
    /// Directory `inode`'s children are not the next run of the breadth-first
    /// order, or a child does not name it as parent (cycles and sharing
    /// end up here).
    BadTree {
        inode: u32,
    },
    /// Directory `inode`'s children are not strictly sorted by name.
    Unsorted {
        inode: u32,
    },
    /// Inode `inode` is deeper than [`MAX_DEPTH`].
    TooDeep {
        inode: u32,
    },
    /// File `inode`'s extents are not the next run of the extent table.
    BadExtents {
        inode: u32,
    },
    /// Extent `extent` is unaligned, empty, outside the data area, or
    /// overlaps the one before.
    BadExtent {
        extent: u32,
    },
    /// File `inode`'s size exceeds its extents.
    SizeTooLarge {
        inode: u32,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { len, needed } => {
                write!(f, "truncated: {len} bytes, needs {needed}")
            }
            FormatError::BadMagic => f.write_str("not a Mealy fs image (bad magic)"),
            FormatError::UnsupportedVersion(version) => {
                write!(f, "unsupported version {version}")
            }
            FormatError::Unaligned { image_len } => {
                write!(f, "image length {image_len} is not a whole number of pages")
            }
            FormatError::Reserved => f.write_str("a reserved field is not zero"),
            FormatError::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            FormatError::BadCount => f.write_str("bad inode or extent count"),
            FormatError::BadTable => f.write_str("a metadata table is out of bounds or overlaps"),
            FormatError::BadKind { inode } => write!(f, "inode {inode}: unknown kind"),
            FormatError::BadName { inode } => write!(f, "inode {inode}: bad name"),
            FormatError::BadRoot => f.write_str("inode 0 is not the root directory"),
            FormatError::BadTree { inode } => {
                write!(f, "directory {inode}: children out of tree order")
            }
            FormatError::Unsorted { inode } => {
                write!(f, "directory {inode}: names not sorted or not unique")
            }
            FormatError::TooDeep { inode } => {
                write!(f, "inode {inode}: deeper than {MAX_DEPTH} levels")
            }
            FormatError::BadExtents { inode } => {
                write!(f, "file {inode}: extents out of order")
            }
            FormatError::BadExtent { extent } => {
                write!(
                    f,
                    "extent {extent}: unaligned, out of bounds or overlapping"
                )
            }
            FormatError::SizeTooLarge { inode } => {
                write!(f, "file {inode}: size exceeds its extents")
            }
        }
    }
}

impl core::error::Error for FormatError {}

/// Rounds `value` up to a whole number of pages (`None` on overflow).
pub(crate) fn page_round(value: u64) -> Option<u64> {
    value.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}
