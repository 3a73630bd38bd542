//! Mealy's capability model: rights, capability references, per-task
//! CSpaces, the derivation tree, revoke, Region sub-ranges, and graph
//! snapshots rendered for people.
//!
//! `#![no_std]` with `alloc`, depends on nothing in the workspace; the kernel
//! embeds one [`CapSystem`] and consults it on every access, and `protocol`
//! re-exports its [`CapRef`], [`Badge`], [`Rights`], [`TaskId`],
//! [`ObjectKind`] and [`DeviceRange`]. `README.md` has the table of which
//! file holds what.
//!
//! # Model
//!
//! A task holds capabilities in its [`CSpace`](CSpaceId) and names them by
//! [`CapRef`] (slot + generation). A capability ([`Cap`]) names an
//! [`Object`], carries [`Rights`] and maybe a [`Badge`]. The semantics follow
//! seL4's: each operation on [`CapSystem`] documents exactly what it does and
//! every error it returns, in the order they are checked, and a failed
//! operation changes nothing.
//!
//! | operation | needs | effect |
//! |---|---|---|
//! | [`CapSystem::create_object`] | (kernel) | a new object, its original capability with every right in a CSpace |
//! | [`CapSystem::lookup`] | the rights the use requires | returns the `Cap` |
//! | [`CapSystem::mint`] | DERIVE (+GRANT across CSpaces) | child with a subset of rights, badge only if the source has none |
//! | [`CapSystem::derive_region`] | DERIVE on a Region | a new Region object for a sub-range, its original a child of the source |
//! | [`CapSystem::copy`] | DERIVE (+GRANT across CSpaces) | child with the same rights and badge |
//! | [`CapSystem::move_cap`] | GRANT | same capability, new CSpace and slot, same tree position |
//! | [`CapSystem::drop_cap`] | nothing | delete one; its children go to its parent |
//! | [`CapSystem::revoke`] | nothing | delete every descendant everywhere, keep the source |
//! | [`CapSystem::revoke_with`] | nothing | `revoke`, handing each object it freed to the caller |
//! | [`CapSystem::destroy`] | (kernel) | delete every capability to an object, forget it |
//! | [`CapSystem::destroy_cspace`] | (kernel) | delete every capability in a CSpace (a dying task's), then the CSpace |
//!
//! Every table (derivation nodes, objects, CSpaces, each CSpace's slots)
//! is one fixed-capacity `Arena` (`arena.rs`) with an intrusive free list
//! and a generation per entry.
//!
//! # Graph export
//!
//! [`CapSystem::snapshot`] copies the tables into a self-contained
//! [`Snapshot`] (serde, so it can travel as a message) for the shell's
//! `caps` and `graph`. [`Snapshot::tree`] renders it as an indented tree;
//! [`Snapshot::dot`] as Graphviz DOT, in one of two views ([`DotDetail`]):
//! `Objects`, the compact one (a node per task and per object, "who can
//! talk to whom"), or `Slots` (a node per capability with every derivation
//! edge, for debugging revoke).
//!
//! # Invariants
//!
//! - Rights never grow along a derivation; a badge, once set, is inherited.
//! - A stale ref never resolves: a freed slot's generation is bumped, and a
//!   slot whose generation would wrap is retired.
//! - After `revoke(c)`, no capability anywhere descends from `c`.
//! - Every table is bounded and reserved up front; exhaustion is a
//!   [`CapError`] value, never a panic, and lookup never allocates.
//!
//! # Testing
//!
//! Unit tests sit next to each module. `model` (feature `testing`, always on
//! in this crate's tests) holds a reference model and an operation-sequence
//! interpreter shared by the proptest and the fuzz target in `caps/fuzz`
//! (see `caps/README.md` for how to run it).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(test)]
extern crate std;

mod arena;
mod cap;
mod cap_ref;
mod cspace;
mod derivation;
mod error;
mod graph;
#[cfg(any(test, feature = "testing"))]
mod invariants;
#[cfg(any(test, feature = "testing"))]
pub mod model;
mod object;
mod render;
mod revoke;
mod rights;
mod subregion;
mod system;
#[cfg(test)]
mod tests;

pub use cap::{Badge, Cap};
pub use cap_ref::CapRef;
pub use cspace::CSpaceId;
pub use error::CapError;
pub use graph::{CapAddress, CapNode, DerivationEdge, ObjectNode, Snapshot, TaskNode};
pub use object::{DeviceRange, Object, ObjectId, ObjectKind, TaskId};
pub use render::{DotDetail, DotView, TreeView};
pub use rights::Rights;
pub use system::{CapSystem, FreedObject, Limits, Usage};

/// "No index" in the intrusive links and free lists.
pub(crate) const NONE: u32 = u32::MAX;
