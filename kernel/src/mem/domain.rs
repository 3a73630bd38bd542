//! A protection domain: one task's page-table root over the one shared
//! layout, and the checked copies through which the kernel touches that
//! task's memory.
//!
//! The root's upper half is the kernel's own (the same lower-level tables,
//! supervisor-only, so the kernel image and the direct map are where they
//! always are, and ring 3 cannot touch them). The lower half starts empty
//! and maps, at their one global address, only what the task may use: its
//! image, stack and message area, and the Regions its capabilities grant.
//! Nothing here is a second address: a page is mapped in a domain at the
//! address it has everywhere.
//!
//! Checked copies: a system call hands the kernel addresses. The kernel
//! never dereferences them (its own root has no user pages, and SMAP would
//! refuse). It walks this domain's tables instead: every page the copy
//! touches must be present, user-accessible, writable if the kernel writes
//! it, and marked [`COPYABLE`] (RAM the frame allocator owns, never device
//! memory); then it copies through the direct map. A bad address is an
//! error value, never a fault.
//!
//! Trade-off: the last few leaf entries a copy found are remembered by
//! page, and forgotten on every map or unmap, rather than kept in a
//! structure of their own; copies on the message path touch a page or
//! two of stack, heap and message area. The tables are
//! written through [`PhysAccess`] (the frame allocator's view of physical
//! memory), so all of this is host-tested over a buffer.

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use x86_64::structures::paging::{Page, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

use super::PAGE_SIZE;
use super::address_space::{LOWER_HALF_END, LOWER_HALF_START};
use super::frame::{FrameAllocator, FrameError, PhysicalMemory};
use super::mapper::Mapper;
use super::system::MemorySystem;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
/// An available bit: this page is RAM the kernel may copy through the
/// direct map (not device registers).
pub const COPYABLE: u64 = 1 << 9;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: usize = 512;

/// What the memory a domain is built of must offer.
pub trait PhysAccess {
    /// A fresh frame, zeroed, for a page table.
    fn allocate_table(&self) -> Result<PhysFrame, FrameError>;
    fn free_table(&self, frame: PhysFrame);
    /// See [`FrameAllocator::read_bytes`]: `None` outside managed frames.
    fn read(&self, phys: PhysAddr, out: &mut [u8]) -> Option<()>;
    fn write(&self, phys: PhysAddr, bytes: &[u8]) -> Option<()>;
    /// See [`FrameAllocator::frame_ptr`].
    fn frame_ptr(&self, frame: PhysFrame) -> Option<core::ptr::NonNull<u8>>;
}

impl<M: PhysicalMemory, P: Mapper> PhysAccess for MemorySystem<M, P> {
    fn allocate_table(&self) -> Result<PhysFrame, FrameError> {
        self.with_frames(|frames: &mut FrameAllocator<M>| {
            let frame = frames.allocate()?;
            let zero = [0u8; 512];
            for chunk in 0..(PAGE_SIZE / 512) {
                frames.write_bytes(frame.start_address() + chunk * 512, &zero);
            }
            Ok(frame)
        })
    }

    fn free_table(&self, frame: PhysFrame) {
        let _ = self.with_frames(|frames| frames.free(frame));
    }

    fn read(&self, phys: PhysAddr, out: &mut [u8]) -> Option<()> {
        self.with_frames(|frames| frames.read_bytes(phys, out))
    }

    fn write(&self, phys: PhysAddr, bytes: &[u8]) -> Option<()> {
        self.with_frames(|frames| frames.write_bytes(phys, bytes))
    }

    fn frame_ptr(&self, frame: PhysFrame) -> Option<core::ptr::NonNull<u8>> {
        self.with_frames(|frames| frames.frame_ptr(frame))
    }
}

/// How a page may be used from ring 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    /// Read and execute (code). Never writable: W^X.
    Execute,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainError {
    /// The page is not in the shared lower half.
    OutsideUserSpace { address: u64 },
    /// The page is mapped already.
    AlreadyMapped { address: u64 },
    /// No frame for a page table.
    Frames(FrameError),
    /// A table the domain walked is not a frame the allocator manages
    /// (a kernel bug, reported rather than followed).
    Corrupt,
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideUserSpace { address } => {
                write!(f, "{address:#x} is outside the user half")
            }
            Self::AlreadyMapped { address } => write!(f, "{address:#x} is mapped already"),
            Self::Frames(error) => write!(f, "no frame for a page table: {error}"),
            Self::Corrupt => f.write_str("a domain page table is not a managed frame"),
        }
    }
}

/// An address a system call passed that the domain does not map as
/// needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAddress {
    pub address: u64,
}

/// One task's page tables. See the module documentation.
pub struct Domain<'m> {
    memory: &'m dyn PhysAccess,
    root: PhysFrame,
    /// Every table frame this domain allocated (the root first), freed
    /// on drop. Leaf frames belong to the regions mapped, not to it.
    tables: Vec<PhysFrame>,
    /// Pages mapped now.
    mapped: u64,
    /// The last [`LEAVES`] leaf entries copies walked to, by page (a
    /// system call's buffers are on the same few pages of stack, heap and
    /// message area each time, so most copies skip the four-level walk),
    /// and the slot the next walk replaces. Forgotten on every change.
    leaves: [Cell<(u64, u64)>; LEAVES],
    next_leaf: Cell<usize>,
}

/// How many leaf entries a domain remembers.
const LEAVES: usize = 4;
/// A `leaves` slot that holds nothing (no page address is odd).
const NO_LEAF: (u64, u64) = (1, 0);

fn index(address: u64, level: u32) -> usize {
    ((address >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

impl<'m> Domain<'m> {
    /// A domain whose upper half is `kernel_root`'s (the same tables) and
    /// whose lower half is empty.
    pub fn new(memory: &'m dyn PhysAccess, kernel_root: PhysFrame) -> Result<Self, DomainError> {
        let root = memory.allocate_table().map_err(DomainError::Frames)?;
        let mut domain = Domain {
            memory,
            root,
            tables: Vec::new(),
            mapped: 0,
            leaves: [const { Cell::new(NO_LEAF) }; LEAVES],
            next_leaf: Cell::new(0),
        };
        domain.tables.push(root);
        let mut upper = [0u8; ENTRIES / 2 * 8];
        memory
            .read(
                kernel_root.start_address() + (ENTRIES as u64 / 2) * 8,
                &mut upper,
            )
            .ok_or(DomainError::Corrupt)?;
        memory
            .write(root.start_address() + (ENTRIES as u64 / 2) * 8, &upper)
            .ok_or(DomainError::Corrupt)?;
        Ok(domain)
    }

    /// The root to load into CR3 while the task runs.
    pub fn root(&self) -> PhysFrame {
        self.root
    }

    /// Pages mapped now.
    pub fn mapped_pages(&self) -> u64 {
        self.mapped
    }

    /// Page-table frames this domain owns (the root included).
    pub fn table_frames(&self) -> usize {
        self.tables.len()
    }

    fn entry(&self, table: PhysFrame, index: usize) -> Option<u64> {
        let mut bytes = [0u8; 8];
        self.memory
            .read(table.start_address() + index as u64 * 8, &mut bytes)?;
        Some(u64::from_le_bytes(bytes))
    }

    fn set_entry(&self, table: PhysFrame, index: usize, value: u64) -> Option<()> {
        self.memory.write(
            table.start_address() + index as u64 * 8,
            &value.to_le_bytes(),
        )
    }

    fn check_user(address: u64) -> Result<(), DomainError> {
        if (LOWER_HALF_START..LOWER_HALF_END).contains(&address) {
            Ok(())
        } else {
            Err(DomainError::OutsideUserSpace { address })
        }
    }

    /// The level-1 table for `address`, made if `create`.
    fn leaf_table(&mut self, address: u64, create: bool) -> Result<Option<PhysFrame>, DomainError> {
        let mut table = self.root;
        for level in [4, 3, 2] {
            let slot = index(address, level);
            let entry = self.entry(table, slot).ok_or(DomainError::Corrupt)?;
            table = if entry & PRESENT != 0 {
                PhysFrame::containing_address(PhysAddr::new(entry & ADDRESS))
            } else if create {
                let next = self.memory.allocate_table().map_err(DomainError::Frames)?;
                self.tables.push(next);
                self.set_entry(
                    table,
                    slot,
                    next.start_address().as_u64() | PRESENT | WRITABLE | USER,
                )
                .ok_or(DomainError::Corrupt)?;
                next
            } else {
                return Ok(None);
            };
        }
        Ok(Some(table))
    }

    /// Maps `page` to `frame` for ring 3 with `access`. `copyable` says
    /// the frame is RAM the allocator manages (checked copies may use it).
    pub fn map(
        &mut self,
        page: Page,
        frame: PhysFrame,
        access: Access,
        copyable: bool,
    ) -> Result<(), DomainError> {
        let address = page.start_address().as_u64();
        Self::check_user(address)?;
        self.forget_leaves();
        let table = self
            .leaf_table(address, true)?
            .ok_or(DomainError::Corrupt)?;
        let slot = index(address, 1);
        if self.entry(table, slot).ok_or(DomainError::Corrupt)? & PRESENT != 0 {
            return Err(DomainError::AlreadyMapped { address });
        }
        let mut entry = frame.start_address().as_u64() | PRESENT | USER;
        match access {
            Access::ReadOnly => entry |= NO_EXECUTE,
            Access::ReadWrite => entry |= NO_EXECUTE | WRITABLE,
            Access::Execute => {}
        }
        if copyable {
            entry |= COPYABLE;
        }
        self.set_entry(table, slot, entry)
            .ok_or(DomainError::Corrupt)?;
        self.mapped += 1;
        Ok(())
    }

    /// Removes `page`'s mapping, if it has one. The TLB is the caller's:
    /// on one core without PCID, loading this root again flushes it; a
    /// running domain needs an `invlpg` (and, with SMP, a shootdown).
    pub fn unmap(&mut self, page: Page) -> Option<PhysFrame> {
        let address = page.start_address().as_u64();
        Self::check_user(address).ok()?;
        self.forget_leaves();
        let table = self.leaf_table(address, false).ok()??;
        let slot = index(address, 1);
        let entry = self.entry(table, slot)?;
        if entry & PRESENT == 0 {
            return None;
        }
        self.set_entry(table, slot, 0)?;
        self.mapped -= 1;
        Some(PhysFrame::containing_address(PhysAddr::new(
            entry & ADDRESS,
        )))
    }

    /// The leaf entry for `address`, if present.
    fn leaf(&self, address: u64) -> Option<u64> {
        let page = address & !(PAGE_SIZE - 1);
        for leaf in &self.leaves {
            let (cached, entry) = leaf.get();
            if cached == page {
                return Some(entry);
            }
        }
        let entry = self.walk(address)?;
        let slot = self.next_leaf.get() % LEAVES;
        self.leaves[slot].set((page, entry));
        self.next_leaf.set(slot + 1);
        Some(entry)
    }

    fn forget_leaves(&self) {
        for leaf in &self.leaves {
            leaf.set(NO_LEAF);
        }
    }

    fn walk(&self, address: u64) -> Option<u64> {
        if !(LOWER_HALF_START..LOWER_HALF_END).contains(&address) {
            return None;
        }
        let mut table = self.root;
        for level in [4, 3, 2] {
            let entry = self.entry(table, index(address, level))?;
            if entry & PRESENT == 0 {
                return None;
            }
            table = PhysFrame::containing_address(PhysAddr::new(entry & ADDRESS));
        }
        let entry = self.entry(table, index(address, 1))?;
        (entry & PRESENT != 0).then_some(entry)
    }

    /// Where `address` is in physical memory, if ring 3 may read it (and
    /// write it, if `write`) and the kernel may copy it.
    pub fn translate(&self, address: u64, write: bool) -> Option<PhysAddr> {
        let entry = self.leaf(address)?;
        let needed = PRESENT | USER | COPYABLE | if write { WRITABLE } else { 0 };
        (entry & needed == needed).then(|| PhysAddr::new((entry & ADDRESS) + address % PAGE_SIZE))
    }

    /// Whether ring 3 can execute at `address`.
    pub fn is_executable(&self, address: u64) -> bool {
        self.leaf(address)
            .is_some_and(|entry| entry & USER != 0 && entry & NO_EXECUTE == 0)
    }

    /// Runs `each(phys, range_in_buffer)` over the pages of
    /// `address .. address + len`, once every one is checked: nothing is
    /// copied unless all of it can be.
    fn each_page(
        &self,
        address: u64,
        len: usize,
        write: bool,
        mut each: impl FnMut(PhysAddr, core::ops::Range<usize>) -> Option<()>,
    ) -> Result<(), BadAddress> {
        let end = address
            .checked_add(len as u64)
            .ok_or(BadAddress { address })?;
        // Most buffers lie within one page: one check, one copy.
        if len > 0 && address / PAGE_SIZE == (end - 1) / PAGE_SIZE {
            let phys = self
                .translate(address, write)
                .ok_or(BadAddress { address })?;
            return each(phys, 0..len).ok_or(BadAddress { address });
        }
        let chunks = || {
            let mut at = address;
            core::iter::from_fn(move || {
                (at < end).then(|| {
                    let chunk = (PAGE_SIZE - at % PAGE_SIZE).min(end - at);
                    let this = at;
                    at += chunk;
                    (this, chunk)
                })
            })
        };
        for (at, _) in chunks() {
            self.translate(at, write)
                .ok_or(BadAddress { address: at })?;
        }
        for (at, chunk) in chunks() {
            let phys = self
                .translate(at, write)
                .ok_or(BadAddress { address: at })?;
            let start = (at - address) as usize;
            each(phys, start..start + chunk as usize).ok_or(BadAddress { address: at })?;
        }
        Ok(())
    }

    /// Copies `out.len()` bytes the task has at `address` into `out`.
    pub fn copy_in(&self, address: u64, out: &mut [u8]) -> Result<(), BadAddress> {
        let len = out.len();
        self.each_page(address, len, false, |phys, range| {
            self.memory.read(phys, &mut out[range])
        })
    }

    /// Copies `bytes` to the task's memory at `address` (which it must be
    /// able to write).
    pub fn copy_out(&self, address: u64, bytes: &[u8]) -> Result<(), BadAddress> {
        self.each_page(address, bytes.len(), true, |phys, range| {
            self.memory.write(phys, &bytes[range])
        })
    }

    /// Whether `address` is a user address at all (for reports).
    pub fn is_user_address(address: VirtAddr) -> bool {
        (LOWER_HALF_START..LOWER_HALF_END).contains(&address.as_u64())
    }
}

impl Drop for Domain<'_> {
    fn drop(&mut self) {
        for table in self.tables.drain(..) {
            self.memory.free_table(table);
        }
    }
}

#[cfg(test)]
#[path = "domain_tests.rs"]
mod tests;
