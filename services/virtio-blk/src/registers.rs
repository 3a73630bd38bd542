//! virtio 1.x over PCI (virtio spec 4.1.4): the common configuration
//! structure's registers, the device status bits and the feature bits
//! this driver knows, and virtio-blk's request types (5.2.6).

/// `virtio_pci_common_cfg` offsets.
pub const DEVICE_FEATURE_SELECT: u64 = 0x00;
pub const DEVICE_FEATURE: u64 = 0x04;
pub const DRIVER_FEATURE_SELECT: u64 = 0x08;
pub const DRIVER_FEATURE: u64 = 0x0c;
pub const CONFIG_MSIX_VECTOR: u64 = 0x10;
pub const DEVICE_STATUS: u64 = 0x14;
pub const QUEUE_SELECT: u64 = 0x16;
pub const QUEUE_SIZE: u64 = 0x18;
pub const QUEUE_MSIX_VECTOR: u64 = 0x1a;
pub const QUEUE_ENABLE: u64 = 0x1c;
pub const QUEUE_NOTIFY_OFF: u64 = 0x1e;
pub const QUEUE_DESC: u64 = 0x20;
pub const QUEUE_DRIVER: u64 = 0x28;
pub const QUEUE_DEVICE: u64 = 0x30;
/// The length of the common configuration structure.
#[cfg(test)]
pub const COMMON_LEN: u64 = 0x38;

/// Device status bits.
pub const ACKNOWLEDGE: u64 = 1;
pub const DRIVER: u64 = 2;
pub const DRIVER_OK: u64 = 4;
pub const FEATURES_OK: u64 = 8;
pub const FAILED: u64 = 0x80;

/// "No MSI-X vector" for a vector register.
pub const NO_VECTOR: u64 = 0xffff;

/// Feature bits (as bit numbers in the 64-bit feature set).
pub const F_RO: u64 = 1 << 5;
pub const F_FLUSH: u64 = 1 << 9;
pub const F_VERSION_1: u64 = 1 << 32;
/// The features this driver accepts when offered.
pub const ACCEPTED: u64 = F_RO | F_FLUSH | F_VERSION_1;

/// virtio-blk's configuration: `capacity`, in 512-byte sectors.
pub const CAPACITY: u64 = 0x00;
pub const SECTOR: u64 = 512;

/// virtio-blk request types.
pub const T_IN: u32 = 0;
pub const T_OUT: u32 = 1;
pub const T_FLUSH: u32 = 4;

/// virtio-blk request status values.
pub const S_OK: u8 = 0;
