//! `/bin/fs`: the file system service (`services/fs`, unchanged) as a
//! ring-3 program. Boot reads this file out of the boot image itself
//! (`kernel/src/program/boot_files.rs`) before any fs runs; the same
//! crate runs as the ring-0 service when the file is missing.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

mealy_user::program!(mealy_fs::Fs::new());
