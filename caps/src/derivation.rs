//! The capability derivation tree: every capability node, and the links that
//! tie each derived capability to its parent.
//!
//! All capabilities of all CSpaces live in one fixed-size arena of nodes
//! (`arena.rs`); a CSpace slot only holds a node index. That one indirection
//! buys a lot: moving a capability between CSpaces changes a slot and a
//! back-pointer, not the tree, and every link is a `u32` index instead of a
//! (CSpace, slot) pair. Links are intrusive: parent, first child, and a
//! doubly linked sibling list, plus a doubly linked list of every capability
//! naming the same object (headed in the object table). So linking,
//! unlinking and deleting a leaf are O(1), and walking a subtree needs no
//! allocation and no stack.
//!
//! Derivation never changes the object, so a tree only ever links
//! capabilities to one object; destroying an object can drop all its nodes
//! without repairing links between them.

use crate::NONE;
use crate::arena::Arena;
use crate::cap::Cap;
use crate::object::{ObjectKind, ObjectTable};

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

/// Every capability node, named by its bare index. No generation: node
/// indices never leave the crate, and a node is freed only together with
/// every slot and link that names it.
pub(crate) type NodeArena = Arena<Node, u32>;

/// The derivation-tree and object-list links over the node arena.
impl Arena<Node, u32> {
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
    /// the object has left, and the object's kind (`None` if the node or
    /// its object is gone).
    pub(crate) fn unlink_object(
        &mut self,
        objects: &mut ObjectTable,
        index: u32,
    ) -> (u32, Option<ObjectKind>) {
        let Some(&node) = self.get(index) else {
            return (0, None);
        };
        let Some(object) = objects.get_mut(node.cap.object) else {
            return (0, None);
        };
        let kind = object.object.kind();
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
        (remaining, Some(kind))
    }
}
