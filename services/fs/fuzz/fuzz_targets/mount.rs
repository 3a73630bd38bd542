//! Fuzzes the disk format's mount: arbitrary bytes as a whole disk, and
//! as the sealed catalog of a generation (`mealy_fs::disk::fuzz_mount`).
//! Run from `services/fs/fuzz`: `cargo +nightly fuzz run mount`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    assert!(
        mealy_fs::disk::fuzz_mount(bytes).is_some(),
        "a disk mounted but a file did not read back whole"
    );
});
