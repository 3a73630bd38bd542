//! The crash harness: each workload is a formatted disk and a list of
//! syncs (each a list of changes, one commit). It runs on a
//! [`RecordingDisk`], then for every crash point (after each device
//! operation, and before the first) rebuilds each image a power cut
//! could leave there (`sim.rs`), mounts it and checks:
//!
//! - mount succeeds, and does not fall back (it never needs to after a
//!   power cut: the newest valid superblock's generation is intact);
//! - before sync `i`'s superblock write is issued, the state is exactly
//!   the one after sync `i - 1`; after its last flush, exactly the one
//!   after sync `i`; in between, one of the two and nothing else;
//! - the states are the ones an independent model of the changes gives.
//!
//! `cargo test -p mealy-fs crash -- --nocapture` prints how many crash
//! points and images each workload checked.

use alloc::string::String;
use alloc::vec::Vec;
use std::println;

use proptest::prelude::*;

use super::sim::{Op, RecordingDisk, crash_images};
use super::{
    OwnedChange, State, apply_model, borrow_all, mkdir, mount_state, pattern, remove, rename, write,
};
use crate::disk::{BLOCK, Change, CommitPlan, format_image, mount_image};

extern crate std;

/// A workload run: the disk before, the operations, where each sync's
/// operations end, and the state after each sync (index 0: before any).
struct Run {
    initial: Vec<u8>,
    ops: Vec<Op>,
    ends: Vec<usize>,
    states: Vec<State>,
}

fn run(blocks: u64, setup: &[OwnedChange], syncs: &[Vec<OwnedChange>]) -> Run {
    let initial = format_image(blocks, &borrow_all(setup)).expect("format");
    let mut model = State::new();
    for change in setup {
        apply_model(&mut model, change);
    }
    let (mounted, state) = mount_state(&initial).expect("mount the formatted disk");
    assert_eq!(state, model, "the formatted disk");
    let mut committed = mounted.committed;
    let mut disk = RecordingDisk::new(initial.clone());
    let mut states = alloc::vec![model.clone()];
    let mut ends = alloc::vec![0];
    for changes in syncs {
        let borrowed = borrow_all(changes);
        let plan = CommitPlan::plan(&committed, &borrowed).expect("plan");
        committed = plan.execute(&borrowed, &mut disk).expect("execute");
        for change in changes {
            apply_model(&mut model, change);
        }
        let (_, state) = mount_state(&disk.disk.bytes).expect("mount after sync");
        assert_eq!(state, model, "after sync {}", states.len());
        states.push(model.clone());
        ends.push(disk.ops.len());
    }
    Run {
        initial,
        ops: disk.ops,
        ends,
        states,
    }
}

/// Checks one image left by a crash after `ops[..crash]`.
fn check_image(run: &Run, crash: usize, image: &[u8]) -> Result<(), String> {
    // The sync in progress: the first whose operations end at or after
    // the crash (sync 0, "before any", ends at 0).
    let sync = run.ends.iter().position(|&end| end >= crash).unwrap_or(0);
    let (mounted, state) =
        mount_state(image).map_err(|e| alloc::format!("crash at op {crash}: {e}"))?;
    if let Some(rejected) = mounted.fell_back {
        return Err(alloc::format!(
            "crash at op {crash}: fell back: {rejected:?}"
        ));
    }
    let end = run.ends[sync];
    let (old, new) = (&run.states[sync.saturating_sub(1)], &run.states[sync]);
    let ok = if crash == end {
        state == *new
    } else if crash + 2 <= end {
        // The superblock write (the op before the last flush) was not issued.
        state == *old
    } else {
        state == *old || state == *new
    };
    if ok {
        Ok(())
    } else {
        Err(alloc::format!(
            "crash at op {crash} in sync {sync}: a state that is neither before nor after"
        ))
    }
}

/// Every crash point of `run`; returns (crash points, images) checked.
fn check_every_crash(run: &Run) -> Result<(usize, usize), String> {
    let mut images = 0;
    for crash in 0..=run.ops.len() {
        for image in crash_images(&run.initial, &run.ops, crash) {
            check_image(run, crash, &image)?;
            images += 1;
        }
    }
    Ok((run.ops.len() + 1, images))
}

fn harness(name: &str, blocks: u64, setup: &[OwnedChange], syncs: &[Vec<OwnedChange>]) {
    let run = run(blocks, setup, syncs);
    let (points, images) = check_every_crash(&run).unwrap_or_else(|message| panic!("{message}"));
    println!("crash harness: {name}: {points} crash points, {images} disk images checked");
    assert!(
        points > syncs.len() * 4,
        "every sync has at least 4 operations"
    );
}

#[test]
fn create_files_and_directories() {
    harness(
        "create",
        64,
        &[],
        &[
            alloc::vec![write("a", b"first file")],
            alloc::vec![mkdir("etc"), write("etc/motd", &pattern(1, 5000))],
            alloc::vec![
                mkdir("etc/deep"),
                write("etc/deep/x", b""),
                write("b", b"b")
            ],
        ],
    );
}

#[test]
fn overwrite_and_grow() {
    harness(
        "overwrite+grow",
        64,
        &[write("log", b"start")],
        &[
            alloc::vec![write("log", &pattern(2, 100))],
            alloc::vec![write("log", &pattern(3, 4096))],
            alloc::vec![write("log", &pattern(4, 4097))],
            alloc::vec![write("log", &pattern(5, 20_000))],
            alloc::vec![write("log", b"short again")],
        ],
    );
}

#[test]
fn delete_and_rename() {
    harness(
        "delete+rename",
        64,
        &[
            mkdir("d"),
            write("d/one", &pattern(6, 9000)),
            write("d/two", b"two"),
            write("top", b"top"),
        ],
        &[
            alloc::vec![remove("top")],
            alloc::vec![rename("d/one", "one")],
            alloc::vec![rename("d", "e"), write("e/three", b"3")],
            alloc::vec![remove("e/two"), remove("e/three"), remove("e")],
        ],
    );
}

#[test]
fn many_small_files() {
    let files: Vec<OwnedChange> = (0..60)
        .map(|i| {
            write(
                &alloc::format!("many/f{i:02}"),
                &pattern(i, 10 + i as usize),
            )
        })
        .collect();
    let mut first = alloc::vec![mkdir("many")];
    first.extend(files);
    let rewrite: Vec<OwnedChange> = (0..60)
        .step_by(7)
        .map(|i| write(&alloc::format!("many/f{i:02}"), &pattern(i + 1, 300)))
        .collect();
    harness("many small files", 128, &[], &[first, rewrite]);
}

#[test]
fn a_big_file_on_a_fragmented_disk() {
    // A small disk, full enough that the big file is split over the
    // holes the deleted files leave and the old generation still holds.
    let setup: Vec<OwnedChange> = (0..8)
        .map(|i| write(&alloc::format!("s{i}"), &pattern(i, 3 * BLOCK)))
        .collect();
    harness(
        "big file",
        72,
        &setup,
        &[
            alloc::vec![remove("s1"), remove("s3"), remove("s5")],
            alloc::vec![write("big", &pattern(9, 30 * BLOCK + 123))],
            alloc::vec![write("big", &pattern(10, 12 * BLOCK))],
        ],
    );
}

#[test]
fn ten_syncs_reusing_freed_blocks() {
    let syncs: Vec<Vec<OwnedChange>> = (0..10u8)
        .map(|i| {
            alloc::vec![
                write("a", &pattern(i, 2000 + 1000 * i as usize)),
                write(&alloc::format!("gen{i}"), &[i; 10]),
            ]
        })
        .collect();
    let run = run(40, &[], &syncs);
    // With 40 blocks and first-fit, later syncs must reuse blocks older
    // generations used: the disk could not hold every version at once.
    assert!(run.ops.len() > 30);
    let (points, images) = check_every_crash(&run).unwrap_or_else(|message| panic!("{message}"));
    println!("crash harness: ten syncs: {points} crash points, {images} disk images checked");
}

#[test]
fn a_crash_after_the_superblock_flush_keeps_the_commit() {
    let run = run(32, &[], &[alloc::vec![write("kept", b"synced")]]);
    let end = *run.ends.last().unwrap();
    for image in crash_images(&run.initial, &run.ops, end) {
        let (_, state) = mount_state(&image).unwrap();
        assert_eq!(state.get("kept"), Some(&Some(b"synced".to_vec())));
    }
    // And an unsynced change (planned, half written, no superblock) is gone.
    let mounted = mount_image(&run.initial).unwrap();
    let changes = [write("lost", b"never synced")];
    let borrowed = borrow_all(&changes);
    let plan = CommitPlan::plan(&mounted.committed, &borrowed).unwrap();
    let mut disk = RecordingDisk::new(run.initial.clone());
    plan.execute(&borrowed, &mut disk).unwrap();
    let last_flush = disk.ops.len() - 1;
    for crash in 0..last_flush - 1 {
        for image in crash_images(&run.initial, &disk.ops, crash) {
            let (_, state) = mount_state(&image).unwrap();
            assert!(!state.contains_key("lost"), "crash at {crash}");
        }
    }
}

#[test]
fn a_replace_with_kept_and_moved_files_is_all_or_nothing() {
    let setup = [
        mkdir("d"),
        write("d/a", &pattern(1, 3 * BLOCK)),
        write("d/b", &pattern(2, 100)),
        write("c", &pattern(3, 2 * BLOCK)),
    ];
    let initial = format_image(48, &borrow_all(&setup)).unwrap();
    let (mounted, before) = mount_state(&initial).unwrap();
    let committed = mounted.committed;
    let file = |path| match committed.catalog.get(path) {
        Some(crate::disk::Entry::File(file)) => file.clone(),
        other => panic!("{other:?}"),
    };
    let (a, c) = (file("d/a"), file("c"));
    let new_b = pattern(4, 5 * BLOCK);
    let changes = [
        Change::Mkdir { path: "e" },
        Change::Keep {
            path: "e/a",
            file: &a,
        },
        Change::Write {
            path: "e/b",
            data: &new_b,
        },
        Change::Keep {
            path: "top",
            file: &c,
        },
    ];
    let mut disk = RecordingDisk::new(initial.clone());
    CommitPlan::replace(&committed, &changes)
        .unwrap()
        .execute(&changes, &mut disk)
        .unwrap();
    let mut after = State::new();
    after.insert("e".into(), None);
    after.insert("e/a".into(), before["d/a"].clone());
    after.insert("e/b".into(), Some(new_b.clone()));
    after.insert("top".into(), before["c"].clone());
    let run = Run {
        initial,
        ends: alloc::vec![0, disk.ops.len()],
        ops: disk.ops,
        states: alloc::vec![before, after],
    };
    let (points, images) = check_every_crash(&run).unwrap_or_else(|m| panic!("{m}"));
    println!(
        "crash harness: replace with kept files: {points} crash points, {images} disk images checked"
    );
}

/// A change from a small alphabet of paths; invalid ones (the parent
/// missing, renaming onto an existing name) are dropped when planning
/// fails, so every committed sync is valid.
fn arbitrary_change() -> impl Strategy<Value = OwnedChange> {
    let path = prop::sample::select(alloc::vec!["a", "b", "d", "d/x", "d/y", "e", "e/z"]);
    prop_oneof![
        4 => (path.clone(), 0usize..3 * BLOCK, any::<u8>())
            .prop_map(|(p, len, seed)| write(p, &pattern(seed, len))),
        1 => path.clone().prop_map(mkdir),
        2 => path.clone().prop_map(remove),
        1 => (path.clone(), path).prop_map(|(from, to)| rename(from, to)),
    ]
}

/// The changes of `syncs` that plan, in order, each sync keeping the ones
/// valid after the changes before it (so every sync commits).
fn valid_syncs(blocks: u64, syncs: &[Vec<OwnedChange>]) -> Vec<Vec<OwnedChange>> {
    let initial = format_image(blocks, &[]).unwrap();
    let mut committed = mount_image(&initial).unwrap().committed;
    let mut kept: Vec<Vec<OwnedChange>> = Vec::new();
    for changes in syncs {
        let mut valid: Vec<OwnedChange> = Vec::new();
        for change in changes {
            let mut trial = valid.clone();
            trial.push(change.clone());
            if CommitPlan::plan(&committed, &borrow_all(&trial)).is_ok() {
                valid = trial;
            }
        }
        if let Ok(plan) = CommitPlan::plan(&committed, &borrow_all(&valid)) {
            committed = plan.finish();
            kept.push(valid);
        }
    }
    kept
}

fn arbitrary_syncs() -> impl Strategy<Value = Vec<Vec<OwnedChange>>> {
    prop::collection::vec(prop::collection::vec(arbitrary_change(), 1..5), 1..6)
}

/// Random workloads, each checked at every crash point with the whole
/// family of images; prints the totals.
#[test]
fn random_workloads_survive_every_crash_point() {
    const CASES: u32 = 128;
    use core::sync::atomic::{AtomicUsize, Ordering};
    let points = AtomicUsize::new(0);
    let images = AtomicUsize::new(0);
    // A fixed seed, so the count printed is the same on every run (the
    // proptest below explores new random workloads each time).
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let rng = proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let result = runner.run(&arbitrary_syncs(), |syncs| {
        let run = run(48, &[], &valid_syncs(48, &syncs));
        let (p, i) = check_every_crash(&run).map_err(TestCaseError::fail)?;
        points.fetch_add(p, Ordering::Relaxed);
        images.fetch_add(i, Ordering::Relaxed);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    println!(
        "crash harness: {CASES} random workloads: {} crash points, {} disk images checked",
        points.load(Ordering::Relaxed),
        images.load(Ordering::Relaxed)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random workloads, a random crash point, and a random subset of the
    /// pending writes (one of them possibly torn).
    #[test]
    fn random_workloads_survive_random_crashes(
        syncs in arbitrary_syncs(),
        crash_at in any::<prop::sample::Index>(),
        landed in any::<u64>(),
        torn in any::<Option<(prop::sample::Index, u8)>>(),
    ) {
        let run = run(48, &[], &valid_syncs(48, &syncs));
        let crash = crash_at.index(run.ops.len() + 1);
        let (mut image, pending) = super::sim::durable_and_pending(&run.initial, &run.ops, crash);
        for (index, &(block, data)) in pending.iter().enumerate() {
            if landed & (1 << (index % 64)) != 0 {
                super::sim::land(&mut image, block, data, None);
            }
        }
        if let Some((which, sectors)) = torn
            && !pending.is_empty()
        {
            let (block, data) = pending[which.index(pending.len())];
            let sectors = usize::from(sectors) % (data.len() / crate::disk::SECTOR);
            super::sim::land(&mut image, block, data, Some(sectors));
        }
        if let Err(message) = check_image(&run, crash, &image) {
            prop_assert!(false, "{}", message);
        }
    }
}
