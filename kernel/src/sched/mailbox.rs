//! A task's mailbox: a bounded ring of message slots, and the kernel's
//! separate queue of notices for it.
//!
//! Peer messages go into a fixed-capacity ring of slots reserved when the
//! task is created, so a full mailbox is an error to the sender, never a
//! silent drop and never a growth. Each slot holds the kind, the envelope
//! and up to [`INLINE_PAYLOAD`] bytes of payload inline. A send writes the
//! header into the slot in place and copies exactly the payload's `len`
//! bytes from the sender's buffer (`copy_bytes`: a few fixed-size moves,
//! no `memcpy` call); dispatch copies the slot's kind, envelope and
//! inline bytes (fixed-size moves) into the scheduler's delivery area, of
//! which the handler borrows the envelope and the first `len` payload
//! bytes. The hot path (every control message in the current protocol)
//! allocates nothing and never moves a whole slot. A
//! payload above [`INLINE_PAYLOAD`], up to `MAX_PAYLOAD`, takes one
//! fallible heap allocation, made by the sender before anything else
//! changes; bulk data should travel as a Region anyway. The trade-off is
//! slot size (160 bytes, 64 of them payload) against how often that
//! allocation happens. A message to the task that runs next skips the
//! slot altogether (`handoff.rs`) and only counts here
//! ([`Mailbox::hand_off`]).
//!
//! A plain ring, not a lock-free queue: the scheduler is one `&mut` value
//! per core, and trap handlers only touch the atomic `PendingInterrupts`,
//! so nothing else can reach a mailbox. SMP (phase 3) will need a separate
//! inbound queue per core for cross-core sends, drained into these rings by
//! the owning core; the same-core path stays as it is.
//!
//! Kernel notices (interrupts, timeouts, failed calls) do not compete for
//! the bounded ring: they wait in a small per-task queue that is filled
//! only from the dispatch loop (never from a trap handler) and is reserved
//! up front, so the kernel never has to drop one because a peer filled the
//! mailbox.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mealy_protocol::{Envelope, IpcError, MessageKind, copy_bytes};

/// Payload bytes stored inline in a mailbox slot.
pub const INLINE_PAYLOAD: usize = 64;

/// How many kernel notices a task has room for before its notice queue
/// must grow (it then grows, fallibly, from the dispatch loop).
pub const NOTICE_RESERVE: usize = 8;

/// A payload too large for a slot, copied to the heap by the sender before
/// the send changes anything (so running out of heap fails it cleanly).
#[derive(Debug)]
pub(crate) struct LargePayload(Box<[u8]>);

impl LargePayload {
    /// `None` if `payload` fits a slot inline; otherwise a heap copy.
    ///
    /// Errors: `OutOfResources` if the heap cannot hold it.
    #[inline(always)]
    pub(crate) fn for_payload(payload: &[u8]) -> Result<Option<Self>, IpcError> {
        if payload.len() <= INLINE_PAYLOAD {
            return Ok(None);
        }
        Self::copy(payload).map(Some)
    }

    /// The heap copy, out of line: the hot path never takes it.
    #[cold]
    #[inline(never)]
    fn copy(payload: &[u8]) -> Result<Self, IpcError> {
        let mut heap = Vec::new();
        heap.try_reserve_exact(payload.len())
            .map_err(|_| IpcError::OutOfResources)?;
        heap.extend_from_slice(payload);
        Ok(Self(heap.into_boxed_slice()))
    }
}

/// One queued message.
#[derive(Debug)]
struct Slot {
    kind: MessageKind,
    envelope: Envelope,
    inline: [u8; INLINE_PAYLOAD],
    large: Option<Box<[u8]>>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        kind: MessageKind::Request,
        envelope: Envelope::plain(0),
        inline: [0; INLINE_PAYLOAD],
        large: None,
    };
}

/// A task's bounded mailbox plus its kernel-notice queue.
#[derive(Debug)]
pub(crate) struct Mailbox {
    /// `capacity` slots, reserved at creation; the queued ones are
    /// `head, head + 1, ...` (mod capacity), `len` of them.
    slots: Vec<Slot>,
    head: u32,
    len: u32,
    notices: VecDeque<(MessageKind, Envelope)>,
    high_water: u32,
    /// A message handed off into the scheduler's lane (`handoff.rs`) and
    /// not delivered yet: it counts as a letter, ahead of the ring's.
    handed_off: bool,
}

impl Mailbox {
    /// A mailbox of `capacity` (at least 1) letters.
    ///
    /// Errors: `OutOfResources` if the heap cannot hold the slots.
    pub(crate) fn new(capacity: u32) -> Result<Self, IpcError> {
        let capacity = capacity.max(1);
        let mut notices = VecDeque::new();
        notices
            .try_reserve(NOTICE_RESERVE)
            .map_err(|_| IpcError::OutOfResources)?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity as usize)
            .map_err(|_| IpcError::OutOfResources)?;
        slots.resize_with(capacity as usize, || Slot::EMPTY);
        Ok(Self {
            slots,
            head: 0,
            len: 0,
            notices,
            high_water: 0,
            handed_off: false,
        })
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len as usize + usize::from(self.handed_off) >= self.slots.len()
    }

    /// Counts a message the sender wrote into the lane instead of a slot.
    /// Only for an empty mailbox (its task is Idle), so the handed-off
    /// message is the first letter.
    #[inline(always)]
    pub(crate) fn hand_off(&mut self) {
        debug_assert!(self.is_empty(), "a hand-off to a task with mail waiting");
        self.handed_off = true;
        if self.high_water == 0 {
            self.high_water = 1;
        }
    }

    /// Takes the handed-off message (dispatch delivers it from the lane);
    /// whether there was one.
    #[inline(always)]
    pub(crate) fn take_handed_off(&mut self) -> bool {
        core::mem::replace(&mut self.handed_off, false)
    }

    /// Queues a message: the header, and `payload` (its first
    /// `envelope.len` bytes) copied inline, or `large` if the sender had to
    /// put it on the heap. `MailboxFull` if there is no free slot; then
    /// nothing changed.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        kind: MessageKind,
        envelope: Envelope,
        payload: &[u8],
        large: Option<LargePayload>,
    ) -> Result<(), IpcError> {
        let capacity = self.slots.len();
        if self.is_full() {
            return Err(IpcError::MailboxFull);
        }
        let mut index = self.head as usize + self.len as usize;
        if index >= capacity {
            index -= capacity;
        }
        let slot = self.slots.get_mut(index).ok_or(IpcError::MailboxFull)?;
        slot.kind = kind;
        slot.envelope = envelope;
        match large {
            Some(LargePayload(bytes)) => slot.large = Some(bytes),
            None => {
                let len = payload.len().min(usize::from(envelope.len));
                let (Some(to), Some(from)) = (slot.inline.get_mut(..len), payload.get(..len))
                else {
                    return Err(IpcError::payload_too_large(len, INLINE_PAYLOAD));
                };
                copy_bytes(to, from);
            }
        }
        self.len += 1;
        let queued = self.len + u32::from(self.handed_off);
        if queued > self.high_water {
            self.high_water = queued;
        }
        Ok(())
    }

    /// Queues a kernel notice. Fails only if the heap cannot grow the queue.
    pub(crate) fn push_notice(
        &mut self,
        kind: MessageKind,
        envelope: Envelope,
    ) -> Result<(), IpcError> {
        self.notices
            .try_reserve(1)
            .map_err(|_| IpcError::OutOfResources)?;
        self.notices.push_back((kind, envelope));
        Ok(())
    }

    /// Takes the next message: writes its kind to `kind` and its envelope
    /// to `envelope`, and copies its payload into `receive` (which must hold
    /// `MAX_PAYLOAD` bytes; a longer payload is cut, which the send-side
    /// limit makes impossible). Kernel notices come first (they are rare
    /// and often urgent, and have no payload), then peer messages in
    /// arrival order. The envelope's `len` is what was copied. Writing the
    /// envelope straight to where the handler will borrow it copies the
    /// header once per message, not once per hand-over. Returns whether
    /// there was a message.
    #[inline]
    pub(crate) fn pop_into(
        &mut self,
        receive: &mut [u8],
        envelope: &mut Envelope,
        kind: &mut MessageKind,
    ) -> bool {
        if !self.notices.is_empty()
            && let Some((notice_kind, notice)) = self.notices.pop_front()
        {
            *envelope = Envelope { len: 0, ..notice };
            *kind = notice_kind;
            return true;
        }
        if self.len == 0 {
            return false;
        }
        let index = self.head as usize;
        self.head += 1;
        if self.head as usize >= self.slots.len() {
            self.head = 0;
        }
        self.len -= 1;
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        *kind = slot.kind;
        *envelope = slot.envelope;
        let wanted = usize::from(slot.envelope.len);
        let copied = match slot.large.take() {
            Some(bytes) => copy_prefix(receive, &bytes, wanted),
            None => match receive.first_chunk_mut::<INLINE_PAYLOAD>() {
                // The whole slot, a fixed-size copy the compiler inlines;
                // bytes past `len` are stale and never shown.
                Some(to) => {
                    *to = slot.inline;
                    wanted.min(INLINE_PAYLOAD)
                }
                None => copy_prefix(receive, &slot.inline, wanted),
            },
        };
        envelope.len = copied as u16;
        true
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && !self.handed_off && self.notices.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize + usize::from(self.handed_off) + self.notices.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn high_water(&self) -> u32 {
        self.high_water
    }

    /// Empties both queues (a dying task's mailbox: the capabilities its
    /// messages carried die with its CSpace).
    pub(crate) fn clear(&mut self) {
        self.notices.clear();
        for slot in &mut self.slots {
            slot.large = None;
        }
        self.head = 0;
        self.len = 0;
        self.handed_off = false;
    }
}

/// Copies the first `wanted` bytes of `from` (fewer if it or `to` is
/// shorter) to the start of `to`; returns how many.
#[inline]
fn copy_prefix(to: &mut [u8], from: &[u8], wanted: usize) -> usize {
    let len = wanted.min(from.len()).min(to.len());
    if let (Some(to), Some(from)) = (to.get_mut(..len), from.get(..len)) {
        to.copy_from_slice(from);
    }
    len
}
