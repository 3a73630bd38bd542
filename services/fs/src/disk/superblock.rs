//! The superblock: the one record a commit overwrites in place, so the one
//! thing that must be checkable on its own. It is 64 bytes at the start of
//! its slot block (the rest of the block is zero), inside the first
//! 512-byte sector, so a write torn at a sector boundary either has all of
//! it or none; its CRC catches anything else (a torn sector, bit rot).
//!
//! Generation `g` is written to slot `g % 2`, so a commit always
//! overwrites the older of the two, never the one being replaced; a
//! superblock found in the wrong slot is refused (a misdirected write).
//!
//! ```text
//!  0  magic          [u8; 8]  b"MEALYDSK"
//!  8  version        u32      2
//! 12  checksum       u32      CRC-32/ISO-HDLC of bytes 0..64, this field read as 0
//! 16  generation     u64      >= 1, +1 per commit
//! 24  block_count    u64      blocks of 4096 bytes the fs spans, >= 3
//! 32  meta_block     u64      first block of the metadata (>= 2)
//! 40  meta_len       u32      bytes of metadata, >= 1
//! 44  meta_checksum  u32      CRC-32/ISO-HDLC of the metadata's meta_len bytes
//! 48  reserved       [u8; 16] zero
//! ```

use core::fmt;

use super::{BLOCK, MIN_BLOCKS, SLOTS, VERSION, blocks_for, u32_at, u64_at};

pub const MAGIC: [u8; 8] = *b"MEALYDSK";
/// Bytes of the superblock record.
pub const SUPERBLOCK_LEN: usize = 64;
const CHECKSUM_AT: usize = 12;

/// A superblock that passed [`Superblock::decode`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Superblock {
    pub generation: u64,
    pub block_count: u64,
    pub meta_block: u64,
    pub meta_len: u32,
    pub meta_checksum: u32,
}

/// Why a slot holds no usable superblock, in the order they are checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SuperblockError {
    /// Fewer than 64 bytes.
    Truncated,
    /// No magic: never written (a zeroed or foreign disk) or destroyed.
    BadMagic,
    UnsupportedVersion(u32),
    /// The CRC does not match: torn or damaged.
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// A reserved byte is not zero.
    Reserved,
    /// Generation 0, or a generation whose slot is not this one.
    WrongSlot {
        generation: u64,
        slot: u64,
    },
    /// Fewer blocks than the format needs, or more than the device has.
    BadBlockCount {
        block_count: u64,
    },
    /// The metadata is empty, inside the slots, or past `block_count`.
    BadMetadata,
}

impl fmt::Display for SuperblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuperblockError::Truncated => f.write_str("truncated superblock"),
            SuperblockError::BadMagic => f.write_str("no Mealy superblock (bad magic)"),
            SuperblockError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            SuperblockError::Checksum { stored, computed } => write!(
                f,
                "superblock checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            SuperblockError::Reserved => f.write_str("a reserved superblock field is not zero"),
            SuperblockError::WrongSlot { generation, slot } => {
                write!(f, "generation {generation} cannot be in slot {slot}")
            }
            SuperblockError::BadBlockCount { block_count } => {
                write!(f, "bad block count {block_count}")
            }
            SuperblockError::BadMetadata => f.write_str("metadata location out of bounds"),
        }
    }
}

impl core::error::Error for SuperblockError {}

/// The checksum of a 64-byte record, its checksum field read as zero.
fn record_checksum(record: &[u8]) -> u32 {
    let mut digest = crate::format::CRC.digest();
    digest.update(record.get(..CHECKSUM_AT).unwrap_or(record));
    digest.update(&[0; 4]);
    digest.update(record.get(CHECKSUM_AT + 4..SUPERBLOCK_LEN).unwrap_or(&[]));
    digest.finalize()
}

/// Writes the checksum of the record at the start of `block` into it.
pub(crate) fn seal(block: &mut [u8]) {
    let sum = record_checksum(block);
    if let Some(field) = block.get_mut(CHECKSUM_AT..CHECKSUM_AT + 4) {
        field.copy_from_slice(&sum.to_le_bytes());
    }
}

impl Superblock {
    /// The slot (block number) this generation is written to.
    pub fn slot(&self) -> u64 {
        self.generation % SLOTS
    }

    /// The whole slot block: the record, then zeros.
    pub fn encode(&self) -> [u8; BLOCK] {
        let mut block = [0u8; BLOCK];
        block[..8].copy_from_slice(&MAGIC);
        block[8..12].copy_from_slice(&VERSION.to_le_bytes());
        block[16..24].copy_from_slice(&self.generation.to_le_bytes());
        block[24..32].copy_from_slice(&self.block_count.to_le_bytes());
        block[32..40].copy_from_slice(&self.meta_block.to_le_bytes());
        block[40..44].copy_from_slice(&self.meta_len.to_le_bytes());
        block[44..48].copy_from_slice(&self.meta_checksum.to_le_bytes());
        seal(&mut block);
        block
    }

    /// Checks the record at the start of slot `slot` of a disk of
    /// `disk_blocks` blocks. Only the record's own bytes are read.
    pub fn decode(bytes: &[u8], slot: u64, disk_blocks: u64) -> Result<Self, SuperblockError> {
        let record = bytes
            .get(..SUPERBLOCK_LEN)
            .ok_or(SuperblockError::Truncated)?;
        if record.get(..8) != Some(&MAGIC[..]) {
            return Err(SuperblockError::BadMagic);
        }
        let field32 = |at| u32_at(record, at).unwrap_or(0);
        let field64 = |at| u64_at(record, at).unwrap_or(0);
        let version = field32(8);
        if version != VERSION {
            return Err(SuperblockError::UnsupportedVersion(version));
        }
        let stored = field32(CHECKSUM_AT);
        let computed = record_checksum(record);
        if stored != computed {
            return Err(SuperblockError::Checksum { stored, computed });
        }
        if record[48..].iter().any(|&b| b != 0) {
            return Err(SuperblockError::Reserved);
        }
        let superblock = Superblock {
            generation: field64(16),
            block_count: field64(24),
            meta_block: field64(32),
            meta_len: field32(40),
            meta_checksum: field32(44),
        };
        if superblock.generation == 0 || superblock.slot() != slot {
            return Err(SuperblockError::WrongSlot {
                generation: superblock.generation,
                slot,
            });
        }
        if superblock.block_count < MIN_BLOCKS || superblock.block_count > disk_blocks {
            return Err(SuperblockError::BadBlockCount {
                block_count: superblock.block_count,
            });
        }
        let meta_blocks = blocks_for(u64::from(superblock.meta_len)).unwrap_or(u64::MAX);
        let meta_end = superblock.meta_block.checked_add(meta_blocks);
        if superblock.meta_len == 0
            || superblock.meta_block < SLOTS
            || meta_end.is_none_or(|end| end > superblock.block_count)
        {
            return Err(SuperblockError::BadMetadata);
        }
        Ok(superblock)
    }

    /// The metadata's blocks: `(first, count)`.
    pub fn meta_extent(&self) -> (u64, u64) {
        (
            self.meta_block,
            blocks_for(u64::from(self.meta_len)).unwrap_or(0),
        )
    }
}
