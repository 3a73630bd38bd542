//! Graph export: a self-contained snapshot of tasks, objects, capabilities
//! and derivation edges, for the debug shell (`caps`, `graph`,
//! `graph --dot [--slots]`).
//!
//! The snapshot copies everything out of the live tables (it allocates; it is
//! a debugging path, not a per-message one) and names capabilities by
//! (CSpace, ref) rather than by internal node index, so it means the same
//! thing after it has been serialized with postcard and sent to the shell.
//! Rendering lives in `render.rs`.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::cap::Cap;
use crate::cap_ref::CapRef;
use crate::cspace::CSpaceId;
use crate::object::{Object, ObjectId, TaskId};
use crate::system::CapSystem;

/// A task's CSpace in a snapshot.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TaskNode {
    pub task: TaskId,
    pub cspace: CSpaceId,
    /// Attached by the caller (see [`Snapshot::name_task`]); the capability
    /// model does not know task names.
    pub name: Option<String>,
    pub slots_used: u32,
    pub slots: u32,
}

/// A live object in a snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ObjectNode {
    pub id: ObjectId,
    pub object: Object,
}

/// Where a capability lives: the system-wide name of one capability.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct CapAddress {
    pub cspace: CSpaceId,
    pub cap: CapRef,
}

/// A capability in a snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CapNode {
    pub at: CapAddress,
    pub cap: Cap,
}

/// `child` was derived (minted or copied) from `parent`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DerivationEdge {
    pub parent: CapAddress,
    pub child: CapAddress,
}

/// The whole capability graph at one moment.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// CSpaces in table order.
    pub tasks: Vec<TaskNode>,
    /// Objects in table order.
    pub objects: Vec<ObjectNode>,
    /// Capabilities grouped by CSpace (in `tasks` order), then slot order.
    pub caps: Vec<CapNode>,
    /// One edge per capability that has a parent, in `caps` order.
    pub derivations: Vec<DerivationEdge>,
}

impl CapSystem {
    /// Copies the whole capability graph out of the live tables.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (cspace, space) in self.cspaces.iter() {
            snapshot.tasks.push(TaskNode {
                task: space.owner(),
                cspace,
                name: None,
                slots_used: space.live(),
                slots: space.capacity(),
            });
            for (cap, index) in space.iter() {
                let Some(node) = self.nodes.get(index) else {
                    continue;
                };
                let at = CapAddress { cspace, cap };
                snapshot.caps.push(CapNode { at, cap: node.cap });
                if let Some((parent_space, parent_cap)) = self.location(node.parent) {
                    snapshot.derivations.push(DerivationEdge {
                        parent: CapAddress {
                            cspace: parent_space,
                            cap: parent_cap,
                        },
                        child: at,
                    });
                }
            }
        }
        snapshot.objects = self
            .objects
            .iter()
            .map(|(id, live)| ObjectNode {
                id,
                object: live.object,
            })
            .collect();
        snapshot
    }
}

impl Snapshot {
    /// Attaches `name` to every CSpace owned by `task`; `false` if none is.
    pub fn name_task(&mut self, task: TaskId, name: &str) -> bool {
        let mut found = false;
        for node in self.tasks.iter_mut().filter(|node| node.task == task) {
            node.name = Some(String::from(name));
            found = true;
        }
        found
    }

    /// The CSpace `task` owns (the first, should it own several).
    pub fn cspace_of(&self, task: TaskId) -> Option<CSpaceId> {
        self.tasks
            .iter()
            .find(|node| node.task == task)
            .map(|node| node.cspace)
    }

    /// The task that owns `cspace`.
    pub fn task_of(&self, cspace: CSpaceId) -> Option<&TaskNode> {
        self.tasks.iter().find(|node| node.cspace == cspace)
    }

    /// The capabilities held in `cspace`.
    pub fn caps_in(&self, cspace: CSpaceId) -> impl Iterator<Item = &CapNode> {
        self.caps
            .iter()
            .filter(move |node| node.at.cspace == cspace)
    }

    /// The capability `child` was derived from.
    pub fn parent_of(&self, child: CapAddress) -> Option<CapAddress> {
        self.derivations
            .iter()
            .find(|edge| edge.child == child)
            .map(|edge| edge.parent)
    }

    /// The capabilities derived directly from `parent`.
    pub fn children_of(&self, parent: CapAddress) -> impl Iterator<Item = CapAddress> + '_ {
        self.derivations
            .iter()
            .filter(move |edge| edge.parent == parent)
            .map(|edge| edge.child)
    }
}
