//! The line between portable memory management and page tables: the
//! [`Mapper`] trait the arch layer implements over real x86_64 page tables
//! (and host tests over a `HashMap`), and the [`Permissions`] a mapping has.
//!
//! Trade-off: one page per call. That keeps the trait small and easy to
//! implement correctly; a batch call can be added if profiles show the
//! per-page cost matters. TLB invalidation is batched instead: callers
//! change many pages, then call [`Mapper::flush`] once for the range.

use core::fmt;

use bitflags::bitflags;
use x86_64::structures::paging::{Page, PhysFrame};

use super::address_space::VirtRange;
use super::frame::{FrameError, FrameSource};

bitflags! {
    /// What a mapping allows beyond "kernel may read". Absent flags are the
    /// safe default: read-only, executable only if NO_EXECUTE is absent,
    /// kernel-only.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Permissions: u8 {
        const WRITE = 1 << 0;
        const NO_EXECUTE = 1 << 1;
        const USER = 1 << 2;
        /// Uncached: device registers (MMIO), where every access must reach
        /// the device in program order.
        const NO_CACHE = 1 << 3;
    }
}

impl Permissions {
    /// Kernel data: writable, never executable.
    pub const KERNEL_DATA: Self = Self::WRITE.union(Self::NO_EXECUTE);
    /// Device registers: writable, never executable, uncached.
    pub const DEVICE: Self = Self::KERNEL_DATA.union(Self::NO_CACHE);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The page already has a mapping.
    AlreadyMapped { page: Page },
    /// The page has no mapping to change.
    NotMapped { page: Page },
    /// A page-table frame could not be allocated.
    PageTable(FrameError),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyMapped { page } => {
                write!(
                    f,
                    "page {:#x} is already mapped",
                    page.start_address().as_u64()
                )
            }
            Self::NotMapped { page } => {
                write!(f, "page {:#x} is not mapped", page.start_address().as_u64())
            }
            Self::PageTable(error) => write!(f, "no frame for a page table: {error}"),
        }
    }
}

/// Page-table operations, implemented by the arch layer.
///
/// Implementations must not allocate on the heap: the heap grows through
/// this trait while its lock is held.
pub trait Mapper {
    /// Maps `page` to `frame`. `table_frames` supplies frames for any
    /// page-table levels that do not exist yet. Mapping a page that was not
    /// present needs no TLB flush on x86_64.
    fn map(
        &mut self,
        page: Page,
        frame: PhysFrame,
        permissions: Permissions,
        table_frames: &mut dyn FrameSource,
    ) -> Result<(), MapError>;

    /// Removes the mapping of `page`, returning the frame it had. The TLB
    /// may still hold it until [`flush`](Self::flush).
    fn unmap(&mut self, page: Page) -> Option<PhysFrame>;

    /// Changes the permissions of a mapped page. Takes effect for certain
    /// after [`flush`](Self::flush).
    fn protect(&mut self, page: Page, permissions: Permissions) -> Result<(), MapError>;

    /// Invalidates stale translations for `range`: the TLB-shootdown hook.
    /// Today it invalidates on this core; the SMP code extends it to every
    /// core that may hold the translations, and it must return only once
    /// they are gone (the frames are freed right after).
    fn flush(&mut self, range: VirtRange);

    /// Frees the page tables below the top level that map nothing any
    /// more within `range` (after [`flush`](Self::flush)), into `frames`.
    /// The default keeps them.
    fn reclaim_tables(&mut self, range: VirtRange, frames: &mut dyn FrameSource) {
        let _ = (range, frames);
    }
}
