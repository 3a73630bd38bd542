//! `CapRef`: how a task names one of its capabilities.
//!
//! A slot index plus the slot's generation, checked on every use: a ref is
//! meaningless outside its own CSpace and stale once the slot is freed, since
//! freeing bumps the generation. The trade-off: 32 bits of generation per
//! slot instead of a global unique id, so a slot whose generation would wrap
//! is retired rather than reused (see `cspace.rs`), and lookup stays two
//! array indexings with no hashing.
//!
//! Services treat a `CapRef` as opaque; the kernel's ABI carries it as a
//! `u64` via [`CapRef::to_raw`] / [`CapRef::from_raw`].

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::arena::Key;

/// A task's name for one capability in its own CSpace: slot plus generation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CapRef {
    slot: u32,
    generation: u32,
}

impl CapRef {
    pub(crate) const fn new(slot: u32, generation: u32) -> Self {
        Self { slot, generation }
    }

    pub(crate) const fn slot(self) -> u32 {
        self.slot
    }

    /// The ABI form: generation in the high 32 bits, slot in the low 32.
    pub const fn to_raw(self) -> u64 {
        ((self.generation as u64) << 32) | self.slot as u64
    }

    /// Rebuilds a ref from its ABI form. Any `u64` is accepted: a forged or
    /// stale value simply fails lookup.
    pub const fn from_raw(raw: u64) -> Self {
        Self {
            slot: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

/// A CSpace's slots are an arena named by `CapRef`.
impl Key for CapRef {
    type Generation = u32;

    #[inline]
    fn join(slot: u32, generation: u32) -> Self {
        Self::new(slot, generation)
    }

    #[inline]
    fn split(self) -> (u32, u32) {
        (self.slot, self.generation)
    }
}

impl fmt::Debug for CapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapRef({}#{})", self.slot, self.generation)
    }
}

impl fmt::Display for CapRef {
    /// `slot#generation`, as the shell shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.slot, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn raw_round_trip() {
        let cap = CapRef::new(7, 3);
        assert_eq!(cap.to_raw(), (3 << 32) | 7);
        assert_eq!(CapRef::from_raw(cap.to_raw()), cap);
        assert_eq!(format!("{cap}"), "7#3");
    }
}
