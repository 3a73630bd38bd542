//! Send, call and reply: how a message and its capabilities go from one
//! task to another. The semantics are DESIGN.md's, exactly:
//!
//! - `send` never blocks. A full mailbox is [`IpcError::MailboxFull`] to the
//!   sender, never a silent drop; a stopped or faulted receiver is
//!   [`IpcError::DeadTask`].
//! - `call` is a send that also gives the receiver a fresh one-shot Reply
//!   capability (an entry in its reply table, `sched/reply.rs`); `reply`
//!   consumes it, so a second reply fails with `InvalidCap`. The answer
//!   reaches the caller as an ordinary message of kind `Reply { token }`.
//! - Capabilities travel by move, which needs GRANT on each, and all or
//!   nothing: every check (rights, duplicates, room in the receiver's
//!   CSpace, mailbox space, payload size and storage) runs before the first
//!   capability moves, so a failed send changes nothing. A Reply moves too
//!   (from one reply table to another), and counts as a slot of the
//!   receiver's CSpace like any capability.
//! - Each receiver has one FIFO mailbox, so messages from one sender to one
//!   receiver arrive in the order sent.
//!
//! The hot path (a call or reply with a small payload and no capabilities)
//! is its own straight-line code, inlined into the `Context` methods:
//! one capability lookup (the endpoint) or one reply-table lookup (the
//! Reply), the receiver's task resolved once and its mailbox checked for
//! room, for a call a reply-table entry written (the token is a kernel-wide
//! counter), the envelope written by value into the mailbox slot with the
//! payload's `len` bytes copied straight from the sender's buffer, and the
//! receiver put on the run queue; or, when the receiver runs next anyway,
//! the envelope and payload written straight into the area its handler
//! reads (`sched/handoff.rs`). Nothing allocates. A message that moves
//! capabilities takes the general path (`send_with_caps`,
//! `reply_with_caps`, out of line), so the transfer checks and their undo
//! never weigh on the common case; both paths apply the same checks in the
//! same order (the fast-path tests in `sched/tests/ipc.rs` hold the
//! no-capability path to it).
//!
//! Trade-off, and what was measured against it: a Reply used to be a
//! capability-table object (slot, derivation node and object entry made and
//! destroyed per call); the reply table cut a host round trip from 1,432 to
//! 1,171 instructions (callgrind, `benches/ipc.rs --profile`). The price is
//! a second kind of ref that the capability operations recognise
//! (`sched/reply.rs` lists what each does with it), and outstanding Replies
//! no longer appear in `caps` or `graph`.

use mealy_caps::{CSpaceId, CapError, CapRef, CapSystem, Object, ObjectKind, Rights, TaskId};
use mealy_protocol::{
    CallToken, CapList, Envelope, IpcError, MAX_CAPS, MessageKind, check_payload,
};

use crate::sched::handoff::Delivery;
use crate::sched::mailbox::LargePayload;
use crate::sched::reply::is_reply_ref;
use crate::sched::run_queue::RunQueue;
use crate::sched::state::KernelState;
use crate::sched::task::{Task, TaskState};

/// What a message asks of its receiver besides handling it: whether it
/// is a `send` or a `call`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expects {
    /// A `send`: nothing comes back.
    Nothing,
    /// A `call`: the receiver gets a Reply, and the sender a token.
    Answer,
}

impl Expects {
    /// CSpace slots the receiver needs besides the moved capabilities:
    /// one for a call's Reply.
    fn reply_slots(self) -> usize {
        match self {
            Expects::Nothing => 0,
            Expects::Answer => 1,
        }
    }
}

/// `make_ready`, on the task already in hand: a receiver that was idle
/// goes on the run queue (which holds every task, so never refuses).
#[inline(always)]
fn ready(task: &mut Task, run_queue: &mut RunQueue, id: TaskId) {
    if task.state == TaskState::Idle && run_queue.push_back(id) {
        task.state = TaskState::Queued;
    }
}

/// Whether a message to `receiver` may be handed off into the lane
/// (`sched/handoff.rs`): it is Idle (so its mailbox is empty), nothing else
/// is ready and the lane is free, so it is the next task dispatch runs.
#[inline(always)]
fn can_hand_off(receiver: &Task, run_queue: &RunQueue, handed_to: Option<TaskId>) -> bool {
    receiver.state == TaskState::Idle && run_queue.is_empty() && handed_to.is_none()
}

/// Writes the message into the lane and makes `receiver` (task `id`) the
/// task dispatch takes next.
#[inline(always)]
fn hand_off(
    lane: &mut Delivery,
    kind: MessageKind,
    envelope: Envelope,
    payload: &[u8],
    receiver: &mut Task,
    handed_to: &mut Option<TaskId>,
    id: TaskId,
) {
    lane.write(kind, envelope, payload);
    receiver.mailbox.hand_off();
    receiver.state = TaskState::Queued;
    *handed_to = Some(id);
}

/// The error for a ref that did not resolve as a capability-table
/// capability: `WrongKind` if it is one of the task's live Reply refs
/// (which live in its reply table), else the lookup's own error.
#[cold]
#[inline(never)]
fn lookup_failed(task: &Task, cap: CapRef, error: CapError) -> IpcError {
    if error == CapError::InvalidRef && task.replies.get(cap).is_some() {
        return IpcError::WrongKind {
            found: ObjectKind::Reply,
        };
    }
    error.into()
}

/// `WrongKind` for `object`, out of line: computing the kind is a jump
/// table the hot path should not carry.
#[cold]
#[inline(never)]
fn wrong_kind(object: Object) -> IpcError {
    IpcError::WrongKind {
        found: object.kind(),
    }
}

/// The error for a reply through `cap` that names no live Reply:
/// `WrongKind` if it names some other capability, else `InvalidCap`.
#[cold]
#[inline(never)]
fn not_a_reply(caps: &CapSystem, cspace: CSpaceId, cap: CapRef) -> IpcError {
    match caps.lookup_object(cspace, cap, Rights::empty()) {
        Ok((_, object)) => IpcError::WrongKind {
            found: object.kind(),
        },
        Err(_) => IpcError::InvalidCap,
    }
}

/// `NoRoom` unless the task has a free CSpace slot for one more
/// capability, counting its outstanding Replies as slots.
#[inline(always)]
fn check_reply_room(caps: &CapSystem, task: &Task) -> Result<(), IpcError> {
    let used = caps.cspace_used(task.cspace).ok_or(IpcError::DeadTask)?;
    if used + task.replies.live() >= task.cspace_slots {
        return Err(IpcError::NoRoom);
    }
    Ok(())
}

impl KernelState {
    /// `send` from task `from` through the endpoint capability `to`.
    ///
    /// Errors, in order: `PayloadTooLarge`; `TooManyCaps`; `InvalidCap` /
    /// `MissingRights` (WRITE) / `WrongKind` for `to`; `DeadTask`;
    /// `MailboxFull`; for the transferred caps `InvalidCap` /
    /// `MissingRights` (GRANT) / `DuplicateCap` / `NoRoom`;
    /// `OutOfResources` (payload storage).
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        from: TaskId,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        lane: Option<&mut Delivery>,
    ) -> Result<(), IpcError> {
        if caps.is_empty() {
            self.send_plain(from, to, payload, Expects::Nothing, lane)?;
        } else {
            self.send_with_caps(from, to, payload, caps, Expects::Nothing)?;
        }
        Ok(())
    }

    /// `call`: `send` that also gives the receiver a Reply; returns the
    /// call's token. Errors: those of `send`, then `NoRoom` (no CSpace
    /// slot for the Reply) and `OutOfResources` (the reply table).
    #[inline(always)]
    pub(crate) fn call(
        &mut self,
        from: TaskId,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        lane: Option<&mut Delivery>,
    ) -> Result<CallToken, IpcError> {
        let token = if caps.is_empty() {
            self.send_plain(from, to, payload, Expects::Answer, lane)?
        } else {
            self.send_with_caps(from, to, payload, caps, Expects::Answer)?
        };
        token.ok_or(IpcError::OutOfResources)
    }

    /// `send` or `call` (as `expects` says) without capabilities to move:
    /// the hot path. Returns the token for a call.
    #[inline(always)]
    fn send_plain(
        &mut self,
        from: TaskId,
        to: CapRef,
        payload: &[u8],
        expects: Expects,
        lane: Option<&mut Delivery>,
    ) -> Result<Option<CallToken>, IpcError> {
        let len = check_payload(payload.len())?;
        // The common message: no capability moves, so nothing between the
        // checks and the push can fail, and the receiver is resolved once.
        let KernelState {
            caps: cap_system,
            tasks,
            run_queue,
            handed_to,
            last_call,
            ..
        } = self;
        let sender = tasks.get(from).ok_or(IpcError::DeadTask)?;
        let (endpoint, object) = match cap_system.lookup_object(sender.cspace, to, Rights::WRITE) {
            Ok(found) => found,
            Err(error) => return Err(lookup_failed(sender, to, error)),
        };
        let Object::Endpoint { task: target } = object else {
            return Err(wrong_kind(object));
        };
        let receiver = tasks.get_mut(target).ok_or(IpcError::DeadTask)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let lane = lane.filter(|_| can_hand_off(receiver, run_queue, *handed_to));
        let large = match lane {
            Some(_) => None,
            None => LargePayload::for_payload(payload)?,
        };
        let (reply, token) = if expects == Expects::Answer {
            check_reply_room(cap_system, receiver)?;
            let token = CallToken(*last_call + 1);
            let reply = receiver.replies.insert(from, token)?;
            *last_call = token.0;
            (Some(reply), Some(token))
        } else {
            (None, None)
        };
        let envelope = Envelope {
            badge: endpoint.badge,
            reply,
            caps: CapList::EMPTY,
            len,
        };
        if let Some(lane) = lane {
            hand_off(
                lane,
                MessageKind::Request,
                envelope,
                payload,
                receiver,
                handed_to,
                target,
            );
            return Ok(token);
        }
        let pushed = receiver
            .mailbox
            .push(MessageKind::Request, envelope, payload, large);
        if let Err(error) = pushed {
            // Unreachable (room was checked); the Reply must not outlive
            // a message that was never queued.
            if let Some(reply) = reply {
                receiver.replies.take(reply);
            }
            return Err(error);
        }
        ready(receiver, run_queue, target);
        Ok(token)
    }

    /// `send` or `call` (as `expects` says) with capabilities to move: the
    /// general path, out of line.
    #[inline(never)]
    fn send_with_caps(
        &mut self,
        from: TaskId,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        expects: Expects,
    ) -> Result<Option<CallToken>, IpcError> {
        let len = check_payload(payload.len())?;
        let mut transferred = CapList::from_slice(caps)?;
        let sender = self.task(from)?;
        let sender_cspace = sender.cspace;
        let (endpoint, object) = match self.caps.lookup_object(sender_cspace, to, Rights::WRITE) {
            Ok(found) => found,
            Err(error) => return Err(lookup_failed(sender, to, error)),
        };
        let Object::Endpoint { task: target } = object else {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        };
        let receiver = self.task(target)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        self.check_transfer(from, target, caps, expects.reply_slots())?;
        let large = LargePayload::for_payload(payload)?;

        let mut reply = None;
        let mut token = None;
        if expects == Expects::Answer {
            let next = self.next_call_token();
            reply = Some(self.task_mut(target)?.replies.insert(from, next)?);
            token = Some(next);
        }
        if let Err(error) = self.move_caps(from, target, caps, &mut transferred) {
            if let Some(reply) = reply {
                self.task_mut(target)?.replies.take(reply);
            }
            return Err(error);
        }
        let envelope = Envelope {
            badge: endpoint.badge,
            reply,
            caps: transferred,
            len,
        };
        let kind = MessageKind::Request;
        self.deliver(target, kind, envelope, payload, large, from)?;
        Ok(token)
    }

    /// Answers a call through the Reply capability `reply` of task `from`,
    /// consuming it, and moves `caps` to the caller.
    ///
    /// Errors, in order: `PayloadTooLarge`; `TooManyCaps`; `InvalidCap`
    /// (no such Reply: consumed, stale, forged) / `WrongKind` (another
    /// capability) for `reply`; `DeadTask` (the caller died; the Reply
    /// stays so the callee may drop it); `MailboxFull` (the Reply stays
    /// valid: retry or drop it); the transfer errors of `send`;
    /// `OutOfResources`.
    #[inline(always)]
    pub(crate) fn reply(
        &mut self,
        from: TaskId,
        reply: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        lane: Option<&mut Delivery>,
    ) -> Result<(), IpcError> {
        if !caps.is_empty() {
            return self.reply_with_caps(from, reply, payload, caps);
        }
        let len = check_payload(payload.len())?;
        // The common answer: nothing moves between checking the Reply and
        // consuming it, and the caller's task is resolved once.
        let KernelState {
            caps: cap_system,
            tasks,
            run_queue,
            handed_to,
            ..
        } = self;
        let callee = tasks.get(from).ok_or(IpcError::DeadTask)?;
        let Some(pending) = callee.replies.get(reply) else {
            return Err(not_a_reply(cap_system, callee.cspace, reply));
        };
        let receiver = tasks.get(pending.caller).ok_or(IpcError::DeadTask)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let lane = lane.filter(|_| can_hand_off(receiver, run_queue, *handed_to));
        let large = match lane {
            Some(_) => None,
            None => LargePayload::for_payload(payload)?,
        };
        if let Some(callee) = tasks.get_mut(from) {
            callee.replies.free(reply);
        }
        let receiver = tasks.get_mut(pending.caller).ok_or(IpcError::DeadTask)?;
        let kind = MessageKind::Reply {
            token: pending.token,
        };
        if let Some(lane) = lane {
            hand_off(
                lane,
                kind,
                Envelope::plain(len),
                payload,
                receiver,
                handed_to,
                pending.caller,
            );
            return Ok(());
        }
        // Cannot fail: the check above saw room, and nothing ran since.
        receiver
            .mailbox
            .push(kind, Envelope::plain(len), payload, large)?;
        ready(receiver, run_queue, pending.caller);
        Ok(())
    }

    /// `reply` with capabilities to move: the general path, out of line.
    #[inline(never)]
    fn reply_with_caps(
        &mut self,
        from: TaskId,
        reply: CapRef,
        payload: &[u8],
        caps: &[CapRef],
    ) -> Result<(), IpcError> {
        let len = check_payload(payload.len())?;
        let mut transferred = CapList::from_slice(caps)?;
        let callee = self.task(from)?;
        let Some(pending) = callee.replies.get(reply) else {
            return Err(not_a_reply(&self.caps, callee.cspace, reply));
        };
        let caller = pending.caller;
        let receiver = self.task(caller)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        self.check_transfer(from, caller, caps, 0)?;
        let large = LargePayload::for_payload(payload)?;
        self.move_caps(from, caller, caps, &mut transferred)?;
        // The Reply itself may have been among the moved caps: then it is
        // gone from this task, and the answer is refused like any stale ref.
        if self.task_mut(from)?.replies.take(reply).is_none() {
            self.move_back(caller, from, transferred.as_slice());
            return Err(IpcError::InvalidCap);
        }
        let kind = MessageKind::Reply {
            token: pending.token,
        };
        let envelope = Envelope {
            badge: None,
            reply: None,
            caps: transferred,
            len,
        };
        self.deliver(caller, kind, envelope, payload, large, from)
    }

    /// Queues the message for `target` and makes it ready. The mailbox was
    /// checked for room; on one core nothing can fill it in between, but if
    /// it is full anyway the message's capabilities go back to task
    /// `sender` and its Reply is dropped, so the send still fails cleanly.
    fn deliver(
        &mut self,
        target: TaskId,
        kind: MessageKind,
        envelope: Envelope,
        payload: &[u8],
        large: Option<LargePayload>,
        sender: TaskId,
    ) -> Result<(), IpcError> {
        let task = self.tasks.get_mut(target).ok_or(IpcError::DeadTask)?;
        if let Err(error) = task.mailbox.push(kind, envelope, payload, large) {
            if let Some(reply) = envelope.reply {
                task.replies.take(reply);
            }
            self.move_back(target, sender, envelope.caps.as_slice());
            return Err(error);
        }
        ready(task, &mut self.run_queue, target);
        Ok(())
    }

    /// Checks, without changing anything, that every cap in `caps` can move
    /// from task `from` to task `target`, with `extra` more free slots
    /// (for a call's Reply). A Reply ref of `from` moves like any
    /// capability with GRANT; Replies count as slots in the receiver.
    fn check_transfer(
        &self,
        from: TaskId,
        target: TaskId,
        caps: &[CapRef],
        extra: usize,
    ) -> Result<(), IpcError> {
        let sender = self.task(from)?;
        for (index, cap) in caps.iter().enumerate() {
            if is_reply_ref(*cap) {
                sender.replies.get(*cap).ok_or(IpcError::InvalidCap)?;
            } else {
                self.caps.lookup(sender.cspace, *cap, Rights::GRANT)?;
            }
            if caps[..index].contains(cap) {
                return Err(IpcError::DuplicateCap);
            }
        }
        let receiver = self.task(target)?;
        let used = self.caps.caps_of(receiver.cspace)?.count() + receiver.replies.live() as usize;
        // Moving within one CSpace frees each source slot only after the
        // destination slot is taken, so it needs the same room.
        let free = (receiver.cspace_slots as usize).saturating_sub(used);
        if free < caps.len() + extra {
            return Err(IpcError::NoRoom);
        }
        Ok(())
    }

    /// Moves one capability (or Reply) of task `from` to task `to`;
    /// returns its new ref there.
    fn move_one(&mut self, from: TaskId, to: TaskId, cap: CapRef) -> Result<CapRef, IpcError> {
        if is_reply_ref(cap) {
            let pending = self
                .task_mut(from)?
                .replies
                .take(cap)
                .ok_or(IpcError::InvalidCap)?;
            return match self
                .task_mut(to)?
                .replies
                .insert(pending.caller, pending.token)
            {
                Ok(moved) => Ok(moved),
                Err(error) => {
                    // Back where it was (under a new ref: the old one is stale).
                    if let Ok(task) = self.task_mut(from) {
                        let _ = task.replies.insert(pending.caller, pending.token);
                    }
                    Err(error)
                }
            };
        }
        let (from_cspace, to_cspace) = (self.task(from)?.cspace, self.task(to)?.cspace);
        Ok(self.caps.move_cap(from_cspace, cap, to_cspace)?)
    }

    /// Moves `caps` from task `from` to task `to`, writing the new refs
    /// into `moved`. Checked beforehand by `check_transfer`; if a move
    /// fails anyway, the ones already moved go back and the error is
    /// returned.
    fn move_caps(
        &mut self,
        from: TaskId,
        to: TaskId,
        caps: &[CapRef],
        moved: &mut CapList,
    ) -> Result<(), IpcError> {
        let mut done = [CapRef::from_raw(0); MAX_CAPS];
        for (index, cap) in caps.iter().enumerate() {
            match self.move_one(from, to, *cap) {
                Ok(new_ref) => {
                    done[index] = new_ref;
                    moved.set(index, new_ref);
                }
                Err(error) => {
                    self.move_back(to, from, &done[..index]);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Best-effort undo of a transfer. Unreachable while the checks above
    /// hold; the moved-back refs are new (the originals went stale).
    fn move_back(&mut self, from: TaskId, to: TaskId, caps: &[CapRef]) {
        for cap in caps {
            let _ = self.move_one(from, to, *cap);
        }
    }
}
