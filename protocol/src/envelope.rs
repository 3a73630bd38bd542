//! The envelope: everything about a message except its payload bytes.
//!
//! Fixed size and `Copy`, so the kernel stores it inline in a mailbox slot
//! with no allocation. Transferred capabilities are a fixed array of at
//! most [`MAX_CAPS`] refs rather than a slice, for the same reason.
//!
//! [`MAX_PAYLOAD`] is 4096 bytes, one page: large enough for any control
//! message (a path, a line of shell input, a small struct), small enough
//! that copying it is cheaper than mapping it. Anything bigger is bulk
//! data, which travels as a Region capability (zero copy: in the single
//! address space a pointer means the same thing to every task).

use mealy_caps::{Badge, CapRef};
use serde::{Deserialize, Serialize};

use crate::error::IpcError;

/// The largest payload a message may carry, in bytes (one page).
pub const MAX_PAYLOAD: usize = 4096;

/// The most capabilities one message may transfer.
pub const MAX_CAPS: usize = 4;

/// Up to [`MAX_CAPS`] capability refs, inline.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CapList {
    refs: [CapRef; MAX_CAPS],
    count: u8,
}

impl CapList {
    /// No capabilities.
    pub const EMPTY: CapList = CapList {
        refs: [CapRef::from_raw(0); MAX_CAPS],
        count: 0,
    };

    /// The refs in `caps`; `TooManyCaps` if there are more than [`MAX_CAPS`].
    #[inline]
    pub fn from_slice(caps: &[CapRef]) -> Result<Self, IpcError> {
        if caps.is_empty() {
            return Ok(Self::EMPTY);
        }
        if caps.len() > MAX_CAPS {
            return Err(IpcError::TooManyCaps {
                count: crate::error::saturate(caps.len() as u64),
            });
        }
        let mut list = Self::EMPTY;
        for (slot, cap) in list.refs.iter_mut().zip(caps) {
            *slot = *cap;
        }
        list.count = caps.len() as u8;
        Ok(list)
    }

    /// The refs, in the order they were sent.
    pub fn as_slice(&self) -> &[CapRef] {
        &self.refs[..usize::from(self.count).min(MAX_CAPS)]
    }

    /// Replaces the ref at `index` (the kernel rewrites sender refs into
    /// receiver refs as it moves the capabilities).
    pub fn set(&mut self, index: usize, cap: CapRef) {
        if index < usize::from(self.count)
            && let Some(slot) = self.refs.get_mut(index)
        {
            *slot = cap;
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Default for CapList {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// A message's header as the receiver sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// The badge of the endpoint capability the sender used (`None` if
    /// unbadged); for kernel messages, the badge of the Irq or Timer
    /// capability.
    pub badge: Option<Badge>,
    /// A one-shot Reply capability in the receiver's CSpace, if this was a
    /// `call`.
    pub reply: Option<CapRef>,
    /// Capabilities moved into the receiver's CSpace with the message.
    pub caps: CapList,
    /// The payload's length in bytes (at most [`MAX_PAYLOAD`]).
    pub len: u16,
}

impl Envelope {
    /// The envelope of an unbadged message of `len` bytes that carries
    /// neither a Reply nor any capability, such as a plain reply.
    #[inline(always)]
    pub const fn plain(len: u16) -> Self {
        Envelope {
            badge: None,
            reply: None,
            caps: CapList::EMPTY,
            len,
        }
    }
}

/// `PayloadTooLarge` unless `len` fits [`MAX_PAYLOAD`].
pub fn check_payload(len: usize) -> Result<u16, IpcError> {
    if len > MAX_PAYLOAD {
        return Err(IpcError::payload_too_large(len, MAX_PAYLOAD));
    }
    Ok(len as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_list_keeps_order_and_bounds() {
        let refs = [
            CapRef::from_raw(1),
            CapRef::from_raw(2),
            CapRef::from_raw(3),
        ];
        let list = CapList::from_slice(&refs).unwrap();
        assert_eq!(list.as_slice(), &refs);
        let five = [CapRef::from_raw(9); 5];
        assert_eq!(
            CapList::from_slice(&five),
            Err(IpcError::TooManyCaps { count: 5 })
        );
    }

    #[test]
    fn payload_limit() {
        assert_eq!(check_payload(MAX_PAYLOAD), Ok(MAX_PAYLOAD as u16));
        assert!(matches!(
            check_payload(MAX_PAYLOAD + 1),
            Err(IpcError::PayloadTooLarge { .. })
        ));
    }
}
