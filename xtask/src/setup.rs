//! What a fresh machine lacks: the two bare-metal Rust targets, QEMU and
//! OVMF, and Graphviz for `cargo xtask graph`. xtask installs them where it
//! can (rustup; apt-get as root on Debian) and otherwise prints the exact
//! command, never a bare "No such file or directory".

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
/// Graphviz's layout program, which turns DOT into SVG and PNG.
const DOT: &str = "dot";
const GRAPHVIZ_PACKAGES: [&str; 1] = ["graphviz"];

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
    if can_apt_install() {
        eprintln!(
            "xtask: QEMU or OVMF is missing; installing: {}",
            install_command(&APT_PACKAGES, Privilege::Root)
        );
        apt_install(&APT_PACKAGES)?;
        if let Some(machine) = find_machine() {
            return Ok(machine);
        }
        bail!(
            "QEMU or OVMF is still missing after `{}`",
            install_command(&APT_PACKAGES, Privilege::Root)
        );
    }
    let missing = if find_on_path(QEMU).is_none() {
        format!("{QEMU} is not on PATH")
    } else {
        "no OVMF firmware found (set OVMF_CODE and OVMF_VARS to its files)".to_string()
    };
    bail!(
        "{missing}. Install them with: {}",
        install_command(&APT_PACKAGES, Privilege::Sudo)
    )
}

/// Finds Graphviz's `dot`, installing it on Debian as root when missing.
pub fn ensure_graphviz() -> Result<PathBuf> {
    if let Some(dot) = find_on_path(DOT) {
        return Ok(dot);
    }
    if can_apt_install() {
        eprintln!(
            "xtask: Graphviz is missing; installing: {}",
            install_command(&GRAPHVIZ_PACKAGES, Privilege::Root)
        );
        apt_install(&GRAPHVIZ_PACKAGES)?;
        return find_on_path(DOT).with_context(|| {
            format!(
                "{DOT} is still missing after `{}`",
                install_command(&GRAPHVIZ_PACKAGES, Privilege::Root)
            )
        });
    }
    bail!(
        "Graphviz's {DOT} is not on PATH. Install it with: {}",
        install_command(&GRAPHVIZ_PACKAGES, Privilege::Sudo)
    )
}

/// Who runs an install command: this process as root, or a user via sudo.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Privilege {
    Root,
    Sudo,
}

/// The exact command that installs `packages` on Debian or Ubuntu.
fn install_command(packages: &[&str], privilege: Privilege) -> String {
    let sudo = match privilege {
        Privilege::Root => "",
        Privilege::Sudo => "sudo ",
    };
    format!(
        "{sudo}apt-get update && {sudo}apt-get install -y {}",
        packages.join(" ")
    )
}

/// Whether this process may install with apt-get: root on Debian.
fn can_apt_install() -> bool {
    is_root() && Path::new("/usr/bin/apt-get").exists()
}

fn apt_install(packages: &[&str]) -> Result<()> {
    run_checked(Command::new("apt-get").arg("update"))?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(packages),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_commands_are_the_ones_to_paste() {
        assert_eq!(
            install_command(&GRAPHVIZ_PACKAGES, Privilege::Sudo),
            "sudo apt-get update && sudo apt-get install -y graphviz"
        );
        assert_eq!(
            install_command(&APT_PACKAGES, Privilege::Root),
            "apt-get update && apt-get install -y qemu-system-x86 ovmf"
        );
    }
}
