//! Send, call and reply: how a message and its capabilities go from one
//! task to another. The semantics are DESIGN.md's, exactly:
//!
//! - `send` never blocks. A full mailbox is [`IpcError::MailboxFull`] to the
//!   sender, never a silent drop; a stopped or faulted receiver is
//!   [`IpcError::DeadTask`].
//! - `call` is a send that also places a fresh one-shot Reply capability in
//!   the receiver's CSpace; `reply` consumes it (`CapSystem::take_reply`),
//!   so a second reply fails with `InvalidCap`. The answer reaches the
//!   caller as an ordinary message of kind `Reply { token }`.
//! - Capabilities travel by move, which needs GRANT on each, and all or
//!   nothing: every check (rights, duplicates, room in the receiver's
//!   CSpace, mailbox space, payload size and storage) runs before the first
//!   capability moves, so a failed send changes nothing.
//! - Each receiver has one FIFO mailbox, so messages from one sender to one
//!   receiver arrive in the order sent.
//!
//! The hot path (a call or reply with a small payload and no capabilities)
//! is its own straight-line code, inlined into the `Context` methods:
//! one capability lookup, a Reply object created (which also yields the
//! call's token) or consumed, the receiver's task resolved once and its
//! mailbox checked for room, the envelope written by value into the
//! mailbox slot with the payload's `len` bytes copied straight from the
//! sender's buffer, and the receiver put on the run queue. A reply without
//! capabilities resolves its Reply once: `CapSystem::take_reply_if` checks
//! it, lets the kernel check the caller's mailbox, then consumes it.
//! Nothing allocates. A message that moves capabilities takes the general
//! path (`send_with_caps`, `reply_with_caps`, out of line), so the transfer
//! checks and their undo never weigh on the common case; both paths apply
//! the same checks in the same order (the fast-path tests in
//! `sched/tests/ipc.rs` hold the no-capability path to it).
//!
//! Trade-off, and what was measured against it: the Reply stays a real
//! capability-table object (slot, derivation node and object entry), so
//! every capability operation (drop, move, revoke, `caps`, `graph`, a dying
//! task's cleanup) treats it like any other capability with no special
//! case. A per-task reply slot outside the tables would save most of the
//! ~130 instructions `create_reply` and `take_reply_if` still cost per round
//! trip, but it would need every one of those operations to learn a second
//! kind of reference.

use mealy_caps::{CSpaceId, CapRef, Object, Rights, TaskId};
use mealy_protocol::{
    CallToken, CapList, Envelope, IpcError, MAX_CAPS, MessageKind, check_payload,
};

use crate::sched::mailbox::LargePayload;
use crate::sched::run_queue::RunQueue;
use crate::sched::state::{KernelState, call_token};
use crate::sched::task::{Task, TaskState};

/// `make_ready`, on the task already in hand: a receiver that was idle
/// goes on the run queue (which holds every task, so never refuses).
#[inline(always)]
fn ready(task: &mut Task, run_queue: &mut RunQueue, index: u32) {
    if task.state == TaskState::Idle && run_queue.push_back(index) {
        task.state = TaskState::Queued;
    }
}

impl KernelState {
    /// `send` (`call == false`) or `call` from task `from` through the
    /// endpoint capability `to`. Returns the call's token for a call.
    ///
    /// Errors, in order: `PayloadTooLarge`; `TooManyCaps`; `InvalidCap` /
    /// `MissingRights` (WRITE) / `WrongKind` for `to`; `DeadTask`;
    /// `MailboxFull`; for the transferred caps `InvalidCap` /
    /// `MissingRights` (GRANT) / `DuplicateCap` / `NoRoom`;
    /// `OutOfResources` (payload storage or the Reply object); `NoRoom`
    /// (the Reply capability).
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        from: u32,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        call: bool,
    ) -> Result<Option<CallToken>, IpcError> {
        if !caps.is_empty() {
            return self.send_with_caps(from, to, payload, caps, call);
        }
        let len = check_payload(payload.len())?;
        // The common message: no capability moves, so nothing between the
        // checks and the push can fail, and the receiver is resolved once.
        let KernelState {
            caps: cap_system,
            tasks,
            run_queue,
            ..
        } = self;
        let sender_cspace = tasks.get(from as usize).ok_or(IpcError::DeadTask)?.cspace;
        let (endpoint, object) = cap_system.lookup_object(sender_cspace, to, Rights::WRITE)?;
        let Object::Endpoint { task: target } = object else {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        };
        let receiver = tasks.get_mut(target.0 as usize).ok_or(IpcError::DeadTask)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let large = LargePayload::for_payload(payload)?;
        let (reply, token) = if call {
            let (reply_cap, reply_object) =
                cap_system.create_reply(receiver.cspace, TaskId(from))?;
            (Some(reply_cap), Some(call_token(reply_object)))
        } else {
            (None, None)
        };
        let pushed = receiver.mailbox.push(
            MessageKind::Request,
            Envelope {
                badge: endpoint.badge,
                reply,
                caps: CapList::EMPTY,
                len,
            },
            payload,
            large,
        );
        if let Err(error) = pushed {
            // Unreachable (room was checked); the Reply must not outlive
            // a message that was never queued.
            if let Some(reply_cap) = reply {
                let _ = cap_system.drop_cap(receiver.cspace, reply_cap);
            }
            return Err(error);
        }
        ready(receiver, run_queue, target.0);
        Ok(token)
    }

    /// `send` with capabilities to move: the general path, out of line.
    #[inline(never)]
    fn send_with_caps(
        &mut self,
        from: u32,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
        call: bool,
    ) -> Result<Option<CallToken>, IpcError> {
        let len = check_payload(payload.len())?;
        let mut transferred = CapList::from_slice(caps)?;
        let sender_cspace = self.task(from)?.cspace;
        let (endpoint, object) = self.caps.lookup_object(sender_cspace, to, Rights::WRITE)?;
        let Object::Endpoint { task: target } = object else {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        };
        let receiver = self.task(target.0)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let receiver_cspace = receiver.cspace;
        self.check_transfer(sender_cspace, target.0, caps, usize::from(call))?;
        let large = LargePayload::for_payload(payload)?;

        let mut reply = None;
        let mut token = None;
        if call {
            let (reply_cap, reply_object) =
                self.caps.create_reply(receiver_cspace, TaskId(from))?;
            reply = Some(reply_cap);
            token = Some(call_token(reply_object));
        }
        if let Err(error) = self.move_caps(sender_cspace, receiver_cspace, caps, &mut transferred) {
            if let Some(reply_cap) = reply {
                let _ = self.caps.drop_cap(receiver_cspace, reply_cap);
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
        self.deliver(target.0, kind, envelope, payload, large, sender_cspace)?;
        Ok(token)
    }

    /// Answers a call through the Reply capability `reply` of task `from`,
    /// consuming it, and moves `caps` to the caller.
    ///
    /// Errors, in order: `PayloadTooLarge`; `TooManyCaps`; `InvalidCap` /
    /// `WrongKind` / `MissingRights` (WRITE) for `reply`; `DeadTask` (the
    /// caller died; the Reply stays so the callee may drop it);
    /// `MailboxFull` (the Reply stays valid: retry or drop it); the
    /// transfer errors of `send`; `OutOfResources`.
    #[inline(always)]
    pub(crate) fn reply(
        &mut self,
        from: u32,
        reply: CapRef,
        payload: &[u8],
        caps: &[CapRef],
    ) -> Result<(), IpcError> {
        if !caps.is_empty() {
            return self.reply_with_caps(from, reply, payload, caps);
        }
        let len = check_payload(payload.len())?;
        // The common answer: nothing moves between checking the Reply and
        // consuming it, so one lookup does both, and the caller's task is
        // resolved once (inside the check) and reused for the push.
        let KernelState {
            caps: cap_system,
            tasks,
            run_queue,
            ..
        } = self;
        let callee_cspace = tasks.get(from as usize).ok_or(IpcError::DeadTask)?.cspace;
        let (consumed, large) = cap_system.take_reply_if(callee_cspace, reply, |caller| {
            let receiver = tasks.get(caller.0 as usize).ok_or(IpcError::DeadTask)?;
            if !receiver.state.is_alive() {
                return Err(IpcError::DeadTask);
            }
            if receiver.mailbox.is_full() {
                return Err(IpcError::MailboxFull);
            }
            LargePayload::for_payload(payload)
        })?;
        let receiver = tasks
            .get_mut(consumed.caller.0 as usize)
            .ok_or(IpcError::DeadTask)?;
        let kind = MessageKind::Reply {
            token: call_token(consumed.object),
        };
        let envelope = Envelope {
            badge: None,
            reply: None,
            caps: CapList::EMPTY,
            len,
        };
        // Cannot fail: the check above saw room, and nothing ran since.
        receiver.mailbox.push(kind, envelope, payload, large)?;
        ready(receiver, run_queue, consumed.caller.0);
        Ok(())
    }

    /// `reply` with capabilities to move: the general path, out of line.
    #[inline(never)]
    fn reply_with_caps(
        &mut self,
        from: u32,
        reply: CapRef,
        payload: &[u8],
        caps: &[CapRef],
    ) -> Result<(), IpcError> {
        let len = check_payload(payload.len())?;
        let mut transferred = CapList::from_slice(caps)?;
        let callee_cspace = self.task(from)?.cspace;
        let (found, object) = self
            .caps
            .lookup_object(callee_cspace, reply, Rights::empty())?;
        let Object::Reply { caller } = object else {
            return Err(IpcError::WrongKind {
                found: object.kind(),
            });
        };
        let missing = Rights::WRITE.difference(found.rights);
        if !missing.is_empty() {
            return Err(IpcError::MissingRights { missing });
        }
        let receiver = self.task(caller.0)?;
        if !receiver.state.is_alive() {
            return Err(IpcError::DeadTask);
        }
        if receiver.mailbox.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let caller_cspace = receiver.cspace;
        self.check_transfer(callee_cspace, caller.0, caps, 0)?;
        let large = LargePayload::for_payload(payload)?;
        self.move_caps(callee_cspace, caller_cspace, caps, &mut transferred)?;
        let consumed = match self.caps.take_reply(callee_cspace, reply) {
            Ok(consumed) => consumed,
            Err(error) => {
                self.move_back(caller_cspace, callee_cspace, transferred.as_slice());
                return Err(error.into());
            }
        };
        let kind = MessageKind::Reply {
            token: call_token(consumed.object),
        };
        let envelope = Envelope {
            badge: None,
            reply: None,
            caps: transferred,
            len,
        };
        self.deliver(caller.0, kind, envelope, payload, large, callee_cspace)
    }

    /// Queues the message for `target` and makes it ready. The mailbox was
    /// checked for room; on one core nothing can fill it in between, but if
    /// it is full anyway the message's capabilities go back to
    /// `sender_cspace` and its Reply is dropped, so the send still fails
    /// cleanly.
    fn deliver(
        &mut self,
        target: u32,
        kind: MessageKind,
        envelope: Envelope,
        payload: &[u8],
        large: Option<LargePayload>,
        sender_cspace: CSpaceId,
    ) -> Result<(), IpcError> {
        let task = self
            .tasks
            .get_mut(target as usize)
            .ok_or(IpcError::DeadTask)?;
        if let Err(error) = task.mailbox.push(kind, envelope, payload, large) {
            let receiver_cspace = task.cspace;
            if let Some(reply_cap) = envelope.reply {
                let _ = self.caps.drop_cap(receiver_cspace, reply_cap);
            }
            self.move_back(receiver_cspace, sender_cspace, envelope.caps.as_slice());
            return Err(error);
        }
        ready(task, &mut self.run_queue, target);
        Ok(())
    }

    /// Checks, without changing anything, that every cap in `caps` can move
    /// from `from` to task `target`'s CSpace, with `extra` more free slots
    /// (for a call's Reply).
    fn check_transfer(
        &self,
        from: CSpaceId,
        target: u32,
        caps: &[CapRef],
        extra: usize,
    ) -> Result<(), IpcError> {
        for (index, cap) in caps.iter().enumerate() {
            self.caps.lookup(from, *cap, Rights::GRANT)?;
            if caps[..index].contains(cap) {
                return Err(IpcError::DuplicateCap);
            }
        }
        let receiver = self.task(target)?;
        let used = self.caps.caps_of(receiver.cspace)?.count();
        // Moving within one CSpace frees each source slot only after the
        // destination slot is taken, so it needs the same room.
        let free = (receiver.cspace_slots as usize).saturating_sub(used);
        if free < caps.len() + extra {
            return Err(IpcError::NoRoom);
        }
        Ok(())
    }

    /// Moves `caps` from `from` to `to`, writing the new refs into
    /// `moved`. Checked beforehand by `check_transfer`; if a move fails
    /// anyway, the ones already moved go back and the error is returned.
    fn move_caps(
        &mut self,
        from: CSpaceId,
        to: CSpaceId,
        caps: &[CapRef],
        moved: &mut CapList,
    ) -> Result<(), IpcError> {
        let mut done = [CapRef::from_raw(0); MAX_CAPS];
        for (index, cap) in caps.iter().enumerate() {
            match self.caps.move_cap(from, *cap, to) {
                Ok(new_ref) => {
                    done[index] = new_ref;
                    moved.set(index, new_ref);
                }
                Err(error) => {
                    self.move_back(to, from, &done[..index]);
                    return Err(error.into());
                }
            }
        }
        Ok(())
    }

    /// Best-effort undo of a transfer. Unreachable while the checks above
    /// hold; the moved-back refs are new (the originals went stale).
    fn move_back(&mut self, from: CSpaceId, to: CSpaceId, caps: &[CapRef]) {
        for cap in caps {
            let _ = self.caps.move_cap(from, *cap, to);
        }
    }
}
