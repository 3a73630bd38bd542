//! Message-signalled interrupts: vectors for MSI-X entries, and the
//! entry format that points a device's write at this CPU's local APIC.
//!
//! A device's MSI-X entry is programmed once, at boot, by the kernel
//! (`pci::start_virtio_blk`), never by its driver: the driver holds only
//! the Irq capability of the line behind the vector. Vectors
//! [`VECTOR_BASE`] .. `+ VECTORS` are lines [`LINE_BASE`] .. `+ VECTORS`
//! of the interrupt board (`interrupts::PENDING`), after the 16 ISA
//! lines, so an MSI reaches its task as the same `Interrupt` message an
//! ISA line does. MSI is edge-triggered and never masked here: `irq_ack`
//! has nothing to re-arm, and one pending bit per line coalesces a burst
//! into one message, which the driver answers by looking at everything
//! the device finished.

use core::sync::atomic::{AtomicU8, Ordering};

/// The first vector MSI-X entries get.
pub const VECTOR_BASE: u8 = 0x50;
/// How many there are.
pub const VECTORS: u8 = 16;
/// The interrupt line (Irq capability) of [`VECTOR_BASE`].
pub const LINE_BASE: u8 = 16;

static NEXT: AtomicU8 = AtomicU8::new(0);

/// A fresh vector and its line; `None` once all are handed out.
pub fn allocate() -> Option<(u8, u8)> {
    let index = NEXT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < VECTORS).then_some(n + 1)
        })
        .ok()?;
    Some((VECTOR_BASE + index, LINE_BASE + index))
}

/// The line of MSI vector `vector`, if it is one.
pub fn line_of(vector: u8) -> Option<u8> {
    (VECTOR_BASE..VECTOR_BASE + VECTORS)
        .contains(&vector)
        .then(|| vector - VECTOR_BASE + LINE_BASE)
}

/// Whether `line` is an MSI line (nothing to unmask on `irq_ack`).
pub fn is_msi_line(line: u8) -> bool {
    (LINE_BASE..LINE_BASE + VECTORS).contains(&line)
}

/// An MSI-X table entry's four words for `vector` on the local APIC
/// `apic_id`: address low, address high, data, vector control
/// (0: unmasked). Fixed delivery, edge, physical destination.
pub fn entry(apic_id: u32, vector: u8) -> [u32; 4] {
    [
        0xfee0_0000 | ((apic_id & 0xff) << 12),
        0,
        u32::from(vector),
        0,
    ]
}
