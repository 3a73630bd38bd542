//! Wires the portable memory manager (`crate::mem`) to this machine: the
//! HHDM as the window onto physical memory, the live page tables as the
//! [`Mapper`], the kernel heap as the global allocator, and device (MMIO)
//! mappings.
//!
//! At first the kernel runs on the loader's page tables, whose upper half
//! (HHDM and kernel image) the loader built in bootloader-reclaimable
//! memory; the lower half (the single address space) is filled by this
//! mapper from the frame allocator. [`take_over_page_tables`] then copies
//! the upper half into frames the kernel owns, so that, once the kernel
//! also runs on its own stack and has stopped reading boot responses,
//! [`reclaim`] can give bootloader-reclaimable memory to the allocator.

use ::x86_64::registers::control::Cr3;
use ::x86_64::structures::paging::mapper::{CleanUp, MapToError, Mapper as _, OffsetPageTable};
use ::x86_64::structures::paging::{
    FrameAllocator as TableFrameAllocator, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
    Translate,
};
use ::x86_64::{PhysAddr, VirtAddr};
use spin::Once;

use crate::mem::{
    AddressSpace, FrameAllocator, FrameError, FrameSource, FrameStats, HeapError, HeapStats,
    LockedHeap, MapError, Mapper, MemoryKind, MemoryRange, MemorySystem, Permissions,
    PhysicalMemory, RegionError, SystemHeapGrowth, VirtRange,
};

/// Physical memory seen through the higher-half direct map.
#[derive(Clone, Copy, Debug)]
pub struct Hhdm(u64);

// SAFETY: the loader maps all usable and bootloader-reclaimable memory (the
// only memory the frame allocator manages) at `offset + phys`, linearly.
unsafe impl PhysicalMemory for Hhdm {
    fn ptr(&self, phys: PhysAddr) -> *mut u8 {
        (self.0 + phys.as_u64()) as *mut u8
    }
}

/// The active page tables (CR3), edited through the HHDM.
pub struct ArchMapper {
    hhdm: u64,
}

impl ArchMapper {
    fn tables(&mut self) -> OffsetPageTable<'_> {
        let (root, _) = Cr3::read();
        // SAFETY: CR3 holds the one live PML4; it lies in the direct map;
        // `&mut self` (behind the memory system's mapper lock) makes this
        // the only editor of the tables.
        unsafe {
            let pml4 = &mut *((self.hhdm + root.start_address().as_u64()) as *mut PageTable);
            OffsetPageTable::new(pml4, VirtAddr::new(self.hhdm))
        }
    }
}

fn flags(permissions: Permissions) -> PageTableFlags {
    let mut flags = PageTableFlags::PRESENT;
    if permissions.contains(Permissions::WRITE) {
        flags |= PageTableFlags::WRITABLE;
    }
    if permissions.contains(Permissions::NO_EXECUTE) {
        flags |= PageTableFlags::NO_EXECUTE;
    }
    if permissions.contains(Permissions::USER) {
        flags |= PageTableFlags::USER_ACCESSIBLE;
    }
    if permissions.contains(Permissions::NO_CACHE) {
        flags |= PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
    }
    flags
}

/// Page-table frames for the `x86_64` crate's mapper, remembering why the
/// source refused one.
struct TableFrames<'a> {
    source: &'a mut dyn FrameSource,
    refused: Option<FrameError>,
}

// SAFETY: frames come from the frame allocator, which hands each out once.
unsafe impl TableFrameAllocator<Size4KiB> for TableFrames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        self.source
            .allocate_frame()
            .map_err(|error| self.refused = Some(error))
            .ok()
    }
}

impl Mapper for ArchMapper {
    fn map(
        &mut self,
        page: Page,
        frame: PhysFrame,
        permissions: Permissions,
        table_frames: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        let mut frames = TableFrames {
            source: table_frames,
            refused: None,
        };
        let parent_flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: `frame` is either a fresh frame the caller owns or device
        // memory; `page` is in the lower half, which only this mapper edits.
        let result = unsafe {
            self.tables().map_to_with_table_flags(
                page,
                frame,
                flags(permissions),
                parent_flags,
                &mut frames,
            )
        };
        match result {
            // The page was not present, so no TLB entry can be stale.
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(MapError::PageTable(
                frames.refused.unwrap_or(FrameError::OutOfFrames {
                    requested: 1,
                    free: 0,
                }),
            )),
            Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {
                Err(MapError::AlreadyMapped { page })
            }
        }
    }

    fn unmap(&mut self, page: Page) -> Option<PhysFrame> {
        let (frame, flush) = self.tables().unmap(page).ok()?;
        // The caller flushes the whole range once.
        flush.ignore();
        Some(frame)
    }

    fn protect(&mut self, page: Page, permissions: Permissions) -> Result<(), MapError> {
        // SAFETY: changes only the leaf flags of a lower-half page.
        let result = unsafe { self.tables().update_flags(page, flags(permissions)) };
        result
            .map(|flush| flush.ignore())
            .map_err(|_| MapError::NotMapped { page })
    }

    fn flush(&mut self, range: VirtRange) {
        // One core today: invalidate locally. SMP adds a shootdown here.
        for index in 0..range.pages() {
            if let Some(page) = range.page(index) {
                ::x86_64::instructions::tlb::flush(page.start_address());
            }
        }
    }

    fn reclaim_tables(&mut self, range: VirtRange, frames: &mut dyn FrameSource) {
        let (Some(first), Some(last)) =
            (range.page(0), range.page(range.pages().saturating_sub(1)))
        else {
            return;
        };
        let mut freed = TableFrames {
            source: frames,
            refused: None,
        };
        // SAFETY: the range is in the lower half, whose tables are this
        // root's alone (domains have their own lower halves; only the
        // upper half is shared), each used once; the range was flushed,
        // and an emptied table maps nothing a TLB could still hold.
        unsafe {
            self.tables()
                .clean_up_addr_range(Page::range_inclusive(first, last), &mut freed)
        };
    }
}

// SAFETY: frames go back to the allocator they came from, once.
impl ::x86_64::structures::paging::FrameDeallocator<Size4KiB> for TableFrames<'_> {
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame) {
        if let Err(error) = self.source.free_frame(frame) {
            self.refused.get_or_insert(error);
        }
    }
}

impl ArchMapper {
    /// Whether `virt` is mapped in the live tables.
    pub fn is_mapped(&mut self, virt: VirtAddr) -> bool {
        self.tables().translate_addr(virt).is_some()
    }
}

pub type KernelMemory = MemorySystem<Hhdm, ArchMapper>;

static MEMORY: Once<KernelMemory> = Once::new();

#[global_allocator]
static HEAP: LockedHeap<SystemHeapGrowth<'static>> = LockedHeap::new();

/// The heap may grow to this size.
pub const HEAP_LIMIT: u64 = 1 << 30;

/// How many memory-map entries the frame allocator is built from at most.
const MAX_RANGES: usize = 256;

#[derive(Clone, Copy, Debug)]
pub enum MemoryInitError {
    TooManyEntries(usize),
    Frames(FrameError),
    Heap(RegionError),
}

impl core::fmt::Display for MemoryInitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooManyEntries(count) => {
                write!(
                    f,
                    "the memory map has {count} entries, more than {MAX_RANGES}"
                )
            }
            Self::Frames(error) => write!(f, "frame allocator: {error}"),
            Self::Heap(error) => write!(f, "heap: {error}"),
        }
    }
}

/// Builds the frame allocator from the memory map, the memory system over
/// the live page tables, and the kernel heap. Call once, before anything
/// allocates.
pub fn init(
    hhdm_offset: u64,
    entries: impl ExactSizeIterator<Item = MemoryRange>,
) -> Result<&'static KernelMemory, MemoryInitError> {
    let count = entries.len();
    let mut ranges = [MemoryRange {
        base: 0,
        length: 0,
        kind: MemoryKind::Reserved,
    }; MAX_RANGES];
    if count > MAX_RANGES {
        return Err(MemoryInitError::TooManyEntries(count));
    }
    for (slot, range) in ranges.iter_mut().zip(entries) {
        *slot = range;
    }
    let frames = FrameAllocator::new(&ranges[..count], Hhdm(hhdm_offset))
        .map_err(MemoryInitError::Frames)?;
    let memory = MEMORY.call_once(|| {
        MemorySystem::new(
            frames,
            AddressSpace::lower_half(),
            ArchMapper { hhdm: hhdm_offset },
        )
    });
    let (base, growth) =
        SystemHeapGrowth::reserve(memory, HEAP_LIMIT).map_err(MemoryInitError::Heap)?;
    HEAP.init(base, growth);
    Ok(memory)
}

pub fn memory() -> Option<&'static KernelMemory> {
    MEMORY.get()
}

pub fn frame_stats() -> Option<FrameStats> {
    MEMORY.get().map(KernelMemory::frame_stats)
}

pub fn heap_stats() -> HeapStats {
    HEAP.stats()
}

/// Why the last heap allocation failed, if one did (for the panic report).
pub fn last_heap_failure() -> Option<HeapError> {
    HEAP.last_failure()
}

/// Maps `bytes` of device registers at physical `phys`, uncached; returns
/// the virtual address of `phys`.
pub fn map_device(memory: &KernelMemory, phys: u64, bytes: u64) -> Result<VirtAddr, RegionError> {
    map_physical(memory, phys, bytes, Permissions::DEVICE)
}

/// Maps `bytes` of firmware tables (ACPI) at physical `phys`, read-only.
pub fn map_firmware(memory: &KernelMemory, phys: u64, bytes: u64) -> Result<VirtAddr, RegionError> {
    map_physical(memory, phys, bytes, Permissions::NO_EXECUTE)
}

fn map_physical(
    memory: &KernelMemory,
    phys: u64,
    bytes: u64,
    permissions: Permissions,
) -> Result<VirtAddr, RegionError> {
    let first = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys));
    let offset = phys - first.start_address().as_u64();
    let pages = (offset + bytes.max(1)).div_ceil(crate::mem::PAGE_SIZE);
    let range = memory.map_physical(first, pages, permissions)?;
    Ok(range.start() + offset)
}

const PRESENT: u64 = 1;
const HUGE_PAGE: u64 = 1 << 7;
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// Copies the page table at `phys` (a level-`level` table) and, below it,
/// every table that is not a leaf, into fresh frames. Returns the copy's
/// frame and counts the tables copied.
fn copy_table(
    memory: &KernelMemory,
    hhdm: u64,
    phys: u64,
    level: u8,
    copied: &mut u64,
) -> Result<u64, FrameError> {
    let new = memory
        .with_frames(|frames| frames.allocate())?
        .start_address()
        .as_u64();
    *copied += 1;
    for index in 0..512u64 {
        // SAFETY: `phys` is a live page table and `new` a frame just
        // allocated for its copy; both lie in the direct map.
        let entry = unsafe { ((hhdm + phys + index * 8) as *const u64).read_volatile() };
        let is_table = level > 1 && entry & PRESENT != 0 && entry & HUGE_PAGE == 0;
        let copy = if is_table {
            let child = copy_table(memory, hhdm, entry & ADDRESS, level - 1, copied)?;
            (entry & !ADDRESS) | child
        } else {
            entry
        };
        // SAFETY: as above.
        unsafe { ((hhdm + new + index * 8) as *mut u64).write_volatile(copy) };
    }
    Ok(new)
}

/// Makes the kernel's page tables its own: a new PML4 whose upper half is
/// a deep copy of the loader's (in frames from the allocator) and whose
/// lower half is the kernel's already; then loads it. Returns how many
/// tables were copied.
pub fn take_over_page_tables(memory: &KernelMemory) -> Result<u64, FrameError> {
    let hhdm = super::paging::hhdm_offset();
    let (old_root, flags) = Cr3::read();
    let old = old_root.start_address().as_u64();
    let mut copied = 0;
    // Upper-half entries are copied deeply; lower-half ones as they are,
    // since their tables came from the allocator already.
    let root = memory
        .with_frames(|frames| frames.allocate())?
        .start_address()
        .as_u64();
    copied += 1;
    for index in 0..512u64 {
        // SAFETY: as in `copy_table`.
        let entry = unsafe { ((hhdm + old + index * 8) as *const u64).read_volatile() };
        let copy = if index >= 256 && entry & PRESENT != 0 {
            let child = copy_table(memory, hhdm, entry & ADDRESS, 3, &mut copied)?;
            (entry & !ADDRESS) | child
        } else {
            entry
        };
        // SAFETY: as in `copy_table`.
        unsafe { ((hhdm + root + index * 8) as *mut u64).write_volatile(copy) };
    }
    let root = PhysFrame::containing_address(PhysAddr::new(root));
    // SAFETY: the new tables map everything the old ones did, to the same
    // frames with the same flags, so every live address stays valid.
    unsafe { Cr3::write(root, flags) };
    Ok(copied)
}

/// Gives bootloader-reclaimable memory to the frame allocator. Only after
/// [`take_over_page_tables`], on a kernel stack, and once no boot response
/// is read again. Returns the frames added.
pub fn reclaim(memory: &KernelMemory, ranges: &[MemoryRange]) -> Result<u64, FrameError> {
    memory.with_frames(|frames| frames.add_reclaimable(ranges))
}
