//! The body of the `mount` fuzz target (`services/fs/fuzz`), here so the
//! stable host tests run it too. Random bytes almost never carry a valid
//! superblock checksum, so besides mounting the bytes as a whole disk it
//! also places them as the catalog of a sealed generation (superblock
//! and catalog checksums correct) on a disk whose other blocks hold a
//! pattern: that reaches every rule of the catalog's validation and the
//! data checksums. Whatever the bytes, nothing may panic, and a disk that
//! mounts must read back every file with its checksum.

use alloc::vec::Vec;

use super::superblock::Superblock;
use super::{BLOCK, Entry, crc32, mount_image, read_file};

/// Blocks of the disk the bytes are placed on as a catalog.
const FUZZ_BLOCKS: u64 = 64;
/// The most catalog bytes placed (the rest are ignored).
const MAX_CATALOG: usize = 16 * BLOCK;

/// A disk of 64 blocks whose generation 1 has `catalog` as
/// its catalog (at block 2), sealed; data blocks hold a pattern.
pub fn disk_with_catalog(catalog: &[u8]) -> Vec<u8> {
    let catalog = &catalog[..catalog.len().min(MAX_CATALOG)];
    let mut disk: Vec<u8> = (0..FUZZ_BLOCKS as usize * BLOCK)
        .map(|i| (i / BLOCK) as u8 ^ (i as u8))
        .collect();
    let superblock = Superblock {
        generation: 1,
        block_count: FUZZ_BLOCKS,
        meta_block: 2,
        meta_len: catalog.len().max(1) as u32,
        meta_checksum: crc32(catalog),
    };
    disk[..BLOCK].fill(0);
    disk[BLOCK..2 * BLOCK].copy_from_slice(&superblock.encode());
    disk[2 * BLOCK..2 * BLOCK + catalog.len()].copy_from_slice(catalog);
    disk
}

/// Mounts `bytes` as a disk and as a catalog; returns how many files were
/// read back (0 if neither mounted), or `None` if a disk mounted but one
/// of its files does not read back whole with its checksum (a bug: the
/// fuzz target asserts it never happens).
pub fn fuzz_mount(bytes: &[u8]) -> Option<usize> {
    Some(walk(bytes)? + walk(&disk_with_catalog(bytes))?)
}

fn walk(disk: &[u8]) -> Option<usize> {
    let Ok(mounted) = mount_image(disk) else {
        return Some(0);
    };
    let mut files = 0;
    for (_, entry) in mounted.committed.catalog.entries() {
        if let Entry::File(file) = entry {
            let bytes = read_file(disk, file).ok()?;
            if bytes.len() as u64 != file.size || crc32(&bytes) != file.data_crc {
                return None;
            }
            files += 1;
        }
    }
    Some(files)
}
