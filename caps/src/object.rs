//! Kernel objects as the capability model sees them, and the table that
//! gives each one an identity.
//!
//! The capability model does not own endpoints, regions or devices; it holds
//! a small `Copy` descriptor (`Object`) that tells the kernel what a
//! capability names, and an `ObjectId` (index plus generation, like `CapRef`)
//! that stays unique while the object lives. The table also heads each
//! object's intrusive list of capabilities, so destroying an object costs
//! O(capabilities to it) with no search. Trade-off: a fixed-size table (an
//! `Arena`), allocated once, so exhaustion is an error value and no operation
//! allocates.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::NONE;
use crate::arena::{Arena, Key};
use crate::error::CapError;
use crate::rights::Rights;

/// The kernel's identity for a task (a state machine). The capability model
/// only records it: it names the owner of a CSpace and the target of
/// Endpoint, Reply and Task objects.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The kernel itself: its CSpace holds every object's original.
    pub const KERNEL: TaskId = TaskId(u32::MAX);
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == TaskId::KERNEL {
            return f.write_str("kernel");
        }
        write!(f, "task {}", self.0)
    }
}

/// The identity of a live object: table index plus generation. Stale once the
/// object is destroyed, since the slot's generation is bumped.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ObjectId {
    index: u32,
    generation: u32,
}

impl ObjectId {
    pub(crate) const fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The table index; unique among live objects, reused after destruction.
    /// The kernel may key its own per-object state by it.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation of the table slot when this object was created.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.index, self.generation)
    }
}

/// A device's resource: a physical MMIO range or an I/O port range.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum DeviceRange {
    /// Memory-mapped registers: physical base address and length in bytes.
    Mmio { base: u64, len: u64 },
    /// x86 I/O ports `base .. base + len`.
    Ports { base: u16, len: u16 },
}

/// What a capability names. The kernel keeps the object's state; this is the
/// part the capability model needs to tell the kernel where to go.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Object {
    /// Sends to `task`'s mailbox; the receiver sees the capability's badge.
    Endpoint { task: TaskId },
    /// One-shot answer to a `call` from `caller`.
    Reply { caller: TaskId },
    /// A range of the single address space.
    Region { base: u64, len: u64 },
    /// Device registers or ports.
    Device(DeviceRange),
    /// One interrupt line.
    Irq { line: u8 },
    /// A timer that delivers `Timeout` messages to its holder.
    Timer,
    /// Read access to the kernel's tables (the shell's).
    Inspect,
    /// Control of another task.
    Task { task: TaskId },
}

/// The kind of an [`Object`], without its parameters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ObjectKind {
    Endpoint,
    Reply,
    Region,
    Device,
    Irq,
    Timer,
    Inspect,
    Task,
}

impl Object {
    /// This object's kind.
    pub const fn kind(&self) -> ObjectKind {
        match self {
            Object::Endpoint { .. } => ObjectKind::Endpoint,
            Object::Reply { .. } => ObjectKind::Reply,
            Object::Region { .. } => ObjectKind::Region,
            Object::Device(_) => ObjectKind::Device,
            Object::Irq { .. } => ObjectKind::Irq,
            Object::Timer => ObjectKind::Timer,
            Object::Inspect => ObjectKind::Inspect,
            Object::Task { .. } => ObjectKind::Task,
        }
    }

    /// The rights of the original capability that `create_object` returns:
    /// every right meaningful for the kind (see [`Rights`]), plus GRANT and
    /// DERIVE, except that a Reply never gets DERIVE so it stays one-shot.
    pub const fn full_rights(&self) -> Rights {
        let transfer = Rights::GRANT.union(Rights::DERIVE);
        match self {
            Object::Endpoint { .. } | Object::Irq { .. } | Object::Timer => {
                Rights::WRITE.union(transfer)
            }
            Object::Reply { .. } => Rights::WRITE.union(Rights::GRANT),
            Object::Region { .. } => Rights::all(),
            Object::Device(DeviceRange::Mmio { .. }) => Rights::READ
                .union(Rights::WRITE)
                .union(Rights::MAP)
                .union(transfer),
            Object::Device(DeviceRange::Ports { .. }) | Object::Task { .. } => {
                Rights::READ.union(Rights::WRITE).union(transfer)
            }
            Object::Inspect => Rights::READ.union(transfer),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Endpoint { task } => write!(f, "Endpoint -> {task}"),
            Object::Reply { caller } => write!(f, "Reply -> {caller}"),
            Object::Region { base, len } => write!(f, "Region {base:#x}+{len:#x}"),
            Object::Device(DeviceRange::Mmio { base, len }) => {
                write!(f, "Device mmio {base:#x}+{len:#x}")
            }
            Object::Device(DeviceRange::Ports { base, len }) => {
                write!(f, "Device ports {base:#x}+{len:#x}")
            }
            Object::Irq { line } => write!(f, "Irq {line}"),
            Object::Timer => f.write_str("Timer"),
            Object::Inspect => f.write_str("Inspect"),
            Object::Task { task } => write!(f, "Task -> {task}"),
        }
    }
}

/// A live object's record: its descriptor and the head of the intrusive list
/// of every capability that names it (linked through the capability nodes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveObject {
    pub(crate) object: Object,
    pub(crate) first_cap: u32,
    pub(crate) cap_count: u32,
}

/// Every live object, named by `ObjectId`: an entry's generation is bumped
/// when its object is forgotten, so the old id goes stale.
pub(crate) type ObjectTable = Arena<LiveObject, ObjectId>;

impl Arena<LiveObject, ObjectId> {
    /// Registers `object` with no capabilities yet; the caller links the
    /// first one.
    ///
    /// Errors: `TooManyObjects` when the table is full.
    #[inline]
    pub(crate) fn register(&mut self, object: Object) -> Result<ObjectId, CapError> {
        self.insert(LiveObject {
            object,
            first_cap: NONE,
            cap_count: 0,
        })
        .ok_or(CapError::TooManyObjects)
    }
}

impl Key for ObjectId {
    type Generation = u32;

    #[inline]
    fn join(index: u32, generation: u32) -> Self {
        Self::new(index, generation)
    }

    #[inline]
    fn split(self) -> (u32, u32) {
        (self.index, self.generation)
    }
}
