//! Fuzzes the image parser: arbitrary bytes through `Image::parse` and,
//! when they validate, a walk of every inode and lookup
//! (`mealy_fs::format::fuzz_parse`). Run from `services/fs/fuzz`:
//! `cargo +nightly fuzz run parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    mealy_fs::format::fuzz_parse(bytes);
});
