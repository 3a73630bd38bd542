//! Building the two bare-metal artifacts: the UEFI loader and the kernel,
//! each for its own target, with the cargo that runs xtask.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const LOADER_TARGET: &str = "x86_64-unknown-uefi";
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    pub fn from_release(release: bool) -> Self {
        if release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The built files the ESP is made of.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub loader: PathBuf,
    pub kernel: PathBuf,
}

pub fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// The cargo that started xtask, so the pinned toolchain builds everything.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn artifact_paths(profile: Profile) -> Artifacts {
    let target = target_dir();
    Artifacts {
        loader: target
            .join(LOADER_TARGET)
            .join(profile.dir())
            .join("mealy-loader.efi"),
        kernel: target
            .join(KERNEL_TARGET)
            .join(profile.dir())
            .join("mealy-kernel"),
    }
}

/// Builds the loader and the kernel.
pub fn build(profile: Profile) -> Result<Artifacts> {
    cargo_build("mealy-loader", LOADER_TARGET, profile)?;
    cargo_build("mealy-kernel", KERNEL_TARGET, profile)?;
    existing(profile)
}

/// The artifacts a previous build left, or an error naming what is missing.
pub fn existing(profile: Profile) -> Result<Artifacts> {
    let artifacts = artifact_paths(profile);
    for path in [&artifacts.loader, &artifacts.kernel] {
        if !path.is_file() {
            bail!(
                "{} is missing: build it with `cargo xtask qemu` (without --no-build)",
                path.display()
            );
        }
    }
    Ok(artifacts)
}

fn cargo_build(package: &str, target: &str, profile: Profile) -> Result<()> {
    let mut command = Command::new(cargo());
    command.args(["build", "--quiet", "--package", package, "--target", target]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command
        .status()
        .with_context(|| format!("cannot run cargo to build {package}"))?;
    if !status.success() {
        bail!("building {package} for {target} failed (cargo's messages are above)");
    }
    Ok(())
}
