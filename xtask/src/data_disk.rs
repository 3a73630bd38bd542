//! The persistent data disk `cargo xtask qemu` attaches as a virtio-blk
//! PCI device: a raw image file, `target/mealy-data.img` unless `--data`
//! (or, for the test harness, the `MEALY_DATA` environment variable)
//! names another. A missing file is created zero-filled (sparse), 16 MiB;
//! `--fresh-data` recreates it. QEMU locks an image per process, so two
//! runs at once need two files: the tests give each boot its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::build::workspace_root;

/// The size of a data disk xtask creates.
pub const DEFAULT_BYTES: u64 = 16 << 20;

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

/// Makes sure `path` holds a data disk: creates a zero-filled one of
/// [`DEFAULT_BYTES`] if there is none, or if `fresh`.
pub fn prepare(path: &Path, fresh: bool) -> Result<()> {
    if path.is_file() && !fresh {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the data disk {}", path.display()))?;
    file.set_len(DEFAULT_BYTES)
        .with_context(|| format!("cannot size the data disk {}", path.display()))?;
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

    #[test]
    fn creates_a_zeroed_disk_keeps_it_and_recreates_it_when_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("sub/data.img");
        prepare(&disk, false).unwrap();
        assert_eq!(std::fs::metadata(&disk).unwrap().len(), DEFAULT_BYTES);
        std::fs::write(&disk, b"kept").unwrap();
        prepare(&disk, false).unwrap();
        assert_eq!(std::fs::read(&disk).unwrap(), b"kept");
        prepare(&disk, true).unwrap();
        let bytes = std::fs::read(&disk).unwrap();
        assert_eq!(bytes.len() as u64, DEFAULT_BYTES);
        assert!(bytes.iter().all(|b| *b == 0));
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
