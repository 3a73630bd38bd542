//! The body of the `parse` fuzz target (`services/fs/fuzz`), here so the
//! stable host tests run it over a seed corpus too: CI needs no nightly.
//! Parses arbitrary bytes and, when they validate, walks every inode,
//! every directory's children, every extent, and looks each name up
//! again by its full path: whatever the bytes, nothing may panic.

use super::{Image, Kind, MAX_DEPTH};

/// Parses `bytes` and walks what parsed; returns how many inodes were
/// reached by lookup (0 if the bytes did not validate).
pub fn fuzz_parse(bytes: &[u8]) -> u32 {
    let Ok(view) = Image::parse(bytes) else {
        return 0;
    };
    let layout = view.layout();
    let mut found = 0;
    for index in 0..layout.inode_count {
        let Some(inode) = view.inode(index) else {
            continue;
        };
        match inode.kind {
            Kind::Directory => {
                for child in view.children(&inode) {
                    let _ = view.child(&inode, child.name);
                }
            }
            Kind::File => {
                for extent in inode.first..inode.first.saturating_add(inode.count) {
                    let _ = view.extent(extent);
                }
                let _ = view.size_field(index);
            }
        }
        // Rebuild the path from the parent links (bounded: a valid image
        // has no cycle, but the walk must not trust that).
        let mut names = [""; MAX_DEPTH as usize + 1];
        let mut depth = 0;
        let mut at = inode;
        while at.index != 0 && depth < names.len() {
            names[depth] = at.name;
            depth += 1;
            match view.inode(at.parent) {
                Some(parent) => at = parent,
                None => break,
            }
        }
        let mut path = [0u8; 8192];
        let mut used = 0;
        for name in names[..depth].iter().rev() {
            for &byte in b"/".iter().chain(name.as_bytes()) {
                if let Some(slot) = path.get_mut(used) {
                    *slot = byte;
                    used += 1;
                }
            }
        }
        if let Ok(path) = core::str::from_utf8(&path[..used])
            && view.lookup(path).map(|i| i.index) == Ok(index)
        {
            found += 1;
        }
    }
    found
}
