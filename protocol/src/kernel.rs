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
    /// bad buffer). The error itself went to the log.
    NotSent,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Malformed => f.write_str("the callee rejected a malformed request"),
            CallFailure::PeerDied => f.write_str("the callee died before answering"),
            CallFailure::Dropped => f.write_str("the callee dropped the reply capability"),
            CallFailure::NotSent => f.write_str("the call could not be made"),
        }
    }
}
