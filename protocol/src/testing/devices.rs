//! The fake's device side, for drivers' unit tests: MMIO registers that
//! store what is written (with reads the test queues taking precedence),
//! and DMA memory whose "physical" addresses are a fixed function of the
//! region, so a test playing the device can follow the driver's
//! descriptors back to the bytes ([`FakeContext::phys_bytes_mut`]).

use alloc::vec;

use mealy_caps::{CapRef, DeviceRange, ObjectKind, Rights};

use crate::error::IpcError;
use crate::mmio::Width;

use super::{FakeContext, FakeObject, Operation, PAGE};

/// Where fake DMA memory appears to sit: backing `n` at
/// `FAKE_PHYS_BASE + n * FAKE_PHYS_STRIDE`.
pub const FAKE_PHYS_BASE: u64 = 0x1_0000_0000;
/// The distance between two fake DMA backings' physical addresses.
pub const FAKE_PHYS_STRIDE: u64 = 0x100_0000;

impl FakeContext {
    /// A Region of `pages` zeroed pages of DMA memory, with every right:
    /// `region_phys` answers for it.
    pub fn dma_region(&mut self, pages: usize) -> CapRef {
        let len = pages.max(1) * PAGE;
        self.regions.push(vec![0u8; len]);
        let backing = self.regions.len() - 1;
        self.dma_backings.push(backing);
        self.insert(
            FakeObject::Region {
                backing,
                offset: 0,
                len,
            },
            Rights::all(),
        )
    }

    /// The DMA memory at fake physical address `phys`, `len` bytes, as
    /// the device sees it; `None` outside every DMA backing.
    pub fn phys_bytes_mut(&mut self, phys: u64, len: usize) -> Option<&mut [u8]> {
        let relative = phys.checked_sub(FAKE_PHYS_BASE)?;
        let backing = usize::try_from(relative / FAKE_PHYS_STRIDE).ok()?;
        let offset = usize::try_from(relative % FAKE_PHYS_STRIDE).ok()?;
        if !self.dma_backings.contains(&backing) {
            return None;
        }
        self.regions
            .get_mut(backing)?
            .get_mut(offset..offset.checked_add(len)?)
    }

    /// An MMIO Device capability for `base .. base + len`, READ and WRITE.
    pub fn mmio_device(&mut self, base: u64, len: u64) -> CapRef {
        self.device(DeviceRange::Mmio { base, len })
    }

    /// Queues `values` for the next reads of the register at `offset` of
    /// the MMIO range at `base`, one per read, before what is stored.
    pub fn queue_mmio_input(&mut self, base: u64, offset: u64, values: &[u64]) {
        self.mmio_input
            .entry((base, offset))
            .or_default()
            .extend(values);
    }

    /// The MMIO range `device` names, checked for `needs` and for an
    /// access of `width` at `offset`: its base.
    pub(super) fn mmio(
        &self,
        device: CapRef,
        offset: u64,
        width: Width,
        needs: Rights,
    ) -> Result<u64, IpcError> {
        let (_, found) = self.checked(device, ObjectKind::Device, needs)?;
        match found.object {
            FakeObject::Device(DeviceRange::Mmio { base, len }) if width.fits(offset, len) => {
                Ok(base)
            }
            FakeObject::Device(DeviceRange::Mmio { len, .. }) => {
                Err(IpcError::out_of_range(offset, len))
            }
            _ => Err(IpcError::WrongKind {
                found: ObjectKind::Device,
            }),
        }
    }

    pub(super) fn read_register(
        &mut self,
        device: CapRef,
        offset: u64,
        width: Width,
    ) -> Result<u64, IpcError> {
        let base = self.mmio(device, offset, width, Rights::READ)?;
        self.injected(Operation::MmioRead)?;
        let queued = self
            .mmio_input
            .get_mut(&(base, offset))
            .and_then(|queue| queue.pop_front());
        let value =
            queued.unwrap_or_else(|| self.registers.get(&(base, offset)).copied().unwrap_or(0));
        Ok(value & width.mask())
    }

    pub(super) fn write_register(
        &mut self,
        device: CapRef,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<(), IpcError> {
        let base = self.mmio(device, offset, width, Rights::WRITE)?;
        if value & !width.mask() != 0 {
            return Err(IpcError::out_of_range(value, width.mask()));
        }
        self.injected(Operation::MmioWrite)?;
        self.registers.insert((base, offset), value);
        self.mmio_writes.push((base, offset, width, value));
        Ok(())
    }

    pub(super) fn physical(&self, cap: CapRef, at: u64) -> Result<u64, IpcError> {
        let needs = Rights::READ | Rights::WRITE | Rights::MAP;
        let (backing, offset, len) = self.region_span(cap, needs)?;
        self.injected(Operation::RegionPhys)?;
        if !self.dma_backings.contains(&backing) {
            return Err(IpcError::Unsupported);
        }
        if at >= len as u64 {
            return Err(IpcError::out_of_range(at, len as u64));
        }
        Ok(FAKE_PHYS_BASE + backing as u64 * FAKE_PHYS_STRIDE + offset as u64 + at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    #[test]
    fn registers_store_writes_and_check_every_access() {
        let mut cx = FakeContext::new();
        let bar = cx.mmio_device(0xfe00_0000, 0x100);
        cx.mmio_write(bar, 0x14, Width::U8, 7).unwrap();
        assert_eq!(cx.mmio_read(bar, 0x14, Width::U8), Ok(7));
        cx.queue_mmio_input(0xfe00_0000, 0x14, &[1]);
        assert_eq!(cx.mmio_read(bar, 0x14, Width::U8), Ok(1), "queued first");
        assert_eq!(cx.mmio_read(bar, 0x14, Width::U8), Ok(7));
        assert_eq!(
            cx.mmio_read(bar, 0x100, Width::U8),
            Err(IpcError::out_of_range(0x100, 0x100))
        );
        assert!(cx.mmio_read(bar, 0x2, Width::U32).is_err(), "unaligned");
        assert!(
            cx.mmio_write(bar, 0, Width::U8, 0x100).is_err(),
            "a value wider than the access"
        );
        let ports = cx.device(DeviceRange::Ports { base: 0x60, len: 4 });
        assert_eq!(
            cx.mmio_read(ports, 0, Width::U8),
            Err(IpcError::WrongKind {
                found: ObjectKind::Device
            })
        );
        assert_eq!(cx.mmio_writes.len(), 1, "refused writes are not recorded");
    }

    #[test]
    fn only_dma_memory_has_physical_addresses() {
        let mut cx = FakeContext::new();
        let plain = cx.region_with(&[1], Rights::all());
        assert_eq!(cx.region_phys(plain, 0), Err(IpcError::Unsupported));
        let dma = cx.dma_region(2);
        let phys = cx.region_phys(dma, 4097).unwrap();
        cx.phys_bytes_mut(phys, 1).unwrap()[0] = 9;
        assert_eq!(cx.region(dma).unwrap()[4097], 9);
        assert_eq!(
            cx.region_phys(dma, 8192),
            Err(IpcError::out_of_range(8192, 8192))
        );
        let no_map = cx.mint(dma, Rights::READ | Rights::WRITE, None).unwrap();
        assert_eq!(
            cx.region_phys(no_map, 0),
            Err(IpcError::MissingRights {
                missing: Rights::MAP
            })
        );
        assert!(
            cx.phys_bytes_mut(FAKE_PHYS_BASE, 1).is_none(),
            "not DMA memory"
        );
    }
}
