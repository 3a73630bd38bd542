//! The single address space: one allocator of virtual ranges in the lower
//! half, shared by every region (service images, heaps, stacks, buffers,
//! mapped files), so a pointer means the same thing to everyone.
//!
//! Each reservation is page-aligned and surrounded by its own guard pages:
//! its footprint is `guard | range | guard`, and footprints never overlap,
//! so between any two live ranges lie at least two unmapped guard pages and
//! running off either end of a range faults. A range is never handed out
//! again while it is live.
//!
//! Trade-off: live reservations sit in a `BTreeMap` keyed by footprint
//! start, which needs `alloc` (fine: regions are made after the heap exists;
//! the heap's own range is the first reservation). Lookup and release are
//! O(log n); reserve is next-fit, O(n) in the live reservations it has to
//! step over. Next-fit means released addresses are recycled as late as
//! possible, so a stale pointer into a released region keeps faulting for
//! as long as the space allows instead of landing in a new region. Simple
//! and clear over clever: a free-gap index can come later if profiles ask.

use alloc::collections::BTreeMap;
use core::fmt;

use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, Size4KiB};

use super::PAGE_SIZE;

/// Where the shared lower-half space starts: clear of address zero and of
/// anything a loader might still identity-map low.
pub const LOWER_HALF_START: u64 = 0x0000_1000_0000_0000;
/// The last page below the canonical hole is left out, so the end address
/// itself stays canonical.
pub const LOWER_HALF_END: u64 = 0x0000_7fff_ffff_f000;

/// A page-aligned range of virtual addresses: `pages` pages from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VirtRange {
    start: u64,
    pages: u64,
}

impl VirtRange {
    /// `pages` pages from `first`: for describing parts of a reservation
    /// (flushes); reservations themselves come from [`AddressSpace`].
    pub fn of_pages(first: Page<Size4KiB>, pages: u64) -> Self {
        Self {
            start: first.start_address().as_u64(),
            pages,
        }
    }

    pub fn start(&self) -> VirtAddr {
        VirtAddr::new_truncate(self.start)
    }

    /// One past the last byte.
    pub fn end(&self) -> VirtAddr {
        VirtAddr::new_truncate(self.start + self.pages * PAGE_SIZE)
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    pub fn len_bytes(&self) -> u64 {
        self.pages * PAGE_SIZE
    }

    pub fn contains(&self, address: VirtAddr) -> bool {
        (self.start..self.start + self.len_bytes()).contains(&address.as_u64())
    }

    /// The `index`th page of the range, if it has one.
    pub fn page(&self, index: u64) -> Option<Page<Size4KiB>> {
        (index < self.pages).then(|| {
            Page::containing_address(VirtAddr::new_truncate(self.start + index * PAGE_SIZE))
        })
    }
}

impl fmt::Display for VirtRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.start + self.len_bytes())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceError {
    /// No gap holds `pages` plus `guard_pages` on each side.
    Exhausted { pages: u64, guard_pages: u64 },
    /// A reservation of zero pages.
    ZeroPages,
    /// A reservation without guard pages: every range needs at least one.
    NoGuard,
    /// The range is not a live reservation (released twice, or never made).
    NotLive { range: VirtRange },
    /// The heap's range is set aside once, before any other reservation.
    HeapAlreadySet,
    /// The bounds given to [`AddressSpace::new`] are unaligned, empty or
    /// not canonical.
    BadBounds { start: u64, end: u64 },
}

impl fmt::Display for SpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exhausted { pages, guard_pages } => write!(
                f,
                "address space exhausted: no room for {pages} page(s) with {guard_pages} guard page(s) each side"
            ),
            Self::ZeroPages => write!(f, "a range of zero pages"),
            Self::NoGuard => write!(f, "a range needs at least one guard page"),
            Self::NotLive { range } => write!(f, "range {range} is not live"),
            Self::HeapAlreadySet => {
                write!(
                    f,
                    "the heap range must be set aside once, before other ranges"
                )
            }
            Self::BadBounds { start, end } => write!(
                f,
                "address-space bounds {start:#x}..{end:#x} are not page-aligned, canonical and non-empty"
            ),
        }
    }
}

/// A live reservation: the range and the guard pages on each side of it.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    range: VirtRange,
    guard_pages: u64,
}

impl Reservation {
    fn footprint_end(&self) -> u64 {
        self.range.start + (self.range.pages + self.guard_pages) * PAGE_SIZE
    }
}

/// Counts for the shell's `mem` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceStats {
    pub live_ranges: usize,
    /// Pages in live ranges, guards not included.
    pub reserved_pages: u64,
    /// Guard pages around live ranges.
    pub guard_pages: u64,
}

/// The global virtual-range allocator. See the module documentation.
pub struct AddressSpace {
    start: u64,
    end: u64,
    /// Live reservations by footprint start (first guard page).
    live: BTreeMap<u64, Reservation>,
    /// The kernel heap's range, kept outside `live` because inserting into
    /// the map needs the heap.
    heap: Option<Reservation>,
    /// Next-fit position: searches start here and wrap around once.
    cursor: u64,
}

impl AddressSpace {
    /// The whole shared lower half.
    pub fn lower_half() -> Self {
        Self {
            start: LOWER_HALF_START,
            end: LOWER_HALF_END,
            live: BTreeMap::new(),
            heap: None,
            cursor: LOWER_HALF_START,
        }
    }

    /// A space over `start..end` (tests use small ones).
    pub fn new(start: u64, end: u64) -> Result<Self, SpaceError> {
        let canonical = |address: u64| VirtAddr::try_new(address).is_ok();
        let aligned = start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE);
        if !aligned || start >= end || !canonical(start) || !canonical(end) {
            return Err(SpaceError::BadBounds { start, end });
        }
        Ok(Self {
            start,
            end,
            live: BTreeMap::new(),
            heap: None,
            cursor: start,
        })
    }

    /// Reserves `pages` pages with `guard_pages` (at least one) unmapped
    /// pages on each side that no other reservation may use.
    pub fn reserve(&mut self, pages: u64, guard_pages: u64) -> Result<VirtRange, SpaceError> {
        if pages == 0 {
            return Err(SpaceError::ZeroPages);
        }
        if guard_pages == 0 {
            return Err(SpaceError::NoGuard);
        }
        let exhausted = SpaceError::Exhausted { pages, guard_pages };
        let footprint = guard_pages
            .checked_mul(2)
            .and_then(|guards| guards.checked_add(pages))
            .and_then(|total| total.checked_mul(PAGE_SIZE))
            .ok_or(exhausted)?;
        let footprint_start = self
            .first_fit(self.cursor, footprint)
            .or_else(|| self.first_fit(self.start, footprint))
            .ok_or(exhausted)?;
        let range = VirtRange {
            start: footprint_start + guard_pages * PAGE_SIZE,
            pages,
        };
        self.live
            .insert(footprint_start, Reservation { range, guard_pages });
        self.cursor = footprint_start + footprint;
        Ok(range)
    }

    /// Sets aside the kernel heap's range (one guard page each side) at the
    /// bottom of the space without touching the heap: call it once, before
    /// any [`reserve`](Self::reserve). The range is never released.
    pub fn set_aside_heap(&mut self, pages: u64) -> Result<VirtRange, SpaceError> {
        if self.heap.is_some() || !self.live.is_empty() {
            return Err(SpaceError::HeapAlreadySet);
        }
        if pages == 0 {
            return Err(SpaceError::ZeroPages);
        }
        let footprint = pages
            .checked_add(2)
            .and_then(|total| total.checked_mul(PAGE_SIZE))
            .filter(|bytes| *bytes <= self.end - self.start)
            .ok_or(SpaceError::Exhausted {
                pages,
                guard_pages: 1,
            })?;
        let range = VirtRange {
            start: self.start + PAGE_SIZE,
            pages,
        };
        self.heap = Some(Reservation {
            range,
            guard_pages: 1,
        });
        self.start += footprint;
        self.cursor = self.start;
        Ok(range)
    }

    /// Ends a reservation. Its addresses may be reused later (as late as
    /// next-fit allows).
    pub fn release(&mut self, range: VirtRange) -> Result<(), SpaceError> {
        let key = self
            .entry_containing(range.start)
            .filter(|(_, reservation)| reservation.range == range)
            .map(|(key, _)| key)
            .ok_or(SpaceError::NotLive { range })?;
        self.live.remove(&key);
        Ok(())
    }

    /// Which live range `address` falls in, and whether it hit one of that
    /// range's guard pages: what a page-fault report wants to say.
    pub fn lookup(&self, address: VirtAddr) -> Option<(VirtRange, bool)> {
        let heap = self.heap.filter(|heap| {
            let footprint_start = heap.range.start - PAGE_SIZE;
            (footprint_start..heap.footprint_end()).contains(&address.as_u64())
        });
        let reservation = match heap {
            Some(heap) => heap,
            None => self.entry_containing(address.as_u64())?.1,
        };
        let in_guard = !reservation.range.contains(address);
        Some((reservation.range, in_guard))
    }

    pub fn stats(&self) -> SpaceStats {
        let (reserved_pages, guard_pages) =
            self.live
                .values()
                .fold((0, 0), |(pages, guards), reservation| {
                    (
                        pages + reservation.range.pages,
                        guards + 2 * reservation.guard_pages,
                    )
                });
        SpaceStats {
            live_ranges: self.live.len(),
            reserved_pages,
            guard_pages,
        }
    }

    /// Every live range, in address order.
    pub fn live_ranges(&self) -> impl Iterator<Item = VirtRange> + '_ {
        self.live.values().map(|reservation| reservation.range)
    }

    /// The reservation whose footprint (guards included) holds `address`.
    fn entry_containing(&self, address: u64) -> Option<(u64, Reservation)> {
        let (&key, reservation) = self.live.range(..=address).next_back()?;
        (address < reservation.footprint_end()).then_some((key, *reservation))
    }

    /// The lowest footprint start at or above `from` (and inside the space)
    /// where `length` bytes overlap no live footprint.
    fn first_fit(&self, from: u64, length: u64) -> Option<u64> {
        let mut candidate = from.max(self.start);
        if let Some((_, before)) = self.live.range(..candidate).next_back() {
            candidate = candidate.max(before.footprint_end());
        }
        for (&footprint_start, reservation) in self.live.range(candidate..) {
            if footprint_start - candidate >= length {
                break;
            }
            candidate = reservation.footprint_end();
            if candidate >= self.end {
                return None;
            }
        }
        let fits = candidate
            .checked_add(length)
            .is_some_and(|end| end <= self.end);
        fits.then_some(candidate)
    }
}

#[cfg(test)]
#[path = "address_space_tests.rs"]
mod tests;
