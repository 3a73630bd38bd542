//! What a fresh machine lacks: the two bare-metal Rust targets, QEMU and
//! OVMF. xtask installs them where it can (rustup; apt-get as root on
//! Debian) and otherwise prints the exact command, never a bare "No such
//! file or directory".

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::build::{KERNEL_TARGET, LOADER_TARGET};

/// The emulator and firmware a boot needs.
#[derive(Clone, Debug)]
pub struct Machine {
    pub qemu: PathBuf,
    pub ovmf_code: PathBuf,
    /// The firmware's variable store template; each run boots a copy.
    pub ovmf_vars: PathBuf,
}

const QEMU: &str = "qemu-system-x86_64";
const APT_PACKAGES: [&str; 2] = ["qemu-system-x86", "ovmf"];

/// (code, vars) pairs where distributions install OVMF: Debian/Ubuntu,
/// Fedora, Arch.
const OVMF_PAIRS: [(&str, &str); 5] = [
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
        "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
    ),
    (
        "/usr/share/edk2-ovmf/x64/OVMF_CODE.fd",
        "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd",
    ),
];

/// Adds the kernel's and the loader's targets if rustup lacks them.
pub fn ensure_rust_targets() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(installed) = installed else {
        // No rustup: cargo's own error about a missing target will be clear.
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = [KERNEL_TARGET, LOADER_TARGET]
        .into_iter()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding Rust targets: {}", missing.join(" "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("`rustup target add {}` failed", missing.join(" "));
    }
    Ok(())
}

/// Finds QEMU and OVMF, installing them on Debian as root when missing.
pub fn ensure_qemu() -> Result<Machine> {
    if let Some(machine) = find_machine() {
        return Ok(machine);
    }
    let install = format!("apt-get install -y {}", APT_PACKAGES.join(" "));
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: QEMU or OVMF is missing; installing: apt-get update && {install}");
        run_checked(Command::new("apt-get").arg("update"))?;
        run_checked(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(APT_PACKAGES),
        )?;
        if let Some(machine) = find_machine() {
            return Ok(machine);
        }
        bail!("QEMU or OVMF is still missing after `{install}`");
    }
    let missing = if find_on_path(QEMU).is_none() {
        format!("{QEMU} is not on PATH")
    } else {
        "no OVMF firmware found (set OVMF_CODE and OVMF_VARS to its files)".to_string()
    };
    bail!("{missing}. Install them with: sudo apt-get update && sudo {install}")
}

fn find_machine() -> Option<Machine> {
    let qemu = find_on_path(QEMU)?;
    let (ovmf_code, ovmf_vars) = find_ovmf()?;
    Some(Machine {
        qemu,
        ovmf_code,
        ovmf_vars,
    })
}

fn find_ovmf() -> Option<(PathBuf, PathBuf)> {
    if let (Some(code), Some(vars)) = (std::env::var_os("OVMF_CODE"), std::env::var_os("OVMF_VARS"))
    {
        return Some((code.into(), vars.into()));
    }
    OVMF_PAIRS
        .iter()
        .map(|(code, vars)| (PathBuf::from(code), PathBuf::from(vars)))
        .find(|(code, vars)| code.is_file() && vars.is_file())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run_checked(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
