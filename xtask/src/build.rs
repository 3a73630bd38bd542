//! Building the bare-metal artifacts with the cargo that runs xtask: the
//! UEFI loader, the kernel, and the user programs (`user/programs/*`, each
//! binary packed as `/bin/NAME` in the file system).
//!
//! Programs and kernel share the target `x86_64-unknown-none` but not its
//! flags: `.cargo/config.toml` links the kernel non-PIE with the kernel
//! code model, while a program must be a static PIE (the kernel relocates
//! it into a range of its choosing). So programs are built with their own
//! `CARGO_ENCODED_RUSTFLAGS` (which replace the config's for that build:
//! `relocation-model=pie`, frame pointers, no DWARF in the file) into
//! their own target directory, `target/programs`, so neither build
//! invalidates the other's cache. Programs are always optimised, whatever
//! the kernel's profile: a debug build of a program (runtime, postcard,
//! `core::fmt`) is five times the size and that much slower to load, and
//! what a fault report needs, the function symbols, a release build keeps.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const LOADER_TARGET: &str = "x86_64-unknown-uefi";
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";
pub const PROGRAM_TARGET: &str = "x86_64-unknown-none";
/// Where the program crates are, one directory each.
pub const PROGRAMS_DIR: &str = "user/programs";
const PROGRAM_RUSTFLAGS: [&str; 6] = [
    "-C",
    "relocation-model=pie",
    "-C",
    "force-frame-pointers=yes",
    "-C",
    "strip=debuginfo",
];

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
    /// Every user program, by name, for `/bin`.
    pub programs: Vec<Program>,
}

/// One built user program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Its binary's name, and its file name in `/bin`.
    pub name: String,
    pub path: PathBuf,
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

fn artifact_paths(profile: Profile) -> Result<Artifacts> {
    let target = target_dir();
    let programs_dir = target
        .join("programs")
        .join(PROGRAM_TARGET)
        .join(Profile::Release.dir());
    let programs = program_crates(&workspace_root())?
        .into_iter()
        .flat_map(|krate| krate.binaries)
        .map(|name| Program {
            path: programs_dir.join(&name),
            name,
        })
        .collect();
    Ok(Artifacts {
        loader: target
            .join(LOADER_TARGET)
            .join(profile.dir())
            .join("mealy-loader.efi"),
        kernel: target
            .join(KERNEL_TARGET)
            .join(profile.dir())
            .join("mealy-kernel"),
        programs,
    })
}

/// Builds the loader, the kernel and the user programs.
pub fn build(profile: Profile) -> Result<Artifacts> {
    cargo_build("mealy-loader", LOADER_TARGET, profile)?;
    cargo_build("mealy-kernel", KERNEL_TARGET, profile)?;
    build_programs(profile)?;
    existing(profile)
}

/// Builds every crate under `user/programs` as static PIEs, optimised
/// (see the module documentation); `profile` only names the kernel's.
pub fn build_programs(profile: Profile) -> Result<Vec<Program>> {
    let crates = program_crates(&workspace_root())?;
    if crates.is_empty() {
        return Ok(Vec::new());
    }
    let mut command = Command::new(cargo());
    command
        .args([
            "build",
            "--quiet",
            "--target",
            PROGRAM_TARGET,
            "--target-dir",
        ])
        .arg(target_dir().join("programs"))
        .env("CARGO_ENCODED_RUSTFLAGS", PROGRAM_RUSTFLAGS.join("\x1f"));
    for krate in &crates {
        command.args(["--package", &krate.package]);
    }
    command.arg("--release");
    let status = command
        .status()
        .context("cannot run cargo to build the user programs")?;
    if !status.success() {
        bail!("building the user programs failed (cargo's messages are above)");
    }
    Ok(artifact_paths(profile)?.programs)
}

/// The artifacts a previous build left, or an error naming what is missing.
pub fn existing(profile: Profile) -> Result<Artifacts> {
    let artifacts = artifact_paths(profile)?;
    let programs = artifacts.programs.iter().map(|program| &program.path);
    for path in [&artifacts.loader, &artifacts.kernel]
        .into_iter()
        .chain(programs)
    {
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

/// A program crate: its package and the binaries it builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCrate {
    pub package: String,
    pub binaries: Vec<String>,
}

/// The crates under `user/programs`, sorted by directory.
pub fn program_crates(root: &Path) -> Result<Vec<ProgramCrate>> {
    let dir = root.join(PROGRAMS_DIR);
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.join("Cargo.toml").is_file())
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    dirs.sort();
    dirs.iter().map(|dir| program_crate(dir)).collect()
}

/// A program crate's package name, its `[[bin]]` names and the stems of
/// `src/bin/*.rs` (cargo's automatic binaries).
fn program_crate(dir: &Path) -> Result<ProgramCrate> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let (package, mut binaries) = manifest_names(&text);
    let package = package.with_context(|| format!("{} names no [package]", manifest.display()))?;
    if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "rs")
                && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
            {
                binaries.push(stem.to_string());
            }
        }
    }
    binaries.sort();
    binaries.dedup();
    Ok(ProgramCrate { package, binaries })
}

/// `[package]`'s name and every `[[bin]]`'s name in a manifest.
fn manifest_names(text: &str) -> (Option<String>, Vec<String>) {
    let mut section = "";
    let mut package = None;
    let mut binaries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some(value) = line.strip_prefix("name").map(str::trim_start) else {
            continue;
        };
        let Some(value) = value.strip_prefix('=') else {
            continue;
        };
        let name = value.trim().trim_matches('"').to_string();
        match section {
            "[package]" => package = Some(name),
            "[[bin]]" => binaries.push(name),
            _ => {}
        }
    }
    (package, binaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_their_package_and_binaries() {
        let text = "[package]\nname = \"mealy-program-echo\"\n\n[[bin]]\nname = \"echo\"\npath = \"src/main.rs\"\n\n[dependencies]\nname = \"not me\"\n";
        assert_eq!(
            manifest_names(text),
            (Some("mealy-program-echo".into()), vec!["echo".into()])
        );
    }

    #[test]
    fn the_workspace_programs_are_found_with_their_binaries() {
        let crates = program_crates(&workspace_root()).unwrap();
        let binaries: Vec<&str> = crates
            .iter()
            .flat_map(|krate| krate.binaries.iter().map(String::as_str))
            .collect();
        for expected in [
            "echo",
            "pinger",
            "hello",
            "read-kernel",
            "forge-caps",
            "oom",
        ] {
            assert!(binaries.contains(&expected), "{expected} in {binaries:?}");
        }
        let mut unique = binaries.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), binaries.len(), "two programs share a name");
    }
}
