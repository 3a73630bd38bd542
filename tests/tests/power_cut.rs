//! Issue 17's power cut in QEMU: a write-and-sync workload through the
//! shell, QEMU killed with SIGKILL at 20 different points (after a
//! different number of answered `sync`s, plus a different delay), each
//! followed by a host check of the data disk with the fs's own mount:
//!
//! - the disk always mounts (it is never corrupt);
//! - every file whose `sync` was answered is there, byte for byte;
//! - a file written after the last answered `sync` is wholly there or
//!   wholly absent, and the files of one boot are a prefix of what it
//!   wrote (each write is followed by its sync, so the disk holds the
//!   state after some sync, never a mixture);
//! - files from earlier boots are untouched.
//!
//! Each chain of ten cuts uses one data file, so each boot also mounts
//! what the last cut left; a last boot `cat`s the oldest file kept. The
//! two chains run at once (one QEMU per core).

use std::time::Duration;

use mealy_fs::disk::{Entry, mount_image, read_file};
use mealy_tests::live::LiveRun;
use mealy_tests::workspace_root;

const POINTS: usize = 20;
const PROMPT: &str = "mealy> ";

fn content(point: usize, index: usize) -> String {
    format!(
        "cut-{point}-file-{index}-{}",
        "x".repeat(point * 7 % 40 + 8)
    )
}

fn name(point: usize, index: usize) -> String {
    format!("p{point}-{index}")
}

/// The files on the disk at `data`, with their bytes; panics if it does
/// not mount.
fn files_on(data: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let disk = std::fs::read(data).expect("the data file");
    let mounted = mount_image(&disk).unwrap_or_else(|error| panic!("corrupt after a cut: {error}"));
    mounted
        .committed
        .catalog
        .entries()
        .filter_map(|(path, entry)| match entry {
            Entry::File(file) => Some((
                path.to_string(),
                read_file(&disk, file).expect("a file the mount listed reads"),
            )),
            Entry::Directory => None,
        })
        .collect()
}

/// Cuts the power at `points`, one boot each, all on one data disk.
fn cut_at(points: std::ops::Range<usize>) {
    let scratch = workspace_root().join("target/test-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let dir = tempfile::tempdir_in(&scratch).unwrap();
    let data = dir.path().join("data.img");
    let data_arg = data.to_str().expect("a UTF-8 path").to_string();
    // What must be on the disk from earlier boots: (name, bytes).
    let mut kept: Vec<(String, Vec<u8>)> = Vec::new();
    for point in points {
        let mut run = LiveRun::boot_with(&["--data", &data_arg]);
        run.wait_for(PROMPT, 1, Duration::from_secs(240));
        let files = 1 + point % 4;
        for index in 0..files {
            run.send_line(&format!(
                "write {} {}",
                name(point, index),
                content(point, index)
            ));
            run.send_line("sync");
        }
        // Cut after `wanted` answered syncs and a delay, both varying. A
        // small sync takes a few milliseconds of host time under TCG, so
        // the delays are that fine: some cuts land in a write or a sync.
        let wanted = point % (files + 1);
        if wanted > 0 {
            run.wait_for("synced: ", wanted, Duration::from_secs(120));
        }
        std::thread::sleep(Duration::from_micros((point as u64 * 1_700) % 9_000));
        let answered = run.output().matches("synced: ").count();
        run.power_cut();
        drop(run);

        let on_disk = files_on(&data);
        for (path, bytes) in &kept {
            let found = on_disk.iter().find(|(p, _)| p == path);
            assert_eq!(
                found.map(|(_, b)| b),
                Some(bytes),
                "cut {point}: {path} from an earlier boot changed"
            );
        }
        let mine: Vec<&(String, Vec<u8>)> = on_disk
            .iter()
            .filter(|(path, _)| path.starts_with(&format!("p{point}-")))
            .collect();
        assert!(
            mine.len() >= answered.min(files) && mine.len() <= files,
            "cut {point}: {} of this boot's files on disk, {answered} syncs answered",
            mine.len()
        );
        for index in 0..mine.len() {
            let expected = content(point, index);
            let found = on_disk.iter().find(|(path, _)| *path == name(point, index));
            assert_eq!(
                found.map(|(_, bytes)| bytes.as_slice()),
                Some(expected.as_bytes()),
                "cut {point}: file {index} is not wholly there"
            );
            kept.push((name(point, index), expected.into_bytes()));
        }
        eprintln!(
            "power cut {point}: {answered} syncs answered, {} of {files} files on disk",
            mine.len()
        );
    }
    // A last boot reads the oldest file that survived.
    let mut run = LiveRun::boot_with(&["--data", &data_arg]);
    run.wait_for(PROMPT, 1, Duration::from_secs(240));
    let (path, bytes) = kept.first().expect("some cut left a synced file");
    run.send_line(&format!("cat {path}"));
    let text = String::from_utf8(bytes.clone()).unwrap();
    run.wait_for(&text, 1, Duration::from_secs(60));
    run.send_line("shutdown");
    assert_eq!(run.wait(Duration::from_secs(60)), Some(0));
}

// Two chains of ten, each on its own data disk, so they can run at once.

#[test]
fn synced_files_survive_sigkill_at_points_0_to_9_and_the_disk_never_corrupts() {
    cut_at(0..POINTS / 2);
}

#[test]
fn synced_files_survive_sigkill_at_points_10_to_19_and_the_disk_never_corrupts() {
    cut_at(POINTS / 2..POINTS);
}
