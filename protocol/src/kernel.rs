//! Messages the kernel generates. Interrupts and timeouts are delivered as
//! [`MessageKind::Interrupt`](crate::MessageKind::Interrupt) and
//! [`MessageKind::Timeout`](crate::MessageKind::Timeout) with an empty
//! payload; a call that will never be answered comes back as
//! [`MessageKind::CallFailed`](crate::MessageKind::CallFailed) with a
//! [`CallFailure`]. These types derive serde so the shell and the inspect
//! snapshots can show them.

use core::fmt;

use serde::{Deserialize, Serialize};

/// Why a call will never be answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum CallFailure {
    /// The callee could not decode the request (the error reply for a
    /// malformed payload). The callee keeps running.
    Malformed,
    /// The callee stopped or faulted before answering ("peer died").
    PeerDied,
    /// The callee dropped the reply capability without answering.
    Dropped,
    /// The call was never made: a call a ring-3 runtime deferred to the
    /// end of its handler (`Context::call`) failed when the kernel made
    /// it (a stale or forged endpoint, a full mailbox, a dead callee, a
    /// bad buffer), with the error [`CallFailure::not_sent`] encoded (its
    /// `abi` code and detail, each a byte: what a deferred call can meet
    /// fits, and `MessageKind` stays two words).
    NotSent { code: u8, detail: u8 },
}

impl CallFailure {
    /// `NotSent` for a call that failed with `error`.
    pub fn not_sent(error: crate::IpcError) -> Self {
        let (code, detail) = crate::abi::encode_error(error);
        Self::NotSent {
            code: u8::try_from(code).unwrap_or(u8::MAX),
            detail: u8::try_from(detail).unwrap_or(0),
        }
    }

    /// Why a `NotSent` call was not made, if the code is one the ABI
    /// knows.
    pub fn not_sent_error(&self) -> Option<crate::IpcError> {
        match *self {
            Self::NotSent { code, detail } => {
                crate::abi::decode_error(u64::from(code), u64::from(detail))
            }
            _ => None,
        }
    }
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Malformed => f.write_str("the callee rejected a malformed request"),
            CallFailure::PeerDied => f.write_str("the callee died before answering"),
            CallFailure::Dropped => f.write_str("the callee dropped the reply capability"),
            CallFailure::NotSent { .. } => match self.not_sent_error() {
                Some(error) => write!(f, "{error}"),
                None => f.write_str("the call could not be made"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IpcError;
    use mealy_caps::Rights;

    #[test]
    fn a_call_not_sent_carries_its_error_and_says_it() {
        for error in [
            IpcError::DeadTask,
            IpcError::InvalidCap,
            IpcError::MailboxFull,
            IpcError::BadAddress,
            IpcError::Malformed,
            IpcError::MissingRights {
                missing: Rights::WRITE,
            },
        ] {
            let reason = CallFailure::not_sent(error);
            assert_eq!(reason.not_sent_error(), Some(error));
            assert_eq!(alloc::format!("{reason}"), alloc::format!("{error}"));
        }
        // Code 0 is "no error": nothing to say but that it failed.
        let unknown = CallFailure::NotSent { code: 0, detail: 0 };
        assert_eq!(unknown.not_sent_error(), None);
        assert_eq!(alloc::format!("{unknown}"), "the call could not be made");
        assert_eq!(CallFailure::PeerDied.not_sent_error(), None);
    }
}
