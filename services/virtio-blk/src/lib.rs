//! The virtio-blk driver: a virtio 1.x block device on PCI, served as the
//! `block` interface (`mealy_protocol::block`).
//!
//! It holds its device as capabilities, granted by the task list
//! (`kernel/src/tasks.rs`) for a device PCI enumeration found:
//! three MMIO Device capabilities for the parts of the BAR the virtio
//! PCI capabilities name ([`GRANT_COMMON`], [`GRANT_NOTIFY`],
//! [`GRANT_DEVICE`]), the Irq of the MSI-X vector the kernel programmed
//! into the device's table entry 0 ([`GRANT_IRQ`]), and [`DMA_PAGES`]
//! pages of DMA memory ([`GRANT_DMA`]), a Region whose physical addresses
//! it may learn (`Context::region_phys`), and its [`Config`] as bytes in
//! a read-only Region ([`GRANT_CONFIG`]), read at start: a ring-3
//! program gets nothing but its grants, so the same crate is configured
//! the same way in ring 0 and ring 3. Every register access is
//! `Context::mmio_read`/`mmio_write`, checked against the capability;
//! the queue lives in the DMA Region and is read and written as bytes
//! (`queue.rs`), so the crate is `#![forbid(unsafe_code)]`.
//!
//! Requests are asynchronous: `read`, `write` and `flush` put a
//! descriptor chain on the queue, notify the device and return; the
//! answer goes out from the `Interrupt` handler when the device has
//! put the chain on its used ring. No handler waits for the device. At
//! most [`SLOTS`] requests are in flight; past that a request is answered
//! `Busy`. The client's data is copied between its Region and the slot's
//! own DMA page (4 KiB each way), so the device never writes to memory a
//! client could revoke or hand back while a transfer runs.
//!
//! Why not the `virtio-drivers` crate (0.13.0, the newest; it builds on
//! stable): its `Hal` is an `unsafe trait` of associated functions with no
//! receiver (`dma_alloc(pages, direction) -> (PhysAddr, NonNull<u8>)`,
//! `mmio_phys_to_virt`, `share(NonNull<[u8]>) -> PhysAddr`), and its
//! transports hold raw pointers to the BAR that they read and write
//! directly. Implementing it would need `unsafe impl`, a global to reach
//! the DMA memory outside any handler's `Context`, and device registers
//! touched without a capability check: none of that fits a
//! `forbid(unsafe_code)` service whose every access is checked, nor its
//! unit tests over `FakeContext`. The part of it this driver needs (one
//! split queue, the common configuration, three request types) is the
//! few hundred lines here.
//!
//! `#![no_std]`; no heap beyond the service's own boxed state.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;

use mealy_protocol::block::{
    self, BLOCK_SIZE, BlockError, Done, Flush, Geometry, Info, Read, Write,
};
use mealy_protocol::mmio::Width;
use mealy_protocol::{
    Answer, CapRef, Context, Grants, HandleError, Incoming, IpcError, MAX_PAYLOAD, MessageKind,
    Outbox, Outgoing, StateMachine,
};

mod queue;
mod registers;

pub use queue::{DMA_PAGES, QUEUE_SIZE, SLOTS};

use registers as reg;

/// The task's name.
pub const NAME: &str = "virtio-blk";
/// The grant names the driver finds its capabilities under.
pub const GRANT_COMMON: &str = "common";
pub const GRANT_NOTIFY: &str = "notify";
pub const GRANT_DEVICE: &str = "device";
pub const GRANT_IRQ: &str = "irq";
pub const GRANT_DMA: &str = "dma";
pub const GRANT_CONFIG: &str = "config";

/// What the driver is told about its device besides its registers: the
/// `notify_off_multiplier` of its notify capability (PCI), which turns the
/// queue's notify offset into a byte offset of the notify range.
///
/// Encoded as [`CONFIG_LEN`] bytes: the tag [`CONFIG_TAG`], then the
/// multiplier as a little-endian `u32`. Anything after them (the Region
/// is a page, zero past the bytes) is ignored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    pub notify_multiplier: u32,
}

/// The bytes a [`Config`] starts with: the version of this layout.
pub const CONFIG_TAG: [u8; 4] = *b"vbk1";
/// How many bytes an encoded [`Config`] takes.
pub const CONFIG_LEN: usize = 8;

/// Why the [`GRANT_CONFIG`] Region does not hold a [`Config`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConfigError {
    /// Fewer than [`CONFIG_LEN`] bytes.
    TooShort(usize),
    /// It does not start with [`CONFIG_TAG`].
    BadTag([u8; 4]),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::TooShort(len) => {
                write!(
                    f,
                    "{len} bytes, fewer than the {CONFIG_LEN} of a configuration"
                )
            }
            ConfigError::BadTag(tag) => write!(
                f,
                "it starts with {tag:02x?}, not the tag {:?}",
                core::str::from_utf8(&CONFIG_TAG).unwrap_or("")
            ),
        }
    }
}

impl Config {
    /// The bytes the task list grants under [`GRANT_CONFIG`].
    pub fn encode(&self) -> [u8; CONFIG_LEN] {
        let mut bytes = [0; CONFIG_LEN];
        bytes[..4].copy_from_slice(&CONFIG_TAG);
        bytes[4..].copy_from_slice(&self.notify_multiplier.to_le_bytes());
        bytes
    }

    /// The configuration at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Config, ConfigError> {
        let Some((head, _)) = bytes.split_first_chunk::<CONFIG_LEN>() else {
            return Err(ConfigError::TooShort(bytes.len()));
        };
        let (tag, multiplier) = head.split_at(4);
        if tag != CONFIG_TAG {
            let mut found = [0; 4];
            found.copy_from_slice(tag);
            return Err(ConfigError::BadTag(found));
        }
        let mut word = [0; 4];
        word.copy_from_slice(multiplier);
        Ok(Config {
            notify_multiplier: u32::from_le_bytes(word),
        })
    }
}

/// The MSI-X table entry the queue's interrupts use (the kernel programs
/// this one).
pub const QUEUE_VECTOR: u64 = 0;

/// Sectors per block.
const SECTORS_PER_BLOCK: u64 = BLOCK_SIZE as u64 / reg::SECTOR;

/// The capabilities the driver works through.
#[derive(Clone, Copy, Debug)]
struct Caps {
    common: CapRef,
    notify: CapRef,
    device: CapRef,
    irq: CapRef,
    dma: CapRef,
}

/// A working device.
#[derive(Clone, Copy, Debug)]
struct Running {
    caps: Caps,
    geometry: Geometry,
    /// Whether the device takes flushes (`VIRTIO_BLK_F_FLUSH`).
    flush: bool,
    /// Where to write the queue's index to notify the device.
    notify_at: u64,
    /// Physical addresses: the header page, each slot's data page.
    header_phys: u64,
    data_phys: [u64; SLOTS],
}

/// A request the device has not finished.
#[derive(Clone, Copy, Debug)]
enum InFlight {
    Read {
        answer: Answer<Read>,
        buffer: CapRef,
    },
    Write {
        answer: Answer<Write>,
        buffer: CapRef,
    },
    Flush {
        answer: Answer<Flush>,
    },
}

/// Why the device did not start.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StartError {
    /// A grant is missing.
    Missing(&'static str),
    /// The [`GRANT_CONFIG`] Region does not hold a [`Config`].
    Config(ConfigError),
    /// A capability operation failed.
    Ipc(IpcError),
    /// The device did not read back 0 after a reset.
    NoReset,
    /// The device does not offer virtio 1.x (`VIRTIO_F_VERSION_1`).
    NotModern,
    /// The device refused the features the driver chose.
    FeaturesRefused,
    /// The device's queue is smaller than [`QUEUE_SIZE`].
    QueueTooSmall(u16),
    /// The device did not take the MSI-X vector for its queue.
    NoVector,
}

impl From<IpcError> for StartError {
    fn from(error: IpcError) -> Self {
        StartError::Ipc(error)
    }
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Missing(name) => write!(f, "no {name:?} capability"),
            StartError::Config(error) => write!(f, "the {GRANT_CONFIG:?} grant: {error}"),
            StartError::Ipc(error) => write!(f, "{error}"),
            StartError::NoReset => f.write_str("the device did not reset"),
            StartError::NotModern => f.write_str("the device does not offer virtio 1.x"),
            StartError::FeaturesRefused => f.write_str("the device refused the features"),
            StartError::QueueTooSmall(size) => {
                write!(
                    f,
                    "the device's queue holds {size}, fewer than {QUEUE_SIZE}"
                )
            }
            StartError::NoVector => f.write_str("the device did not take the MSI-X vector"),
        }
    }
}

/// The virtio-blk driver's state.
pub struct VirtioBlk {
    running: Option<Running>,
    slots: [Option<InFlight>; SLOTS],
    /// The next available-ring index to fill.
    next_available: u16,
    /// The used-ring index up to which completions were handled.
    last_used: u16,
    /// The Region capability the message being handled brought.
    incoming: Option<CapRef>,
    /// A block on its way between a client's Region and the DMA memory.
    bounce: Box<[u8; BLOCK_SIZE]>,
    outbox: Outbox<MAX_PAYLOAD>,
    /// Requests answered, successful or not, since start.
    pub completed: u64,
}

impl Default for VirtioBlk {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtioBlk {
    /// A driver, told about its device by its grants at start.
    pub fn new() -> Self {
        Self {
            running: None,
            slots: [None; SLOTS],
            next_available: 0,
            last_used: 0,
            incoming: None,
            bounce: Box::new([0; BLOCK_SIZE]),
            outbox: Outbox::new(),
            completed: 0,
        }
    }

    /// The disk, once the device runs.
    pub fn geometry(&self) -> Option<Geometry> {
        self.running.map(|running| running.geometry)
    }

    /// Requests the device has not finished.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    fn running(&self) -> Result<Running, BlockError> {
        self.running.ok_or(BlockError::NotReady)
    }

    /// Brings the device up (virtio 3.1.1): reset, acknowledge, features,
    /// the queue, driver OK.
    fn bring_up(
        &mut self,
        cx: &mut dyn Context,
        caps: Caps,
        config: Config,
    ) -> Result<Running, StartError> {
        let common = caps.common;
        let status = |cx: &mut dyn Context, value: u64| {
            cx.mmio_write(common, reg::DEVICE_STATUS, Width::U8, value)
        };
        status(cx, 0)?;
        if cx.mmio_read(common, reg::DEVICE_STATUS, Width::U8)? != 0 {
            return Err(StartError::NoReset);
        }
        status(cx, reg::ACKNOWLEDGE)?;
        status(cx, reg::ACKNOWLEDGE | reg::DRIVER)?;

        let mut offered = 0u64;
        for half in 0..2u64 {
            cx.mmio_write(common, reg::DEVICE_FEATURE_SELECT, Width::U32, half)?;
            offered |= cx.mmio_read(common, reg::DEVICE_FEATURE, Width::U32)? << (32 * half);
        }
        if offered & reg::F_VERSION_1 == 0 {
            let _ = status(cx, reg::FAILED);
            return Err(StartError::NotModern);
        }
        let chosen = offered & reg::ACCEPTED;
        for half in 0..2u64 {
            cx.mmio_write(common, reg::DRIVER_FEATURE_SELECT, Width::U32, half)?;
            let bits = (chosen >> (32 * half)) & 0xffff_ffff;
            cx.mmio_write(common, reg::DRIVER_FEATURE, Width::U32, bits)?;
        }
        let features_ok = reg::ACKNOWLEDGE | reg::DRIVER | reg::FEATURES_OK;
        status(cx, features_ok)?;
        if cx.mmio_read(common, reg::DEVICE_STATUS, Width::U8)? & reg::FEATURES_OK == 0 {
            let _ = status(cx, reg::FAILED);
            return Err(StartError::FeaturesRefused);
        }

        // The DMA memory's physical pages, checked before the device sees
        // any of them.
        let queue_phys = cx.region_phys(caps.dma, queue::DESCRIPTORS as u64)?;
        let header_phys = cx.region_phys(caps.dma, queue::HEADERS as u64)?;
        let mut data_phys = [0u64; SLOTS];
        for (slot, phys) in data_phys.iter_mut().enumerate() {
            *phys = cx.region_phys(caps.dma, queue::data(slot) as u64)?;
        }
        cx.region_mut(caps.dma)?
            .get_mut(..queue::PAGE)
            .ok_or(StartError::Ipc(IpcError::out_of_range(0, 0)))?
            .fill(0);

        cx.mmio_write(common, reg::CONFIG_MSIX_VECTOR, Width::U16, reg::NO_VECTOR)?;
        cx.mmio_write(common, reg::QUEUE_SELECT, Width::U16, 0)?;
        let max = cx.mmio_read(common, reg::QUEUE_SIZE, Width::U16)? as u16;
        if max < QUEUE_SIZE {
            let _ = status(cx, reg::FAILED);
            return Err(StartError::QueueTooSmall(max));
        }
        cx.mmio_write(common, reg::QUEUE_SIZE, Width::U16, u64::from(QUEUE_SIZE))?;
        cx.mmio_write(common, reg::QUEUE_MSIX_VECTOR, Width::U16, QUEUE_VECTOR)?;
        if cx.mmio_read(common, reg::QUEUE_MSIX_VECTOR, Width::U16)? != QUEUE_VECTOR {
            let _ = status(cx, reg::FAILED);
            return Err(StartError::NoVector);
        }
        for (register, offset) in [
            (reg::QUEUE_DESC, queue::DESCRIPTORS),
            (reg::QUEUE_DRIVER, queue::AVAILABLE),
            (reg::QUEUE_DEVICE, queue::USED),
        ] {
            let address = queue_phys + offset as u64;
            cx.mmio_write(common, register, Width::U32, address & 0xffff_ffff)?;
            cx.mmio_write(common, register + 4, Width::U32, address >> 32)?;
        }
        let notify_off = cx.mmio_read(common, reg::QUEUE_NOTIFY_OFF, Width::U16)?;
        cx.mmio_write(common, reg::QUEUE_ENABLE, Width::U16, 1)?;

        let low = cx.mmio_read(caps.device, reg::CAPACITY, Width::U32)?;
        let high = cx.mmio_read(caps.device, reg::CAPACITY + 4, Width::U32)?;
        let sectors = (high << 32) | low;
        status(cx, features_ok | reg::DRIVER_OK)?;
        Ok(Running {
            caps,
            geometry: Geometry {
                blocks: sectors / SECTORS_PER_BLOCK,
                block_size: BLOCK_SIZE as u32,
                read_only: chosen & reg::F_RO != 0,
            },
            flush: chosen & reg::F_FLUSH != 0,
            notify_at: notify_off * u64::from(config.notify_multiplier),
            header_phys,
            data_phys,
        })
    }

    /// The Region the request brought, checked for `needs` and size.
    fn take_buffer(&mut self, cx: &mut dyn Context, write: bool) -> Result<CapRef, BlockError> {
        let buffer = self.incoming.take().ok_or(BlockError::NoBuffer)?;
        let len = if write {
            cx.region(buffer).map(<[u8]>::len)
        } else {
            cx.region_mut(buffer).map(|bytes| bytes.len())
        };
        let checked = match len {
            Ok(len) if len >= BLOCK_SIZE => Ok(buffer),
            Ok(len) => Err(BlockError::BufferTooSmall { len: len as u64 }),
            Err(_) => Err(BlockError::NoBuffer),
        };
        if checked.is_err() {
            let _ = cx.drop_cap(buffer);
        }
        checked
    }

    fn free_slot(&self) -> Result<usize, BlockError> {
        self.slots
            .iter()
            .position(Option::is_none)
            .ok_or(BlockError::Busy)
    }

    fn check_block(running: &Running, block: u64) -> Result<(), BlockError> {
        if block >= running.geometry.blocks {
            return Err(BlockError::OutOfRange {
                block,
                blocks: running.geometry.blocks,
            });
        }
        Ok(())
    }

    /// Writes slot `slot`'s request header and descriptor chain, offers it
    /// and notifies the device.
    fn submit(
        &mut self,
        cx: &mut dyn Context,
        running: &Running,
        slot: usize,
        kind: u32,
        block: u64,
        copy_in: bool,
    ) -> Result<(), IpcError> {
        let memory = cx.region_mut(running.caps.dma)?;
        let header = queue::header(slot);
        queue::put_u32(memory, header, kind);
        queue::put_u32(memory, header + 4, 0);
        queue::put_u64(memory, header + 8, block * SECTORS_PER_BLOCK);
        memory[queue::status(slot)] = 0xff;
        if copy_in {
            memory[queue::data(slot)..queue::data(slot) + BLOCK_SIZE]
                .copy_from_slice(&self.bounce[..]);
        }
        let first = (3 * slot) as u16;
        let status = queue::Descriptor {
            address: running.header_phys + (queue::status(slot) - queue::HEADERS) as u64,
            len: 1,
            flags: queue::DEVICE_WRITES,
            next: 0,
        };
        let header_descriptor = |next| queue::Descriptor {
            address: running.header_phys + (header - queue::HEADERS) as u64,
            len: 16,
            flags: queue::NEXT,
            next,
        };
        if kind == reg::T_FLUSH {
            queue::put_descriptor(memory, first, header_descriptor(first + 2));
        } else {
            queue::put_descriptor(memory, first, header_descriptor(first + 1));
            let device_writes = if kind == reg::T_IN {
                queue::DEVICE_WRITES
            } else {
                0
            };
            queue::put_descriptor(
                memory,
                first + 1,
                queue::Descriptor {
                    address: running.data_phys[slot],
                    len: BLOCK_SIZE as u32,
                    flags: queue::NEXT | device_writes,
                    next: first + 2,
                },
            );
        }
        queue::put_descriptor(memory, first + 2, status);
        queue::offer(memory, self.next_available, first);
        self.next_available = self.next_available.wrapping_add(1);
        cx.mmio_write(running.caps.notify, running.notify_at, Width::U16, 0)
    }

    /// Answers every request the device has put on the used ring.
    fn complete(&mut self, cx: &mut dyn Context) -> Result<(), IpcError> {
        let Some(running) = self.running else {
            return Ok(());
        };
        // At most a queue's worth per interrupt: a device that keeps
        // moving its index cannot hold the core.
        for _ in 0..QUEUE_SIZE {
            let memory = cx.region(running.caps.dma)?;
            if queue::used_index(memory) == self.last_used {
                break;
            }
            let head = queue::used_entry(memory, self.last_used);
            self.last_used = self.last_used.wrapping_add(1);
            // The device's word is checked like any input: a head that is
            // no slot's first descriptor, or a slot not in flight, is
            // logged and skipped.
            let slot = (head / 3) as usize;
            if !head.is_multiple_of(3) || slot >= SLOTS || self.slots[slot].is_none() {
                cx.log(format_args!("device used descriptor {head}, not in flight"));
                continue;
            }
            let ok = memory[queue::status(slot)] == reg::S_OK;
            if let Some(InFlight::Read { .. }) = self.slots[slot] {
                let data = &memory[queue::data(slot)..queue::data(slot) + BLOCK_SIZE];
                self.bounce.copy_from_slice(data);
            }
            let Some(request) = self.slots[slot].take() else {
                continue;
            };
            self.completed += 1;
            let outbox = self.outbox.space();
            let sent = match request {
                InFlight::Read { answer, buffer } => {
                    let result = if !ok {
                        Err(BlockError::Device)
                    } else {
                        match cx.region_mut(buffer) {
                            Ok(bytes) if bytes.len() >= BLOCK_SIZE => {
                                bytes[..BLOCK_SIZE].copy_from_slice(&self.bounce[..]);
                                Ok(())
                            }
                            _ => Err(BlockError::BufferGone),
                        }
                    };
                    let _ = cx.drop_cap(buffer);
                    match result {
                        Ok(()) => answer.send(cx, outbox, &Done, &[]),
                        Err(error) => answer.fail(cx, outbox, error),
                    }
                }
                InFlight::Write { answer, buffer } => {
                    let _ = cx.drop_cap(buffer);
                    if ok {
                        answer.send(cx, outbox, &Done, &[])
                    } else {
                        answer.fail(cx, outbox, BlockError::Device)
                    }
                }
                InFlight::Flush { answer } => {
                    if ok {
                        answer.send(cx, outbox, &Done, &[])
                    } else {
                        answer.fail(cx, outbox, BlockError::Device)
                    }
                }
            };
            if let Err(error) = sent {
                // The client went away; nothing to keep.
                cx.log(format_args!("an answer was not delivered: {error}"));
            }
        }
        Ok(())
    }
}

impl Outgoing for VirtioBlk {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl block::Server for VirtioBlk {
    fn info(&mut self, _cx: &mut dyn Context, _: Info) -> Result<Geometry, BlockError> {
        Ok(self.running()?.geometry)
    }

    fn read(
        &mut self,
        cx: &mut dyn Context,
        request: Read,
        answer: Answer<Read>,
    ) -> Result<(), BlockError> {
        let running = self.running()?;
        Self::check_block(&running, request.block)?;
        let slot = self.free_slot()?;
        let buffer = self.take_buffer(cx, false)?;
        if self
            .submit(cx, &running, slot, reg::T_IN, request.block, false)
            .is_err()
        {
            let _ = cx.drop_cap(buffer);
            return Err(BlockError::Device);
        }
        self.slots[slot] = Some(InFlight::Read { answer, buffer });
        Ok(())
    }

    fn write(
        &mut self,
        cx: &mut dyn Context,
        request: Write,
        answer: Answer<Write>,
    ) -> Result<(), BlockError> {
        let running = self.running()?;
        if running.geometry.read_only {
            return Err(BlockError::ReadOnly);
        }
        Self::check_block(&running, request.block)?;
        let slot = self.free_slot()?;
        let buffer = self.take_buffer(cx, true)?;
        match cx.region(buffer) {
            Ok(bytes) => self.bounce.copy_from_slice(&bytes[..BLOCK_SIZE]),
            Err(_) => {
                let _ = cx.drop_cap(buffer);
                return Err(BlockError::NoBuffer);
            }
        }
        if self
            .submit(cx, &running, slot, reg::T_OUT, request.block, true)
            .is_err()
        {
            let _ = cx.drop_cap(buffer);
            return Err(BlockError::Device);
        }
        self.slots[slot] = Some(InFlight::Write { answer, buffer });
        Ok(())
    }

    fn flush(
        &mut self,
        cx: &mut dyn Context,
        _: Flush,
        answer: Answer<Flush>,
    ) -> Result<(), BlockError> {
        let running = self.running()?;
        if !running.flush {
            // Without the flush feature the device writes through: every
            // answered write is already durable.
            answer
                .send(cx, self.outbox.space(), &Done, &[])
                .map_err(|_| BlockError::Device)?;
            return Ok(());
        }
        let slot = self.free_slot()?;
        self.submit(cx, &running, slot, reg::T_FLUSH, 0, false)
            .map_err(|_| BlockError::Device)?;
        self.slots[slot] = Some(InFlight::Flush { answer });
        Ok(())
    }
}

impl StateMachine for VirtioBlk {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let found = |name: &'static str| grants.get(name).ok_or(StartError::Missing(name));
        let caps = (|| {
            Ok::<_, StartError>(Caps {
                common: found(GRANT_COMMON)?,
                notify: found(GRANT_NOTIFY)?,
                device: found(GRANT_DEVICE)?,
                irq: found(GRANT_IRQ)?,
                dma: found(GRANT_DMA)?,
            })
        })();
        let config = found(GRANT_CONFIG).and_then(|cap| {
            let bytes = cx.region(cap)?;
            Config::decode(bytes).map_err(StartError::Config)
        });
        let started = caps
            .and_then(|caps| Ok((caps, config?)))
            .and_then(|(caps, config)| self.bring_up(cx, caps, config));
        match started {
            Ok(running) => {
                cx.log(format_args!(
                    "disk of {} blocks of {} bytes{}{}",
                    running.geometry.blocks,
                    BLOCK_SIZE,
                    if running.geometry.read_only {
                        ", read-only"
                    } else {
                        ""
                    },
                    if running.flush { ", flush" } else { "" },
                ));
                self.running = Some(running);
            }
            // The driver stays up and answers NotReady: a missing or
            // broken disk is not a reason to stop the system.
            Err(error) => cx.log(format_args!("no disk: {error}")),
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::Interrupt { .. } => {
                self.complete(cx)?;
                if let Some(running) = self.running {
                    cx.irq_ack(running.caps.irq)?;
                }
                // A completion that landed while the handler ran raised an
                // interrupt of its own (MSI is never masked here), but
                // looking again is cheap and keeps no answer waiting.
                self.complete(cx)?;
                Ok(())
            }
            MessageKind::Request => {
                let caps = msg.caps();
                self.incoming = caps.first().copied();
                let served = block::serve(self, cx, &msg);
                // Capabilities the request did not keep are not held on to.
                if let Some(unused) = self.incoming.take() {
                    let _ = cx.drop_cap(unused);
                }
                for extra in caps.iter().skip(1) {
                    let _ = cx.drop_cap(*extra);
                }
                served
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
