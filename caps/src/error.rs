//! `CapError`: every way a capability operation can fail.
//!
//! One enum for all operations so the kernel can turn any failure into one
//! syscall error code; each operation's doc comment lists exactly which
//! variants it returns and in which order they are checked. Every check
//! happens before any state changes, so a failed operation changes nothing.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::object::ObjectKind;
use crate::rights::Rights;

/// Why a capability operation failed. A failed operation has no effect.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum CapError {
    /// The `CSpaceId` names no live CSpace (never created, or destroyed).
    InvalidCSpace,
    /// The `CapRef` names no capability in that CSpace: out of range, an
    /// empty slot, or a stale generation. Deliberately one variant, so a task
    /// learns nothing about other uses of a slot.
    InvalidRef,
    /// The `ObjectId` names no live object.
    InvalidObject,
    /// The capability lacks rights the operation requires.
    MissingRights {
        /// The required rights that the capability does not hold.
        missing: Rights,
    },
    /// Mint asked for rights that the source capability does not hold.
    RightsEscalation {
        /// The requested rights that the source does not hold.
        excess: Rights,
    },
    /// Mint asked for a badge, but the source capability is already badged.
    AlreadyBadged,
    /// The operation needs a capability to an object of another kind.
    WrongKind {
        /// The kind the capability actually names.
        found: ObjectKind,
    },
    /// The destination CSpace has no free slot.
    CSpaceFull,
    /// Every capability node in the system is in use.
    TooManyCapabilities,
    /// The object table is full.
    TooManyObjects,
    /// The CSpace table is full.
    TooManyCSpaces,
    /// A CSpace size outside `1..=Limits::max_cspace_slots`.
    InvalidCapacity,
    /// The heap could not provide a table's memory (only at creation time).
    OutOfMemory,
    /// A sub-range (`derive_region`) that does not lie inside its source.
    OutOfRange,
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapError::InvalidCSpace => f.write_str("no such CSpace"),
            CapError::InvalidRef => f.write_str("invalid or stale capability reference"),
            CapError::InvalidObject => f.write_str("no such object"),
            CapError::MissingRights { missing } => {
                write!(f, "capability lacks rights {missing}")
            }
            CapError::RightsEscalation { excess } => {
                write!(f, "cannot mint rights {excess} the source does not hold")
            }
            CapError::AlreadyBadged => f.write_str("source capability is already badged"),
            CapError::WrongKind { found } => write!(f, "wrong object kind ({found:?})"),
            CapError::CSpaceFull => f.write_str("CSpace full"),
            CapError::TooManyCapabilities => f.write_str("too many capabilities"),
            CapError::TooManyObjects => f.write_str("too many objects"),
            CapError::TooManyCSpaces => f.write_str("too many CSpaces"),
            CapError::InvalidCapacity => f.write_str("invalid CSpace size"),
            CapError::OutOfMemory => f.write_str("out of memory"),
            CapError::OutOfRange => f.write_str("range outside the source region"),
        }
    }
}

impl core::error::Error for CapError {}
