//! A damaged disk: mount falls back to the other generation only when
//! that one verifies in full, and otherwise refuses with one typed error.
//! Then hand-made superblocks and catalogs, each breaking one rule with a
//! valid checksum, so the validation (not the CRC) must catch it.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{State, borrow_all, mount_state, pattern, write};
use crate::disk::catalog::CATALOG_MAGIC;
use crate::disk::superblock::seal;
use crate::disk::{
    BLOCK, Catalog, CommitPlan, Entry, Extent, FileEntry, MetaError, MountError, Rejected, Source,
    Step, Superblock, SuperblockError, crc32, disk_with_catalog, format_image, fuzz_mount,
    mount_image,
};

/// A disk with generation 1 (slot 1) and 2 (slot 0), and their states.
fn two_generations() -> (Vec<u8>, State, State) {
    let disk = format_image(32, &borrow_all(&[write("f", &pattern(1, 2 * BLOCK))])).unwrap();
    let (first, s1) = mount_state(&disk).unwrap();
    let changes = [write("f", &pattern(2, 2 * BLOCK)), write("g", b"g")];
    let borrowed = borrow_all(&changes);
    let mut device = crate::disk::MemoryDisk { bytes: disk };
    CommitPlan::plan(&first.committed, &borrowed)
        .unwrap()
        .execute(&borrowed, &mut device)
        .unwrap();
    let (second, s2) = mount_state(&device.bytes).unwrap();
    assert_eq!(second.committed.generation, 2);
    (device.bytes, s1, s2)
}

fn superblock(disk: &[u8], slot: u64) -> Superblock {
    let at = slot as usize * BLOCK;
    Superblock::decode(&disk[at..at + BLOCK], slot, (disk.len() / BLOCK) as u64).unwrap()
}

fn flip(disk: &mut [u8], byte: usize) {
    disk[byte] ^= 0x10;
}

#[test]
fn any_byte_of_the_newest_superblock_damaged_falls_back() {
    let (disk, s1, _) = two_generations();
    for byte in 0..64 {
        let mut damaged = disk.clone();
        flip(&mut damaged, byte);
        let (mounted, state) = mount_state(&damaged).unwrap();
        assert_eq!(mounted.committed.generation, 1, "byte {byte}");
        assert_eq!(state, s1, "byte {byte}");
    }
}

#[test]
fn damaged_metadata_falls_back_and_says_why() {
    let (mut disk, s1, _) = two_generations();
    let newest = superblock(&disk, 0);
    flip(&mut disk, newest.meta_block as usize * BLOCK + 20);
    let (mounted, state) = mount_state(&disk).unwrap();
    assert_eq!(state, s1);
    assert!(matches!(
        mounted.fell_back,
        Some(Rejected {
            generation: 2,
            error: MetaError::Checksum { .. }
        })
    ));
}

#[test]
fn damaged_file_data_falls_back_and_says_why() {
    let (mut disk, s1, _) = two_generations();
    let newest = mount_image(&disk).unwrap().committed;
    let Some(Entry::File(file)) = newest.catalog.get("f") else {
        panic!("f is a file");
    };
    flip(&mut disk, file.extents[0].block as usize * BLOCK + 5000);
    let (mounted, state) = mount_state(&disk).unwrap();
    assert_eq!(state, s1);
    assert_eq!(
        mounted.fell_back,
        Some(Rejected {
            generation: 2,
            error: MetaError::DataChecksum { entry: 0 }
        })
    );
}

#[test]
fn both_superblocks_damaged_is_refused() {
    let (mut disk, _, _) = two_generations();
    flip(&mut disk, 30);
    flip(&mut disk, BLOCK + 30);
    assert!(matches!(
        mount_image(&disk),
        Err(MountError::NoSuperblock {
            slot0: SuperblockError::Checksum { .. },
            slot1: SuperblockError::Checksum { .. },
        })
    ));
    assert_eq!(
        mount_image(&[0; 8 * BLOCK]),
        Err(MountError::NoSuperblock {
            slot0: SuperblockError::BadMagic,
            slot1: SuperblockError::BadMagic,
        })
    );
    assert_eq!(
        mount_image(&[0; 2 * BLOCK]),
        Err(MountError::TooSmall { blocks: 2 })
    );
}

#[test]
fn both_generations_damaged_is_one_error_naming_both() {
    let (mut disk, _, _) = two_generations();
    for slot in 0..2 {
        let at = superblock(&disk, slot).meta_block as usize * BLOCK;
        flip(&mut disk, at + 3);
    }
    let error = mount_image(&disk).unwrap_err();
    assert!(matches!(
        error,
        MountError::Corrupt {
            newest: Rejected { generation: 2, .. },
            older: Some(Rejected { generation: 1, .. }),
        }
    ));
    assert!(
        error.to_string().starts_with("corrupt: generation 2: "),
        "{error}"
    );
}

/// A commit in progress reuses the blocks of the generation before the
/// committed one; if the committed one is then damaged, the older one's
/// superblock and catalog still verify but its data does not: refused,
/// not half trusted.
#[test]
fn an_older_generation_partly_overwritten_is_not_trusted() {
    let (mut disk, _, _) = two_generations();
    let committed = mount_image(&disk).unwrap().committed;
    let changes = [write("h", &pattern(3, BLOCK))];
    let borrowed = borrow_all(&changes);
    let plan = CommitPlan::plan(&committed, &borrowed).unwrap();
    // Only the file data lands (the power goes before anything else).
    let Some(Step::Write(data)) = plan.steps().first() else {
        panic!("the first step writes data");
    };
    assert!(matches!(data.source, Source::Change { .. }));
    let mut block = alloc::vec![0; BLOCK];
    plan.fill(data, &borrowed, &mut block).unwrap();
    let at = data.block as usize * BLOCK;
    disk[at..at + BLOCK].copy_from_slice(&block);
    // Before the damage, generation 2 mounts untouched.
    assert_eq!(mount_image(&disk).unwrap().committed.generation, 2);
    let meta2 = superblock(&disk, 0).meta_block as usize * BLOCK;
    flip(&mut disk, meta2 + 1);
    assert_eq!(
        mount_image(&disk).unwrap_err(),
        MountError::Corrupt {
            newest: Rejected {
                generation: 2,
                error: MetaError::Checksum {
                    stored: superblock(&disk, 0).meta_checksum,
                    computed: crc32(&disk[meta2..meta2 + superblock(&disk, 0).meta_len as usize]),
                },
            },
            older: Some(Rejected {
                generation: 1,
                error: MetaError::DataChecksum { entry: 0 },
            }),
        }
    );
}

/// A one-generation disk whose metadata is replaced by `meta` (at block
/// 20, with a valid checksum): the error mount gives.
fn mount_with_catalog(meta: &[u8]) -> MountError {
    let mut disk = format_image(32, &[]).unwrap();
    let mut superblock = superblock(&disk, 1);
    superblock.meta_block = 20;
    superblock.meta_len = meta.len() as u32;
    superblock.meta_checksum = crc32(meta);
    disk[20 * BLOCK..20 * BLOCK + meta.len()].copy_from_slice(meta);
    disk[BLOCK..2 * BLOCK].copy_from_slice(&superblock.encode());
    match mount_image(&disk) {
        Err(
            error @ MountError::Corrupt {
                newest,
                older: None,
            },
        ) if newest.generation == 1 => error,
        other => panic!("{other:?}"),
    }
}

fn meta_error(meta: &[u8]) -> MetaError {
    match mount_with_catalog(meta) {
        MountError::Corrupt { newest, .. } => newest.error,
        other => panic!("{other:?}"),
    }
}

fn file(size: u64, extents: &[(u64, u64)]) -> Entry {
    Entry::File(FileEntry {
        size,
        data_crc: 0,
        extents: extents
            .iter()
            .map(|&(block, blocks)| Extent { block, blocks })
            .collect(),
    })
}

fn catalog(entries: &[(&str, Entry)]) -> Vec<u8> {
    let mut catalog = Catalog::new();
    for (path, entry) in entries {
        catalog.entries.insert(String::from(*path), entry.clone());
    }
    catalog.encode()
}

#[test]
fn each_catalog_rule_is_checked() {
    let dir = || Entry::Directory;
    let cases: &[(&[(&str, Entry)], MetaError)] = &[
        (
            &[("a", file(1, &[(0, 1)]))],
            MetaError::BadExtent { entry: 0 },
        ),
        (
            &[("a", file(1, &[(31, 2)]))],
            MetaError::BadExtent { entry: 0 },
        ),
        (
            &[("a", file(1, &[(5, 0)]))],
            MetaError::BadExtent { entry: 0 },
        ),
        (
            &[("a", file(1, &[(20, 1)]))],
            MetaError::Overlap {
                entry: 0,
                block: 20,
            },
        ),
        (
            &[
                ("a", file(1, &[(5, 1)])),
                ("b", file(5000, &[(6, 1), (5, 1)])),
            ],
            MetaError::Overlap { entry: 1, block: 5 },
        ),
        (
            &[("a", file(4097, &[(5, 1)]))],
            MetaError::SizeMismatch { entry: 0 },
        ),
        (
            &[("a", file(10, &[(5, 2)]))],
            MetaError::SizeMismatch { entry: 0 },
        ),
        (
            &[("a", file(0, &[(5, 1)]))],
            MetaError::SizeMismatch { entry: 0 },
        ),
        (&[("a/b", file(0, &[]))], MetaError::NoParent { entry: 0 }),
        (
            &[("a", file(0, &[])), ("a/b", file(0, &[]))],
            MetaError::NoParent { entry: 1 },
        ),
        (&[("a//b", dir())], MetaError::BadPath { entry: 0 }),
        (&[("/a", dir())], MetaError::BadPath { entry: 0 }),
        (&[("..", dir())], MetaError::BadPath { entry: 0 }),
        (&[("a\0", dir())], MetaError::BadPath { entry: 0 }),
        (
            &[("a", dir()), ("a/.", dir())],
            MetaError::BadPath { entry: 1 },
        ),
        (
            &[("a", file(1, &[(5, 1)])), ("b", file(1, &[(6, 1)]))],
            MetaError::DataChecksum { entry: 0 },
        ),
    ];
    for (entries, expected) in cases {
        assert_eq!(meta_error(&catalog(entries)), *expected, "{entries:?}");
    }
}

#[test]
fn each_catalog_encoding_rule_is_checked() {
    let good = catalog(&[("a", Entry::Directory), ("b", Entry::Directory)]);
    let edit = |at: usize, value: u8| {
        let mut meta = good.clone();
        meta[at] = value;
        meta
    };
    let entry = |index: usize| 16 + index * 25;
    assert_eq!(meta_error(&edit(0, b'X')), MetaError::BadMagic);
    assert_eq!(
        meta_error(&edit(13, 1)),
        MetaError::Reserved { entry: None }
    );
    assert_eq!(meta_error(&edit(8, 3)), MetaError::Truncated);
    assert_eq!(meta_error(&edit(8, 0xff)), MetaError::Truncated);
    assert_eq!(meta_error(&edit(11, 0xff)), MetaError::BadCount);
    assert_eq!(
        meta_error(&edit(entry(1), 7)),
        MetaError::BadKind { entry: 1 }
    );
    assert_eq!(
        meta_error(&edit(entry(0) + 1, 1)),
        MetaError::Reserved { entry: Some(0) }
    );
    assert_eq!(
        meta_error(&edit(entry(1) + 8, 1)),
        MetaError::BadExtent { entry: 1 }
    );
    // "b" then "a": out of order.
    let mut swapped = edit(entry(0) + 24, b'b');
    swapped[entry(1) + 24] = b'a';
    assert_eq!(meta_error(&swapped), MetaError::Unsorted { entry: 1 });
    // The same name twice.
    assert_eq!(
        meta_error(&edit(entry(1) + 24, b'a')),
        MetaError::Unsorted { entry: 1 }
    );
    assert_eq!(
        meta_error(&edit(entry(0) + 24, 0xff)),
        MetaError::BadPath { entry: 0 }
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(meta_error(&trailing), MetaError::Trailing);
    assert_eq!(meta_error(&good[..good.len() - 1]), MetaError::Truncated);
    assert_eq!(meta_error(&CATALOG_MAGIC[..4]), MetaError::Truncated);
}

#[test]
fn each_superblock_rule_is_checked() {
    let disk = format_image(32, &[]).unwrap();
    let good = superblock(&disk, 1);
    let check = |edit: &dyn Fn(&mut [u8]), slot: u64, disk_blocks: u64| {
        let mut block = good.encode();
        edit(&mut block);
        seal(&mut block);
        Superblock::decode(&block, slot, disk_blocks)
    };
    let put64 = |at: usize, value: u64| {
        move |b: &mut [u8]| b[at..at + 8].copy_from_slice(&value.to_le_bytes())
    };
    assert_eq!(check(&|_| {}, 1, 32), Ok(good));
    assert_eq!(
        check(&|b| b[8] = 3, 1, 32),
        Err(SuperblockError::UnsupportedVersion(3))
    );
    assert_eq!(check(&|b| b[60] = 1, 1, 32), Err(SuperblockError::Reserved));
    assert_eq!(
        check(&|_| {}, 0, 32),
        Err(SuperblockError::WrongSlot {
            generation: 1,
            slot: 0
        })
    );
    assert_eq!(
        check(&put64(16, 0), 0, 32),
        Err(SuperblockError::WrongSlot {
            generation: 0,
            slot: 0
        })
    );
    assert_eq!(
        check(&|_| {}, 1, 31),
        Err(SuperblockError::BadBlockCount { block_count: 32 })
    );
    assert_eq!(
        check(&put64(24, 2), 1, 32),
        Err(SuperblockError::BadBlockCount { block_count: 2 })
    );
    assert_eq!(
        check(&put64(32, 1), 1, 32),
        Err(SuperblockError::BadMetadata)
    );
    assert_eq!(
        check(&put64(32, 32), 1, 32),
        Err(SuperblockError::BadMetadata)
    );
    assert_eq!(
        check(&put64(32, u64::MAX), 1, 32),
        Err(SuperblockError::BadMetadata)
    );
    assert_eq!(
        check(&|b| b[40..44].fill(0), 1, 32),
        Err(SuperblockError::BadMetadata)
    );
    assert_eq!(
        Superblock::decode(&good.encode()[..63], 1, 32),
        Err(SuperblockError::Truncated)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Random bytes flipped anywhere: mount never panics, and what it
    /// mounts is one of the two generations, whole.
    #[test]
    fn random_damage_never_half_trusts(
        flips in proptest::collection::vec((0usize..32 * BLOCK, 0u8..8), 1..6),
    ) {
        let (mut disk, s1, s2) = two_generations();
        for (at, bit) in flips {
            disk[at] ^= 1 << bit;
        }
        if let Ok((_, state)) = mount_state(&disk) {
            proptest::prop_assert!(state == s1 || state == s2);
        }
    }
}

/// A catalog that mounts on [`disk_with_catalog`]'s disk: directories, an
/// empty file, and files whose checksums match the pattern there.
fn mountable_catalog() -> Vec<u8> {
    let pattern = disk_with_catalog(&[]);
    let data_crc = |block: usize, size: usize| crc32(&pattern[block * BLOCK..block * BLOCK + size]);
    let mut catalog = Catalog::new();
    let file = |block: u64, blocks: u64, size: usize| {
        Entry::File(FileEntry {
            size: size as u64,
            data_crc: data_crc(block as usize, size),
            extents: alloc::vec![Extent { block, blocks }],
        })
    };
    for (path, entry) in [
        ("d", Entry::Directory),
        ("d/empty", file(0, 0, 0)),
        ("d/one", file(20, 1, 100)),
        ("two", file(30, 2, 5000)),
    ] {
        let entry = match entry {
            Entry::File(f) if f.size == 0 => Entry::File(FileEntry {
                extents: alloc::vec![],
                ..f
            }),
            other => other,
        };
        catalog.entries.insert(String::from(path), entry);
    }
    catalog.encode()
}

#[test]
fn the_fuzz_body_mounts_its_seed_and_survives_every_byte_flipped() {
    let seed = mountable_catalog();
    assert_eq!(fuzz_mount(&seed), Some(3));
    let mut mounted = 0;
    for at in 0..seed.len() {
        for bit in [0, 3, 7] {
            let mut bytes = seed.clone();
            bytes[at] ^= 1 << bit;
            let files = fuzz_mount(&bytes);
            assert!(files.is_some(), "byte {at} bit {bit}");
            mounted += usize::from(files > Some(0));
        }
    }
    // Some flips (in a size within its block, say) still mount, whole.
    assert!(mounted > 0);
}

proptest::proptest! {
    /// Random catalogs and random edits of a good one, sealed: never a
    /// panic, and what mounts reads back.
    #[test]
    fn random_catalogs_never_panic(
        noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        edits in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..8),
    ) {
        proptest::prop_assert!(fuzz_mount(&noise).is_some());
        let mut catalog = mountable_catalog();
        for (at, value) in edits {
            let at = at % catalog.len();
            catalog[at] = value;
        }
        proptest::prop_assert!(fuzz_mount(&catalog).is_some());
    }
}
