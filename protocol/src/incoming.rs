//! A delivered message as a handler sees it: [`Incoming`], its
//! [`MessageKind`], and the [`CallToken`] that ties a reply to its call.
//!
//! Calls are asynchronous: `call` returns a token at once, and the answer
//! arrives later as an ordinary message of kind [`MessageKind::Reply`] (or
//! [`MessageKind::CallFailed`] if the callee could not answer) carrying the
//! same token. Kernel-generated messages (interrupts, timeouts, failed
//! calls) are kinds rather than payloads, so the kernel posts them without
//! encoding anything, and a service cannot forge one: only the kernel picks
//! the kind.

use core::fmt;

use mealy_caps::{Badge, CapRef, TaskId};
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::inspect::ExitCause;
use crate::kernel::CallFailure;

/// Names one outstanding call of the calling task; unique among the calls
/// that are pending at the same time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct CallToken(pub u64);

impl fmt::Display for CallToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {:#x}", self.0)
    }
}

/// What a delivered message is. Only the kernel sets it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum MessageKind {
    /// An ordinary `send` or `call` from a peer through an endpoint.
    Request,
    /// The answer to this task's call `token`.
    Reply { token: CallToken },
    /// The call `token` will never be answered, and why.
    CallFailed {
        token: CallToken,
        reason: CallFailure,
    },
    /// Interrupt `line` fired; it stays masked until `irq_ack`.
    Interrupt { line: u8 },
    /// A timer armed with `set_timer` expired.
    Timeout,
    /// The task `task`, which this task supervises (`Context::supervise`),
    /// ended: how, and the address of its fault (0 if none). Only the
    /// kernel sets a kind, so no task can forge this notice; a look-alike
    /// payload arrives as a `Request`.
    TaskExited {
        task: TaskId,
        cause: ExitCause,
        address: u64,
    },
    /// Commit the fault `kind` now, in this task's own context
    /// (`Context::inject_fault`; only a ring-3 task gets it, and its
    /// runtime, not its handler, acts on it). Only the kernel sets a kind,
    /// so no task can forge it.
    InjectFault { kind: crate::supervision::FaultKind },
}

/// One message, handed to [`StateMachine::handle`](crate::StateMachine::handle).
/// The envelope and the payload borrow the kernel's receive area for the
/// duration of the handler, so handing a message over copies two pointers,
/// not the envelope.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub kind: MessageKind,
    pub envelope: &'a Envelope,
    pub payload: &'a [u8],
}

impl<'a> Incoming<'a> {
    /// The badge of the capability the message came through.
    pub fn badge(&self) -> Option<Badge> {
        self.envelope.badge
    }

    /// The one-shot reply capability, if the sender called.
    pub fn reply(&self) -> Option<CapRef> {
        self.envelope.reply
    }

    /// The capabilities moved to this task with the message.
    pub fn caps(&self) -> &'a [CapRef] {
        self.envelope.caps.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::MessageKind;

    /// Every mailbox slot and delivery area holds a kind: the supervisor's
    /// notice must not make them bigger than the sixteen bytes a failed
    /// call already took.
    #[test]
    fn a_message_kind_is_sixteen_bytes() {
        assert_eq!(core::mem::size_of::<MessageKind>(), 16);
    }
}
