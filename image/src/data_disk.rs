//! The persistent data disk, built and checked on the host: a host
//! directory (by default `image/root/`) committed as generation 1 of
//! `mealy-fs`'s disk format (`mealy_fs::disk`, version 2), so the disk and
//! the fs service cannot disagree; and [`fsck`], the same mount the
//! service does, with a listing of what is on the disk.
//!
//! `cargo xtask image` puts the disk into a GPT partition named
//! [`crate::disk::DATA_PARTITION_NAME`]; `cargo xtask fsck` checks a bare
//! data disk or finds that partition in a whole disk image ([`locate`]).

use std::fmt;
use std::path::Path;

use mealy_fs::disk::{
    Change, CommitError, Entry, MIN_BLOCKS, MountError, Rejected, format_image, mount_image,
};
use mealy_fs::format::Node;

use crate::disk::{DATA_PARTITION_NAME, DiskError, read_partition};

use crate::fs_image::{ExtraFile, PackError, read_tree, read_tree_with};
pub use mealy_fs::disk::BLOCK;

/// The data disk's size unless asked otherwise: room to grow, small enough
/// to read whole at mount.
pub const DEFAULT_DATA_BYTES: u64 = 16 << 20;

/// Why a data disk could not be built.
#[derive(Debug)]
pub enum DataDiskError {
    Pack(PackError),
    /// Not a whole number of blocks, or fewer than the format needs.
    BadSize {
        bytes: u64,
    },
    /// The tree does not fit, or has a name the format refuses.
    Commit(CommitError),
}

impl fmt::Display for DataDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDiskError::Pack(error) => write!(f, "{error}"),
            DataDiskError::BadSize { bytes } => write!(
                f,
                "a data disk of {bytes} bytes is not a whole number of {BLOCK}-byte blocks, at least {MIN_BLOCKS}"
            ),
            DataDiskError::Commit(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for DataDiskError {}

/// A data disk of `bytes` bytes holding the tree under `dir`.
pub fn build_data_disk(dir: &Path, bytes: u64) -> Result<Vec<u8>, DataDiskError> {
    data_disk_from_tree(&read_tree(dir).map_err(DataDiskError::Pack)?, bytes)
}

/// A data disk of `bytes` bytes holding the tree under `dir` with
/// `extra` added: the same files as `fs_image::pack_dir_with(dir, extra)`,
/// so the first boot's disk holds what the boot image holds.
pub fn build_data_disk_with(
    dir: &Path,
    extra: &[ExtraFile],
    bytes: u64,
) -> Result<Vec<u8>, DataDiskError> {
    data_disk_from_tree(
        &read_tree_with(dir, extra).map_err(DataDiskError::Pack)?,
        bytes,
    )
}

/// A data disk of `bytes` bytes holding `root`.
pub fn data_disk_from_tree(root: &Node, bytes: u64) -> Result<Vec<u8>, DataDiskError> {
    let blocks = bytes / BLOCK as u64;
    if !bytes.is_multiple_of(BLOCK as u64) || blocks < MIN_BLOCKS {
        return Err(DataDiskError::BadSize { bytes });
    }
    let mut paths: Vec<(String, Option<&[u8]>)> = Vec::new();
    flatten(root, "", &mut paths);
    let changes: Vec<Change<'_>> = paths
        .iter()
        .map(|(path, data)| match data {
            Some(data) => Change::Write { path, data },
            None => Change::Mkdir { path },
        })
        .collect();
    format_image(blocks, &changes).map_err(DataDiskError::Commit)
}

/// Every entry under `node`, a directory before what it holds.
fn flatten<'n>(node: &'n Node, prefix: &str, out: &mut Vec<(String, Option<&'n [u8]>)>) {
    if let Node::Directory(entries) = node {
        for (name, child) in entries {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match child {
                Node::File(data) => out.push((path, Some(data))),
                Node::Directory(_) => {
                    out.push((path.clone(), None));
                    flatten(child, &path, out);
                }
            }
        }
    }
}

/// One line of a listing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Listed {
    /// From the root, starting with `/`.
    pub path: String,
    /// `None` for a directory.
    pub size: Option<u64>,
}

/// What [`fsck`] found on a disk that mounts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FsckReport {
    pub generation: u64,
    pub block_count: u64,
    pub free_blocks: u64,
    /// A newer generation that did not verify (mount fell back past it).
    pub fell_back: Option<Rejected>,
    pub entries: Vec<Listed>,
}

/// Mounts `disk` as the fs service would and lists it.
pub fn fsck(disk: &[u8]) -> Result<FsckReport, MountError> {
    let mounted = mount_image(disk)?;
    let committed = &mounted.committed;
    let entries = committed
        .catalog
        .entries()
        .map(|(path, entry)| Listed {
            path: format!("/{path}"),
            size: match entry {
                Entry::Directory => None,
                Entry::File(file) => Some(file.size),
            },
        })
        .collect();
    Ok(FsckReport {
        generation: committed.generation,
        block_count: committed.block_count,
        free_blocks: committed.free_blocks(),
        fell_back: mounted.fell_back,
        entries,
    })
}

/// The data disk in `image`: its data partition if it is a GPT disk
/// image (`EFI PART` at LBA 1), otherwise the whole file.
pub fn locate(image: &[u8]) -> Result<Vec<u8>, DiskError> {
    if image.get(512..520) == Some(b"EFI PART") {
        read_partition(image, DATA_PARTITION_NAME)
    } else {
        Ok(image.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_fs::disk::{MetaError, Superblock, read_file};

    fn sample_root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("root")
    }

    #[test]
    fn the_sample_root_becomes_a_data_disk_that_mounts() {
        let disk = build_data_disk(&sample_root(), 1 << 20).unwrap();
        assert_eq!(disk.len(), 1 << 20);
        let mounted = mount_image(&disk).unwrap().committed;
        assert_eq!(mounted.generation, 1);
        let Some(Entry::File(hello)) = mounted.catalog.get("hello.txt") else {
            panic!("hello.txt is a file");
        };
        let on_host = std::fs::read(sample_root().join("hello.txt")).unwrap();
        assert_eq!(read_file(&disk, hello).unwrap(), on_host);
        assert!(matches!(mounted.catalog.get("etc"), Some(Entry::Directory)));
        assert!(matches!(
            mounted.catalog.get("etc/motd"),
            Some(Entry::File(_))
        ));
    }

    #[test]
    fn fsck_lists_a_good_disk_and_refuses_a_corrupt_one() {
        let disk = build_data_disk(&sample_root(), 1 << 20).unwrap();
        let report = fsck(&disk).unwrap();
        assert_eq!(report.generation, 1);
        assert_eq!(report.block_count, 256);
        assert!(report.fell_back.is_none());
        let hello = report
            .entries
            .iter()
            .find(|e| e.path == "/hello.txt")
            .unwrap();
        let on_host = std::fs::metadata(sample_root().join("hello.txt")).unwrap();
        assert_eq!(hello.size, Some(on_host.len()));
        assert!(
            report
                .entries
                .iter()
                .any(|e| e.path == "/etc" && e.size.is_none())
        );

        // The only generation's catalog damaged: refused, not half mounted.
        let superblock = Superblock::decode(&disk[BLOCK..], 1, 256).unwrap();
        let mut bad_catalog = disk.clone();
        bad_catalog[superblock.meta_block as usize * BLOCK + 9] ^= 1;
        assert!(matches!(
            fsck(&bad_catalog),
            Err(MountError::Corrupt {
                newest: Rejected {
                    generation: 1,
                    error: MetaError::Checksum { .. }
                },
                older: None
            })
        ));
        // Its superblock damaged (the other slot is clear): refused too.
        let mut bad_superblock = disk;
        bad_superblock[BLOCK + 20] ^= 1;
        assert!(matches!(
            fsck(&bad_superblock),
            Err(MountError::NoSuperblock { .. })
        ));
    }

    #[test]
    fn bad_sizes_and_trees_that_do_not_fit_are_refused() {
        let root = Node::Directory(
            [("big".to_string(), Node::File(vec![1; 5 * BLOCK]))]
                .into_iter()
                .collect(),
        );
        assert!(matches!(
            data_disk_from_tree(&root, 1000),
            Err(DataDiskError::BadSize { bytes: 1000 })
        ));
        assert!(matches!(
            data_disk_from_tree(&root, 6 * BLOCK as u64),
            Err(DataDiskError::Commit(CommitError::NoSpace { .. }))
        ));
        assert!(data_disk_from_tree(&root, 8 * BLOCK as u64).is_ok());
    }

    #[test]
    fn extra_files_join_the_tree_on_the_disk() {
        let echo = ExtraFile {
            path: "bin/echo".into(),
            data: b"\x7fELF echo".to_vec(),
        };
        let disk =
            build_data_disk_with(&sample_root(), std::slice::from_ref(&echo), 1 << 20).unwrap();
        let mounted = mount_image(&disk).unwrap().committed;
        let Some(Entry::File(file)) = mounted.catalog.get("bin/echo") else {
            panic!("bin/echo is a file");
        };
        assert_eq!(read_file(&disk, file).unwrap(), echo.data);
        assert!(matches!(mounted.catalog.get("bin"), Some(Entry::Directory)));
        assert!(mounted.catalog.get("hello.txt").is_some());
    }

    #[test]
    fn a_bare_disk_is_its_own_data_disk() {
        let disk = build_data_disk(&sample_root(), 64 * BLOCK as u64).unwrap();
        assert_eq!(locate(&disk).unwrap(), disk);
    }
}
