//! Programs the boot list runs from the file system: which task is which
//! file, and reading a file's bytes out of the boot module's image before
//! the fs service runs (the kernel parses the image itself, with the fs
//! crate's own validating parser, so it trusts nothing in it).

use mealy_fs::format::{Image, Kind};

/// Boot tasks that run as ring-3 programs, and the file each comes from.
/// If the file is missing or does not load, the task runs as the ring-0
/// service of the same name instead, and one line says why.
pub const BOOT_PROGRAMS: &[(&str, &str)] = &[
    ("echo", "/bin/echo"),
    ("pinger", "/bin/pinger"),
    ("fs", "/bin/fs"),
    ("virtio-blk", "/bin/virtio-blk"),
    ("serial", "/bin/serial"),
    ("keyboard", "/bin/keyboard"),
    ("fbcon", "/bin/fbcon"),
    ("console", "/bin/console"),
    ("shell", "/bin/shell"),
    ("supervisor", "/bin/supervisor"),
];

/// Bytes of Regions the fs may allocate in ring 3: its private copies
/// (`mealy_fs::Limits::DEFAULT.private_bytes`), as much again for a
/// `Sync`'s snapshot of dirty files (copied onto its heap), and 16 MiB of
/// heap and block buffers besides. A ring-0 fs allocates the same from
/// the kernel heap, unbounded.
pub const FS_REGION_QUOTA: u64 = 2 * mealy_fs::Limits::DEFAULT.private_bytes + (16 << 20);

/// Bytes of Regions boot program `name` may allocate itself: more than a
/// program's [`USER_REGION_QUOTA`](super::task::USER_REGION_QUOTA) for
/// the fs, which holds the files in memory.
pub fn region_quota(name: &str) -> u64 {
    match name {
        "fs" => FS_REGION_QUOTA,
        _ => super::task::USER_REGION_QUOTA,
    }
}

/// Why a boot program's file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileError {
    NoImage,
    BadImage,
    NotFound,
    NotAFile,
    /// In more than one extent: a program is read where it lies.
    Fragmented,
}

impl core::fmt::Display for FileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoImage => "no file-system image",
            Self::BadImage => "the file-system image does not parse",
            Self::NotFound => "no such file",
            Self::NotAFile => "not a file",
            Self::Fragmented => "the file is not in one piece",
        })
    }
}

/// The file at `path` in the file-system image `image`.
pub fn read<'a>(image: Option<&'a [u8]>, path: &str) -> Result<&'a [u8], FileError> {
    let bytes = image.ok_or(FileError::NoImage)?;
    let image = Image::parse(bytes).map_err(|_| FileError::BadImage)?;
    let inode = image.lookup(path).map_err(|_| FileError::NotFound)?;
    if inode.kind != Kind::File {
        return Err(FileError::NotAFile);
    }
    if inode.count != 1 {
        return Err(FileError::Fragmented);
    }
    let (offset, len) = image.extent(inode.first).ok_or(FileError::BadImage)?;
    let size = inode.size.min(len);
    let start = usize::try_from(offset).map_err(|_| FileError::BadImage)?;
    let end = start
        .checked_add(usize::try_from(size).map_err(|_| FileError::BadImage)?)
        .ok_or(FileError::BadImage)?;
    bytes.get(start..end).ok_or(FileError::BadImage)
}

/// The file a boot task `name` runs from, if it is one.
pub fn path_of(name: &str) -> Option<&'static str> {
    BOOT_PROGRAMS
        .iter()
        .find(|(task, _)| *task == name)
        .map(|(_, path)| *path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec::Vec;
    use mealy_fs::format::{BuildOptions, Node, build};

    fn image() -> Vec<u8> {
        let bin = BTreeMap::from([(
            String::from("echo"),
            Node::File(b"\x7fELF pretend".to_vec()),
        )]);
        let root = BTreeMap::from([
            (String::from("bin"), Node::Directory(bin)),
            (String::from("notes.txt"), Node::File(b"hi".to_vec())),
        ]);
        build(&Node::Directory(root), BuildOptions::default()).unwrap()
    }

    #[test]
    fn a_file_is_read_where_it_lies_and_bad_paths_are_errors() {
        let image = image();
        assert_eq!(read(Some(&image), "/bin/echo"), Ok(&b"\x7fELF pretend"[..]));
        assert_eq!(read(Some(&image), "/bin/none"), Err(FileError::NotFound));
        assert_eq!(read(Some(&image), "/bin"), Err(FileError::NotAFile));
        assert_eq!(read(None, "/bin/echo"), Err(FileError::NoImage));
        assert_eq!(
            read(Some(&image[..100]), "/bin/echo"),
            Err(FileError::BadImage)
        );
        assert_eq!(path_of("echo"), Some("/bin/echo"));
        assert_eq!(path_of("shell"), Some("/bin/shell"));
        assert_eq!(path_of("kernel"), None);
        assert_eq!(path_of("fs"), Some("/bin/fs"));
        assert_eq!(path_of("virtio-blk"), Some("/bin/virtio-blk"));
        assert!(region_quota("fs") > 2 * mealy_fs::Limits::DEFAULT.private_bytes);
        assert_eq!(region_quota("echo"), super::super::task::USER_REGION_QUOTA);
    }
}
