//! Pure logic of `mealy-loader`, Mealy's own Limine-boot-protocol UEFI loader.
//!
//! Everything here is firmware-independent so it builds and is unit-tested on
//! the host: the `limine.conf` parser, the ELF load plan, the request scan,
//! the Limine ABI structures, the memory-map conversion, the page-table
//! builder and the GDT the protocol prescribes. The UEFI side (`src/efi/`,
//! compiled only for `target_os = "uefi"`) reads files, allocates memory and
//! hands over to the kernel using these pieces.
//!
//! The loader implements base revision 3 of the protocol and nothing older:
//! a kernel asking for another revision is refused with a clear message, as
//! the protocol requires of a loader that dropped an old revision.
//!
//! Depends only on `alloc` and `object` (ELF parsing). No `unsafe` lives
//! here; all of it is in `src/efi/`.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), forbid(unsafe_code))]

extern crate alloc;

pub mod abi;
pub mod config;
pub mod elf;
pub mod gdt;
pub mod memmap;
pub mod paging;
pub mod requests;

/// Size of a small page, the granule of every allocation and mapping.
pub const PAGE_SIZE: u64 = 4096;

/// Virtual address of physical address 0 in the higher-half direct map.
/// This is the value Limine uses with 4-level paging and no KASLR.
pub const HHDM_OFFSET: u64 = 0xffff_8000_0000_0000;

/// The only base revision this loader implements.
pub const BASE_REVISION: u64 = 3;

/// Smallest stack the protocol guarantees the kernel at entry.
pub const MIN_STACK_SIZE: u64 = 64 * 1024;

/// Rounds `value` down to a multiple of [`PAGE_SIZE`].
pub const fn page_floor(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

/// Rounds `value` up to a multiple of [`PAGE_SIZE`], saturating at the top
/// page of the address space.
pub const fn page_ceil(value: u64) -> u64 {
    match value.checked_add(PAGE_SIZE - 1) {
        Some(v) => v & !(PAGE_SIZE - 1),
        None => page_floor(u64::MAX),
    }
}

/// The HHDM alias of a physical address.
pub const fn hhdm(phys: u64) -> u64 {
    phys.wrapping_add(HHDM_OFFSET)
}
