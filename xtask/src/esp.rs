//! The ESP's contents, defined once: the loader as the removable-media boot
//! path, limine.conf, the kernel, the kernel's symbol table as a module
//! (cmdline `symbols`), and the file-system image packed from
//! `image/root/` (or `--fs-root DIR`) plus every user program as
//! `/bin/NAME` (checked first: `mealy_image::program`) as a module
//! (cmdline `fs`). The programs are added while packing, never written
//! into the source tree.
//! `cargo xtask qemu` writes them to a directory, `cargo xtask image` into a
//! FAT32 partition.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mealy_image::disk::EspFile;
use mealy_image::fs_image::ExtraFile;
use mealy_image::limine_conf::{BootEntry, Module};

use crate::build::{Artifacts, Program, workspace_root};

pub const LOADER_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
pub const KERNEL_PATH: &str = "/boot/mealy-kernel";
pub const SYMBOLS_PATH: &str = "/boot/mealy.sym";
pub const FS_PATH: &str = "/boot/mealy.fs";
/// The module command line the kernel finds the image by (`tasks::FS_MODULE`).
pub const FS_CMDLINE: &str = "fs";

/// The directory packed into the file-system image by default.
pub fn default_fs_root() -> PathBuf {
    workspace_root().join("image/root")
}

pub fn default_esp_dir() -> PathBuf {
    workspace_root().join("target/esp")
}

pub fn esp_files(artifacts: &Artifacts, cmdline: &str) -> Result<Vec<EspFile>> {
    esp_files_with(artifacts, cmdline, &default_fs_root())
}

/// [`esp_files`] with the file-system image packed from `fs_root`.
pub fn esp_files_with(
    artifacts: &Artifacts,
    cmdline: &str,
    fs_root: &Path,
) -> Result<Vec<EspFile>> {
    let programs = program_files(&artifacts.programs)?;
    let fs_image = mealy_image::fs_image::pack_dir_with(fs_root, &programs)
        .with_context(|| format!("cannot pack {} into a file-system image", fs_root.display()))?;
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let kernel = read(&artifacts.kernel)?;
    let symbols = mealy_image::symbols::symbol_table(&kernel)
        .with_context(|| format!("cannot list the symbols of {}", artifacts.kernel.display()))?;
    let config = BootEntry {
        name: "Mealy".into(),
        kernel_path: KERNEL_PATH.into(),
        cmdline: cmdline.into(),
        modules: vec![
            Module {
                path: SYMBOLS_PATH.into(),
                cmdline: "symbols".into(),
            },
            Module {
                path: FS_PATH.into(),
                cmdline: FS_CMDLINE.into(),
            },
        ],
    };
    Ok(vec![
        EspFile {
            path: LOADER_PATH.into(),
            data: read(&artifacts.loader)?,
        },
        EspFile {
            path: "limine.conf".into(),
            data: config.render().into_bytes(),
        },
        EspFile {
            path: KERNEL_PATH.into(),
            data: kernel,
        },
        EspFile {
            path: SYMBOLS_PATH.into(),
            data: symbols.into_bytes(),
        },
        EspFile {
            path: FS_PATH.into(),
            data: fs_image,
        },
    ])
}

/// Where a program goes in the file system.
pub fn program_path(name: &str) -> String {
    format!("bin/{name}")
}

/// Each program's bytes for `/bin`, after the loader's checks; a program
/// the kernel would refuse is an error naming it.
pub fn program_files(programs: &[Program]) -> Result<Vec<ExtraFile>> {
    programs
        .iter()
        .map(|program| {
            let data = std::fs::read(&program.path)
                .with_context(|| format!("cannot read {}", program.path.display()))?;
            mealy_image::program::check(&data).with_context(|| {
                format!(
                    "{} is not a program the kernel can load",
                    program.path.display()
                )
            })?;
            Ok(ExtraFile {
                path: program_path(&program.name),
                data,
            })
        })
        .collect()
}

/// Replaces `dir` with a directory holding exactly `files`.
pub fn write_esp_dir(files: &[EspFile], dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    for file in files {
        let path = dir.join(file.path.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &file.data)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Replaces `dir` with `files` as one rename, so a reader never sees a
/// half-written ESP and two writers never remove each other's files.
pub fn publish_esp_dir(files: &[EspFile], dir: &Path) -> Result<()> {
    let staging = dir.with_extension(format!("new-{}", std::process::id()));
    write_esp_dir(files, &staging)?;
    let retired = dir.with_extension(format!("old-{}", std::process::id()));
    // Whoever renames last wins; both wrote the same build.
    let _ = std::fs::rename(dir, &retired);
    let published = std::fs::rename(&staging, dir);
    let _ = std::fs::remove_dir_all(&retired);
    if published.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(())
}
