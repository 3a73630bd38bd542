//! Recovery from what is not a plain power cut during a commit: a commit
//! that failed part way (its superblock may or may not be on the disk)
//! and is retried from [`CommitPlan::abandon`], and a format of a disk
//! that holds an older fs, cut short. Both are checked at every crash
//! point with the images of `sim.rs`, like the workloads of `crash.rs`.

use alloc::vec::Vec;
use std::println;

use super::sim::{RecordingDisk, crash_images};
use super::{apply_model, borrow_all, mount_state, pattern, write};
use crate::disk::{
    BLOCK, BlockDevice, Change, CommitPlan, Committed, MemoryDisk, MountError, Step, format_image,
    mount_image,
};

extern crate std;

/// Runs `steps` of `plan` on `disk`, as the service would one message at
/// a time.
fn issue(plan: &CommitPlan, steps: &[Step], changes: &[Change<'_>], disk: &mut RecordingDisk) {
    for step in steps {
        match step {
            Step::Write(write) => {
                let mut buffer = alloc::vec![0; write.blocks as usize * BLOCK];
                plan.fill(write, changes, &mut buffer).unwrap();
                disk.write(write.block, &buffer).unwrap();
            }
            Step::Flush => disk.flush().unwrap(),
        }
    }
}

/// Commit A issues every step but its last flush is never acknowledged
/// (its superblock may or may not be on the disk); then B is planned from
/// `retry_from(A)` and runs to the end. Returns the crash points and
/// images checked from A's last issued step on, and how many of those
/// images mount to something other than the state before, A's or B's, or
/// only by falling back.
fn retry_after_a_failed_commit(abandon: bool) -> (usize, usize, usize) {
    let setup = [write("f", &pattern(1, 3 * BLOCK))];
    let initial = format_image(32, &borrow_all(&setup)).unwrap();
    let (mounted, before) = mount_state(&initial).unwrap();
    let a_changes = [write("f", &pattern(2, 3 * BLOCK)), write("a", b"attempt a")];
    let b_changes = [write("f", &pattern(3, 2 * BLOCK)), write("b", b"attempt b")];
    let (a_borrowed, b_borrowed) = (borrow_all(&a_changes), borrow_all(&b_changes));
    let mut disk = RecordingDisk::new(initial.clone());
    let a = CommitPlan::plan(&mounted.committed, &a_borrowed).unwrap();
    let a_steps = a.steps().to_vec();
    issue(&a, &a_steps[..a_steps.len() - 1], &a_borrowed, &mut disk);
    let a_end = disk.ops.len();
    let retry_from = if abandon {
        a.abandon(&mounted.committed)
    } else {
        mounted.committed.clone()
    };
    let b = CommitPlan::plan(&retry_from, &b_borrowed).unwrap();
    b.execute(&b_borrowed, &mut disk).unwrap();
    let mut states = [before.clone(), before.clone(), before];
    for change in &a_changes {
        apply_model(&mut states[1], change);
    }
    for change in &b_changes {
        apply_model(&mut states[2], change);
    }
    let (mut images, mut bad) = (0, 0);
    for crash in a_end..=disk.ops.len() {
        for image in crash_images(&initial, &disk.ops, crash) {
            images += 1;
            let good = match mount_state(&image) {
                Ok((mounted, state)) => {
                    mounted.fell_back.is_none()
                        && if crash == disk.ops.len() {
                            state == states[2]
                        } else {
                            states.contains(&state)
                        }
                }
                Err(_) => false,
            };
            bad += usize::from(!good);
        }
    }
    (disk.ops.len() + 1 - a_end, images, bad)
}

#[test]
fn a_commit_retried_after_a_failure_avoids_the_blocks_of_both() {
    let (points, images, bad) = retry_after_a_failed_commit(true);
    assert_eq!(bad, 0, "of {images}");
    println!(
        "crash harness: failed commit retried: {points} crash points, {images} disk images checked"
    );
    // Planned from the old generation instead, the retry overwrites blocks
    // the failed commit's superblock (if it landed) points at.
    let (_, _, bad) = retry_after_a_failed_commit(false);
    assert!(bad > 0);
}

#[test]
fn a_format_cut_short_leaves_the_old_fs_whole_no_fs_or_the_new_one() {
    // An older fs of generations 7 and 8 filling most of the disk.
    let blocks = 32;
    let mut old = MemoryDisk {
        bytes: format_image(blocks, &[]).unwrap(),
    };
    let mut committed = mount_image(&old.bytes).unwrap().committed;
    let mut old_states = Vec::new();
    for round in 1..8u8 {
        let changes = [write("old", &pattern(round, (5 + round as usize) * BLOCK))];
        let borrowed = borrow_all(&changes);
        committed = CommitPlan::plan(&committed, &borrowed)
            .unwrap()
            .execute(&borrowed, &mut old)
            .unwrap();
        old_states.push(mount_state(&old.bytes).unwrap().1);
    }
    assert_eq!(committed.generation, 8);
    let stale = old.bytes;
    let changes = [write("new", &pattern(99, 12 * BLOCK))];
    let borrowed = borrow_all(&changes);
    let mut disk = RecordingDisk::new(stale.clone());
    CommitPlan::plan(&Committed::unformatted(blocks).unwrap(), &borrowed)
        .unwrap()
        .execute(&borrowed, &mut disk)
        .unwrap();
    let new_state = mount_state(&disk.disk.bytes).unwrap().1;
    let allowed = [&old_states[5], &old_states[6], &new_state];
    let mut images = 0;
    for crash in 0..=disk.ops.len() {
        for image in crash_images(&stale, &disk.ops, crash) {
            images += 1;
            match mount_state(&image) {
                Ok((mounted, state)) => {
                    assert_eq!(mounted.fell_back, None, "crash at {crash}");
                    assert!(allowed.contains(&&state), "crash at {crash}");
                    if crash == disk.ops.len() {
                        assert_eq!(state, new_state);
                    }
                }
                Err(MountError::NoSuperblock { .. }) => assert!(crash < disk.ops.len()),
                Err(error) => panic!("crash at {crash}: {error}"),
            }
        }
    }
    println!(
        "crash harness: format over an old fs: {} crash points, {images} disk images checked",
        disk.ops.len() + 1
    );
}
