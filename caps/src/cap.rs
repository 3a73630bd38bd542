//! `Cap` and `Badge`: what a capability is, as the kernel sees it after lookup.
//!
//! A `Cap` is a plain `Copy` value (object, rights, badge) so lookup can hand
//! it out by value without borrowing the capability tables; the trade-off is
//! that it is a snapshot, valid until the next mutating operation.

use core::fmt;
use core::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::object::ObjectId;
use crate::rights::Rights;

/// A value the kernel delivers with every message sent through a badged
/// endpoint capability, so a server can tell its clients apart. Never zero, so
/// `Option<Badge>` costs no space and zero can mean "unbadged" on the ABI.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Badge(NonZeroU64);

impl Badge {
    /// A badge with this value; `None` for zero, which means "no badge".
    pub const fn new(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// The badge's value (never zero).
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Badge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}

/// A capability: the object it names, the rights it carries, and its badge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Cap {
    /// The object this capability names.
    pub object: ObjectId,
    /// What the holder may do with the object and with this capability.
    pub rights: Rights,
    /// Set once by mint on an unbadged capability; inherited by derivations.
    pub badge: Option<Badge>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_no_badge() {
        assert_eq!(Badge::new(0), None);
        assert_eq!(Badge::new(9).map(Badge::get), Some(9));
        assert_eq!(core::mem::size_of::<Option<Badge>>(), 8);
    }
}
