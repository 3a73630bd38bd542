//! `cargo xtask bench`: every benchmark in one run. Host-native first
//! (capabilities, memory, then IPC against a pipe, a Unix socket and a
//! crossbeam channel), then the IPC round trip inside the guest, where
//! `-icount shift=0` makes the TSC count instructions: the one in-guest
//! number that does not depend on how busy the host is.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::build::{self, Profile};
use crate::{esp, qemu, setup};

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
            timeout: Some(std::time::Duration::from_secs(300)),
            qmp: None,
            data: None,
        },
    )?;
    if status != 0 {
        bail!("the guest benchmark failed (status {status})");
    }
    Ok(ExitCode::SUCCESS)
}
