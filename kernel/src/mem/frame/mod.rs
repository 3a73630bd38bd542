//! Physical frames: a binary buddy allocator built from the bootloader's
//! memory map, handing out single 4 KiB frames and naturally aligned
//! contiguous runs.
//!
//! It runs before the heap exists, so it needs no heap: its bookkeeping
//! (bitmaps) is carved out of the first usable range large enough, and free
//! blocks are chained through their own first frame. Both are reached through
//! [`PhysicalMemory`], which the arch layer implements over the HHDM and the
//! host tests over a buffer.
//!
//! Why a buddy allocator rather than a plain bitmap: it gives contiguous,
//! aligned runs in O(log n) too, which DMA buffers and large pages want, and
//! a bitmap scan would be O(n). The price is rounding: a run of `count`
//! frames takes a block of the next power of two, the unused tail is handed
//! straight back, and a run that straddles two blocks can fail while enough
//! scattered frames are free (reported as [`FrameError::OutOfFrames`] with
//! the free count, so the cause is visible).
//!
//! Bounds, with `MAX_ORDER` = 18 (largest block 1 GiB):
//! - [`FrameAllocator::allocate`]: O(MAX_ORDER) = O(log n) (split a block).
//! - [`FrameAllocator::free`]: O(MAX_ORDER) (merge with free buddies).
//! - [`FrameAllocator::allocate_contiguous`]: O(MAX_ORDER²) (split, then
//!   return the tail as at most MAX_ORDER blocks).
//! - [`FrameAllocator::free_contiguous`]: O(count) to check every frame is
//!   really ours and allocated, plus O(MAX_ORDER²) to merge.
//! - [`FrameAllocator::new`] and [`FrameAllocator::add_reclaimable`]:
//!   O(span / 64) bitmap work plus O(MAX_ORDER) per range.
//!
//! Per-frame state: `managed` (the frame is ours), `allocated` (handed out),
//! and per order a bit for "a free block of exactly this order starts here".
//! Invariant: every managed frame is either allocated or inside exactly one
//! free block. That is what lets a double free or a foreign frame be
//! reported as an error instead of corrupting the free lists.

mod bitmap;
#[cfg(test)]
mod tests;

use core::fmt;

use x86_64::PhysAddr;
use x86_64::structures::paging::{PhysFrame, Size4KiB};

use self::bitmap::Bitmap;
use super::PAGE_SIZE;

/// Largest block order: blocks of 2^18 frames (1 GiB). Bigger runs are refused.
pub const MAX_ORDER: u32 = 18;
const ORDERS: usize = MAX_ORDER as usize + 1;
/// "No block" in the intrusive free lists.
const NIL: u64 = u64::MAX;
/// Physical addresses stop at 52 bits on x86_64; map entries beyond are ignored.
const PHYS_LIMIT: u64 = 1 << 52;

/// How the frame allocator reads and writes physical memory it manages.
///
/// # Safety
/// For every frame of every usable or bootloader-reclaimable range given to
/// the allocator, `ptr` must return a pointer valid for reads and writes of
/// 4 KiB that stays valid while the implementor lives, and physically
/// contiguous frames must be contiguous at the returned pointers (as with an
/// offset mapping such as the HHDM). Nothing else may touch a frame while
/// the allocator holds it free.
pub unsafe trait PhysicalMemory {
    fn ptr(&self, phys: PhysAddr) -> *mut u8;
}

/// Memory-map entry types, mirroring Limine's (in its numbering order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    Usable,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Bad,
    BootloaderReclaimable,
    ExecutableAndModules,
    Framebuffer,
}

/// One memory-map entry, as the arch layer translates it from the bootloader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRange {
    pub base: u64,
    pub length: u64,
    pub kind: MemoryKind,
}

/// Frame counts. `used` includes the allocator's own bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameStats {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

impl fmt::Display for FrameStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = |frames: u64| frames * PAGE_SIZE / 1024;
        write!(
            f,
            "{} frames ({} KiB) total, {} ({} KiB) free, {} ({} KiB) used",
            self.total,
            kib(self.total),
            self.free,
            kib(self.free),
            self.used,
            kib(self.used)
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free block big enough: `free` frames remain, perhaps fragmented.
    OutOfFrames { requested: u64, free: u64 },
    /// A run of zero frames was asked for or freed.
    ZeroCount,
    /// The run or alignment needs a block bigger than 2^MAX_ORDER frames.
    TooLarge { count: u64, align: u64 },
    /// The alignment (in frames) is not a power of two.
    BadAlignment { align: u64 },
    /// The frame is managed here but already free.
    DoubleFree { frame: PhysAddr },
    /// The frame was never given to this allocator.
    NotManaged { frame: PhysAddr },
    /// The memory map has no usable memory.
    NoUsableMemory,
    /// No usable range can hold the allocator's bitmaps.
    MetadataDoesNotFit { bytes: u64 },
    /// A reclaimable range lies outside the span the bitmaps cover.
    OutsideSpan { base: u64, length: u64 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfFrames { requested, free } => write!(
                f,
                "out of physical frames: no free run of {requested} frame(s) ({free} free in total)"
            ),
            Self::ZeroCount => write!(f, "a run of zero frames"),
            Self::TooLarge { count, align } => write!(
                f,
                "run of {count} frame(s) aligned to {align} exceeds the largest block (2^{MAX_ORDER} frames)"
            ),
            Self::BadAlignment { align } => {
                write!(f, "alignment of {align} frames is not a power of two")
            }
            Self::DoubleFree { frame } => {
                write!(f, "frame {:#x} freed twice", frame.as_u64())
            }
            Self::NotManaged { frame } => write!(
                f,
                "frame {:#x} is not managed by the frame allocator",
                frame.as_u64()
            ),
            Self::NoUsableMemory => write!(f, "the memory map has no usable memory"),
            Self::MetadataDoesNotFit { bytes } => write!(
                f,
                "no usable range can hold the frame allocator's {bytes} bytes of bitmaps"
            ),
            Self::OutsideSpan { base, length } => write!(
                f,
                "reclaimable range {base:#x}+{length:#x} lies outside the memory the allocator was built for"
            ),
        }
    }
}

/// Something that hands out and takes back single frames: what page-table
/// code needs, without naming the allocator's `PhysicalMemory` type.
pub trait FrameSource {
    fn allocate_frame(&mut self) -> Result<PhysFrame, FrameError>;
    fn free_frame(&mut self, frame: PhysFrame) -> Result<(), FrameError>;
}

/// The physical frame allocator. See the module documentation.
pub struct FrameAllocator<M: PhysicalMemory> {
    memory: M,
    /// Frame number of relative index 0, aligned to 2^MAX_ORDER so that a
    /// block aligned in index space is aligned physically too.
    base_frame: u64,
    /// Frames covered by the bitmaps, from `base_frame`.
    span: u64,
    managed: Bitmap,
    allocated: Bitmap,
    /// Bit `i` of order `k`: a free block of exactly order `k` starts at
    /// index `i << k` (and is on list `k`).
    free_block: [Bitmap; ORDERS],
    /// Heads of the per-order free lists (relative frame indices), linked
    /// through `[next, prev]` stored in each free block's first frame.
    free_head: [u64; ORDERS],
    /// Bit `k` set iff list `k` is non-empty: finds a block in O(1).
    nonempty: u32,
    total: u64,
    free: u64,
}

// SAFETY: the bitmaps' raw pointers refer to frames this allocator owns
// exclusively; moving it to another thread moves that ownership with it.
unsafe impl<M: PhysicalMemory + Send> Send for FrameAllocator<M> {}

/// Page-aligned `(start, end)` frame numbers inside `range`, if any whole frame.
fn frames_of(base: u64, length: u64) -> Option<(u64, u64)> {
    let end = base.saturating_add(length).min(PHYS_LIMIT);
    let start = base.checked_next_multiple_of(PAGE_SIZE)? / PAGE_SIZE;
    let end = end / PAGE_SIZE;
    (start < end).then_some((start, end))
}

fn frames_of_kind(ranges: &[MemoryRange], kind: MemoryKind) -> impl Iterator<Item = (u64, u64)> {
    ranges
        .iter()
        .filter(move |range| range.kind == kind)
        .filter_map(|range| frames_of(range.base, range.length))
}

impl<M: PhysicalMemory> FrameAllocator<M> {
    /// Builds the allocator from the memory map: usable memory becomes free
    /// now; the bitmaps also cover bootloader-reclaimable memory so that
    /// [`add_reclaimable`](Self::add_reclaimable) can hand it over later.
    pub fn new(ranges: &[MemoryRange], memory: M) -> Result<Self, FrameError> {
        let covered = frames_of_kind(ranges, MemoryKind::Usable)
            .chain(frames_of_kind(ranges, MemoryKind::BootloaderReclaimable));
        let (low, high) = covered.fold((u64::MAX, 0), |(low, high), (start, end)| {
            (low.min(start), high.max(end))
        });
        if frames_of_kind(ranges, MemoryKind::Usable).next().is_none() {
            return Err(FrameError::NoUsableMemory);
        }
        let base_frame = low & !((1 << MAX_ORDER) - 1);
        let span = high - base_frame;

        let bitmap_words = |order: u32| Bitmap::words_for(span >> order);
        let words = 2 * bitmap_words(0) + (0..=MAX_ORDER).map(bitmap_words).sum::<u64>();
        let bytes = words * 8;
        let meta_frames = bytes.div_ceil(PAGE_SIZE);
        let (meta_start, _) = frames_of_kind(ranges, MemoryKind::Usable)
            .find(|(start, end)| end - start >= meta_frames)
            .ok_or(FrameError::MetadataDoesNotFit { bytes })?;

        let storage = memory.ptr(PhysAddr::new(meta_start * PAGE_SIZE));
        // SAFETY: the metadata frames are usable memory, which `PhysicalMemory`
        // makes valid and contiguous at `storage`; nothing else uses them yet.
        unsafe { core::ptr::write_bytes(storage, 0, (meta_frames * PAGE_SIZE) as usize) };
        let mut next_word = storage.cast::<u64>();
        let mut carve = |order: u32| {
            let bitmap_storage = next_word;
            // SAFETY: `words` counted every bitmap, so this stays inside the
            // zeroed metadata frames; each bitmap gets its own words.
            unsafe {
                next_word = next_word.add(bitmap_words(order) as usize);
                Bitmap::new(bitmap_storage, span >> order)
            }
        };
        let managed = carve(0);
        let allocated = carve(0);
        let free_block = core::array::from_fn(|order| carve(order as u32));

        let mut allocator = Self {
            memory,
            base_frame,
            span,
            managed,
            allocated,
            free_block,
            free_head: [NIL; ORDERS],
            nonempty: 0,
            total: 0,
            free: 0,
        };
        // The bitmaps' own frames: managed and permanently allocated.
        let meta = meta_start - base_frame;
        allocator.managed.set_range(meta, meta + meta_frames);
        allocator.allocated.set_range(meta, meta + meta_frames);
        allocator.total = meta_frames;
        for (start, end) in frames_of_kind(ranges, MemoryKind::Usable) {
            allocator.adopt(start - base_frame, end - base_frame);
        }
        Ok(allocator)
    }

    /// Hands bootloader-reclaimable memory over once the boot structures in
    /// it are no longer needed. Other kinds in `ranges` are ignored, as are
    /// frames already managed. Returns how many frames were added.
    pub fn add_reclaimable(&mut self, ranges: &[MemoryRange]) -> Result<u64, FrameError> {
        let outside = ranges.iter().find(|range| {
            range.kind == MemoryKind::BootloaderReclaimable
                && frames_of(range.base, range.length).is_some_and(|(start, end)| {
                    start < self.base_frame || end > self.base_frame + self.span
                })
        });
        if let Some(range) = outside {
            return Err(FrameError::OutsideSpan {
                base: range.base,
                length: range.length,
            });
        }
        let before = self.total;
        for (start, end) in frames_of_kind(ranges, MemoryKind::BootloaderReclaimable) {
            self.adopt(start - self.base_frame, end - self.base_frame);
        }
        Ok(self.total - before)
    }

    /// Copies `out.len()` bytes from physical `phys` of a frame this
    /// allocator manages (page tables and regions' frames, which are
    /// allocated). `None` if the range leaves its frame or lies outside
    /// the managed memory: the caller passes frames it found in its own
    /// tables, so that is a bug it can report rather than a bad read.
    pub fn read_bytes(&self, phys: PhysAddr, out: &mut [u8]) -> Option<()> {
        self.check_within_frame(phys, out.len())?;
        // SAFETY: `phys .. phys + len` lies in one frame of managed memory
        // (checked above), for which `ptr` is valid for 4 KiB.
        unsafe {
            core::ptr::copy_nonoverlapping(self.memory.ptr(phys), out.as_mut_ptr(), out.len());
        }
        Some(())
    }

    /// Copies `bytes` to physical `phys`; checked as [`read_bytes`](Self::read_bytes).
    pub fn write_bytes(&self, phys: PhysAddr, bytes: &[u8]) -> Option<()> {
        self.check_within_frame(phys, bytes.len())?;
        // SAFETY: as in `read_bytes`; the frame is allocated, so its owner
        // (the caller) is the only writer.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.memory.ptr(phys), bytes.len());
        }
        Some(())
    }

    /// The kernel's pointer to the 4 KiB of `frame`, if it is a managed
    /// frame that was given out. It stays valid while the frame does
    /// (until it is freed), and whoever owns the frame decides who
    /// writes through it.
    pub fn frame_ptr(&self, frame: PhysFrame) -> Option<core::ptr::NonNull<u8>> {
        self.check_within_frame(frame.start_address(), super::PAGE_SIZE as usize)?;
        core::ptr::NonNull::new(self.memory.ptr(frame.start_address()))
    }

    fn check_within_frame(&self, phys: PhysAddr, len: usize) -> Option<()> {
        let offset = phys.as_u64() % super::PAGE_SIZE;
        if offset + len as u64 > super::PAGE_SIZE {
            return None;
        }
        let frame = phys.as_u64() / super::PAGE_SIZE;
        let index = frame.checked_sub(self.base_frame)?;
        (self.allocated.get(index)).then_some(())
    }

    /// One free frame.
    pub fn allocate(&mut self) -> Result<PhysFrame, FrameError> {
        self.allocate_contiguous(1, 1)
    }

    /// `count` physically contiguous frames whose first frame is aligned to
    /// `align` frames (a power of two). Returns the first frame.
    pub fn allocate_contiguous(&mut self, count: u64, align: u64) -> Result<PhysFrame, FrameError> {
        if count == 0 {
            return Err(FrameError::ZeroCount);
        }
        if !align.is_power_of_two() {
            return Err(FrameError::BadAlignment { align });
        }
        if count > 1 << MAX_ORDER || align > 1 << MAX_ORDER {
            return Err(FrameError::TooLarge { count, align });
        }
        let order = count.next_power_of_two().max(align).trailing_zeros();
        let start = self.take_block(order).ok_or(FrameError::OutOfFrames {
            requested: count,
            free: self.free,
        })?;
        self.release_run(start + count, start + (1 << order));
        self.allocated.set_range(start, start + count);
        self.free -= count;
        Ok(self.frame_at(start))
    }

    /// Returns one frame.
    pub fn free(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        self.free_contiguous(frame, 1)
    }

    /// Returns `count` frames starting at `first`. They need not come from
    /// one allocation, but each must be allocated: otherwise nothing is freed
    /// and the first offending frame is reported.
    pub fn free_contiguous(&mut self, first: PhysFrame, count: u64) -> Result<(), FrameError> {
        if count == 0 {
            return Err(FrameError::ZeroCount);
        }
        let first_frame = first.start_address().as_u64() / PAGE_SIZE;
        for offset in 0..count {
            let frame = first_frame.saturating_add(offset);
            let index = frame.wrapping_sub(self.base_frame);
            let address = PhysAddr::new_truncate(frame.saturating_mul(PAGE_SIZE));
            if frame < self.base_frame || !self.managed.get(index) {
                return Err(FrameError::NotManaged { frame: address });
            }
            if !self.allocated.get(index) {
                return Err(FrameError::DoubleFree { frame: address });
            }
        }
        let start = first_frame - self.base_frame;
        self.allocated.clear_range(start, start + count);
        self.free += count;
        self.release_run(start, start + count);
        Ok(())
    }

    pub fn stats(&self) -> FrameStats {
        FrameStats {
            total: self.total,
            free: self.free,
            used: self.total - self.free,
        }
    }

    fn frame_at(&self, index: u64) -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new((self.base_frame + index) * PAGE_SIZE))
    }

    /// Makes the not-yet-managed frames in `start..end` managed and free.
    fn adopt(&mut self, start: u64, end: u64) {
        let mut position = start;
        while position < end {
            let run_start = self.managed.next_clear(position, end);
            let run_end = self.managed.next_set(run_start, end);
            if run_start < run_end {
                self.managed.set_range(run_start, run_end);
                self.total += run_end - run_start;
                self.free += run_end - run_start;
                self.release_run(run_start, run_end);
            }
            position = run_end;
        }
    }

    /// Puts the free frames `start..end` on the free lists as maximal
    /// aligned blocks, merging with free buddies.
    fn release_run(&mut self, mut start: u64, end: u64) {
        while start < end {
            let by_alignment = start.trailing_zeros().min(MAX_ORDER);
            let by_length = (end - start).ilog2();
            let order = by_alignment.min(by_length);
            self.release_block(start, order);
            start += 1 << order;
        }
    }

    fn release_block(&mut self, mut start: u64, mut order: u32) {
        while order < MAX_ORDER {
            let buddy = start ^ (1 << order);
            if !self.free_block[order as usize].get(buddy >> order) {
                break;
            }
            self.unlink(order, buddy);
            start = start.min(buddy);
            order += 1;
        }
        self.push(order, start);
    }

    /// Takes a free block of exactly `order`, splitting a larger one.
    fn take_block(&mut self, order: u32) -> Option<u64> {
        let candidates = self.nonempty >> order;
        if candidates == 0 {
            return None;
        }
        let mut found = order + candidates.trailing_zeros();
        let start = self.free_head[found as usize];
        self.unlink(found, start);
        while found > order {
            found -= 1;
            self.push(found, start + (1 << found));
        }
        Some(start)
    }

    fn links(&self, index: u64) -> *mut u64 {
        self.memory
            .ptr(PhysAddr::new((self.base_frame + index) * PAGE_SIZE))
            .cast()
    }

    /// `[next, prev]` of the free block at `index`.
    fn read_links(&self, index: u64) -> [u64; 2] {
        let links = self.links(index);
        // SAFETY: `index` heads a free block of managed frames, which
        // `PhysicalMemory` makes accessible and which nothing else touches
        // while free.
        unsafe { [links.read_unaligned(), links.add(1).read_unaligned()] }
    }

    fn write_links(&mut self, index: u64, [next, prev]: [u64; 2]) {
        let links = self.links(index);
        // SAFETY: as in `read_links`.
        unsafe {
            links.write_unaligned(next);
            links.add(1).write_unaligned(prev);
        }
    }

    fn push(&mut self, order: u32, index: u64) {
        let head = self.free_head[order as usize];
        self.write_links(index, [head, NIL]);
        if head != NIL {
            let [next, _] = self.read_links(head);
            self.write_links(head, [next, index]);
        }
        self.free_head[order as usize] = index;
        self.free_block[order as usize].set(index >> order);
        self.nonempty |= 1 << order;
    }

    fn unlink(&mut self, order: u32, index: u64) {
        let [next, prev] = self.read_links(index);
        if prev == NIL {
            self.free_head[order as usize] = next;
        } else {
            let [_, prev_prev] = self.read_links(prev);
            self.write_links(prev, [next, prev_prev]);
        }
        if next != NIL {
            let [next_next, _] = self.read_links(next);
            self.write_links(next, [next_next, prev]);
        }
        self.free_block[order as usize].clear(index >> order);
        if self.free_head[order as usize] == NIL {
            self.nonempty &= !(1 << order);
        }
    }
}

impl<M: PhysicalMemory> FrameSource for FrameAllocator<M> {
    fn allocate_frame(&mut self) -> Result<PhysFrame, FrameError> {
        self.allocate()
    }

    fn free_frame(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        self.free(frame)
    }
}

// SAFETY: `allocate` only returns frames that are managed, were free and are
// now marked allocated, so no frame is handed out twice.
unsafe impl<M: PhysicalMemory> x86_64::structures::paging::FrameAllocator<Size4KiB>
    for FrameAllocator<M>
{
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        self.allocate().ok()
    }
}

impl<M: PhysicalMemory> x86_64::structures::paging::FrameDeallocator<Size4KiB>
    for FrameAllocator<M>
{
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame) {
        if let Err(error) = self.free(frame) {
            log::error!("page-table frame release: {error}");
        }
    }
}
