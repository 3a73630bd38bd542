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
///
/// Twelve bytes (the payloads are `u32`s, not `usize`/`u64`): half the
/// size it was, so every result on the message path is less to write and
/// test (12 instructions per round trip, `kernel/benches/ipc.rs`). A test
/// holds it to that size. It still comes back through memory across the
/// `dyn Context` calls: only a result of one or two scalars returns in
/// registers, and two `u32` payloads beside the tag are three.
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
    /// The payload exceeds [`MAX_PAYLOAD`](crate::MAX_PAYLOAD). (`len`
    /// saturates at `u32::MAX`.)
    PayloadTooLarge { len: u32, max: u32 },
    /// More than [`MAX_CAPS`](crate::MAX_CAPS) capabilities in one message.
    /// (`count` saturates at `u32::MAX`.)
    TooManyCaps { count: u32 },
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
    /// capability names. (Both saturate at `u32::MAX`; see
    /// [`IpcError::out_of_range`].)
    OutOfRange { offset: u32, len: u32 },
    /// This kernel does not provide the operation (for example regions on
    /// a platform without a region allocator).
    Unsupported,
    /// A system call named memory its task's domain does not map for
    /// user access (or not writable where the kernel writes).
    BadAddress,
    /// A system-call number the kernel does not know.
    UnknownSyscall,
}

/// `n` as a `u32`, or `u32::MAX` if it does not fit (an error's numbers
/// are for people to read, and a number that large says enough).
#[inline]
pub(crate) fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl IpcError {
    /// `PayloadTooLarge` for a payload of `len` bytes over a limit of `max`.
    #[cold]
    pub fn payload_too_large(len: usize, max: usize) -> Self {
        IpcError::PayloadTooLarge {
            len: saturate(len as u64),
            max: saturate(max as u64),
        }
    }

    /// `OutOfRange` for `offset` in a range of `len` bytes.
    #[cold]
    pub fn out_of_range(offset: u64, len: u64) -> Self {
        IpcError::OutOfRange {
            offset: saturate(offset),
            len: saturate(len),
        }
    }
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
            IpcError::BadAddress => f.write_str("an address the task's domain does not map for it"),
            IpcError::UnknownSyscall => f.write_str("no such system call"),
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
            // The kernel names the range itself where it knows it
            // (`Context::subregion`).
            CapError::OutOfRange => IpcError::OutOfRange { offset: 0, len: 0 },
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
    /// Like `Fatal`, for a task the kernel stopped after a fault it has
    /// already reported in its one line (a ring-3 exception, a panic, a
    /// handler over its budget): nothing more is logged.
    Stopped,
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Malformed(error) => write!(f, "malformed message: {error}"),
            HandleError::Ipc(error) => write!(f, "{error}"),
            HandleError::Fatal(reason) => write!(f, "fatal: {reason}"),
            HandleError::Stopped => f.write_str("stopped after a fault"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallToken;

    #[test]
    fn errors_stay_twelve_bytes_and_results_sixteen() {
        assert!(core::mem::size_of::<IpcError>() <= 12);
        assert!(core::mem::size_of::<Result<(), IpcError>>() <= 16);
        assert!(core::mem::size_of::<Result<CallToken, IpcError>>() <= 16);
    }

    #[test]
    fn numbers_saturate_and_display_unchanged() {
        let error = IpcError::out_of_range(u64::MAX, 8);
        assert_eq!(
            error,
            IpcError::OutOfRange {
                offset: u32::MAX,
                len: 8
            }
        );
        assert_eq!(
            std::format!("{}", IpcError::out_of_range(0x1000, 0x2000)),
            "offset 0x1000 is outside the 0x2000-byte range"
        );
        assert_eq!(
            std::format!("{}", IpcError::payload_too_large(4097, 4096)),
            "payload of 4097 bytes exceeds the 4096-byte limit"
        );
        assert_eq!(
            std::format!("{}", IpcError::TooManyCaps { count: 5 }),
            "5 capabilities in one message (at most 4)"
        );
    }
}
