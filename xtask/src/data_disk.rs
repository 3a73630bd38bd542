//! The persistent data disk `cargo xtask qemu` attaches as a virtio-blk
//! PCI device: a raw image file, `target/mealy-data.img` unless `--data`
//! (or, for the test harness, the `MEALY_DATA` environment variable)
//! names another. A missing file is created holding a file system from
//! the start: 16 MiB in `mealy-fs`'s disk format (generation 1, built by
//! `mealy_image::data_disk`) with the same files as the boot image, the
//! fs root (`image/root/`) and the programs' `/bin`; `--fresh-data`
//! recreates it. QEMU locks an image per process, so two runs at once
//! need two files: the tests give each boot its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mealy_image::fs_image::ExtraFile;

use crate::build::workspace_root;

/// The size of a data disk xtask creates.
pub const DEFAULT_BYTES: u64 = mealy_image::data_disk::DEFAULT_DATA_BYTES;

/// The environment variable that picks the data disk when `--data` does not.
pub const ENV: &str = "MEALY_DATA";

/// The data disk to attach: `explicit`, else `$MEALY_DATA`, else
/// `target/mealy-data.img`.
pub fn path(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| {
            std::env::var_os(ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| workspace_root().join("target/mealy-data.img"))
}

/// A data disk of [`DEFAULT_BYTES`] holding `fs_root` and `programs`
/// (each at its `/bin` path): what the boot image holds.
pub fn contents(fs_root: &Path, programs: &[ExtraFile]) -> Result<Vec<u8>> {
    mealy_image::data_disk::build_data_disk_with(fs_root, programs, DEFAULT_BYTES)
        .with_context(|| format!("cannot build a data disk from {}", fs_root.display()))
}

/// Makes sure `path` holds a data disk: if there is none, or if `fresh`,
/// writes the one `contents` builds (called only then).
pub fn prepare(path: &Path, fresh: bool, contents: impl FnOnce() -> Result<Vec<u8>>) -> Result<()> {
    if path.is_file() && !fresh {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let bytes = contents()?;
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write the data disk {}", path.display()))?;
    Ok(())
}

/// QEMU's arguments that attach `path` as a virtio-blk PCI device.
pub fn qemu_args(path: &Path) -> [String; 4] {
    [
        "-drive".into(),
        format!("file={},if=none,format=raw,id=data", path.display()),
        "-device".into(),
        "virtio-blk-pci,drive=data".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_contents() -> Result<Vec<u8>> {
        let program = ExtraFile {
            path: "bin/hello".into(),
            data: b"\x7fELF hello".to_vec(),
        };
        contents(&crate::esp::default_fs_root(), &[program])
    }

    #[test]
    fn creates_a_disk_with_the_fs_keeps_it_and_recreates_it_when_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("sub/data.img");
        prepare(&disk, false, sample_contents).unwrap();
        let report = mealy_image::data_disk::fsck(&std::fs::read(&disk).unwrap()).unwrap();
        assert_eq!(report.generation, 1);
        assert_eq!(report.block_count * 4096, DEFAULT_BYTES);
        for path in ["/hello.txt", "/etc/motd", "/bin/hello"] {
            assert!(report.entries.iter().any(|e| e.path == path), "{path}");
        }
        std::fs::write(&disk, b"kept").unwrap();
        prepare(&disk, false, || panic!("not built when the disk exists")).unwrap();
        assert_eq!(std::fs::read(&disk).unwrap(), b"kept");
        prepare(&disk, true, sample_contents).unwrap();
        let bytes = std::fs::read(&disk).unwrap();
        assert_eq!(bytes.len() as u64, DEFAULT_BYTES);
        assert!(mealy_image::data_disk::fsck(&bytes).is_ok());
    }

    #[test]
    fn an_explicit_path_wins() {
        assert_eq!(path(Some("x.img".into())), PathBuf::from("x.img"));
    }

    #[test]
    fn the_drive_is_a_virtio_blk_pci_device() {
        let args = qemu_args(Path::new("/tmp/d.img"));
        assert_eq!(args[1], "file=/tmp/d.img,if=none,format=raw,id=data");
        assert_eq!(args[3], "virtio-blk-pci,drive=data");
    }
}
