//! Mount as steps: the reads [`Mounting`] asks for, in order, as a
//! service would see them, including a large file split into bounded
//! reads, a fallback in the middle of the files, and short replies.

use alloc::vec::Vec;

use super::{borrow_all, pattern, write};
use crate::disk::{
    BLOCK, CommitPlan, Entry, MAX_READ_BLOCKS, MemoryDisk, MetaError, MountError, MountStep,
    Mounting, Read, ReadFor, Rejected, format_image, mount_image,
};

/// Drives a mount over `disk`, answering each read with `answer`, and
/// returns the reads asked for and the result.
fn drive(
    disk: &[u8],
    answer: impl Fn(&Read, &[u8]) -> Vec<u8>,
) -> (Vec<Read>, Result<crate::disk::Mounted, MountError>) {
    let (mut mounting, mut step) = Mounting::start((disk.len() / BLOCK) as u64);
    let mut reads = Vec::new();
    loop {
        match step {
            MountStep::Done(result) => return (reads, result),
            MountStep::Read(read) => {
                let start = read.block as usize * BLOCK;
                let bytes = &disk[start..start + read.blocks as usize * BLOCK];
                reads.push(read);
                step = mounting.supply(&answer(&read, bytes));
            }
        }
    }
}

#[test]
fn reads_come_in_order_and_a_big_file_in_bounded_pieces() {
    let big = pattern(7, 300 * BLOCK + 10);
    let disk = format_image(
        400,
        &borrow_all(&[write("big", &big), write("small", b"s")]),
    )
    .unwrap();
    let (reads, result) = drive(&disk, |_, bytes| bytes.to_vec());
    let mounted = result.unwrap();
    assert_eq!(mounted.committed.generation, 1);
    let what: Vec<ReadFor> = reads.iter().map(|r| r.what).collect();
    assert_eq!(
        what,
        [
            ReadFor::Superblocks,
            ReadFor::Catalog { generation: 1 },
            ReadFor::File {
                entry: 0,
                offset: 0
            },
            ReadFor::File {
                entry: 0,
                offset: MAX_READ_BLOCKS * BLOCK as u64
            },
            ReadFor::File {
                entry: 1,
                offset: 0
            },
        ]
    );
    assert_eq!(reads[2].blocks, MAX_READ_BLOCKS);
    assert_eq!(reads[3].blocks, 301 - MAX_READ_BLOCKS);
    assert_eq!(reads[3].block, reads[2].block + MAX_READ_BLOCKS);
    // The same answer as mounting the slice.
    assert_eq!(mount_image(&disk).unwrap(), mounted);
}

#[test]
fn a_damaged_file_moves_on_to_the_older_catalog() {
    let disk = format_image(32, &borrow_all(&[write("a", b"one")])).unwrap();
    let first = mount_image(&disk).unwrap().committed;
    let changes = [write("a", b"two"), write("b", &pattern(1, 2 * BLOCK))];
    let borrowed = borrow_all(&changes);
    let mut device = MemoryDisk { bytes: disk };
    CommitPlan::plan(&first, &borrowed)
        .unwrap()
        .execute(&borrowed, &mut device)
        .unwrap();
    // File "b" (entry 1) of generation 2 comes back damaged.
    let (reads, result) = drive(&device.bytes, |read, bytes| {
        let mut bytes = bytes.to_vec();
        if read.what
            == (ReadFor::File {
                entry: 1,
                offset: 0,
            })
        {
            bytes[100] ^= 1;
        }
        bytes
    });
    let mounted = result.unwrap();
    assert_eq!(mounted.committed.generation, 1);
    assert_eq!(
        mounted.fell_back,
        Some(Rejected {
            generation: 2,
            error: MetaError::DataChecksum { entry: 1 }
        })
    );
    let what: Vec<ReadFor> = reads.iter().map(|r| r.what).collect();
    assert_eq!(
        what,
        [
            ReadFor::Superblocks,
            ReadFor::Catalog { generation: 2 },
            ReadFor::File {
                entry: 0,
                offset: 0
            },
            ReadFor::File {
                entry: 1,
                offset: 0
            },
            ReadFor::Catalog { generation: 1 },
            ReadFor::File {
                entry: 0,
                offset: 0
            },
        ]
    );
    assert!(matches!(mounted.committed.catalog.get("a"), Some(Entry::File(f)) if f.size == 3));
}

#[test]
fn short_replies_reject_the_candidate_and_never_panic() {
    let disk = format_image(32, &borrow_all(&[write("a", &pattern(2, 5000))])).unwrap();
    for cut in [0, 1, BLOCK - 1, BLOCK, 2 * BLOCK - 1] {
        let (_, result) = drive(&disk, |read, bytes| {
            if read.what == ReadFor::Superblocks {
                bytes.to_vec()
            } else {
                bytes[..cut.min(bytes.len())].to_vec()
            }
        });
        assert_eq!(
            result,
            Err(MountError::Corrupt {
                newest: Rejected {
                    generation: 1,
                    error: MetaError::Truncated
                },
                older: None
            }),
            "cut {cut}"
        );
    }
    // A short superblock read is no superblock.
    let (_, result) = drive(&disk, |_, bytes| bytes[..10].to_vec());
    assert!(matches!(result, Err(MountError::NoSuperblock { .. })));
    // Supplying after the end is an error, not a panic.
    let (mut mounting, step) = Mounting::start(2);
    assert_eq!(
        step,
        MountStep::Done(Err(MountError::TooSmall { blocks: 2 }))
    );
    assert_eq!(
        mounting.supply(&[]),
        MountStep::Done(Err(MountError::NoReadPending))
    );
}
