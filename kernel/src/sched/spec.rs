//! The declarative first-task list (Mealy's `app.toml`): which tasks start
//! and with which capabilities, as plain `const` data the boot code writes
//! as a `static`, plus the code that builds tasks from it.
//!
//! ```ignore
//! static TASKS: &[TaskSpec] = &[
//!     TaskSpec::new("echo", make_echo),
//!     TaskSpec::new("pinger", make_pinger)
//!         .caps(&[grant("echo").endpoint_to("echo").rights(Rights::WRITE).badge(1)]),
//!     TaskSpec::new("keyboard", make_keyboard).caps(&[
//!         grant("irq").irq(1),
//!         grant("ports").device(DeviceRange::Ports { base: 0x60, len: 5 }),
//!     ]),
//! ];
//! ```
//!
//! Every object's original capability stays in the kernel's CSpace; a task
//! gets a minted child with the listed rights and badge, under the listed
//! name (what [`Grants::get`](mealy_protocol::Grants::get) looks up), so the
//! kernel can always revoke what it handed out. Peers are named, not
//! numbered: the list can be reordered freely, and a typo is an error at
//! boot rather than a message to the wrong task.

use alloc::boxed::Box;
use core::fmt;

use mealy_caps::{Badge, DeviceRange, Object, Rights};
use mealy_protocol::supervision::{DEFAULT_POLICY, RestartPolicy, UnsupervisedPolicy};
use mealy_protocol::{IpcError, StateMachine};

/// Builds a task's state machine.
pub type Factory = fn() -> Box<dyn StateMachine>;

/// The name a [`CapSource::Task`] uses for the kernel itself.
pub const KERNEL_NAME: &str = "kernel";

/// Default mailbox capacity, in letters.
pub const DEFAULT_MAILBOX: u32 = 64;
/// Default CSpace size, in slots.
pub const DEFAULT_CSPACE_SLOTS: u32 = 256;

/// One task of the list.
#[derive(Clone, Copy, Debug)]
pub struct TaskSpec {
    /// Unique; peers' [`CapSource::Endpoint`] entries refer to it.
    pub name: &'static str,
    pub factory: Factory,
    /// Mailbox capacity in letters.
    pub mailbox: u32,
    /// CSpace size in slots.
    pub cspace_slots: u32,
    /// The capabilities the task starts with.
    pub caps: &'static [CapSpec],
    /// How long one of its handlers may run before it is reported, if not
    /// the scheduler's budget: a task whose every message is a long job
    /// (the shell's `graph`, `bench`) says so here rather than being
    /// reported on each.
    pub budget_ns: Option<u64>,
    /// What its supervisor does when it faults or is stopped (the
    /// supervisor's policy table is built from these).
    pub restart: RestartPolicy,
    /// What the kernel does when it faults with no supervisor (given to
    /// the supervisor itself); `None`: it stays down.
    pub unsupervised: Option<UnsupervisedPolicy>,
}

impl TaskSpec {
    /// A task with the default mailbox and CSpace and no capabilities.
    pub const fn new(name: &'static str, factory: Factory) -> Self {
        Self {
            name,
            factory,
            mailbox: DEFAULT_MAILBOX,
            cspace_slots: DEFAULT_CSPACE_SLOTS,
            caps: &[],
            budget_ns: None,
            restart: DEFAULT_POLICY,
            unsupervised: None,
        }
    }

    /// What its supervisor does when it ends.
    pub const fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// What the kernel does when it faults and nothing supervises it.
    pub const fn unsupervised(mut self, policy: UnsupervisedPolicy) -> Self {
        self.unsupervised = Some(policy);
        self
    }

    pub const fn caps(mut self, caps: &'static [CapSpec]) -> Self {
        self.caps = caps;
        self
    }

    pub const fn budget(mut self, ns: u64) -> Self {
        self.budget_ns = Some(ns);
        self
    }

    pub const fn mailbox(mut self, letters: u32) -> Self {
        self.mailbox = letters;
        self
    }

    pub const fn cspace_slots(mut self, slots: u32) -> Self {
        self.cspace_slots = slots;
        self
    }
}

/// What a granted capability names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CapSource {
    /// The endpoint of the task named `peer`.
    Endpoint { peer: &'static str },
    /// Interrupt `line`; its interrupts are delivered to this task. One
    /// task per line.
    Irq { line: u8 },
    /// Device registers or ports.
    Device(DeviceRange),
    /// A timer of its own.
    Timer,
    /// Read access to the kernel's tables.
    Inspect,
    /// A fresh zeroed region of at least `len` bytes.
    Region { len: u64 },
    /// The framebuffer the loader set up, as a Region (the platform's
    /// `framebuffer_region`).
    Framebuffer,
    /// Control of the task named `peer`; [`KERNEL_NAME`] names the kernel
    /// (its CSpace holds every original; stopping it powers off).
    Task { peer: &'static str },
    /// The Region holding the boot module with this command line (`fs`:
    /// the file-system image), from `Platform::boot_module`. Without such
    /// a module the task simply does not get this grant.
    BootModule { cmdline: &'static str },
    /// A fresh zeroed region of at least `len` bytes of DMA memory: a
    /// Region whose physical addresses its holder may learn
    /// (`Context::region_phys`), for a device driver.
    Dma { len: u64 },
    /// A fresh region holding a copy of `bytes` (zero after them), granted
    /// READ only: how a task is configured (a geometry, a policy table)
    /// the same way whether it runs in ring 0 or ring 3, since either
    /// reads its grants and nothing else.
    Bytes { bytes: &'static [u8] },
}

/// One capability a task starts with. Written with [`grant`], which
/// names each part at the call site:
///
/// ```ignore
/// grant("console").endpoint_to("console").rights(Rights::WRITE).badge(badge::SERIAL)
/// grant("ports").device(COM1)
/// grant("irq").irq(COM1_IRQ)
/// grant("timer").timer()
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CapSpec {
    /// The name the task finds it under.
    pub name: &'static str,
    pub source: CapSource,
    /// The rights to grant; `None` for every right the object has.
    pub rights: Option<Rights>,
    /// The badge to mint, if any.
    pub badge: Option<Badge>,
}

/// The capability the task will find under `name`; what it names comes
/// next (`endpoint_to`, `device`, `irq`, `timer`, ...), then, optionally,
/// `rights` and `badge`.
pub const fn grant(name: &'static str) -> NamedGrant {
    NamedGrant { name }
}

/// A [`CapSpec`] with its name and nothing else yet: each method says what
/// the capability names, and returns it with every right the object has
/// and no badge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "a grant names something: call endpoint_to, device, irq, timer, ..."]
pub struct NamedGrant {
    name: &'static str,
}

impl NamedGrant {
    /// The capability names `source`.
    pub const fn to(self, source: CapSource) -> CapSpec {
        CapSpec {
            name: self.name,
            source,
            rights: None,
            badge: None,
        }
    }

    /// The endpoint of the task named `peer`: messages to that task.
    pub const fn endpoint_to(self, peer: &'static str) -> CapSpec {
        self.to(CapSource::Endpoint { peer })
    }

    /// Interrupt `line`, delivered to this task.
    pub const fn irq(self, line: u8) -> CapSpec {
        self.to(CapSource::Irq { line })
    }

    /// Device registers or ports.
    pub const fn device(self, range: DeviceRange) -> CapSpec {
        self.to(CapSource::Device(range))
    }

    /// A timer of its own.
    pub const fn timer(self) -> CapSpec {
        self.to(CapSource::Timer)
    }

    /// Read access to the kernel's tables.
    pub const fn inspect(self) -> CapSpec {
        self.to(CapSource::Inspect)
    }

    /// A fresh zeroed region of at least `len` bytes.
    pub const fn region(self, len: u64) -> CapSpec {
        self.to(CapSource::Region { len })
    }

    /// The framebuffer the loader set up, as a Region.
    pub const fn framebuffer(self) -> CapSpec {
        self.to(CapSource::Framebuffer)
    }

    /// Control of the task named `peer` ([`KERNEL_NAME`] for the kernel).
    pub const fn control_of(self, peer: &'static str) -> CapSpec {
        self.to(CapSource::Task { peer })
    }

    /// The Region holding the boot module with this command line.
    pub const fn boot_module(self, cmdline: &'static str) -> CapSpec {
        self.to(CapSource::BootModule { cmdline })
    }

    /// A fresh region of DMA memory of at least `len` bytes.
    pub const fn dma(self, len: u64) -> CapSpec {
        self.to(CapSource::Dma { len })
    }

    /// A fresh region holding `bytes`, READ only: configuration.
    pub const fn bytes(self, bytes: &'static [u8]) -> CapSpec {
        self.to(CapSource::Bytes { bytes }).rights(Rights::READ)
    }
}

impl CapSpec {
    /// Grants only `rights` (a subset of the object's).
    pub const fn rights(mut self, rights: Rights) -> Self {
        self.rights = Some(rights);
        self
    }

    /// Mints the capability with badge `value` (0: no badge).
    pub const fn badge(mut self, value: u64) -> Self {
        self.badge = Badge::new(value);
        self
    }
}

/// Why the task list could not be built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpawnError {
    /// Two tasks share a name.
    DuplicateName(&'static str),
    /// A capability names a task that is not in the list.
    UnknownPeer {
        task: &'static str,
        peer: &'static str,
    },
    /// Two tasks ask for the same interrupt line.
    IrqTaken { task: &'static str, line: u8 },
    /// More tasks than the scheduler was configured for.
    TooManyTasks,
    /// Creating a CSpace, an object or a capability failed (for example
    /// rights the object does not have).
    Capability {
        task: &'static str,
        cap: &'static str,
        error: IpcError,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::DuplicateName(name) => write!(f, "two tasks are named {name:?}"),
            SpawnError::UnknownPeer { task, peer } => {
                write!(f, "task {task:?} names unknown peer {peer:?}")
            }
            SpawnError::IrqTaken { task, line } => {
                write!(f, "task {task:?} asks for IRQ {line}, already granted")
            }
            SpawnError::TooManyTasks => f.write_str("too many tasks"),
            SpawnError::Capability { task, cap, error } => {
                write!(f, "task {task:?}, capability {cap:?}: {error}")
            }
        }
    }
}

impl core::error::Error for SpawnError {}

/// The object a non-endpoint [`CapSource`] creates (`None` for the ones
/// that name an existing task, or need the platform).
pub(crate) fn new_object(source: CapSource) -> Option<Object> {
    match source {
        CapSource::Irq { line } => Some(Object::Irq { line }),
        CapSource::Device(range) => Some(Object::Device(range)),
        CapSource::Timer => Some(Object::Timer),
        CapSource::Inspect => Some(Object::Inspect),
        CapSource::Endpoint { .. }
        | CapSource::Region { .. }
        | CapSource::Framebuffer
        | CapSource::Task { .. }
        | CapSource::BootModule { .. }
        | CapSource::Dma { .. }
        | CapSource::Bytes { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_reads_as_name_source_rights_badge() {
        const CONSOLE: CapSpec = grant("terminal")
            .endpoint_to("console")
            .rights(Rights::WRITE)
            .badge(3);
        assert_eq!(
            CONSOLE,
            CapSpec {
                name: "terminal",
                source: CapSource::Endpoint { peer: "console" },
                rights: Some(Rights::WRITE),
                badge: Badge::new(3),
            }
        );
        let timer = grant("timer").timer();
        assert_eq!(
            (timer.rights, timer.badge),
            (None, None),
            "every right, no badge"
        );
        assert_eq!(grant("irq").irq(4).badge(0).badge, None, "0 is no badge");
        assert_eq!(
            grant("task:kernel").control_of(KERNEL_NAME).source,
            CapSource::Task { peer: KERNEL_NAME }
        );
    }
}
