//! `/bin/virtio-blk`: the virtio-blk driver (`services/virtio-blk`,
//! unchanged) as a ring-3 program. Its registers, MSI-X line and DMA
//! memory are capabilities (`MmioRead`, `MmioWrite`, `IrqAck`,
//! `RegionPhys` system calls), its notify multiplier a bytes grant.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

mealy_user::program!(mealy_virtio_blk::VirtioBlk::new());
