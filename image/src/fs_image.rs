//! Packs a host directory (by default `image/root/`) into a Mealy
//! file-system image, with the format and builder of `mealy-fs` (so the
//! image and the fs service's parser cannot disagree). The image goes on
//! the ESP as a boot module with command line `fs`.
//!
//! [`pack_dir_with`] adds files that are not in the directory, such as the
//! user programs xtask builds into `bin/`, so nothing is written into the
//! source tree.
//!
//! Regular files and directories are packed; names must be UTF-8 and
//! allowed by the format. Anything else (a symlink, a device, a bad name)
//! is an error naming the path, rather than being silently left out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use mealy_fs::format::{BuildError, BuildOptions, Node, build};

/// Why a directory could not be packed.
#[derive(Debug)]
pub enum PackError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A name that is not UTF-8.
    NotUtf8(PathBuf),
    /// Neither a regular file nor a directory.
    Unsupported(PathBuf),
    Build(BuildError),
    /// An extra file whose path is taken or goes through a file.
    Clash(String),
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            PackError::NotUtf8(path) => write!(f, "{}: name is not UTF-8", path.display()),
            PackError::Unsupported(path) => {
                write!(f, "{}: not a regular file or directory", path.display())
            }
            PackError::Build(error) => write!(f, "{error}"),
            PackError::Clash(path) => {
                write!(f, "{path}: already in the directory, or under a file")
            }
        }
    }
}

impl std::error::Error for PackError {}

/// Reads `dir` into a tree.
pub fn read_tree(dir: &Path) -> Result<Node, PackError> {
    let io = |error| PackError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| PackError::NotUtf8(path.clone()))?;
        let kind = entry.file_type().map_err(|error| PackError::Io {
            path: path.clone(),
            error,
        })?;
        let node = if kind.is_dir() {
            read_tree(&path)?
        } else if kind.is_file() {
            Node::File(std::fs::read(&path).map_err(|error| PackError::Io {
                path: path.clone(),
                error,
            })?)
        } else {
            return Err(PackError::Unsupported(path));
        };
        entries.insert(name, node);
    }
    Ok(Node::Directory(entries))
}

/// Packs `dir` into an image.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, PackError> {
    build(&read_tree(dir)?, BuildOptions::default()).map_err(PackError::Build)
}

/// A file added to the image at `path` (from the root, `/`-separated,
/// e.g. `bin/echo`); missing directories are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraFile {
    pub path: String,
    pub data: Vec<u8>,
}

/// Packs `dir` and `extra` into an image; an extra file may not replace
/// anything in `dir`.
pub fn pack_dir_with(dir: &Path, extra: &[ExtraFile]) -> Result<Vec<u8>, PackError> {
    build(&read_tree_with(dir, extra)?, BuildOptions::default()).map_err(PackError::Build)
}

/// The tree under `dir` with `extra` added, as [`pack_dir_with`] packs
/// it: what the boot image holds, for a data disk to hold the same.
pub fn read_tree_with(dir: &Path, extra: &[ExtraFile]) -> Result<Node, PackError> {
    let mut tree = read_tree(dir)?;
    for file in extra {
        insert(&mut tree, file)?;
    }
    Ok(tree)
}

fn insert(tree: &mut Node, file: &ExtraFile) -> Result<(), PackError> {
    let clash = || PackError::Clash(file.path.clone());
    let parts: Vec<&str> = file.path.split('/').filter(|p| !p.is_empty()).collect();
    let (name, dirs) = parts.split_last().ok_or_else(clash)?;
    let mut node = tree;
    for part in dirs {
        let Node::Directory(entries) = node else {
            return Err(clash());
        };
        node = entries
            .entry((*part).to_string())
            .or_insert_with(|| Node::Directory(BTreeMap::new()));
    }
    let Node::Directory(entries) = node else {
        return Err(clash());
    };
    if entries.contains_key(*name) {
        return Err(clash());
    }
    entries.insert((*name).to_string(), Node::File(file.data.clone()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_fs::format::Image;

    #[test]
    fn the_sample_root_packs_and_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("root");
        let bytes = pack_dir(&root).unwrap();
        let image = Image::parse(&bytes).unwrap();
        let hello = image.lookup("hello.txt").unwrap();
        let (offset, _) = image.extent(hello.first).unwrap();
        let on_host = std::fs::read(root.join("hello.txt")).unwrap();
        let start = offset as usize;
        assert_eq!(&bytes[start..start + hello.size as usize], on_host);
        assert!(image.lookup("etc/motd").is_ok());
    }

    #[test]
    fn extra_files_land_in_new_directories_and_never_replace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("root");
        let echo = ExtraFile {
            path: "bin/echo".into(),
            data: b"\x7fELF echo".to_vec(),
        };
        let bytes = pack_dir_with(&root, std::slice::from_ref(&echo)).unwrap();
        let image = Image::parse(&bytes).unwrap();
        let file = image.lookup("bin/echo").unwrap();
        let (offset, _) = image.extent(file.first).unwrap();
        let start = offset as usize;
        assert_eq!(&bytes[start..start + file.size as usize], echo.data);
        assert!(image.lookup("hello.txt").is_ok());
        for path in ["hello.txt", "hello.txt/x", "", "etc"] {
            let clash = ExtraFile {
                path: path.into(),
                data: Vec::new(),
            };
            let error = pack_dir_with(&root, &[clash]).unwrap_err();
            assert!(matches!(error, PackError::Clash(_)), "{path}: {error}");
        }
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let error = pack_dir(Path::new("/no/such/dir")).unwrap_err();
        assert!(error.to_string().starts_with("/no/such/dir: "), "{error}");
    }
}
