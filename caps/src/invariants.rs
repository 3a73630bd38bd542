//! Structural self-check of a [`CapSystem`], for tests and the fuzz target.
//!
//! Walks every table and link and reports the first inconsistency: slots and
//! nodes point at each other, sibling lists are doubly linked both ways,
//! parent chains end, a child names its parent's object with a subset of its
//! rights and its badge, and each object's capability list is exact. O(n·depth);
//! only compiled for tests and the `testing` feature.

use alloc::format;
use alloc::string::String;

use crate::NONE;
use crate::system::CapSystem;

impl CapSystem {
    /// `Err` with a description of the first broken internal invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut slot_total = 0u32;
        for (id, space) in self.cspaces.iter() {
            let mut live = 0;
            for (cap_ref, index) in space.iter() {
                live += 1;
                let node = self
                    .nodes
                    .get(index)
                    .ok_or_else(|| format!("{id} slot {cap_ref} holds dead node {index}"))?;
                if space.get_cap(cap_ref) != Some(node.cap) {
                    return Err(format!(
                        "{id} slot {cap_ref} caches another cap than its node"
                    ));
                }
                if node.cspace != id.index() || node.slot != cap_ref.slot() {
                    return Err(format!(
                        "node {index} back-pointer does not match {id} {cap_ref}"
                    ));
                }
            }
            if live != space.live() {
                return Err(format!("{id} live count {} != {live}", space.live()));
            }
            slot_total += live;
        }
        if slot_total != self.nodes.live_count() {
            return Err(format!(
                "{slot_total} occupied slots but {} live nodes",
                self.nodes.live_count()
            ));
        }
        let bound = self.nodes.live_count() + 1;
        for (index, node) in self.nodes.iter() {
            if self.location(index).is_none() {
                return Err(format!("node {index} is in no live slot"));
            }
            self.check_links(index, bound)?;
            if node.parent == NONE {
                continue;
            }
            let parent = self
                .nodes
                .get(node.parent)
                .ok_or_else(|| format!("node {index} has dead parent"))?;
            if parent.cap.object != node.cap.object {
                return Err(format!("node {index} names another object than its parent"));
            }
            if !parent.cap.rights.contains(node.cap.rights) {
                return Err(format!("node {index} has more rights than its parent"));
            }
            if parent.cap.badge.is_some() && parent.cap.badge != node.cap.badge {
                return Err(format!("node {index} lost its parent's badge"));
            }
        }
        let mut listed = 0u32;
        for (id, live) in self.objects.iter() {
            if live.cap_count == 0 {
                return Err(format!("object {id} has no capabilities"));
            }
            let mut count = 0;
            let mut previous = NONE;
            let mut current = live.first_cap;
            while current != NONE {
                let node = self
                    .nodes
                    .get(current)
                    .ok_or_else(|| format!("object {id} lists dead node {current}"))?;
                if node.cap.object != id || node.object_prev != previous {
                    return Err(format!("object {id} list broken at node {current}"));
                }
                count += 1;
                if count > bound {
                    return Err(format!("object {id} list has a cycle"));
                }
                previous = current;
                current = node.object_next;
            }
            if count != live.cap_count {
                return Err(format!(
                    "object {id} counts {} caps, lists {count}",
                    live.cap_count
                ));
            }
            listed += count;
        }
        if listed != self.nodes.live_count() {
            return Err(format!(
                "{listed} caps on object lists, {} live",
                self.nodes.live_count()
            ));
        }
        Ok(())
    }

    fn check_links(&self, index: u32, bound: u32) -> Result<(), String> {
        let Some(node) = self.nodes.get(index) else {
            return Err(format!("node {index} vanished"));
        };
        let mut steps = 0;
        let mut ancestor = node.parent;
        while ancestor != NONE {
            steps += 1;
            if steps > bound || ancestor == index {
                return Err(format!("parent chain of node {index} has a cycle"));
            }
            ancestor = self.nodes.parent(ancestor);
        }
        if node.prev_sibling != NONE {
            let prev = self.nodes.get(node.prev_sibling);
            if prev.map(|p| (p.next_sibling, p.parent)) != Some((index, node.parent)) {
                return Err(format!("node {index}: prev sibling does not link back"));
            }
        } else if node.parent != NONE && self.nodes.first_child(node.parent) != index {
            return Err(format!(
                "node {index}: first sibling but not parent's first child"
            ));
        }
        if node.next_sibling != NONE {
            let next = self.nodes.get(node.next_sibling);
            if next.map(|n| (n.prev_sibling, n.parent)) != Some((index, node.parent)) {
                return Err(format!("node {index}: next sibling does not link back"));
            }
        }
        if node.parent == NONE && (node.prev_sibling != NONE || node.next_sibling != NONE) {
            return Err(format!("root node {index} has siblings"));
        }
        if node.first_child != NONE && self.nodes.parent(node.first_child) != index {
            return Err(format!("node {index}: first child has another parent"));
        }
        Ok(())
    }
}
