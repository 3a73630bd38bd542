//! `cargo xtask bench`: every benchmark in one run. Host-native first
//! (capabilities, memory, then IPC against a pipe, a Unix socket and a
//! crossbeam channel), then the guest's (`test=bench`), where
//! `-icount shift=0` makes the TSC count instructions, numbers that do not
//! depend on how busy the host is: regions, the IPC round trips, the file
//! reads, and the data disk's mount, write and sync. The guest gets a data
//! disk of its own, made fresh for each run ([`BENCH_DATA`]: the same
//! files a new `target/mealy-data.img` holds), so the figures start from
//! the same disk every time and the benchmark never writes a disk someone
//! keeps.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::build::{self, Profile};
use crate::{data_disk, esp, qemu, setup};

/// The guest benchmark's data disk, under `target/`, recreated per run.
pub const BENCH_DATA: &str = "target/bench-data.img";

const HOST_BENCHES: [(&str, &str); 3] = [
    ("mealy-caps", "caps"),
    ("mealy-kernel", "mem"),
    ("mealy-kernel", "ipc"),
];

pub fn run() -> Result<ExitCode> {
    for (package, bench) in HOST_BENCHES {
        let status = Command::new(build::cargo())
            .args(["bench", "-p", package, "--bench", bench])
            .status()
            .context("cannot run cargo bench")?;
        if !status.success() {
            bail!("the {bench} benchmark failed");
        }
    }

    setup::ensure_rust_targets()?;
    let machine = setup::ensure_qemu()?;
    let artifacts = build::build(Profile::Release)?;
    let files = esp::esp_files(&artifacts, "test=bench")?;
    let data = build::workspace_root().join(BENCH_DATA);
    data_disk::prepare(&data, true, || {
        let programs = esp::program_files(&artifacts.programs)?;
        data_disk::contents(&esp::default_fs_root(), &programs)
    })?;
    println!("guest: booting the release kernel with -icount shift=0 (test=bench)");
    let status = qemu::run(
        &machine,
        qemu::RunOptions {
            medium: qemu::BootMedium::PrivateEsp(files),
            headless: true,
            gdb: None,
            smp: 1,
            memory: "256M".into(),
            icount: true,
            timeout: Some(std::time::Duration::from_secs(900)),
            qmp: None,
            data: Some(data),
        },
    )?;
    if status != 0 {
        bail!("the guest benchmark failed (status {status})");
    }
    Ok(ExitCode::SUCCESS)
}
