//! The data disk in QEMU: PCI finds the virtio-blk device, its driver
//! starts from the boot list (a ring-3 program, as is the fs), and `test=disk` writes a block through the
//! driver, flushes, reads it back; booted again on the same data file it
//! finds what the first boot wrote. Each test has its own data file
//! (QEMU locks an image per process).

use mealy_tests::{boot, boot_with_data, workspace_root};

fn scratch_dir() -> tempfile::TempDir {
    let scratch = workspace_root().join("target/test-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    tempfile::tempdir_in(&scratch).unwrap()
}

#[test]
fn a_block_written_in_one_boot_is_there_in_the_next() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");

    let first = boot_with_data(&["--cmdline", "test=disk"], b"", &data);
    assert_eq!(first.code, Some(0), "{first}");
    first.assert_stdout_has("pci 00:02.0 1af4:1001 class 01.00.00");
    first.assert_stdout_has("[virtio-blk] disk of 4096 blocks of 4096 bytes, flush");
    first.assert_stdout_has("[disk-check] disk: block 1 holds no mark");
    first.assert_stdout_has("[disk-check] disk: wrote, flushed and read back boot 1");
    // xtask made a 16 MiB file; the mark is in block 1 (over the new file
    // system's second superblock slot: this data file is the test's own).
    let bytes = std::fs::read(&data).unwrap();
    assert_eq!(bytes.len(), 16 << 20);
    assert!(bytes[4096..].starts_with(b"mealy disk check, boot 1"));

    let second = boot_with_data(&["--cmdline", "test=disk"], b"", &data);
    assert_eq!(second.code, Some(0), "{second}");
    second.assert_stdout_has("[disk-check] disk: block 1 holds boot 1");
    second.assert_stdout_has("[disk-check] disk: wrote, flushed and read back boot 2");
}

#[test]
fn the_driver_starts_at_boot_and_the_shell_still_works() {
    let run = boot(&[], b"ps\nshutdown\n");
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("[INFO  mealy_kernel::boot] disk: virtio-blk at 00:02.0 on MSI line 16");
    run.assert_stdout_has("[virtio-blk] disk of 4096 blocks of 4096 bytes, flush");
    let ps = run.line_starting("3    virtio-blk");
    assert!(ps.contains("idle"), "{ps}");
    // The file system and the disk driver are ring-3 programs from /bin
    // (issue 16): ps's RING column says so.
    run.assert_stdout_has("fs: ring 3, /bin/fs at 0x");
    run.assert_stdout_has("virtio-blk: ring 3, /bin/virtio-blk at 0x");
    let table = run.shell_output("ps");
    for name in ["fs", "virtio-blk"] {
        let row = mealy_tests::ps_row(&table, name);
        assert_eq!(row[2], "idle", "{row:?}");
        assert_eq!(row[7], "3", "ring 3: {row:?}");
    }
}

#[test]
fn a_new_data_file_holds_the_boot_images_files() {
    let dir = scratch_dir();
    let data = dir.path().join("data.img");
    let run = boot_with_data(&[], b"shutdown\n", &data);
    assert_eq!(run.code, Some(0), "{run}");
    let report = mealy_image::data_disk::fsck(&std::fs::read(&data).unwrap()).unwrap();
    assert_eq!(report.generation, 1);
    assert_eq!(report.block_count, 4096);
    for path in ["/hello.txt", "/etc/motd", "/bin/hello"] {
        assert!(report.entries.iter().any(|e| e.path == path), "{path}");
    }
}
