//! Memory management: physical frames, the single address space, regions
//! and the kernel heap.
//!
//! Everything here is portable and host-tested. `unsafe` is allowed only in
//! [`frame`] and [`heap`] (and the host stand-ins of `testing`), which touch
//! memory through raw pointers; the rest is safe Rust. The hardware is reached
//! through three narrow traits the arch layer implements:
//! [`PhysicalMemory`] (the HHDM window onto physical memory), [`Mapper`]
//! (page tables and the TLB-shootdown hook) and, for the heap,
//! [`HeapGrowth`] (usually [`SystemHeapGrowth`] over the [`MemorySystem`]).
//!
//! The order things come up in at boot: [`FrameAllocator`] from the memory
//! map (no heap), then the [`MemorySystem`] gathering frames, the
//! [`AddressSpace`] and the mapper, then the heap over a reserved range,
//! then [`Region`]s (their bookkeeping uses the heap).
//!
//! Lock order inside [`MemorySystem`]: address space, then mapper, then
//! frames. Nothing in here allocates on the heap while holding a lock, so the
//! heap can grow through the same system without deadlock.

pub mod address_space;
pub mod domain;
// The free lists and bitmaps live in the frames they describe.
#[allow(unsafe_code)]
pub mod frame;
// The `GlobalAlloc` over memory `talc` manages.
#[allow(unsafe_code)]
pub mod heap;
pub mod mapper;
// Writes a task's message pages through the direct map.
#[allow(unsafe_code)]
pub mod message_area;
pub mod region;
pub mod system;

pub use address_space::{AddressSpace, SpaceError, VirtRange};
pub use frame::{
    FrameAllocator, FrameError, FrameSource, FrameStats, MemoryKind, MemoryRange, PhysicalMemory,
};
pub use heap::{HeapError, HeapGrowth, HeapStats, KernelHeap, LockedHeap, SystemHeapGrowth};
pub use mapper::{MapError, Mapper, Permissions};
pub use region::{Owner, Region, RegionError};
pub use system::MemorySystem;

/// The one page and frame size the kernel manages: 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

// A host buffer implements the unsafe `PhysicalMemory` trait.
#[cfg(any(test, feature = "testing"))]
#[allow(unsafe_code)]
pub mod testing;
