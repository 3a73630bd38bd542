//! `/bin/console`: the console service (`services/console`, unchanged) as a ring-3
//! program, which the boot list runs (`kernel/src/program/boot_files.rs`).
//! The same crate runs as a ring-0 task if the file is missing.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

mealy_user::program!(mealy_console::Console::new());
