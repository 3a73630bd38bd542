//! [`FakeContext`]: a [`Context`] for a service's unit tests, in the
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

use alloc::collections::BTreeMap;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::{Badge, CapRef, DeviceRange, ObjectKind, Rights, TaskId};
use serde::Serialize;

use crate::codec::{CodecError, encode};
use crate::context::Context;
use crate::envelope::{CapList, Envelope, MAX_PAYLOAD, check_payload};
use crate::error::{HandleError, IpcError};
use crate::incoming::{CallToken, Incoming, MessageKind};
use crate::inspect::{Query, Report};
use crate::interface::{Call, CallError, Request, decode_answer, encode_answer, encode_request};
use crate::kernel::CallFailure;
use crate::machine::{Grant, Grants, StateMachine};

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
    RevokeIn,
}

/// A [`Context`] for unit tests. See the module docs.
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
    /// Every query an Inspect capability answered, in order.
    pub queries: Vec<Query>,
    /// `(task, slot)` of every `revoke_in` that succeeded: the task by the
    /// name of its Task capability, the slot in its CSpace.
    pub revoked_in: Vec<(&'static str, CapRef)>,
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
            queries: Vec::new(),
            revoked_in: Vec::new(),
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

    // ----- messages for the service -----

    /// A one-way message (`send`) of an interface, no badge.
    pub fn request<R: Request>(&self, message: &R) -> Message {
        Message::new(MessageKind::Request, &Self::encoded(message))
    }

    /// A call of an interface, with a fresh Reply capability in the
    /// service's table; [`FakeContext::answer`] reads what the service
    /// answered through it.
    pub fn call_request<C: Call>(&mut self, request: &C) -> (Message, CapRef) {
        self.call_with_payload(&Self::encoded(request))
    }

    /// A call carrying `payload` as it is (for malformed input).
    pub fn call_with_payload(&mut self, payload: &[u8]) -> (Message, CapRef) {
        let id = self.next_reply;
        self.next_reply += 1;
        let reply = self.insert(FakeObject::Reply(id), Rights::WRITE | Rights::GRANT);
        let mut message = Message::new(MessageKind::Request, payload);
        message.envelope.reply = Some(reply);
        (message, reply)
    }

    fn encoded<R: Request>(message: &R) -> Vec<u8> {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        match encode_request(message, &mut buffer) {
            Ok(bytes) => bytes.to_vec(),
            Err(error) => panic!("test message does not encode: {error}"),
        }
    }

    /// Hands `message` to `machine`, as the kernel's dispatch would.
    pub fn deliver(
        &mut self,
        machine: &mut dyn StateMachine,
        message: &Message,
    ) -> Result<(), HandleError> {
        machine.handle(self, message.incoming())
    }

    /// What the service answered through `reply`, if it did.
    pub fn reply_to(&self, reply: CapRef) -> Option<&SentReply> {
        self.replies.iter().find(|sent| sent.reply == reply)
    }

    /// The service's answer through `reply`, decoded as an answer to `C`.
    /// `None` if it has not answered.
    pub fn answer<C: Call>(
        &self,
        reply: CapRef,
    ) -> Option<Result<C::Reply<'_>, CallError<C::Error>>> {
        let sent = self.reply_to(reply)?;
        Some(match decode_answer::<C>(&sent.payload) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(CallError::Service(error)),
            Err(error) => Err(CallError::Malformed(error)),
        })
    }

    /// The answer to the service's call `token`: `reply` as its interface
    /// encodes a success.
    pub fn answer_call<C: Call>(&self, token: CallToken, reply: &C::Reply<'_>) -> Message {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        let bytes = encode_answer::<_, C::Error>(&Ok(reply), &mut buffer)
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        Message::new(MessageKind::Reply { token }, &bytes)
    }

    /// The answer to the service's call `token`: the service error `error`.
    pub fn answer_call_error<C: Call>(&self, token: CallToken, error: C::Error) -> Message {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        let bytes = encode_answer::<(), C::Error>(&Err(error), &mut buffer)
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        Message::new(MessageKind::Reply { token }, &bytes)
    }

    /// The answer to the service's call `token`, as raw bytes.
    pub fn answer_call_bytes(&self, token: CallToken, payload: &[u8]) -> Message {
        Message::new(MessageKind::Reply { token }, payload)
    }

    /// The kernel's notice that call `token` failed (`PeerDied`,
    /// `Dropped`, `Malformed`).
    pub fn fail_call(&self, token: CallToken, reason: CallFailure) -> Message {
        Message::new(MessageKind::CallFailed { token, reason }, &[])
    }

    /// An interrupt on `line`.
    pub fn interrupt(&self, line: u8) -> Message {
        Message::new(MessageKind::Interrupt { line }, &[])
    }

    /// A timer's `Timeout`.
    pub fn timeout(&self) -> Message {
        Message::new(MessageKind::Timeout, &[])
    }

    // ----- the checks -----

    fn injected(&self, operation: Operation) -> Result<(), IpcError> {
        match self.failures.iter().find(|(op, _)| *op == operation) {
            Some((_, error)) => Err(*error),
            None => Ok(()),
        }
    }

    fn lookup(&self, cap: CapRef) -> Result<(usize, &FakeCap), IpcError> {
        let raw = cap.to_raw();
        let index = (raw & 0xffff_ffff) as usize;
        let generation = (raw >> 32) as u32;
        match self.slots.get(index) {
            Some(Slot {
                generation: live,
                cap: Some(found),
            }) if *live == generation => Ok((index, found)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    fn checked(
        &self,
        cap: CapRef,
        kind: ObjectKind,
        needs: Rights,
    ) -> Result<(usize, &FakeCap), IpcError> {
        let (index, found) = self.lookup(cap)?;
        if found.object.kind() != kind {
            return Err(IpcError::WrongKind {
                found: found.object.kind(),
            });
        }
        let missing = needs.difference(found.rights);
        if !missing.is_empty() {
            return Err(IpcError::MissingRights { missing });
        }
        Ok((index, found))
    }

    fn remove(&mut self, index: usize) -> Option<FakeCap> {
        let slot = self.slots.get_mut(index)?;
        let cap = slot.cap.take();
        slot.generation = slot.generation.wrapping_add(1);
        cap
    }

    /// Checks and takes the capabilities a message moves.
    fn take_caps(&mut self, caps: &[CapRef]) -> Result<Vec<FakeObject>, IpcError> {
        CapList::from_slice(caps)?;
        let mut indexes = Vec::new();
        for cap in caps {
            let (index, found) = self.lookup(*cap)?;
            if !found.rights.contains(Rights::GRANT) {
                return Err(IpcError::MissingRights {
                    missing: Rights::GRANT,
                });
            }
            if indexes.contains(&index) {
                return Err(IpcError::DuplicateCap);
            }
            indexes.push(index);
        }
        Ok(indexes
            .into_iter()
            .filter_map(|index| self.remove(index).map(|cap| cap.object))
            .collect())
    }

    fn endpoint_name(&self, to: CapRef) -> Result<(&'static str, Option<Badge>), IpcError> {
        let (_, found) = self.checked(to, ObjectKind::Endpoint, Rights::WRITE)?;
        match found.object {
            FakeObject::Endpoint(name) => Ok((name, found.badge)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    fn region_span(&self, cap: CapRef, needs: Rights) -> Result<(usize, usize, usize), IpcError> {
        let (_, found) = self.checked(cap, ObjectKind::Region, needs)?;
        match found.object {
            FakeObject::Region {
                backing,
                offset,
                len,
            } => Ok((backing, offset, len)),
            _ => Err(IpcError::InvalidCap),
        }
    }

    fn port(&self, device: CapRef, offset: u16, needs: Rights) -> Result<u16, IpcError> {
        let (_, found) = self.checked(device, ObjectKind::Device, needs)?;
        match found.object {
            FakeObject::Device(DeviceRange::Ports { base, len }) if offset < len => {
                Ok(base.wrapping_add(offset))
            }
            FakeObject::Device(DeviceRange::Ports { len, .. }) => {
                Err(IpcError::out_of_range(u64::from(offset), u64::from(len)))
            }
            _ => Err(IpcError::WrongKind {
                found: ObjectKind::Device,
            }),
        }
    }

    fn descendants(&self, index: usize) -> Vec<usize> {
        let mut found = Vec::new();
        let mut frontier = vec![index];
        while let Some(parent) = frontier.pop() {
            for (child, slot) in self.slots.iter().enumerate() {
                if slot.cap.as_ref().and_then(|cap| cap.parent) == Some(parent) {
                    found.push(child);
                    frontier.push(child);
                }
            }
        }
        found
    }
}

impl Context for FakeContext {
    fn task_id(&self) -> TaskId {
        self.task
    }

    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        let (name, badge) = self.endpoint_name(to)?;
        check_payload(payload.len())?;
        self.injected(Operation::Send)?;
        let caps = self.take_caps(caps)?;
        self.sends.push(Sent {
            to: name,
            badge,
            payload: payload.to_vec(),
            caps,
        });
        Ok(())
    }

    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError> {
        let (name, _) = self.endpoint_name(to)?;
        check_payload(payload.len())?;
        self.injected(Operation::Call)?;
        let caps = self.take_caps(caps)?;
        let token = CallToken(self.next_token);
        self.next_token += 1;
        self.calls.push(SentCall {
            to: name,
            token,
            payload: payload.to_vec(),
            caps,
        });
        Ok(token)
    }

    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        let (index, _) = self.checked(reply, ObjectKind::Reply, Rights::empty())?;
        check_payload(payload.len())?;
        self.injected(Operation::Reply)?;
        let caps = self.take_caps(caps)?;
        self.remove(index);
        self.replies.push(SentReply {
            reply,
            payload: payload.to_vec(),
            caps,
        });
        Ok(())
    }

    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError> {
        let (index, found) = self.lookup(cap)?;
        if !found.rights.contains(Rights::DERIVE) {
            return Err(IpcError::MissingRights {
                missing: Rights::DERIVE,
            });
        }
        let excess = rights.difference(found.rights);
        if !excess.is_empty() {
            return Err(IpcError::RightsEscalation { excess });
        }
        if badge.is_some() && found.badge.is_some() {
            return Err(IpcError::AlreadyBadged);
        }
        self.injected(Operation::Mint)?;
        let (object, badge) = (found.object.clone(), badge.or(found.badge));
        Ok(self.insert_child(object, rights, badge, Some(index)))
    }

    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError> {
        let rights = self.lookup(cap)?.1.rights;
        self.mint(cap, rights, None)
    }

    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError> {
        let (index, _) = self.lookup(cap)?;
        self.remove(index);
        Ok(())
    }

    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError> {
        let (index, _) = self.lookup(cap)?;
        let descendants = self.descendants(index);
        for child in &descendants {
            self.remove(*child);
        }
        Ok(descendants.len())
    }

    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::RevokeIn)?;
        let deleted = self.revoke_in_deletes.ok_or(IpcError::Unsupported)?;
        self.revoked_in.push((name, slot));
        Ok(deleted)
    }

    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(task, ObjectKind::Task, Rights::WRITE)?;
        let name = match found.object {
            FakeObject::Task(name) => name,
            _ => return Err(IpcError::InvalidCap),
        };
        self.injected(Operation::StopTask)?;
        self.stopped.push(name);
        Ok(())
    }

    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError> {
        self.checked(inspect, ObjectKind::Inspect, Rights::READ)?;
        self.injected(Operation::Inspect)?;
        let report = self
            .inspect_answers
            .iter()
            .find(|(asked, _)| *asked == query)
            .map(|(_, report)| report)
            .or(self.inspect_default.as_ref())
            .cloned()
            .ok_or(IpcError::Unsupported)?;
        self.queries.push(query);
        Ok(report)
    }

    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError> {
        self.injected(Operation::AllocRegion)?;
        let len = len.div_ceil(PAGE).max(1) * PAGE;
        let used: usize = self.regions.iter().map(Vec::len).sum();
        if used.saturating_add(len) > self.region_budget {
            return Err(IpcError::OutOfResources);
        }
        self.regions.push(vec![0u8; len]);
        let backing = self.regions.len() - 1;
        let object = FakeObject::Region {
            backing,
            offset: 0,
            len,
        };
        Ok(self.insert(object, Rights::all()))
    }

    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        let (backing, base, whole) = self.region_span(cap, Rights::DERIVE)?;
        let (index, found) = self.lookup(cap)?;
        let excess = rights.difference(found.rights);
        if !excess.is_empty() {
            return Err(IpcError::RightsEscalation { excess });
        }
        let page = PAGE as u64;
        let end = offset.checked_add(len);
        if !offset.is_multiple_of(page)
            || !len.is_multiple_of(page)
            || end.is_none_or(|end| end > whole as u64)
        {
            return Err(IpcError::out_of_range(offset, whole as u64));
        }
        self.injected(Operation::Subregion)?;
        let object = FakeObject::Region {
            backing,
            offset: base + offset as usize,
            len: len as usize,
        };
        Ok(self.insert_child(object, rights, None, Some(index)))
    }

    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError> {
        let (backing, offset, len) = self.region_span(cap, Rights::READ)?;
        self.regions
            .get(backing)
            .and_then(|memory| memory.get(offset..offset + len))
            .ok_or(IpcError::InvalidCap)
    }

    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError> {
        let (backing, offset, len) = self.region_span(cap, Rights::WRITE)?;
        self.regions
            .get_mut(backing)
            .and_then(|memory| memory.get_mut(offset..offset + len))
            .ok_or(IpcError::InvalidCap)
    }

    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError> {
        let port = self.port(device, offset, Rights::READ)?;
        self.injected(Operation::PortRead)?;
        Ok(self
            .port_input
            .get_mut(&port)
            .and_then(VecDeque::pop_front)
            .unwrap_or(0xff))
    }

    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError> {
        let port = self.port(device, offset, Rights::WRITE)?;
        self.injected(Operation::PortWrite)?;
        self.port_writes.push((port, value));
        Ok(())
    }

    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError> {
        let (_, found) = self.checked(irq, ObjectKind::Irq, Rights::WRITE)?;
        if let FakeObject::Irq(line) = found.object {
            self.irq_acks.push(line);
        }
        Ok(())
    }

    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError> {
        self.checked(timer, ObjectKind::Timer, Rights::WRITE)?;
        self.injected(Operation::SetTimer)?;
        self.timers.push((timer, after_ns));
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn log(&mut self, line: fmt::Arguments<'_>) {
        self.logs.push(format!("{line}"));
    }
}

/// Encodes `message` as a raw payload (plain postcard, no interface tag).
pub fn payload<T: Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, CodecError> {
    let mut buffer = vec![0u8; MAX_PAYLOAD];
    encode(message, &mut buffer).map(<[u8]>::to_vec)
}

#[cfg(test)]
#[path = "testing_tests.rs"]
mod tests;
