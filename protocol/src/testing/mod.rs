//! [`FakeContext`]: a [`Context`](crate::Context) for a service's unit tests, in the
//! service's own crate, with no kernel.
//!
//! It keeps a small capability table of its own (endpoints, Reply
//! capabilities, Regions backed by heap memory, devices, IRQs, timers,
//! Task capabilities) and checks rights, kinds and staleness the way the
//! kernel does, so a service's mistakes show up as the same `IpcError`s.
//! Everything the service does is recorded: [`FakeContext::sends`],
//! [`FakeContext::calls`], [`FakeContext::replies`], [`FakeContext::logs`],
//! timers, IRQ acknowledgements, port writes, stopped tasks, inspect
//! queries, `revoke_in`s. The test plays
//! the rest of the system: it builds messages for the service
//! ([`FakeContext::request`], [`FakeContext::call_request`]), answers the
//! service's own calls later ([`FakeContext::answer_call`]), fails them
//! ([`FakeContext::fail_call`]) or never answers (dropped), answers
//! inspect queries ([`FakeContext::answer_inspect`]) and `revoke_in`
//! ([`FakeContext::revoke_in_answering`]) as the kernel would, and makes
//! chosen operations fail ([`FakeContext::fail`]).
//!
//! ```ignore
//! let mut cx = FakeContext::new();
//! let mut echo = Echo::new();
//! let (msg, reply) = cx.call_request(&echo::Request { seq: 1, data: b"hi" });
//! cx.deliver(&mut echo, &msg).unwrap();
//! assert_eq!(cx.answer::<echo::Request>(reply).unwrap().unwrap().data, b"hi");
//! ```
//!
//! Behind `cfg(test)` or the `testing` feature: never in a product build.
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the records, the capability table, building capabilities |
//! | `messages.rs` | messages for the service, reading its answers, answering its calls |
//! | `context.rs` | the `Context` operations, each checked as the kernel checks it |
//! | `devices.rs` | device registers (MMIO) and DMA memory, for drivers |

use alloc::collections::BTreeMap;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::{Badge, CapRef, DeviceRange, ObjectKind, Rights, TaskId};

use crate::envelope::{CapList, Envelope, MAX_PAYLOAD};
use crate::error::{HandleError, IpcError};
use crate::incoming::{CallToken, Incoming, MessageKind};
use crate::inspect::{Query, Report};
use crate::machine::{Grant, Grants, StateMachine};

mod context;
mod devices;
mod messages;

const PAGE: usize = 4096;

/// What a fake capability names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FakeObject {
    /// An endpoint to a task the test plays, by name.
    Endpoint(&'static str),
    /// The one-shot right to answer call `id` of [`FakeContext::call_request`].
    Reply(u64),
    /// `len` bytes at `offset` of region memory `backing`.
    Region {
        backing: usize,
        offset: usize,
        len: usize,
    },
    Device(DeviceRange),
    Irq(u8),
    Timer,
    Inspect,
    /// Control of the task named so.
    Task(&'static str),
}

impl FakeObject {
    fn kind(&self) -> ObjectKind {
        match self {
            FakeObject::Endpoint(_) => ObjectKind::Endpoint,
            FakeObject::Reply(_) => ObjectKind::Reply,
            FakeObject::Region { .. } => ObjectKind::Region,
            FakeObject::Device(_) => ObjectKind::Device,
            FakeObject::Irq(_) => ObjectKind::Irq,
            FakeObject::Timer => ObjectKind::Timer,
            FakeObject::Inspect => ObjectKind::Inspect,
            FakeObject::Task(_) => ObjectKind::Task,
        }
    }
}

#[derive(Clone, Debug)]
struct FakeCap {
    object: FakeObject,
    rights: Rights,
    badge: Option<Badge>,
    parent: Option<usize>,
}

#[derive(Clone, Debug, Default)]
struct Slot {
    generation: u32,
    cap: Option<FakeCap>,
}

/// A message the service sent with `send`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sent {
    /// The endpoint it went through, by the name the test gave it.
    pub to: &'static str,
    pub badge: Option<Badge>,
    pub payload: Vec<u8>,
    /// What the moved capabilities named.
    pub caps: Vec<FakeObject>,
}

/// A call the service made, waiting for the test to answer it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SentCall {
    pub to: &'static str,
    pub token: CallToken,
    pub payload: Vec<u8>,
    pub caps: Vec<FakeObject>,
}

/// An answer the service sent through a Reply capability.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SentReply {
    /// The Reply capability it consumed.
    pub reply: CapRef,
    pub payload: Vec<u8>,
    pub caps: Vec<FakeObject>,
}

/// A message for the service under test, owned by the test.
#[derive(Clone, Debug)]
pub struct Message {
    pub kind: MessageKind,
    pub envelope: Envelope,
    pub payload: Vec<u8>,
}

impl Message {
    /// A plain message of `kind` with `payload`.
    pub fn new(kind: MessageKind, payload: &[u8]) -> Self {
        Self {
            kind,
            envelope: Envelope::plain(payload.len().min(MAX_PAYLOAD) as u16),
            payload: payload.to_vec(),
        }
    }

    /// The same message, as if it came through an endpoint with `badge`.
    pub fn with_badge(mut self, badge: u64) -> Self {
        self.envelope.badge = Badge::new(badge);
        self
    }

    /// The same message, carrying `caps` (capabilities already in the
    /// service's table, as the kernel puts moved ones there): an answer
    /// that moves a Region, say.
    ///
    /// # Panics
    ///
    /// If `caps` are more than one message carries (a mistake in the test).
    pub fn with_caps(mut self, caps: &[CapRef]) -> Self {
        match CapList::from_slice(caps) {
            Ok(list) => self.envelope.caps = list,
            Err(error) => panic!("a test message cannot carry these capabilities: {error}"),
        }
        self
    }

    /// The borrowed form a handler gets.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            kind: self.kind,
            envelope: &self.envelope,
            payload: &self.payload,
        }
    }
}

/// Which operation [`FakeContext::fail`] makes fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    Send,
    Call,
    Reply,
    Mint,
    AllocRegion,
    Subregion,
    PortRead,
    PortWrite,
    SetTimer,
    Inspect,
    StopTask,
    RestartTask,
    Supervise,
    InjectFault,
    RevokeIn,
    Spawn,
    MmioRead,
    MmioWrite,
    RegionPhys,
}

/// A [`Context`](crate::Context) for unit tests. See the module docs.
pub struct FakeContext {
    task: TaskId,
    slots: Vec<Slot>,
    regions: Vec<Vec<u8>>,
    next_token: u64,
    next_reply: u64,
    failures: Vec<(Operation, IpcError)>,
    port_input: BTreeMap<u16, VecDeque<u8>>,
    /// The answer to every query not in `inspect_answers`.
    inspect_default: Option<Report>,
    /// The answer to each query, by query.
    inspect_answers: Vec<(Query, Report)>,
    /// How many capabilities each `revoke_in` deletes (`None`:
    /// `Unsupported`).
    revoke_in_deletes: Option<usize>,
    /// The clock `now_ns` reads; tests move it.
    pub now_ns: u64,
    /// Bytes the service may allocate in Regions, in all (`OutOfResources`
    /// past it).
    pub region_budget: usize,
    pub sends: Vec<Sent>,
    pub calls: Vec<SentCall>,
    pub replies: Vec<SentReply>,
    pub logs: Vec<String>,
    /// `(timer, after_ns)` of every `set_timer`.
    pub timers: Vec<(CapRef, u64)>,
    pub irq_acks: Vec<u8>,
    /// `(port, value)` of every `port_write`.
    pub port_writes: Vec<(u16, u8)>,
    /// Tasks stopped through a Task capability, by name.
    pub stopped: Vec<&'static str>,
    /// Tasks restarted through a Task capability, by name.
    pub restarted: Vec<&'static str>,
    /// `(task, badge of the endpoint)` of every `supervise`.
    pub supervised: Vec<(&'static str, Option<Badge>)>,
    /// `(task, kind)` of every `inject_fault`.
    pub injected_faults: Vec<(&'static str, crate::supervision::FaultKind)>,
    /// Every query an Inspect capability answered, in order.
    pub queries: Vec<Query>,
    /// `(task, slot)` of every `revoke_in` that succeeded: the task by the
    /// name of its Task capability, the slot in its CSpace.
    pub revoked_in: Vec<(&'static str, CapRef)>,
    /// Every program started with `spawn`: its name and its grants' names.
    pub spawned: Vec<(String, Vec<String>)>,
    /// Region memory (by backing index) that is DMA memory: `region_phys`
    /// answers for it.
    dma_backings: Vec<usize>,
    /// What each device register holds: `(range base, offset)` -> value.
    /// A write stores; a read returns the queued input first
    /// (`queue_mmio_input`), else what is stored, else 0.
    pub registers: BTreeMap<(u64, u64), u64>,
    mmio_input: BTreeMap<(u64, u64), VecDeque<u64>>,
    /// `(range base, offset, width, value)` of every `mmio_write`.
    pub mmio_writes: Vec<(u64, u64, crate::mmio::Width, u64)>,
}

impl Default for FakeContext {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FakeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeContext")
            .field("sends", &self.sends.len())
            .field("calls", &self.calls.len())
            .field("replies", &self.replies.len())
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl FakeContext {
    pub fn new() -> Self {
        Self {
            task: TaskId(1),
            slots: Vec::new(),
            regions: Vec::new(),
            next_token: 1,
            next_reply: 1,
            failures: Vec::new(),
            port_input: BTreeMap::new(),
            inspect_default: None,
            inspect_answers: Vec::new(),
            revoke_in_deletes: None,
            now_ns: 0,
            region_budget: 64 * 1024 * 1024,
            sends: Vec::new(),
            calls: Vec::new(),
            replies: Vec::new(),
            logs: Vec::new(),
            timers: Vec::new(),
            irq_acks: Vec::new(),
            port_writes: Vec::new(),
            stopped: Vec::new(),
            restarted: Vec::new(),
            supervised: Vec::new(),
            injected_faults: Vec::new(),
            spawned: Vec::new(),
            queries: Vec::new(),
            revoked_in: Vec::new(),
            dma_backings: Vec::new(),
            registers: BTreeMap::new(),
            mmio_input: BTreeMap::new(),
            mmio_writes: Vec::new(),
        }
    }

    /// The same fake, for a service that runs as task `task` (`task_id`
    /// answers it; 1 unless set).
    pub fn with_task_id(mut self, task: TaskId) -> Self {
        self.task = task;
        self
    }

    // ----- building the service's capabilities -----

    /// Puts a capability to `object` with `rights` into the table.
    pub fn insert(&mut self, object: FakeObject, rights: Rights) -> CapRef {
        self.insert_child(object, rights, None, None)
    }

    fn insert_child(
        &mut self,
        object: FakeObject,
        rights: Rights,
        badge: Option<Badge>,
        parent: Option<usize>,
    ) -> CapRef {
        let cap = FakeCap {
            object,
            rights,
            badge,
            parent,
        };
        let index = match self.slots.iter().position(|slot| slot.cap.is_none()) {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.cap = Some(cap);
        CapRef::from_raw((u64::from(slot.generation) << 32) | index as u64)
    }

    /// An endpoint to the task `name`, with WRITE and GRANT.
    pub fn endpoint(&mut self, name: &'static str) -> CapRef {
        self.insert(FakeObject::Endpoint(name), Rights::WRITE | Rights::GRANT)
    }

    /// An endpoint to the peer named `name`, with `rights`.
    pub fn endpoint_with(&mut self, name: &'static str, rights: Rights) -> CapRef {
        self.insert(FakeObject::Endpoint(name), rights)
    }

    /// A Region holding `bytes` (its length rounded up to pages), with
    /// `rights`.
    pub fn region_with(&mut self, bytes: &[u8], rights: Rights) -> CapRef {
        let len = bytes.len().div_ceil(PAGE).max(1) * PAGE;
        let mut memory = vec![0u8; len];
        memory[..bytes.len()].copy_from_slice(bytes);
        self.regions.push(memory);
        let backing = self.regions.len() - 1;
        self.insert(
            FakeObject::Region {
                backing,
                offset: 0,
                len,
            },
            rights,
        )
    }

    /// A Device capability for `range`, READ and WRITE.
    pub fn device(&mut self, range: DeviceRange) -> CapRef {
        self.insert(FakeObject::Device(range), Rights::READ | Rights::WRITE)
    }

    /// An Irq capability for `line`.
    pub fn irq(&mut self, line: u8) -> CapRef {
        self.insert(FakeObject::Irq(line), Rights::WRITE)
    }

    pub fn timer(&mut self) -> CapRef {
        self.insert(FakeObject::Timer, Rights::WRITE)
    }

    /// A Task capability for the task `name` (`stop_task` records it).
    pub fn task(&mut self, name: &'static str) -> CapRef {
        self.insert(FakeObject::Task(name), Rights::READ | Rights::WRITE)
    }

    /// An Inspect capability; `inspect` answers every query with
    /// `report`, but those given their own answer
    /// ([`FakeContext::answer_inspect`]).
    pub fn inspect_answering(&mut self, report: Report) -> CapRef {
        self.inspect_default = Some(report);
        self.inspector()
    }

    /// An Inspect capability, READ; `inspect` answers the queries given
    /// answers with [`FakeContext::answer_inspect`], and any other with
    /// `Unsupported`.
    pub fn inspector(&mut self) -> CapRef {
        self.insert(FakeObject::Inspect, Rights::READ)
    }

    /// From now on `inspect` answers `query` with `report` (in place of
    /// any answer given before): the kernel's tables as the test wants
    /// them seen.
    pub fn answer_inspect(&mut self, query: Query, report: Report) {
        self.inspect_answers.retain(|(asked, _)| *asked != query);
        self.inspect_answers.push((query, report));
    }

    /// From now on `revoke_in` through a Task capability succeeds,
    /// deleting `deleted` capabilities (recorded in
    /// [`FakeContext::revoked_in`]). Until then it is `Unsupported`.
    pub fn revoke_in_answering(&mut self, deleted: usize) {
        self.revoke_in_deletes = Some(deleted);
    }

    /// What `cap` names now, or `None` if it is stale or empty.
    pub fn object(&self, cap: CapRef) -> Option<&FakeObject> {
        self.lookup(cap).ok().map(|(_, cap)| &cap.object)
    }

    /// The rights `cap` carries, if it is live.
    pub fn rights(&self, cap: CapRef) -> Option<Rights> {
        self.lookup(cap).ok().map(|(_, cap)| cap.rights)
    }

    /// How many capabilities the service holds.
    pub fn held(&self) -> usize {
        self.slots.iter().filter(|slot| slot.cap.is_some()).count()
    }

    /// The bytes of the Region `object` names (for checking what a
    /// service wrote, or what a capability it sent shows).
    pub fn region_bytes(&self, object: &FakeObject) -> Option<&[u8]> {
        match object {
            FakeObject::Region {
                backing,
                offset,
                len,
            } => self.regions.get(*backing)?.get(*offset..offset + len),
            _ => None,
        }
    }

    /// Queues `bytes` to be read, one per `port_read`, from I/O port
    /// `port`. An empty port reads 0xff, as a floating bus does.
    pub fn queue_port_input(&mut self, port: u16, bytes: &[u8]) {
        self.port_input.entry(port).or_default().extend(bytes);
    }

    /// Makes every later `operation` fail with `error`, until
    /// [`FakeContext::heal`].
    pub fn fail(&mut self, operation: Operation, error: IpcError) {
        self.failures.push((operation, error));
    }

    /// Undoes every [`FakeContext::fail`].
    pub fn heal(&mut self) {
        self.failures.clear();
    }

    /// Starts `machine` with `grants`.
    pub fn start(
        &mut self,
        machine: &mut dyn StateMachine,
        grants: &[Grant],
    ) -> Result<(), HandleError> {
        machine.start(self, Grants(grants))
    }
}

#[cfg(test)]
mod tests;
