//! The fs's mutable view of the namespace: a tree of entries built from
//! the image at mount, then changed by `Create`, `Mkdir`, `Remove` and
//! `Rename`. The image's layout is canonical and cannot change in place
//! (a new name would have to be inserted into the middle of the sorted,
//! breadth-first inode table), so the image stays as it was booted and
//! this tree is the truth while the fs runs.
//!
//! Nodes live in a slab (`Vec<Option<Node>>`) indexed by [`NodeId`]; the
//! root is node 0 and is never removed. Each directory keeps its children
//! in a `BTreeMap` by name, so listings come out sorted, as the image's
//! do. This module knows nothing of capabilities or the kernel: what
//! backs a file is a [`Pages`] value the service fills in.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_protocol::CapRef;
use mealy_protocol::fs::FsError;

use crate::format::{Image, Kind, MAX_DEPTH, MAX_NAME, valid_name};

#[cfg(test)]
mod tests;

/// Index of a node in the tree's slab.
pub(crate) type NodeId = usize;

/// The root directory.
pub(crate) const ROOT: NodeId = 0;

/// Where a file's bytes are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pages {
    /// Its extent of the image, unmodified: `extent` is `(offset, len)`,
    /// or `None` if the image splits it over several extents. `handle`
    /// is the fs's own read-only Region over the extent, derived on the
    /// first open: every Region handed out is minted from it, so revoking
    /// it takes them all away.
    Image {
        extent: Option<(u64, u64)>,
        handle: Option<CapRef>,
    },
    /// A Region the fs allocated and owns (every right), `capacity` long:
    /// the parent of every Region handed out for the file.
    Private { region: CapRef },
}

/// A file: its size, room and pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct File {
    pub size: u64,
    /// Bytes of pages behind the file: the length of its Regions.
    pub capacity: u64,
    /// Possibly changed since the last sync.
    pub dirty: bool,
    pub pages: Pages,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Body {
    Directory { children: BTreeMap<String, NodeId> },
    File(File),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Node {
    pub name: String,
    pub parent: NodeId,
    pub body: Body,
}

/// The namespace.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    nodes: Vec<Option<Node>>,
    free: Vec<NodeId>,
    live: usize,
}

impl Tree {
    /// An empty tree (no root): what an unmounted fs holds.
    pub const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// A tree holding only the (empty) root directory: where a mounted
    /// disk's catalog is put, entry by entry.
    pub fn with_root() -> Self {
        Self {
            nodes: alloc::vec![Some(Node {
                name: String::new(),
                parent: ROOT,
                body: Body::Directory {
                    children: BTreeMap::new(),
                },
            })],
            free: Vec::new(),
            live: 1,
        }
    }

    /// The tree of a validated image. Inode `i` becomes node `i` (the
    /// image is breadth-first, so a parent always exists before its
    /// children). Returns `None` only if the view is inconsistent, which
    /// a validated image is not.
    pub fn from_image(view: &Image<'_>) -> Option<Self> {
        let count = view.layout().inode_count as usize;
        let mut tree = Self::new();
        tree.nodes.reserve(count);
        for index in 0..count {
            let inode = view.inode(u32::try_from(index).ok()?)?;
            let body = match inode.kind {
                Kind::Directory => Body::Directory {
                    children: BTreeMap::new(),
                },
                Kind::File => {
                    let extents = inode.first..inode.first.saturating_add(inode.count);
                    let capacity = extents
                        .clone()
                        .filter_map(|extent| view.extent(extent))
                        .map(|(_, len)| len)
                        .fold(0u64, u64::saturating_add);
                    let extent = if inode.count == 1 {
                        view.extent(inode.first)
                    } else {
                        None
                    };
                    Body::File(File {
                        size: inode.size,
                        capacity,
                        dirty: false,
                        pages: Pages::Image {
                            extent,
                            handle: None,
                        },
                    })
                }
            };
            let parent = inode.parent as usize;
            if index != ROOT {
                let Some(Node {
                    body: Body::Directory { children },
                    ..
                }) = tree.nodes.get_mut(parent).and_then(Option::as_mut)
                else {
                    return None;
                };
                children.insert(inode.name.to_string(), index);
            }
            tree.nodes.push(Some(Node {
                name: inode.name.to_string(),
                parent,
                body,
            }));
        }
        tree.live = count;
        Some(tree)
    }

    /// How many entries (the root included) the tree holds.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id).and_then(Option::as_mut)
    }

    pub fn file_mut(&mut self, id: NodeId) -> Option<&mut File> {
        match &mut self.get_mut(id)?.body {
            Body::File(file) => Some(file),
            Body::Directory { .. } => None,
        }
    }

    /// Every file.
    pub fn files(&self) -> impl Iterator<Item = &File> {
        self.nodes
            .iter()
            .flatten()
            .filter_map(|node| match &node.body {
                Body::File(file) => Some(file),
                Body::Directory { .. } => None,
            })
    }

    /// Every file, mutably (for `Sync`).
    pub fn files_mut(&mut self) -> impl Iterator<Item = &mut File> {
        self.nodes
            .iter_mut()
            .flatten()
            .filter_map(|node| match &mut node.body {
                Body::File(file) => Some(file),
                Body::Directory { .. } => None,
            })
    }

    /// Resolves a `/`-separated path from the root; empty components are
    /// ignored, so `""` and `"/"` are the root. Too deep or a component
    /// too long is `BadPath`; a file before the last is `NotADirectory`.
    pub fn lookup(&self, path: &str) -> Result<NodeId, FsError> {
        let components = || path.split('/').filter(|c| !c.is_empty());
        if components().count() > MAX_DEPTH as usize || components().any(|c| c.len() > MAX_NAME) {
            return Err(FsError::BadPath);
        }
        let mut at = ROOT;
        for component in components() {
            at = self.child(at, component)?;
        }
        if self.get(at).is_none() {
            return Err(FsError::NotMounted);
        }
        Ok(at)
    }

    fn child(&self, dir: NodeId, name: &str) -> Result<NodeId, FsError> {
        match &self.get(dir).ok_or(FsError::NotFound)?.body {
            Body::Directory { children } => children.get(name).copied().ok_or(FsError::NotFound),
            Body::File(_) => Err(FsError::NotADirectory),
        }
    }

    /// The directory a new entry at `path` would go in, and its name
    /// (checked as the image's names are). The root has no parent
    /// (`BadPath`).
    pub fn parent_of<'p>(&self, path: &'p str) -> Result<(NodeId, &'p str), FsError> {
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = match trimmed.rfind('/') {
            Some(at) => (&trimmed[..at], &trimmed[at + 1..]),
            None => ("", trimmed),
        };
        if !valid_name(name) {
            return Err(FsError::BadPath);
        }
        let parent = self.lookup(dir)?;
        if self.depth(parent) >= MAX_DEPTH {
            return Err(FsError::BadPath);
        }
        match self.get(parent).map(|node| &node.body) {
            Some(Body::Directory { .. }) => Ok((parent, name)),
            _ => Err(FsError::NotADirectory),
        }
    }

    /// Whether `dir` already lists `name`.
    pub fn has_child(&self, dir: NodeId, name: &str) -> bool {
        self.child(dir, name).is_ok()
    }

    /// Adds `body` as `name` in the directory `parent` (the caller has
    /// checked the name is free and the limits).
    pub fn insert(&mut self, parent: NodeId, name: &str, body: Body) -> Option<NodeId> {
        let node = Node {
            name: name.to_string(),
            parent,
            body,
        };
        let id = match self.free.pop() {
            Some(id) => {
                *self.nodes.get_mut(id)? = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.link(parent, name, id);
        self.live += 1;
        Some(id)
    }

    /// Takes `id` out of the tree (not the root), returning its node.
    pub fn remove(&mut self, id: NodeId) -> Option<Node> {
        if id == ROOT {
            return None;
        }
        let node = self.nodes.get_mut(id)?.take()?;
        self.unlink(node.parent, &node.name);
        self.free.push(id);
        self.live -= 1;
        Some(node)
    }

    /// Moves `id` to `name` in `parent` (the caller has checked that the
    /// name is free and `parent` is not inside `id`).
    pub fn rename(&mut self, id: NodeId, parent: NodeId, name: &str) -> Option<()> {
        let node = self.get(id)?;
        let (old_parent, old_name) = (node.parent, node.name.clone());
        self.unlink(old_parent, &old_name);
        self.link(parent, name, id);
        let node = self.get_mut(id)?;
        node.parent = parent;
        node.name = name.to_string();
        Some(())
    }

    fn link(&mut self, parent: NodeId, name: &str, id: NodeId) {
        if let Some(Node {
            body: Body::Directory { children },
            ..
        }) = self.get_mut(parent)
        {
            children.insert(name.to_string(), id);
        }
    }

    fn unlink(&mut self, parent: NodeId, name: &str) {
        if let Some(Node {
            body: Body::Directory { children },
            ..
        }) = self.get_mut(parent)
        {
            children.remove(name);
        }
    }

    /// How far below the root `id` is (the root: 0).
    pub fn depth(&self, mut id: NodeId) -> u32 {
        let mut depth = 0;
        while id != ROOT && depth <= MAX_DEPTH {
            match self.get(id) {
                Some(node) => id = node.parent,
                None => break,
            }
            depth += 1;
        }
        depth
    }

    /// Whether `inner` is `outer` or lies inside it.
    pub fn within(&self, mut inner: NodeId, outer: NodeId) -> bool {
        for _ in 0..=MAX_DEPTH {
            if inner == outer {
                return true;
            }
            if inner == ROOT {
                return false;
            }
            match self.get(inner) {
                Some(node) => inner = node.parent,
                None => return false,
            }
        }
        false
    }

    /// How many levels hang below `id` (a file or an empty directory: 0).
    pub fn height(&self, id: NodeId) -> u32 {
        let mut deepest = 0;
        let mut stack: Vec<(NodeId, u32)> = Vec::new();
        stack.push((id, 0));
        while let Some((at, level)) = stack.pop() {
            deepest = deepest.max(level);
            if let Some(Node {
                body: Body::Directory { children },
                ..
            }) = self.get(at)
            {
                stack.extend(children.values().map(|&child| (child, level + 1)));
            }
        }
        deepest
    }
}
