//! Commit planning: each refusal, the shape of a plan (writes, a flush,
//! the superblock into the older slot, a flush), that a plan never writes
//! a block the committed generation references, and that freed blocks
//! come back.

use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{OwnedChange, borrow_all, mkdir, mount_state, pattern, remove, rename, write};
use crate::disk::{
    BLOCK, Change, CommitError, CommitPlan, Committed, Entry, FileEntry, MemoryDisk, Source, Step,
    Write, format_image, mount_image,
};

fn committed(blocks: u64, setup: &[OwnedChange]) -> (Vec<u8>, Committed) {
    let disk = format_image(blocks, &borrow_all(setup)).unwrap();
    let committed = mount_image(&disk).unwrap().committed;
    (disk, committed)
}

fn refusal(setup: &[OwnedChange], changes: &[OwnedChange]) -> CommitError {
    let (_, committed) = committed(64, setup);
    CommitPlan::plan(&committed, &borrow_all(changes)).unwrap_err()
}

#[test]
fn each_refusal() {
    let tree = [mkdir("d"), write("d/f", b"f"), write("g", b"g")];
    let cases: &[(OwnedChange, CommitError)] = &[
        (write("", b"x"), CommitError::BadPath { change: 0 }),
        (write("/", b"x"), CommitError::BadPath { change: 0 }),
        (write("a/../b", b"x"), CommitError::BadPath { change: 0 }),
        (write("nope/x", b"x"), CommitError::NoParent { change: 0 }),
        (write("g/x", b"x"), CommitError::NoParent { change: 0 }),
        (write("d", b"x"), CommitError::IsADirectory { change: 0 }),
        (mkdir("g"), CommitError::Exists { change: 0 }),
        (mkdir("d"), CommitError::Exists { change: 0 }),
        (remove("nope"), CommitError::NotFound { change: 0 }),
        (remove("d"), CommitError::NotEmpty { change: 0 }),
        (rename("nope", "x"), CommitError::NotFound { change: 0 }),
        (rename("g", "d/f"), CommitError::Exists { change: 0 }),
        (rename("d", "d/e"), CommitError::IntoItself { change: 0 }),
        (rename("d", "d"), CommitError::IntoItself { change: 0 }),
        (rename("g", "nope/g"), CommitError::NoParent { change: 0 }),
        (
            write("big", &pattern(0, 64 * BLOCK)),
            CommitError::NoSpace {
                needed: 64,
                free: 64 - 5,
            },
        ),
    ];
    for (change, expected) in cases {
        assert_eq!(
            refusal(&tree, core::slice::from_ref(change)),
            *expected,
            "{change:?}"
        );
    }
    // The index names the change at fault.
    assert_eq!(
        refusal(&tree, &[write("ok", b"1"), remove("nope")]),
        CommitError::NotFound { change: 1 }
    );
}

#[test]
fn a_plan_writes_then_flushes_then_the_older_slot_then_flushes() {
    let (_, committed) = committed(32, &[]);
    assert_eq!(committed.generation, 1);
    let changes = [write("a", &pattern(1, 5000))];
    let plan = CommitPlan::plan(&committed, &borrow_all(&changes)).unwrap();
    let steps = plan.steps();
    let n = steps.len();
    assert_eq!(plan.generation(), 2);
    assert_eq!(steps[n - 1], Step::Flush);
    assert_eq!(
        steps[n - 2],
        Step::Write(Write {
            block: 0,
            blocks: 1,
            source: Source::Superblock,
            len: BLOCK as u64
        })
    );
    assert_eq!(steps[n - 3], Step::Flush);
    assert!(steps[..n - 3].iter().all(|s| matches!(s, Step::Write(_))));
    // A file of 5000 bytes: two blocks, the second padded with zeros.
    let Step::Write(data) = steps[0] else {
        panic!("data first")
    };
    assert_eq!((data.blocks, data.len), (2, 5000));
    let mut out = alloc::vec![0xaa; 2 * BLOCK];
    plan.fill(&data, &borrow_all(&changes), &mut out).unwrap();
    assert_eq!(&out[..5000], &pattern(1, 5000)[..]);
    assert!(out[5000..].iter().all(|&b| b == 0));
    // Other changes than the planned ones are refused.
    let other = [write("a", b"short")];
    assert_eq!(
        plan.fill(&data, &borrow_all(&other), &mut out),
        Err(CommitError::WrongChanges)
    );
    assert_eq!(
        plan.fill(&data, &[], &mut out),
        Err(CommitError::WrongChanges)
    );
}

#[test]
fn filling_a_write_block_by_block_gives_the_bytes_of_the_whole_write() {
    let (_, committed) = committed(64, &[]);
    let changes = [
        write("a", &pattern(3, 3 * BLOCK + 100)),
        mkdir("d"),
        write("d/b", &pattern(4, 10)),
    ];
    let borrowed = borrow_all(&changes);
    let plan = CommitPlan::plan(&committed, &borrowed).unwrap();
    let mut checked = 0;
    for step in plan.steps() {
        let Step::Write(write) = step else { continue };
        let mut whole = alloc::vec![0xaa; write.blocks as usize * BLOCK];
        plan.fill(write, &borrowed, &mut whole).unwrap();
        for index in 0..write.blocks {
            let one = write.block(index).unwrap();
            assert_eq!((one.block, one.blocks), (write.block + index, 1));
            let mut block = alloc::vec![0x55; BLOCK];
            plan.fill(&one, &borrowed, &mut block).unwrap();
            let at = index as usize * BLOCK;
            assert_eq!(block, whole[at..at + BLOCK], "{write:?} block {index}");
            checked += 1;
        }
        assert_eq!(write.block(write.blocks), None);
    }
    // Four blocks of `a`, one of `d/b`, the catalog, the superblock.
    assert!(checked >= 7, "{checked}");
}

#[test]
fn formatting_clears_the_other_slot_first() {
    let mut stale = format_image(16, &[]).unwrap();
    // A stale generation 8 of an older fs in slot 0 would win mount.
    let mut old = MemoryDisk {
        bytes: stale.clone(),
    };
    let mut committed = mount_image(&stale).unwrap().committed;
    for _ in 0..7 {
        committed = CommitPlan::plan(&committed, &[])
            .unwrap()
            .execute(&[], &mut old)
            .unwrap();
    }
    assert_eq!(mount_image(&old.bytes).unwrap().committed.generation, 8);
    stale[..BLOCK].copy_from_slice(&old.bytes[..BLOCK]);
    let fresh = Committed::unformatted(16).unwrap();
    let mut disk = MemoryDisk { bytes: stale };
    CommitPlan::plan(&fresh, &[write("new", b"1").borrow()])
        .unwrap()
        .execute(&[write("new", b"1").borrow()], &mut disk)
        .unwrap();
    let (mounted, state) = mount_state(&disk.bytes).unwrap();
    assert_eq!(mounted.committed.generation, 1);
    assert!(state.contains_key("new"));
}

#[test]
fn removed_blocks_come_back_after_the_next_commit() {
    let (_, start) = committed(32, &[]);
    let free = start.free_blocks();
    let mut disk = MemoryDisk::new(32);
    let mut run = |committed: &Committed, changes: &[OwnedChange]| {
        let borrowed = borrow_all(changes);
        CommitPlan::plan(committed, &borrowed)
            .unwrap()
            .execute(&borrowed, &mut disk)
            .unwrap()
    };
    let one = run(&start, &[write("a", &pattern(1, 10 * BLOCK))]);
    assert_eq!(one.free_blocks(), free - 10);
    let two = run(&one, &[remove("a")]);
    assert_eq!(two.free_blocks(), free);
    // 14 blocks, rewritten again and again on a disk with 29 free: each
    // commit needs 15 (data and catalog) while the last copy is held, so
    // this works only if each commit gets the blocks of the one before
    // the last back.
    let mut at = two;
    for round in 0..5 {
        at = run(&at, &[write("b", &pattern(round, 14 * BLOCK))]);
        assert_eq!(at.free_blocks(), free - 14, "round {round}");
    }
    assert_eq!(
        CommitPlan::plan(&at, &[write("c", &pattern(5, 16 * BLOCK)).borrow()]).map(|_| ()),
        Err(CommitError::NoSpace {
            needed: 16,
            free: free - 14
        })
    );
}

#[test]
fn renaming_a_directory_moves_everything_under_it() {
    let setup = [
        mkdir("d"),
        mkdir("d/e"),
        write("d/e/f", b"deep"),
        write("d2", b"not under d"),
    ];
    let (_, committed) = committed(32, &setup);
    let plan = CommitPlan::plan(
        &committed,
        &[Change::Rename {
            from: "/d/",
            to: "x",
        }],
    )
    .unwrap();
    let next = plan.finish();
    let paths: Vec<&str> = next.catalog.entries().map(|(p, _)| p).collect();
    assert_eq!(paths, ["d2", "x", "x/e", "x/e/f"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the changes, a plan writes only blocks the committed
    /// generation does not reference (the superblock goes to the older
    /// slot), and the new generation's blocks never overlap.
    #[test]
    fn a_plan_never_writes_a_committed_block(
        sizes in prop::collection::vec(0usize..4 * BLOCK, 1..6),
        removals in prop::collection::vec(any::<bool>(), 6),
    ) {
        let setup: Vec<OwnedChange> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| write(&alloc::format!("f{i}"), &pattern(i as u8, len)))
            .collect();
        let (_, committed) = committed(64, &setup);
        let mut changes: Vec<OwnedChange> = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            let path = alloc::format!("f{i}");
            if removals[i] {
                changes.push(remove(&path));
            } else {
                changes.push(write(&path, &pattern(i as u8 + 1, len / 2 + 1)));
            }
        }
        let plan = CommitPlan::plan(&committed, &borrow_all(&changes)).unwrap();
        for step in plan.steps() {
            if let Step::Write(write) = step {
                if write.source == Source::Superblock {
                    prop_assert_eq!(write.block, plan.generation() % 2);
                    continue;
                }
                for block in write.block..write.block + write.blocks {
                    prop_assert!(!committed.used.is_used(block), "block {}", block);
                }
            }
        }
    }
}

#[test]
fn an_exhausted_generation_number_is_refused_not_a_panic() {
    let mut disk = format_image(16, &[]).unwrap();
    let mut superblock = crate::disk::Superblock::decode(&disk[BLOCK..2 * BLOCK], 1, 16).unwrap();
    superblock.generation = u64::MAX;
    disk[BLOCK..2 * BLOCK].copy_from_slice(&superblock.encode());
    let committed = mount_image(&disk).unwrap().committed;
    assert_eq!(committed.generation, u64::MAX);
    assert_eq!(
        CommitPlan::plan(&committed, &[]).map(|_| ()),
        Err(CommitError::TooLarge)
    );
}

/// The entry of file `path` in `committed`.
fn entry<'c>(committed: &'c Committed, path: &str) -> &'c FileEntry {
    match committed.catalog.get(path) {
        Some(Entry::File(file)) => file,
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn replace_carries_clean_files_over_without_writing_them() {
    let setup = [
        mkdir("d"),
        write("d/a", &pattern(1, 3 * BLOCK)),
        write("b", b"old b"),
        write("c", b"c"),
        write("empty", b""),
    ];
    let (disk, committed) = committed(64, &setup);
    let a = entry(&committed, "d/a").clone();
    let empty = entry(&committed, "empty").clone();
    // The whole namespace: d/a moved to e/a2, b changed, c and d gone.
    let changes = [
        Change::Mkdir { path: "e" },
        Change::Keep {
            path: "e/a2",
            file: &a,
        },
        Change::Write {
            path: "b",
            data: b"new b",
        },
        Change::Keep {
            path: "empty",
            file: &empty,
        },
    ];
    let plan = CommitPlan::replace(&committed, &changes).unwrap();
    let file_writes: Vec<Source> = plan
        .steps()
        .iter()
        .filter_map(|step| match step {
            Step::Write(w) if matches!(w.source, Source::Change { .. }) => Some(w.source),
            _ => None,
        })
        .collect();
    assert_eq!(
        file_writes,
        [Source::Change {
            index: 2,
            offset: 0
        }]
    );
    let mut device = MemoryDisk { bytes: disk };
    let next = plan.execute(&changes, &mut device).unwrap();
    let (mounted, state) = mount_state(&device.bytes).unwrap();
    assert_eq!(mounted.committed, next);
    let paths: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(paths, ["b", "e", "e/a2", "empty"]);
    assert_eq!(state["e/a2"], Some(pattern(1, 3 * BLOCK)));
    assert_eq!(state["b"], Some(b"new b".to_vec()));
    assert_eq!(entry(&next, "e/a2"), &a, "the same blocks");
}

#[test]
fn a_keep_must_name_a_committed_file_once() {
    let setup = [
        mkdir("d"),
        write("a", &pattern(1, 2 * BLOCK)),
        write("b", b"b"),
    ];
    let (_, committed) = committed(64, &setup);
    let a = entry(&committed, "a").clone();
    let refused = |changes: &[Change<'_>], replace: bool| {
        let plan = if replace {
            CommitPlan::replace(&committed, changes)
        } else {
            CommitPlan::plan(&committed, changes)
        };
        plan.map(|_| ()).unwrap_err()
    };
    let mut stale = a.clone();
    stale.data_crc ^= 1;
    let mut forged = a.clone();
    forged.extents[0].block += 1;
    let forged_empty = FileEntry {
        size: 0,
        data_crc: 7,
        extents: Vec::new(),
    };
    for (file, expected) in [
        (&stale, CommitError::NotCommitted { change: 0 }),
        (&forged, CommitError::NotCommitted { change: 0 }),
        (&forged_empty, CommitError::NotCommitted { change: 0 }),
    ] {
        assert_eq!(refused(&[Change::Keep { path: "x", file }], true), expected);
    }
    let keep = |path| Change::Keep { path, file: &a };
    assert!(matches!(
        refused(&[keep("x"), keep("y")], true),
        CommitError::Shared { .. }
    ));
    // Kept under a new name while still at its old one.
    assert!(matches!(
        refused(&[keep("x")], false),
        CommitError::Shared { .. }
    ));
    assert_eq!(
        refused(&[keep("d")], false),
        CommitError::IsADirectory { change: 0 }
    );
    assert_eq!(
        refused(&[keep("nope/x")], true),
        CommitError::NoParent { change: 0 }
    );
    // A move by Keep plus Remove is fine, and so is keeping it in place.
    assert!(CommitPlan::plan(&committed, &[keep("x"), Change::Remove { path: "a" }]).is_ok());
    assert!(CommitPlan::plan(&committed, &[keep("a")]).is_ok());
}
