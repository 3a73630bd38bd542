//! Delivery areas and the hand-off: where a handler's message lives while
//! it runs, and the short cut a message takes when its receiver is the
//! very next task to run.
//!
//! The scheduler owns two [`Delivery`] areas (kind, envelope, a
//! `MAX_PAYLOAD` payload buffer). The running handler's `Incoming` borrows
//! one of them, the *current* one; the other is the *lane*. A message that
//! goes through a mailbox is copied into its slot by the sender and out of
//! it into the current area at dispatch. But when a send or reply finds
//! its receiver Idle (so its mailbox is empty), nothing on the run queue
//! and the lane free, the receiver is the next task dispatch will pick in
//! any case, so the kernel writes the message straight into the lane
//! (`crate::ipc`), marks the receiver Queued, and records it in
//! `KernelState::handed_to` instead of the run queue. The next dispatch
//! takes that task first, swaps the roles of the two areas, and runs its
//! handler on the lane as it stands: no slot, no ring, no run-queue push
//! or pop, one copy of the payload instead of two. This is the ping-pong
//! of a call and its reply, the hot path of every client and server; it is
//! Mealy's counterpart of seL4's fastpath and its direct switch to the
//! receiver.
//!
//! What it must not change, and why it does not:
//! - Order. The hand-off is taken only when the run queue is empty, so the
//!   receiver was first in line; whatever becomes ready later queues
//!   behind it, and a second message to it goes into its mailbox, behind
//!   the handed-off one, which is delivered first. Per-sender FIFO and
//!   round robin are as before.
//! - Bounds. The handed-off message counts as one letter of the
//!   receiver's mailbox (`Mailbox::hand_off`), so capacity, `MailboxFull`
//!   and `ps` see it; a killed receiver loses it with the rest of its mail.
//! - Capabilities. Only the no-capability path hands off; a message that
//!   moves capabilities always goes through the mailbox.
//!
//! One thing it does change: a kernel notice (interrupt, timeout, failed
//! call) that reaches the task between the hand-off and its dispatch is
//! delivered after the handed-off message, which was there first; notices
//! otherwise still go ahead of queued mail.
//!
//! Measured (callgrind, `benches/ipc.rs`): a dispatch went from 181 to 127
//! instructions and a host round trip from 1,108 to 1,002. The price: 8 KiB
//! for two areas instead of 4 KiB for one, and one more field
//! (`handed_to`) that `kill` and dispatch must keep true.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_protocol::{Envelope, Incoming, MAX_PAYLOAD, MessageKind, copy_bytes};

/// One message as a handler sees it: where dispatch puts it, or where the
/// sender hands it off.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) kind: MessageKind,
    pub(crate) envelope: Envelope,
    /// The first `envelope.len` bytes are the payload. A fixed-size array
    /// rather than a `Vec`, so the compiler knows its length and a checked
    /// `len` needs no second bound.
    pub(crate) payload: Box<[u8; MAX_PAYLOAD]>,
}

impl Delivery {
    /// An empty area; `None` if the heap cannot hold its payload buffer.
    pub(crate) fn new() -> Option<Self> {
        let mut payload = Vec::new();
        payload.try_reserve_exact(MAX_PAYLOAD).ok()?;
        payload.resize(MAX_PAYLOAD, 0);
        Some(Self {
            kind: MessageKind::Request,
            envelope: Envelope::default(),
            payload: payload.into_boxed_slice().try_into().ok()?,
        })
    }

    /// The message, borrowed for a handler.
    #[inline(always)]
    pub(crate) fn incoming(&self) -> Incoming<'_> {
        Incoming {
            kind: self.kind,
            envelope: &self.envelope,
            payload: self
                .payload
                .get(..usize::from(self.envelope.len))
                .unwrap_or(&[]),
        }
    }

    /// Writes a message whose `envelope.len` is `payload.len()` (at most
    /// `MAX_PAYLOAD`, which the send checked).
    #[inline(always)]
    pub(crate) fn write(&mut self, kind: MessageKind, envelope: Envelope, payload: &[u8]) {
        self.kind = kind;
        self.envelope = envelope;
        copy_bytes(&mut self.payload[..], payload);
    }
}

/// The two areas: the current one (the handler's message) and the lane.
#[derive(Debug)]
pub(crate) struct Deliveries {
    areas: [Delivery; 2],
    /// Which of `areas` is the current one.
    current: bool,
}

impl Deliveries {
    pub(crate) fn new() -> Option<Self> {
        Some(Self {
            areas: [Delivery::new()?, Delivery::new()?],
            current: false,
        })
    }

    /// The current area, to fill from a mailbox.
    #[inline(always)]
    pub(crate) fn current_mut(&mut self) -> &mut Delivery {
        let [first, second] = &mut self.areas;
        if self.current { second } else { first }
    }

    /// The lane becomes the current area (its message is delivered next),
    /// and the current one the lane.
    #[inline(always)]
    pub(crate) fn swap(&mut self) {
        self.current = !self.current;
    }

    /// The current area to read and the lane to write, at once.
    #[inline(always)]
    pub(crate) fn split(&mut self) -> (&Delivery, &mut Delivery) {
        let [first, second] = &mut self.areas;
        if self.current {
            (second, first)
        } else {
            (first, second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lane_and_the_current_area_trade_places() {
        let mut areas = Deliveries::new().unwrap();
        areas.current_mut().envelope.len = 1;
        let (current, lane) = areas.split();
        assert_eq!(current.envelope.len, 1);
        lane.write(
            MessageKind::Request,
            Envelope {
                len: 3,
                ..Envelope::default()
            },
            b"abc",
        );
        areas.swap();
        let (current, lane) = areas.split();
        assert_eq!(current.incoming().payload, b"abc");
        assert_eq!(lane.envelope.len, 1, "the old current area is the lane now");
    }
}
