//! The image builder: lays a tree of [`Node`]s out in the
//! canonical order the parser expects (breadth-first inodes, children
//! sorted by name, one extent per file in inode order), reserving
//! [`BuildOptions::reserve_pages`] behind every file for growth.

extern crate alloc;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::parse::valid_name;
use super::{
    CHECKSUM_AT, EXTENT_LEN, INODE_LEN, KIND_DIR, KIND_FILE, MAGIC, MAX_DEPTH, MAX_INODES, PAGE,
    SUPERBLOCK_LEN, VERSION, checksum, page_round,
};

/// A tree to pack. Directory entries are kept sorted by name (byte order,
/// which is how the parser compares them).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Node {
    File(Vec<u8>),
    Directory(BTreeMap<String, Node>),
}

impl Node {
    pub fn empty_dir() -> Self {
        Node::Directory(BTreeMap::new())
    }
}

/// How the builder lays files out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BuildOptions {
    /// Pages reserved behind every file, beyond the pages its bytes need,
    /// so it can grow in place.
    pub reserve_pages: u64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { reserve_pages: 1 }
    }
}

/// Why a tree could not be packed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BuildError {
    /// A name the format does not allow (empty, `.`, `..`, `/`, NUL, too long).
    BadName(String),
    /// The root is a file.
    RootNotADirectory,
    /// Deeper than `MAX_DEPTH`.
    TooDeep,
    /// More than `MAX_INODES` entries, or metadata past 4 GiB.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadName(name) => write!(f, "name {name:?} is not allowed"),
            BuildError::RootNotADirectory => f.write_str("the root must be a directory"),
            BuildError::TooDeep => write!(f, "deeper than {MAX_DEPTH} levels"),
            BuildError::TooLarge => f.write_str("too many entries for one image"),
        }
    }
}

impl core::error::Error for BuildError {}

struct Planned<'t> {
    kind: u8,
    name: &'t str,
    parent: u32,
    first: u32,
    count: u32,
    data: &'t [u8],
}

/// Packs `root` into an image.
pub fn build(root: &Node, options: BuildOptions) -> Result<Vec<u8>, BuildError> {
    if !matches!(root, Node::Directory(_)) {
        return Err(BuildError::RootNotADirectory);
    }
    // Breadth-first: every directory's children get the next indices, in
    // name order, when the directory is reached.
    let mut planned: Vec<Planned<'_>> = vec![Planned {
        kind: KIND_DIR,
        name: "",
        parent: 0,
        first: 0,
        count: 0,
        data: &[],
    }];
    let mut queue: VecDeque<(u32, &Node, u32)> = VecDeque::from([(0, root, 0)]);
    let mut files = 0u32;
    while let Some((index, node, depth)) = queue.pop_front() {
        match node {
            Node::Directory(entries) => {
                let first = planned.len() as u32;
                for (name, child) in entries {
                    if !valid_name(name) {
                        return Err(BuildError::BadName(name.clone()));
                    }
                    if depth + 1 > MAX_DEPTH {
                        return Err(BuildError::TooDeep);
                    }
                    if planned.len() as u32 >= MAX_INODES {
                        return Err(BuildError::TooLarge);
                    }
                    let child_index = planned.len() as u32;
                    let (kind, data) = match child {
                        Node::File(bytes) => (KIND_FILE, bytes.as_slice()),
                        Node::Directory(_) => (KIND_DIR, &[][..]),
                    };
                    planned.push(Planned {
                        kind,
                        name,
                        parent: index,
                        first: 0,
                        count: 0,
                        data,
                    });
                    queue.push_back((child_index, child, depth + 1));
                }
                let slot = &mut planned[index as usize];
                slot.first = first;
                slot.count = entries.len() as u32;
            }
            Node::File(_) => {
                let slot = &mut planned[index as usize];
                slot.first = files;
                slot.count = 1;
                files += 1;
            }
        }
    }

    let inode_offset = SUPERBLOCK_LEN as u64;
    let extent_offset = inode_offset + planned.len() as u64 * INODE_LEN as u64;
    let names_offset = extent_offset + u64::from(files) * EXTENT_LEN as u64;
    let names_len: u64 = planned.iter().map(|p| p.name.len() as u64).sum();
    let meta_len = names_offset + names_len;
    if meta_len > u64::from(u32::MAX) {
        return Err(BuildError::TooLarge);
    }
    let mut data_at = page_round(meta_len).ok_or(BuildError::TooLarge)?;
    let mut extents = Vec::new();
    for plan in planned.iter().filter(|p| p.kind == KIND_FILE) {
        let pages = page_round(plan.data.len() as u64)
            .ok_or(BuildError::TooLarge)?
            .max(PAGE);
        let capacity = pages + options.reserve_pages * PAGE;
        extents.push((data_at, capacity));
        data_at += capacity;
    }
    let image_len = data_at;
    let mut image = vec![0u8; usize::try_from(image_len).map_err(|_| BuildError::TooLarge)?];

    let put32 = |image: &mut Vec<u8>, at: u64, value: u32| {
        let at = at as usize;
        image[at..at + 4].copy_from_slice(&value.to_le_bytes());
    };
    let put64 = |image: &mut Vec<u8>, at: u64, value: u64| {
        let at = at as usize;
        image[at..at + 8].copy_from_slice(&value.to_le_bytes());
    };
    image[..8].copy_from_slice(&MAGIC);
    put32(&mut image, 8, VERSION);
    put64(&mut image, 16, image_len);
    put32(&mut image, 24, meta_len as u32);
    put32(&mut image, 28, planned.len() as u32);
    put32(&mut image, 32, inode_offset as u32);
    put32(&mut image, 36, files);
    put32(&mut image, 40, extent_offset as u32);
    put32(&mut image, 44, names_offset as u32);
    put32(&mut image, 48, names_len as u32);

    let mut name_at = 0u64;
    for (index, plan) in planned.iter().enumerate() {
        let at = inode_offset + index as u64 * INODE_LEN as u64;
        image[at as usize] = plan.kind;
        image[at as usize + 2..at as usize + 4]
            .copy_from_slice(&(plan.name.len() as u16).to_le_bytes());
        put32(&mut image, at + 4, name_at as u32);
        put32(&mut image, at + 8, plan.parent);
        put32(&mut image, at + 12, plan.first);
        put32(&mut image, at + 16, plan.count);
        if plan.kind == KIND_FILE {
            put64(&mut image, at + 24, plan.data.len() as u64);
            let (offset, _) = extents[plan.first as usize];
            let start = offset as usize;
            image[start..start + plan.data.len()].copy_from_slice(plan.data);
        }
        let names = (names_offset + name_at) as usize;
        image[names..names + plan.name.len()].copy_from_slice(plan.name.as_bytes());
        name_at += plan.name.len() as u64;
    }
    for (index, &(offset, len)) in extents.iter().enumerate() {
        let at = extent_offset + index as u64 * EXTENT_LEN as u64;
        put64(&mut image, at, offset);
        put64(&mut image, at + 8, len);
    }
    let sum = checksum(&image[..meta_len as usize]);
    put32(&mut image, CHECKSUM_AT as u64, sum);
    Ok(image)
}
