//! A task's message area: pages the kernel writes and one ring-3 task
//! only reads (DESIGN.md, "Entry (upcall + done)"). Every upcall writes a
//! header and a payload here, so this is on the message path: the kernel
//! writes through its direct map with plain stores, not through
//! [`PhysAccess::write`] (a lock and a bounds check per field).
//!
//! Soundness rests on ownership, Theseus-style: a [`MessageArea`] owns its
//! [`Region`], so its frames stay allocated (and the direct-map pointers
//! valid) exactly as long as it lives, and `&mut self` makes the kernel's
//! writes exclusive. The task sees the same frames through its own
//! read-only mapping, and never runs while the kernel writes (one core;
//! the task is in the kernel or idle).

use core::ptr::NonNull;

use super::PAGE_SIZE;
use super::domain::PhysAccess;
use super::region::Region;

/// See the module documentation.
pub struct MessageArea<'m> {
    region: Region<'m>,
    /// The direct-map address of each page of `region`, in order.
    pages: [NonNull<u8>; MessageArea::PAGES],
}

impl<'m> MessageArea<'m> {
    /// Pages in an area: the header page and the payload page.
    pub const PAGES: usize = 2;

    /// Takes `region` (of [`Self::PAGES`] pages, every one backed by a
    /// frame `memory` manages), or gives nothing back if it is not one.
    pub fn new(region: Region<'m>, memory: &dyn PhysAccess) -> Option<Self> {
        if region.range().pages() != Self::PAGES as u64 {
            return None;
        }
        let page = |index: usize| memory.frame_ptr(region.frame(index as u64)?);
        let pages = [page(0)?, page(1)?];
        Some(Self { region, pages })
    }

    /// The Region (to map it into the task's domain, and for its address).
    pub fn region(&self) -> &Region<'m> {
        &self.region
    }

    /// The bytes of page `index`, for the kernel to write.
    pub fn page_mut(&mut self, index: usize) -> Option<&mut [u8; PAGE_SIZE as usize]> {
        let page = *self.pages.get(index)?;
        // SAFETY: `page` is the direct-map address of a frame of `region`,
        // which this value owns, so the frame stays allocated (4 KiB,
        // aligned) while `self` lives; `&mut self` makes this the only
        // reference the kernel holds to it.
        Some(unsafe { &mut *page.as_ptr().cast::<[u8; PAGE_SIZE as usize]>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::Owner;
    use crate::mem::Permissions;
    use crate::mem::address_space::AddressSpace;
    use crate::mem::frame::FrameAllocator;
    use crate::mem::system::MemorySystem;
    use crate::mem::testing::{HashMapMapper, VecMemory, usable};
    use x86_64::PhysAddr;

    #[test]
    fn writes_land_in_the_regions_frames_and_only_two_page_regions_qualify() {
        let map = [usable(1 << 20, 64)];
        let allocator = FrameAllocator::new(&map, VecMemory::covering(&map)).expect("frames");
        let memory = MemorySystem::new(
            allocator,
            AddressSpace::lower_half(),
            HashMapMapper::default(),
        );
        let three = Region::new_mapped(&memory, 3, 1, Owner(1), Permissions::KERNEL_DATA).unwrap();
        assert!(MessageArea::new(three, &memory).is_none());
        let region = Region::new_mapped(&memory, 2, 1, Owner(1), Permissions::KERNEL_DATA).unwrap();
        let second = region.frame(1).unwrap();
        let mut area = MessageArea::new(region, &memory).expect("two mapped pages");
        area.page_mut(1).unwrap()[7] = 0xa5;
        assert!(area.page_mut(2).is_none());
        let mut byte = [0u8; 1];
        memory
            .read(
                PhysAddr::new(second.start_address().as_u64() + 7),
                &mut byte,
            )
            .unwrap();
        assert_eq!(byte, [0xa5]);
    }
}
