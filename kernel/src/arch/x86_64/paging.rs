//! The kernel's view of the page tables the loader left in CR3, reached
//! through the higher-half direct map.
//!
//! For now it only answers "is this address mapped?", which the crash
//! report needs before it dereferences a frame pointer. Mapping and
//! unmapping regions come with the memory manager.

use core::sync::atomic::{AtomicU64, Ordering};

use ::x86_64::registers::control::Cr3;

static HHDM_OFFSET: AtomicU64 = AtomicU64::new(0);

const PRESENT: u64 = 1;
const HUGE: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Records where the direct map starts (from the HHDM response).
pub fn set_hhdm_offset(offset: u64) {
    HHDM_OFFSET.store(offset, Ordering::Relaxed);
}

pub fn hhdm_offset() -> u64 {
    HHDM_OFFSET.load(Ordering::Relaxed)
}

/// The physical address `virt` maps to in the active page tables, walking
/// all four levels and honouring 1 GiB and 2 MiB pages.
pub fn translate(virt: u64) -> Option<u64> {
    let offset = hhdm_offset();
    if offset == 0 {
        return None;
    }
    let (root, _) = Cr3::read();
    let mut table = root.start_address().as_u64();
    for level in (1..=4u32).rev() {
        let index = (virt >> (12 + 9 * (level - 1))) & 0x1ff;
        // SAFETY: `table` is a page-table frame taken from CR3 or a present
        // entry, and every page-table frame lies in the direct map (the
        // loader allocates them from memory the HHDM covers).
        let entry = unsafe { ((offset + table + index * 8) as *const u64).read_volatile() };
        if entry & PRESENT == 0 {
            return None;
        }
        let frame = entry & ADDRESS_MASK;
        if level == 1 || (entry & HUGE != 0 && level <= 3) {
            let page_mask = (1u64 << (12 + 9 * (level - 1))) - 1;
            return Some((frame & !page_mask) | (virt & page_mask));
        }
        table = frame;
    }
    None
}

/// Whether 8 bytes at `virt` can be read without faulting.
pub fn is_readable_u64(virt: u64) -> bool {
    virt.is_multiple_of(8) && translate(virt).is_some()
}
