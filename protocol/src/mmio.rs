//! The width of one device-register access, for
//! [`Context::mmio_read`](crate::Context::mmio_read) and
//! [`Context::mmio_write`](crate::Context::mmio_write). Device registers
//! must be accessed at their own width (a 16-bit register read as two
//! bytes is two different reads to the device), so the width is part of
//! the operation, not a loop in the driver.

use serde::{Deserialize, Serialize};

/// How many bytes one register access moves. The offset must be a
/// multiple of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Width {
    U8,
    U16,
    U32,
    U64,
}

impl Width {
    /// The access's size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
            Width::U64 => 8,
        }
    }

    /// The largest value an access of this width carries.
    pub const fn mask(self) -> u64 {
        match self {
            Width::U64 => u64::MAX,
            other => (1u64 << (other.bytes() * 8)) - 1,
        }
    }

    /// Whether an access at `offset` of a range of `len` bytes is aligned
    /// and inside it.
    pub const fn fits(self, offset: u64, len: u64) -> bool {
        offset.is_multiple_of(self.bytes())
            && match offset.checked_add(self.bytes()) {
                Some(end) => end <= len,
                None => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_fits_when_aligned_and_inside() {
        assert!(Width::U32.fits(0, 4));
        assert!(Width::U32.fits(4, 8));
        assert!(!Width::U32.fits(2, 8), "unaligned");
        assert!(!Width::U32.fits(8, 8), "past the end");
        assert!(!Width::U64.fits(u64::MAX - 7, u64::MAX), "overflow");
        assert!(Width::U8.fits(7, 8));
        assert_eq!(Width::U16.mask(), 0xffff);
        assert_eq!(Width::U64.mask(), u64::MAX);
    }
}
