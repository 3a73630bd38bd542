//! Files outlive a reboot: the fs mounts the data disk, `sync` commits
//! every change to it, and the next boot on the same data file mounts the
//! new generation. A change never synced is wholly absent after
//! `shutdown` (the fs writes to the disk only when asked to sync), and a
//! disk that does not mount is one error line, then the boot image in RAM.
//! The same holds when the machine is switched off (QEMU quits at once)
//! rather than shut down.
//! Each test has its own data file (QEMU locks an image per process).

use std::time::Duration;

use mealy_tests::live::LiveRun;
use mealy_tests::{Run, boot_with_data, workspace_root};

fn scratch_dir() -> tempfile::TempDir {
    let scratch = workspace_root().join("target/test-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    tempfile::tempdir_in(&scratch).unwrap()
}

#[track_caller]
fn mounted_generation(run: &Run) -> u64 {
    let line = run.line_starting("[fs] mounted disk: ");
    assert!(line.contains(", read-write in "), "{line}\n{run}");
    let generation = line
        .split("generation ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|number| number.parse().ok());
    generation.unwrap_or_else(|| panic!("no generation in {line:?}"))
}

#[test]
fn a_synced_file_survives_shutdown_and_a_new_boot() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");

    let first = boot_with_data(
        &[],
        b"write note.txt kept across boots\nstat note.txt\nsync\nstat note.txt\ndf\nshutdown\n",
        &data,
    );
    assert_eq!(first.code, Some(0), "{first}");
    // A new data file holds generation 1; the fs says so before the prompt.
    assert_eq!(mounted_generation(&first), 1);
    let mount_at = first.stdout.find("[fs] mounted disk: ").unwrap();
    let prompt_at = first.stdout.find("mealy> ").unwrap();
    assert!(mount_at < prompt_at, "the start line comes first\n{first}");
    first
        .assert_stdout_has("mealy> write note.txt kept across boots\nwrote 17 bytes to note.txt\n");
    first.assert_stdout_has(
        "dirty:    yes\non disk:  no (changes since the last sync, or no disk)\n",
    );
    first.assert_stdout_has("mealy> sync\nsynced: 1 files, 1 KiB written, generation 2\n");
    first.assert_stdout_has(
        "dirty:    no\non disk:  yes (on disk, unchanged since the last sync)\n",
    );
    first.assert_stdout_has(
        "mealy> df\nDISK    SIZE_KIB  USED_KIB  FREE_KIB  GENERATION\ndata    16384 ",
    );
    // The host sees generation 2 holding the file.
    let report = mealy_image::data_disk::fsck(&std::fs::read(&data).unwrap()).unwrap();
    assert_eq!(report.generation, 2);
    assert!(report.entries.iter().any(|e| e.path == "/note.txt"));

    let second = boot_with_data(&[], b"cat note.txt\nstat note.txt\nshutdown\n", &data);
    assert_eq!(second.code, Some(0), "{second}");
    assert_eq!(mounted_generation(&second), 2);
    second.assert_stdout_has("mealy> cat note.txt\nkept across boots\nmealy> ");
    second.assert_stdout_has("on disk:  yes (on disk, unchanged since the last sync)\n");
}

#[test]
fn a_change_not_synced_before_shutdown_is_wholly_absent() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");

    let first = boot_with_data(
        &[],
        b"write a.txt synced\nsync\nwrite a.txt changed after the sync\nwrite b.txt never synced\nmkdir newdir\nshutdown\n",
        &data,
    );
    assert_eq!(first.code, Some(0), "{first}");
    first.assert_stdout_has("synced: 1 files, 1 KiB written, generation 2\n");
    first.assert_stdout_has("wrote 22 bytes to a.txt\n");

    let second = boot_with_data(&[], b"cat a.txt\ncat b.txt\nls newdir\nshutdown\n", &data);
    assert_eq!(second.code, Some(0), "{second}");
    assert_eq!(mounted_generation(&second), 2);
    // The synced state, whole: none of the changes after it.
    second.assert_stdout_has("mealy> cat a.txt\nsynced\nmealy> ");
    second.assert_stdout_has("mealy> cat b.txt\nerror: cat: no such file or directory\n");
    second.assert_stdout_has("mealy> ls newdir\nerror: ls: no such file or directory\n");
}

#[test]
fn a_corrupt_disk_is_one_error_line_and_the_boot_image_is_served() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");
    // xtask makes the data file on the first boot; then both superblock
    // slots are destroyed.
    let made = boot_with_data(&[], b"shutdown\n", &data);
    assert_eq!(made.code, Some(0), "{made}");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[..2 * 4096].fill(0xa5);
    std::fs::write(&data, &bytes).unwrap();

    let run = boot_with_data(&[], b"cat hello.txt\ndf\nwrite x.txt y\nshutdown\n", &data);
    assert_eq!(run.code, Some(0), "{run}");
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("[fs] error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{run}");
    assert!(
        errors[0].starts_with("[fs] error: the disk did not mount: no valid superblock")
            && errors[0].ends_with("; serving the boot image"),
        "{run}"
    );
    run.line_starting("[fs] mounted the boot image, in RAM only: ");
    run.assert_stdout_has("mealy> cat hello.txt\nHello, Mealy!\nmealy> ");
    run.assert_stdout_has("mealy> df\nno disk: the file system is in RAM only (");
    // The disk was not touched.
    assert_eq!(std::fs::read(&data).unwrap(), bytes);
}

#[test]
fn a_synced_file_survives_pulling_the_plug_and_a_later_change_does_not() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");
    // The data file is made by a first boot, so the live one finds it.
    let made = boot_with_data(&[], b"shutdown\n", &data);
    assert_eq!(made.code, Some(0), "{made}");

    let mut live = LiveRun::boot_with_data(Some(&data));
    let limit = Duration::from_secs(90);
    live.wait_for("mealy> ", 1, limit);
    live.type_keys("write kept synced before the cut\n");
    live.wait_for("wrote 21 bytes to kept", 1, limit);
    live.type_keys("sync\n");
    live.wait_for("synced: 1 files, 1 KiB written, generation 2", 1, limit);
    live.type_keys("write kept changed after\n");
    live.wait_for("wrote 13 bytes to kept", 1, limit);
    live.power_cut();
    drop(live);

    let after = boot_with_data(&[], b"cat kept\nshutdown\n", &data);
    assert_eq!(after.code, Some(0), "{after}");
    assert_eq!(mounted_generation(&after), 2);
    after.assert_stdout_has("mealy> cat kept\nsynced before the cut\nmealy> ");
}
