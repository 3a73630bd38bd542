//! The split virtqueue in the driver's DMA memory (virtio 1.x, 2.7): where
//! each part sits, and reading and writing its fields as little-endian
//! bytes of a `&mut [u8]`, so no `unsafe` and no pointer is needed.
//!
//! Layout of the DMA Region, one page each:
//!
//! | page | what |
//! | --- | --- |
//! | 0 | descriptor table (`QUEUE_SIZE` x 16 B) at 0, available ring at 512, used ring at 1024 |
//! | 1 | request headers (16 B per slot) at `16 * slot`, status bytes at `512 + slot` |
//! | 2 + slot | the data block of request slot `slot` |
//!
//! Every request slot owns three fixed descriptors (`3 * slot` ..), so no
//! descriptor free list is needed: a slot is free or in flight as a whole.

use mealy_protocol::block::BLOCK_SIZE;

/// Descriptors in the queue (the driver sets this queue size).
pub const QUEUE_SIZE: u16 = 32;
/// Requests in flight at most: three descriptors each.
pub const SLOTS: usize = 8;
/// Pages of DMA memory the driver needs.
pub const DMA_PAGES: usize = 2 + SLOTS;

pub const PAGE: usize = 4096;
pub const DESCRIPTORS: usize = 0;
pub const AVAILABLE: usize = 512;
pub const USED: usize = 1024;
pub const HEADERS: usize = PAGE;
pub const STATUS: usize = PAGE + 512;

/// Descriptor flags.
pub const NEXT: u16 = 1;
pub const DEVICE_WRITES: u16 = 2;

const _: () = assert!(SLOTS * 3 <= QUEUE_SIZE as usize);
const _: () = assert!(AVAILABLE >= DESCRIPTORS + 16 * QUEUE_SIZE as usize);
const _: () = assert!(USED >= AVAILABLE + 6 + 2 * QUEUE_SIZE as usize);
const _: () = assert!(USED + 6 + 8 * QUEUE_SIZE as usize <= PAGE);
const _: () = assert!(BLOCK_SIZE == PAGE);

/// The offset of slot `slot`'s data page.
pub const fn data(slot: usize) -> usize {
    (2 + slot) * PAGE
}

/// The offset of slot `slot`'s request header.
pub const fn header(slot: usize) -> usize {
    HEADERS + 16 * slot
}

/// The offset of slot `slot`'s status byte.
pub const fn status(slot: usize) -> usize {
    STATUS + slot
}

pub fn put_u16(memory: &mut [u8], at: usize, value: u16) {
    memory[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub fn put_u32(memory: &mut [u8], at: usize, value: u32) {
    memory[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

pub fn put_u64(memory: &mut [u8], at: usize, value: u64) {
    memory[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

pub fn get_u16(memory: &[u8], at: usize) -> u16 {
    let mut bytes = [0; 2];
    bytes.copy_from_slice(&memory[at..at + 2]);
    u16::from_le_bytes(bytes)
}

pub fn get_u32(memory: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&memory[at..at + 4]);
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
pub fn get_u64(memory: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&memory[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// One descriptor: a buffer at physical `address`, `len` bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Descriptor {
    pub address: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

pub fn put_descriptor(memory: &mut [u8], index: u16, descriptor: Descriptor) {
    let at = DESCRIPTORS + 16 * usize::from(index);
    put_u64(memory, at, descriptor.address);
    put_u32(memory, at + 8, descriptor.len);
    put_u16(memory, at + 12, descriptor.flags);
    put_u16(memory, at + 14, descriptor.next);
}

#[cfg(test)]
pub fn get_descriptor(memory: &[u8], index: u16) -> Descriptor {
    let at = DESCRIPTORS + 16 * usize::from(index % QUEUE_SIZE);
    Descriptor {
        address: get_u64(memory, at),
        len: get_u32(memory, at + 8),
        flags: get_u16(memory, at + 12),
        next: get_u16(memory, at + 14),
    }
}

#[cfg(test)]
/// The available ring's index (what the driver has offered so far).
pub fn available_index(memory: &[u8]) -> u16 {
    get_u16(memory, AVAILABLE + 2)
}

/// Offers the chain starting at descriptor `head` as available entry
/// `index` and publishes `index + 1`.
pub fn offer(memory: &mut [u8], index: u16, head: u16) {
    put_u16(
        memory,
        AVAILABLE + 4 + 2 * usize::from(index % QUEUE_SIZE),
        head,
    );
    put_u16(memory, AVAILABLE + 2, index.wrapping_add(1));
}

/// The available ring's entry `index`.
#[cfg(test)]
pub fn available_entry(memory: &[u8], index: u16) -> u16 {
    get_u16(memory, AVAILABLE + 4 + 2 * usize::from(index % QUEUE_SIZE))
}

/// The used ring's index (what the device has finished so far).
pub fn used_index(memory: &[u8]) -> u16 {
    get_u16(memory, USED + 2)
}

/// The used ring's entry `index`: the head descriptor of a finished chain.
pub fn used_entry(memory: &[u8], index: u16) -> u32 {
    get_u32(memory, USED + 4 + 8 * usize::from(index % QUEUE_SIZE))
}

/// Records a finished chain as used entry `index` and publishes
/// `index + 1` (what a device does; tests play it).
#[cfg(test)]
pub fn put_used(memory: &mut [u8], index: u16, head: u32, written: u32) {
    let at = USED + 4 + 8 * usize::from(index % QUEUE_SIZE);
    put_u32(memory, at, head);
    put_u32(memory, at + 4, written);
    put_u16(memory, USED + 2, index.wrapping_add(1));
}
