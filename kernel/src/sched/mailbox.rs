//! A task's mailbox: a bounded queue of [`Letter`]s, and the kernel's
//! separate queue of notices for it.
//!
//! Peer messages go into a fixed-capacity lock-free ring (crossbeam's
//! `ArrayQueue`, reserved when the task is created), so a full mailbox is
//! an error to the sender, never a silent drop and never a growth. Each
//! slot holds the envelope and up to [`INLINE_PAYLOAD`] bytes of payload
//! inline: the hot path (every control message in the current protocol)
//! allocates nothing. A payload above that, up to `MAX_PAYLOAD`, takes one
//! fallible heap allocation; bulk data should travel as a Region anyway.
//! The trade-off is slot size (about 200 bytes) against how often that
//! allocation happens.
//!
//! Kernel notices (interrupts, timeouts, failed calls) do not compete for
//! the bounded ring: they wait in a small per-task queue that is filled
//! only from the dispatch loop (never from a trap handler) and is reserved
//! up front, so the kernel never has to drop one because a peer filled the
//! mailbox.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crossbeam_queue::ArrayQueue;
use mealy_protocol::{Envelope, IpcError, MessageKind};

/// Payload bytes stored inline in a mailbox slot.
pub const INLINE_PAYLOAD: usize = 96;

/// How many kernel notices a task has room for before its notice queue
/// must grow (it then grows, fallibly, from the dispatch loop).
pub const NOTICE_RESERVE: usize = 8;

/// Payload bytes, inline when small.
#[derive(Debug)]
pub(crate) enum PayloadStore {
    Inline([u8; INLINE_PAYLOAD]),
    Heap(Box<[u8]>),
}

impl PayloadStore {
    /// Copies `payload`; allocates only above [`INLINE_PAYLOAD`].
    #[inline]
    pub(crate) fn copy_of(payload: &[u8]) -> Result<Self, IpcError> {
        if let Some(inline) = payload_inline(payload) {
            return Ok(PayloadStore::Inline(inline));
        }
        let mut heap = Vec::new();
        heap.try_reserve_exact(payload.len())
            .map_err(|_| IpcError::OutOfResources)?;
        heap.extend_from_slice(payload);
        Ok(PayloadStore::Heap(heap.into_boxed_slice()))
    }

    #[inline]
    pub(crate) fn bytes(&self, len: u16) -> &[u8] {
        let len = usize::from(len);
        match self {
            PayloadStore::Inline(bytes) => bytes.get(..len).unwrap_or(bytes),
            PayloadStore::Heap(bytes) => bytes.get(..len).unwrap_or(bytes),
        }
    }
}

#[inline]
fn payload_inline(payload: &[u8]) -> Option<[u8; INLINE_PAYLOAD]> {
    let mut inline = [0u8; INLINE_PAYLOAD];
    inline.get_mut(..payload.len())?.copy_from_slice(payload);
    Some(inline)
}

/// One queued message: what the receiver's handler will see.
#[derive(Debug)]
pub(crate) struct Letter {
    pub(crate) kind: MessageKind,
    pub(crate) envelope: Envelope,
    pub(crate) payload: PayloadStore,
}

impl Letter {
    /// A payload-less kernel message.
    pub(crate) fn notice(kind: MessageKind, envelope: Envelope) -> Self {
        Self {
            kind,
            envelope,
            payload: PayloadStore::Inline([0; INLINE_PAYLOAD]),
        }
    }
}

/// A task's bounded mailbox plus its kernel-notice queue.
#[derive(Debug)]
pub(crate) struct Mailbox {
    letters: ArrayQueue<Letter>,
    notices: VecDeque<(MessageKind, Envelope)>,
    high_water: u32,
}

impl Mailbox {
    /// A mailbox of `capacity` (at least 1) letters.
    pub(crate) fn new(capacity: u32) -> Result<Self, IpcError> {
        let mut notices = VecDeque::new();
        notices
            .try_reserve(NOTICE_RESERVE)
            .map_err(|_| IpcError::OutOfResources)?;
        Ok(Self {
            letters: ArrayQueue::new(capacity.max(1) as usize),
            notices,
            high_water: 0,
        })
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.letters.is_full()
    }

    /// Queues a letter; gives it back if the mailbox is full (by value, so
    /// the caller can undo its capability moves without an allocation).
    #[allow(clippy::result_large_err)]
    #[inline]
    pub(crate) fn push(&mut self, letter: Letter) -> Result<(), Letter> {
        self.letters.push(letter)?;
        let depth = self.letters.len() as u32;
        if depth > self.high_water {
            self.high_water = depth;
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

    /// The next message: kernel notices first (they are rare and often
    /// urgent), then letters in arrival order.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Letter> {
        if let Some((kind, envelope)) = self.notices.pop_front() {
            return Some(Letter::notice(kind, envelope));
        }
        self.letters.pop()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.notices.is_empty() && self.letters.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.letters.len() + self.notices.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.letters.capacity()
    }

    pub(crate) fn high_water(&self) -> u32 {
        self.high_water
    }

    /// Empties both queues, returning the letters (a dying task's mailbox).
    pub(crate) fn drain(&mut self) -> Vec<Letter> {
        self.notices.clear();
        let mut drained = Vec::new();
        while let Some(letter) = self.letters.pop() {
            drained.push(letter);
        }
        drained
    }
}
