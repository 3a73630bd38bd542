//! The errors of the message path, as values.
//!
//! [`IpcError`] is what a [`Context`](crate::Context) operation returns:
//! one enum for every operation, so a service matches one type, and every
//! failed operation has no effect (nothing sent, nothing moved).
//! [`HandleError`] is what a handler returns to the kernel, which decides
//! what follows (an error reply, a log line, or stopping the task).

use core::fmt;

use mealy_caps::{CapError, ObjectKind, Rights};
use serde::{Deserialize, Serialize};

use crate::codec::CodecError;

/// Why a send, call, reply or capability operation failed. A failed
/// operation changes nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum IpcError {
    /// The receiver's mailbox is full: backpressure. Retry later; nothing
    /// was sent and no capability moved.
    MailboxFull,
    /// The receiver has stopped or faulted.
    DeadTask,
    /// The ref names no capability in the caller's CSpace (empty, stale,
    /// revoked, or forged).
    InvalidCap,
    /// The capability lacks rights the operation needs (WRITE to send,
    /// GRANT to transfer, ...).
    MissingRights { missing: Rights },
    /// The capability names the wrong kind of object.
    WrongKind { found: ObjectKind },
    /// Mint asked for rights the source does not hold.
    RightsEscalation { excess: Rights },
    /// Mint asked for a badge on an already badged capability.
    AlreadyBadged,
    /// The payload exceeds [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
    PayloadTooLarge { len: usize, max: usize },
    /// More than [`MAX_CAPS`](crate::MAX_CAPS) capabilities in one message.
    TooManyCaps { count: usize },
    /// The same capability was listed twice in one transfer.
    DuplicateCap,
    /// The receiving CSpace has no room for the transferred capabilities
    /// (or for the reply capability of a call).
    NoRoom,
    /// A kernel table (capabilities, objects, timers) or the heap is
    /// exhausted.
    OutOfResources,
    /// A payload did not decode.
    Malformed,
    /// An offset past the end of the device range or region the
    /// capability names.
    OutOfRange { offset: u64, len: u64 },
    /// This kernel does not provide the operation (for example regions on
    /// a platform without a region allocator).
    Unsupported,
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcError::MailboxFull => f.write_str("receiver's mailbox is full"),
            IpcError::DeadTask => f.write_str("receiver is not running"),
            IpcError::InvalidCap => f.write_str("invalid or stale capability"),
            IpcError::MissingRights { missing } => write!(f, "capability lacks rights {missing}"),
            IpcError::WrongKind { found } => write!(f, "wrong kind of capability ({found:?})"),
            IpcError::RightsEscalation { excess } => {
                write!(f, "cannot mint rights {excess} the source does not hold")
            }
            IpcError::AlreadyBadged => f.write_str("capability is already badged"),
            IpcError::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the {max}-byte limit")
            }
            IpcError::TooManyCaps { count } => {
                write!(f, "{count} capabilities in one message (at most 4)")
            }
            IpcError::DuplicateCap => f.write_str("capability listed twice in one transfer"),
            IpcError::NoRoom => f.write_str("receiver's CSpace is full"),
            IpcError::OutOfResources => f.write_str("kernel resources exhausted"),
            IpcError::Malformed => f.write_str("malformed payload"),
            IpcError::OutOfRange { offset, len } => {
                write!(f, "offset {offset:#x} is outside the {len:#x}-byte range")
            }
            IpcError::Unsupported => f.write_str("operation not supported by this kernel"),
        }
    }
}

impl core::error::Error for IpcError {}

impl From<CapError> for IpcError {
    fn from(error: CapError) -> Self {
        match error {
            CapError::InvalidCSpace | CapError::InvalidRef | CapError::InvalidObject => {
                IpcError::InvalidCap
            }
            CapError::MissingRights { missing } => IpcError::MissingRights { missing },
            CapError::RightsEscalation { excess } => IpcError::RightsEscalation { excess },
            CapError::AlreadyBadged => IpcError::AlreadyBadged,
            CapError::WrongKind { found } => IpcError::WrongKind { found },
            CapError::CSpaceFull => IpcError::NoRoom,
            CapError::TooManyCapabilities
            | CapError::TooManyObjects
            | CapError::TooManyCSpaces
            | CapError::InvalidCapacity
            | CapError::OutOfMemory => IpcError::OutOfResources,
        }
    }
}

impl From<CodecError> for IpcError {
    fn from(_: CodecError) -> Self {
        IpcError::Malformed
    }
}

/// Why a handler gave up on a message. The task keeps running in every case
/// but [`HandleError::Fatal`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HandleError {
    /// The payload did not decode as any message this service accepts. If
    /// it came with a reply capability, the kernel answers the caller with
    /// [`CallFailure::Malformed`](crate::CallFailure::Malformed).
    Malformed(CodecError),
    /// An operation the handler needed failed; the kernel logs and counts it.
    Ipc(IpcError),
    /// The service cannot go on: the kernel stops it, revokes its
    /// capabilities and fails its pending calls with `PeerDied`.
    Fatal(&'static str),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Malformed(error) => write!(f, "malformed message: {error}"),
            HandleError::Ipc(error) => write!(f, "{error}"),
            HandleError::Fatal(reason) => write!(f, "fatal: {reason}"),
        }
    }
}

impl core::error::Error for HandleError {}

impl From<CodecError> for HandleError {
    fn from(error: CodecError) -> Self {
        HandleError::Malformed(error)
    }
}

impl From<IpcError> for HandleError {
    fn from(error: IpcError) -> Self {
        HandleError::Ipc(error)
    }
}
