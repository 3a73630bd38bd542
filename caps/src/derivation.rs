//! The capability derivation tree: every capability node, and the links that
//! tie each derived capability to its parent.
//!
//! All capabilities of all CSpaces live in one fixed-size arena of nodes; a
//! CSpace slot only holds a node index. That one indirection buys a lot:
//! moving a capability between CSpaces changes a slot and a back-pointer, not
//! the tree, and every link is a `u32` index instead of a (CSpace, slot)
//! pair. Links are intrusive: parent, first child, and a doubly linked
//! sibling list, plus a doubly linked list of every capability naming the same
//! object (headed in the object table). So linking, unlinking and deleting a
//! leaf are O(1), and walking a subtree needs no allocation and no stack.
//!
//! Derivation never changes the object, so a tree only ever links
//! capabilities to one object; destroying an object can drop all its nodes
//! without repairing links between them.

use alloc::vec::Vec;

use crate::NONE;
use crate::cap::Cap;
use crate::error::CapError;
use crate::object::ObjectTable;

/// One capability and its place in the derivation tree.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) cap: Cap,
    /// Where the capability lives: CSpace index and slot index.
    pub(crate) cspace: u32,
    pub(crate) slot: u32,
    pub(crate) parent: u32,
    pub(crate) first_child: u32,
    pub(crate) next_sibling: u32,
    pub(crate) prev_sibling: u32,
    pub(crate) object_next: u32,
    pub(crate) object_prev: u32,
}

impl Node {
    /// A node with no links yet, to be placed at `cspace`/`slot` later.
    pub(crate) fn new(cap: Cap) -> Self {
        Self {
            cap,
            cspace: NONE,
            slot: NONE,
            parent: NONE,
            first_child: NONE,
            next_sibling: NONE,
            prev_sibling: NONE,
            object_next: NONE,
            object_prev: NONE,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum NodeEntry {
    Free { next_free: u32 },
    Live(Node),
}

/// Fixed-capacity arena of capability nodes.
#[derive(Debug)]
pub(crate) struct NodeArena {
    entries: Vec<NodeEntry>,
    capacity: u32,
    free_head: u32,
    live: u32,
}

impl NodeArena {
    pub(crate) fn new(capacity: u32) -> Result<Self, CapError> {
        let mut entries = Vec::new();
        entries
            .try_reserve_exact(capacity as usize)
            .map_err(|_| CapError::OutOfMemory)?;
        Ok(Self {
            entries,
            capacity,
            free_head: NONE,
            live: 0,
        })
    }

    pub(crate) fn live_count(&self) -> u32 {
        self.live
    }

    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.free_head != NONE || (self.entries.len() as u32) < self.capacity
    }

    #[inline(always)]
    pub(crate) fn insert(&mut self, node: Node) -> Option<u32> {
        let index = if self.free_head != NONE {
            let index = self.free_head;
            let entry = self.entries.get_mut(index as usize)?;
            if let NodeEntry::Free { next_free } = *entry {
                self.free_head = next_free;
            }
            *entry = NodeEntry::Live(node);
            index
        } else if (self.entries.len() as u32) < self.capacity {
            self.entries.push(NodeEntry::Live(node));
            self.entries.len() as u32 - 1
        } else {
            return None;
        };
        self.live += 1;
        Some(index)
    }

    /// Frees a node whose links the caller has already repaired.
    #[inline]
    pub(crate) fn remove(&mut self, index: u32) -> Option<Node> {
        let entry = self.entries.get_mut(index as usize)?;
        let NodeEntry::Live(node) = *entry else {
            return None;
        };
        *entry = NodeEntry::Free {
            next_free: self.free_head,
        };
        self.free_head = index;
        self.live -= 1;
        Some(node)
    }

    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<&Node> {
        match self.entries.get(index as usize)? {
            NodeEntry::Live(node) => Some(node),
            NodeEntry::Free { .. } => None,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut Node> {
        match self.entries.get_mut(index as usize)? {
            NodeEntry::Live(node) => Some(node),
            NodeEntry::Free { .. } => None,
        }
    }

    /// Every live node with its index.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Node)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| match entry {
                NodeEntry::Live(node) => Some((index as u32, node)),
                NodeEntry::Free { .. } => None,
            })
    }

    fn set<F: FnOnce(&mut Node)>(&mut self, index: u32, change: F) {
        if let Some(node) = self.get_mut(index) {
            change(node);
        }
    }

    fn field(&self, index: u32, read: fn(&Node) -> u32) -> u32 {
        self.get(index).map_or(NONE, read)
    }

    pub(crate) fn first_child(&self, index: u32) -> u32 {
        self.field(index, |n| n.first_child)
    }

    pub(crate) fn parent(&self, index: u32) -> u32 {
        self.field(index, |n| n.parent)
    }

    /// Makes `child` (currently unlinked) the first child of `parent`.
    pub(crate) fn link_child(&mut self, parent: u32, child: u32) {
        let old_first = self.first_child(parent);
        self.set(child, |n| {
            n.parent = parent;
            n.prev_sibling = NONE;
            n.next_sibling = old_first;
        });
        self.set(old_first, |n| n.prev_sibling = child);
        self.set(parent, |n| n.first_child = child);
    }

    /// Takes `index` out of its parent's child list; its own children stay.
    pub(crate) fn unlink_from_parent(&mut self, index: u32) {
        let Some(&node) = self.get(index) else {
            return;
        };
        if node.prev_sibling != NONE {
            self.set(node.prev_sibling, |n| n.next_sibling = node.next_sibling);
        } else {
            self.set(node.parent, |n| n.first_child = node.next_sibling);
        }
        self.set(node.next_sibling, |n| n.prev_sibling = node.prev_sibling);
        self.set(index, |n| {
            n.parent = NONE;
            n.prev_sibling = NONE;
            n.next_sibling = NONE;
        });
    }

    /// Hands every child of `index` to `index`'s parent (or makes them roots),
    /// as deleting a capability must: its descendants stay descendants of its
    /// ancestors, so a later revoke of an ancestor still reaches them.
    /// O(number of children).
    pub(crate) fn reparent_children(&mut self, index: u32) {
        let grandparent = self.parent(index);
        let mut child = self.first_child(index);
        while child != NONE {
            let next = self.field(child, |n| n.next_sibling);
            self.set(child, |n| {
                n.parent = NONE;
                n.prev_sibling = NONE;
                n.next_sibling = NONE;
            });
            if grandparent != NONE {
                self.link_child(grandparent, child);
            }
            child = next;
        }
        self.set(index, |n| n.first_child = NONE);
    }

    /// Adds `index` to its object's list of capabilities.
    pub(crate) fn link_object(&mut self, objects: &mut ObjectTable, index: u32) {
        let Some(object_id) = self.get(index).map(|n| n.cap.object) else {
            return;
        };
        let Some(object) = objects.get_mut(object_id) else {
            return;
        };
        let old_first = object.first_cap;
        object.first_cap = index;
        object.cap_count += 1;
        self.set(index, |n| {
            n.object_prev = NONE;
            n.object_next = old_first;
        });
        self.set(old_first, |n| n.object_prev = index);
    }

    /// Takes `index` out of its object's list; returns how many capabilities
    /// the object has left.
    pub(crate) fn unlink_object(&mut self, objects: &mut ObjectTable, index: u32) -> u32 {
        let Some(&node) = self.get(index) else {
            return 0;
        };
        let Some(object) = objects.get_mut(node.cap.object) else {
            return 0;
        };
        if node.object_prev == NONE {
            object.first_cap = node.object_next;
        }
        object.cap_count -= 1;
        let remaining = object.cap_count;
        self.set(node.object_prev, |n| n.object_next = node.object_next);
        self.set(node.object_next, |n| n.object_prev = node.object_prev);
        self.set(index, |n| {
            n.object_prev = NONE;
            n.object_next = NONE;
        });
        remaining
    }
}
