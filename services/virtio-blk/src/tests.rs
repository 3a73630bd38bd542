//! The driver against a fake virtio-blk device: `FakeContext`'s registers
//! hold what the driver programs, and [`FakeDisk::run`] plays the device,
//! following the descriptor chains through the fake physical addresses
//! into the DMA memory, as QEMU's device does.

use alloc::vec;
use alloc::vec::Vec;

use mealy_protocol::block::{BLOCK_SIZE, BlockError, Done, Flush, Geometry, Info, Read, Write};
use mealy_protocol::testing::{FakeContext, Message, Operation};
use mealy_protocol::{CallError, CapRef, Grant, IpcError, MessageKind, Rights};

use super::queue::{self, QUEUE_SIZE};
use super::registers as reg;
use super::*;

const COMMON: u64 = 0xfe00_0000;
const NOTIFY: u64 = 0xfe00_3000;
const DEVICE: u64 = 0xfe00_2000;
const MULTIPLIER: u32 = 4;
const NOTIFY_OFF: u64 = 3;
const LINE: u8 = 16;
const BLOCKS: u64 = 16;

/// The device's side: its disk and how far it has read the available ring.
struct FakeDisk {
    bytes: Vec<u8>,
    seen: u16,
    used: u16,
    /// The status the next requests finish with.
    status: u8,
}

impl FakeDisk {
    fn new() -> Self {
        Self {
            bytes: vec![0; BLOCKS as usize * BLOCK_SIZE],
            seen: 0,
            used: 0,
            status: reg::S_OK,
        }
    }

    fn register64(cx: &FakeContext, offset: u64) -> u64 {
        let low = cx.registers.get(&(COMMON, offset)).copied().unwrap_or(0);
        let high = cx
            .registers
            .get(&(COMMON, offset + 4))
            .copied()
            .unwrap_or(0);
        (high << 32) | low
    }

    /// Finishes every request the driver offered; returns how many.
    fn run(&mut self, cx: &mut FakeContext) -> usize {
        let desc = Self::register64(cx, reg::QUEUE_DESC);
        let avail = Self::register64(cx, reg::QUEUE_DRIVER);
        let used = Self::register64(cx, reg::QUEUE_DEVICE);
        assert_eq!(avail, desc + queue::AVAILABLE as u64);
        assert_eq!(used, desc + queue::USED as u64);
        let ring = cx.phys_bytes_mut(desc, queue::PAGE).unwrap().to_vec();
        let offered = queue::available_index(&ring);
        let mut done = 0;
        while self.seen != offered {
            let head = queue::available_entry(&ring, self.seen);
            self.seen = self.seen.wrapping_add(1);
            let first = queue::get_descriptor(&ring, head);
            let header = cx.phys_bytes_mut(first.address, 16).unwrap().to_vec();
            let kind = queue::get_u32(&header, 0);
            let sector = queue::get_u64(&header, 8);
            let mut next = first.next;
            if kind != reg::T_FLUSH {
                let data = queue::get_descriptor(&ring, next);
                assert_eq!(data.len as usize, BLOCK_SIZE);
                let at = sector as usize * 512;
                let disk = &mut self.bytes[at..at + BLOCK_SIZE];
                let memory = cx.phys_bytes_mut(data.address, BLOCK_SIZE).unwrap();
                if kind == reg::T_IN {
                    assert_ne!(data.flags & queue::DEVICE_WRITES, 0);
                    memory.copy_from_slice(disk);
                } else {
                    assert_eq!(data.flags & queue::DEVICE_WRITES, 0);
                    disk.copy_from_slice(memory);
                }
                next = data.next;
            }
            let status = queue::get_descriptor(&ring, next);
            assert_eq!(status.len, 1);
            cx.phys_bytes_mut(status.address, 1).unwrap()[0] = self.status;
            let used_ring = cx.phys_bytes_mut(desc, queue::PAGE).unwrap();
            queue::put_used(used_ring, self.used, u32::from(head), 1);
            self.used = self.used.wrapping_add(1);
            done += 1;
        }
        done
    }
}

/// The answer a refused request gets.
fn refused<T>(error: BlockError) -> Option<Result<T, CallError<BlockError>>> {
    Some(Err(CallError::Service(error)))
}

struct Setup {
    cx: FakeContext,
    driver: VirtioBlk,
    disk: FakeDisk,
    dma: CapRef,
}

fn grants(cx: &mut FakeContext) -> (Vec<Grant>, CapRef) {
    let common = cx.mmio_device(COMMON, reg::COMMON_LEN);
    let notify = cx.mmio_device(NOTIFY, 0x1000);
    let device = cx.mmio_device(DEVICE, 0x1000);
    let irq = cx.irq(LINE);
    let dma = cx.dma_region(DMA_PAGES);
    let config = Config {
        notify_multiplier: MULTIPLIER,
    };
    let config = cx.region_with(&config.encode(), Rights::READ);
    let grant = |name, cap| Grant { name, cap };
    (
        vec![
            grant(GRANT_COMMON, common),
            grant(GRANT_NOTIFY, notify),
            grant(GRANT_DEVICE, device),
            grant(GRANT_IRQ, irq),
            grant(GRANT_DMA, dma),
            grant(GRANT_CONFIG, config),
        ],
        dma,
    )
}

/// A device offering `features` with a queue of `max` and the disk.
fn device(cx: &mut FakeContext, features: u64, max: u16) {
    cx.queue_mmio_input(
        COMMON,
        reg::DEVICE_FEATURE,
        &[features & 0xffff_ffff, features >> 32],
    );
    cx.registers
        .insert((COMMON, reg::QUEUE_SIZE), u64::from(max));
    cx.registers
        .insert((COMMON, reg::QUEUE_NOTIFY_OFF), NOTIFY_OFF);
    let sectors = BLOCKS * 8;
    cx.registers
        .insert((DEVICE, reg::CAPACITY), sectors & 0xffff_ffff);
    cx.registers
        .insert((DEVICE, reg::CAPACITY + 4), sectors >> 32);
}

fn started_with(features: u64) -> Setup {
    let mut cx = FakeContext::new();
    let (grants, dma) = grants(&mut cx);
    device(&mut cx, features, 256);
    let mut driver = VirtioBlk::new();
    cx.start(&mut driver, &grants).unwrap();
    Setup {
        cx,
        driver,
        disk: FakeDisk::new(),
        dma,
    }
}

fn started() -> Setup {
    started_with(reg::F_VERSION_1 | reg::F_FLUSH)
}

/// A client's one-page Region holding `fill`, with the rights given.
fn buffer(cx: &mut FakeContext, fill: u8, rights: Rights) -> CapRef {
    cx.region_with(&[fill; BLOCK_SIZE], rights)
}

fn with_caps(message: Message, caps: &[CapRef]) -> Message {
    message.with_caps(caps)
}

impl Setup {
    fn call_with<C: mealy_protocol::Call>(&mut self, request: &C, caps: &[CapRef]) -> CapRef {
        let (message, reply) = self.cx.call_request(request);
        let message = with_caps(message, caps);
        self.cx.deliver(&mut self.driver, &message).unwrap();
        reply
    }

    fn interrupt(&mut self) {
        let message = self.cx.interrupt(LINE);
        self.cx.deliver(&mut self.driver, &message).unwrap();
    }
}

#[test]
fn brings_the_device_up_in_the_order_virtio_asks() {
    let setup = started();
    let statuses: Vec<u64> = setup
        .cx
        .mmio_writes
        .iter()
        .filter(|(base, offset, ..)| *base == COMMON && *offset == reg::DEVICE_STATUS)
        .map(|(.., value)| *value)
        .collect();
    let features_ok = reg::ACKNOWLEDGE | reg::DRIVER | reg::FEATURES_OK;
    assert_eq!(
        statuses,
        [0, 1, 3, features_ok, features_ok | reg::DRIVER_OK]
    );
    assert_eq!(
        setup.driver.geometry(),
        Some(Geometry {
            blocks: BLOCKS,
            block_size: 4096,
            read_only: false
        })
    );
    let driver_features: Vec<u64> = setup
        .cx
        .mmio_writes
        .iter()
        .filter(|(_, offset, ..)| *offset == reg::DRIVER_FEATURE)
        .map(|(.., value)| *value)
        .collect();
    assert_eq!(
        driver_features,
        [reg::F_FLUSH, 1],
        "FLUSH low, VERSION_1 high"
    );
    assert_eq!(
        setup.cx.registers.get(&(COMMON, reg::QUEUE_SIZE)),
        Some(&u64::from(QUEUE_SIZE))
    );
    assert_eq!(
        setup.cx.registers.get(&(COMMON, reg::QUEUE_ENABLE)),
        Some(&1)
    );
    assert!(setup.cx.logs.iter().any(|line| line.contains("16 blocks")));
}

#[test]
fn a_written_block_reads_back_and_answers_wait_for_the_device() {
    let mut s = started();
    let data = buffer(&mut s.cx, 0xab, Rights::READ | Rights::GRANT);
    let write = s.call_with(&Write { block: 3 }, &[data]);
    assert_eq!(
        s.cx.answer::<Write>(write),
        None,
        "not answered before the device is done"
    );
    assert_eq!(s.driver.in_flight(), 1);
    let notified: Vec<_> =
        s.cx.mmio_writes
            .iter()
            .filter(|(base, ..)| *base == NOTIFY)
            .collect();
    assert_eq!(
        notified,
        [&(NOTIFY, NOTIFY_OFF * u64::from(MULTIPLIER), Width::U16, 0)]
    );
    assert_eq!(s.disk.run(&mut s.cx), 1);
    s.interrupt();
    assert_eq!(s.cx.answer::<Write>(write), Some(Ok(Done)));
    assert_eq!(s.cx.irq_acks, [LINE]);
    assert!(
        s.disk.bytes[3 * BLOCK_SIZE..4 * BLOCK_SIZE]
            .iter()
            .all(|b| *b == 0xab)
    );
    assert_eq!(s.cx.object(data), None, "the driver dropped the buffer");

    let into = buffer(&mut s.cx, 0, Rights::all());
    let keep = s.cx.copy(into).unwrap();
    let read = s.call_with(&Read { block: 3 }, &[into]);
    s.disk.run(&mut s.cx);
    s.interrupt();
    assert_eq!(s.cx.answer::<Read>(read), Some(Ok(Done)));
    assert!(
        mealy_protocol::Context::region(&s.cx, keep).unwrap()[..BLOCK_SIZE]
            .iter()
            .all(|b| *b == 0xab)
    );
    assert_eq!(s.driver.in_flight(), 0);
}

#[test]
fn flush_goes_to_the_device_when_it_has_the_feature_and_answers_at_once_otherwise() {
    let mut s = started();
    let flush = s.call_with(&Flush, &[]);
    assert_eq!(s.cx.answer::<Flush>(flush), None);
    s.disk.run(&mut s.cx);
    s.interrupt();
    assert_eq!(s.cx.answer::<Flush>(flush), Some(Ok(Done)));

    let mut s = started_with(reg::F_VERSION_1);
    let flush = s.call_with(&Flush, &[]);
    assert_eq!(s.cx.answer::<Flush>(flush), Some(Ok(Done)));
    assert_eq!(s.disk.run(&mut s.cx), 0);
}

#[test]
fn info_answers_the_geometry() {
    let mut s = started_with(reg::F_VERSION_1 | reg::F_RO);
    let info = s.call_with(&Info, &[]);
    assert_eq!(
        s.cx.answer::<Info>(info),
        Some(Ok(Geometry {
            blocks: BLOCKS,
            block_size: 4096,
            read_only: true
        }))
    );
    let data = buffer(&mut s.cx, 1, Rights::READ | Rights::GRANT);
    let write = s.call_with(&Write { block: 0 }, &[data]);
    assert_eq!(s.cx.answer::<Write>(write), refused(BlockError::ReadOnly));
    assert_eq!(
        s.cx.object(data),
        None,
        "a refused request's capability is dropped too"
    );
}

#[test]
fn bad_requests_are_answered_with_errors_and_change_nothing() {
    let mut s = started();
    // No Region.
    let read = s.call_with(&Read { block: 0 }, &[]);
    assert_eq!(s.cx.answer::<Read>(read), refused(BlockError::NoBuffer));
    // Past the end.
    let data = buffer(&mut s.cx, 1, Rights::all());
    let read = s.call_with(&Read { block: BLOCKS }, &[data]);
    assert_eq!(
        s.cx.answer::<Read>(read),
        refused(BlockError::OutOfRange {
            block: BLOCKS,
            blocks: BLOCKS
        })
    );
    // A read into a Region without WRITE.
    let data = buffer(&mut s.cx, 1, Rights::READ | Rights::GRANT);
    let read = s.call_with(&Read { block: 0 }, &[data]);
    assert_eq!(s.cx.answer::<Read>(read), refused(BlockError::NoBuffer));
    // Not a Region at all.
    let endpoint = s.cx.endpoint("someone");
    let write = s.call_with(&Write { block: 0 }, &[endpoint]);
    assert_eq!(s.cx.answer::<Write>(write), refused(BlockError::NoBuffer));
    // A Region smaller than a block: a subregion cannot be, so a
    // malformed payload stands in for the remaining hostile input.
    let (message, reply) = s.cx.call_with_payload(&[2, 0xff]);
    let result = s.cx.deliver(&mut s.driver, &message);
    assert!(
        result.is_err(),
        "malformed is an error for the kernel to answer"
    );
    let _ = reply;
    assert_eq!(s.driver.in_flight(), 0);
    assert!(
        !s.cx.mmio_writes.iter().any(|(base, ..)| *base == NOTIFY),
        "the device was never notified"
    );
}

#[test]
fn a_full_queue_answers_busy() {
    let mut s = started();
    let mut replies = Vec::new();
    for block in 0..SLOTS as u64 {
        let data = buffer(&mut s.cx, 0, Rights::all());
        replies.push(s.call_with(&Read { block }, &[data]));
    }
    let data = buffer(&mut s.cx, 0, Rights::all());
    let busy = s.call_with(&Read { block: 0 }, &[data]);
    assert_eq!(s.cx.answer::<Read>(busy), refused(BlockError::Busy));
    assert_eq!(s.disk.run(&mut s.cx), SLOTS);
    s.interrupt();
    for reply in replies {
        assert_eq!(s.cx.answer::<Read>(reply), Some(Ok(Done)));
    }
    // And the slots are free again, around the ring more than once.
    for round in 0..(2 * QUEUE_SIZE as u64) {
        let data = buffer(&mut s.cx, round as u8, Rights::all());
        let write = s.call_with(
            &Write {
                block: round % BLOCKS,
            },
            &[data],
        );
        s.disk.run(&mut s.cx);
        s.interrupt();
        assert_eq!(s.cx.answer::<Write>(write), Some(Ok(Done)), "round {round}");
    }
}

#[test]
fn a_device_error_and_a_revoked_buffer_are_errors() {
    let mut s = started();
    s.disk.status = 1;
    let data = buffer(&mut s.cx, 0, Rights::all());
    let read = s.call_with(&Read { block: 0 }, &[data]);
    s.disk.run(&mut s.cx);
    s.interrupt();
    assert_eq!(s.cx.answer::<Read>(read), refused(BlockError::Device));

    s.disk.status = reg::S_OK;
    let mine = buffer(&mut s.cx, 0, Rights::all());
    let lent = mealy_protocol::Context::copy(&mut s.cx, mine).unwrap();
    let read = s.call_with(&Read { block: 0 }, &[lent]);
    // The client revokes what it lent while the read is in flight: the
    // driver's capability goes stale.
    assert_eq!(mealy_protocol::Context::revoke(&mut s.cx, mine), Ok(1));
    s.disk.run(&mut s.cx);
    s.interrupt();
    assert_eq!(s.cx.answer::<Read>(read), refused(BlockError::BufferGone));
}

#[test]
fn a_used_entry_the_driver_did_not_offer_is_logged_and_skipped() {
    let mut s = started();
    let memory = mealy_protocol::Context::region_mut(&mut s.cx, s.dma).unwrap();
    queue::put_used(memory, 0, 7, 1);
    s.interrupt();
    assert!(s.cx.logs.iter().any(|line| line.contains("not in flight")));
    assert_eq!(s.driver.completed, 0);
}

#[test]
fn without_a_device_every_request_is_not_ready() {
    let mut cx = FakeContext::new();
    let mut driver = VirtioBlk::new();
    cx.start(&mut driver, &[]).unwrap();
    assert!(cx.logs.iter().any(|line| line.contains("no disk")));
    let (message, reply) = cx.call_request(&Info);
    cx.deliver(&mut driver, &message).unwrap();
    assert_eq!(cx.answer::<Info>(reply), refused(BlockError::NotReady));
}

#[test]
fn a_device_that_refuses_is_left_failed() {
    for (features, max, expected) in [
        (reg::F_FLUSH, 256, "virtio 1.x"),
        (reg::F_VERSION_1, 8, "queue holds 8"),
    ] {
        let mut cx = FakeContext::new();
        let (grants, _) = grants(&mut cx);
        device(&mut cx, features, max);
        let mut driver = VirtioBlk::new();
        cx.start(&mut driver, &grants).unwrap();
        assert!(
            cx.logs.iter().any(|line| line.contains(expected)),
            "{:?}",
            cx.logs
        );
        assert_eq!(
            cx.registers.get(&(COMMON, reg::DEVICE_STATUS)),
            Some(&reg::FAILED)
        );
        assert_eq!(driver.geometry(), None);
    }
    // A failing capability operation is an error value, not a panic.
    let mut cx = FakeContext::new();
    let (grants, _) = grants(&mut cx);
    device(&mut cx, reg::F_VERSION_1, 256);
    cx.fail(Operation::RegionPhys, IpcError::Unsupported);
    let mut driver = VirtioBlk::new();
    cx.start(&mut driver, &grants).unwrap();
    assert_eq!(driver.geometry(), None);
    let _ = MessageKind::Request;
}

#[test]
fn the_configuration_round_trips_and_a_bad_one_is_refused() {
    let config = Config {
        notify_multiplier: 0x1234_5678,
    };
    let mut page = vec![0u8; 4096];
    page[..CONFIG_LEN].copy_from_slice(&config.encode());
    assert_eq!(
        Config::decode(&page),
        Ok(config),
        "zeros after it are ignored"
    );
    assert_eq!(
        Config::decode(&config.encode()[..5]),
        Err(ConfigError::TooShort(5))
    );
    assert_eq!(Config::decode(&[0; 8]), Err(ConfigError::BadTag([0; 4])));
}

#[test]
fn a_missing_or_malformed_configuration_leaves_the_device_alone_with_one_line() {
    let good = Config {
        notify_multiplier: MULTIPLIER,
    }
    .encode();
    for (config, expected) in [
        (None, "no disk: no \"config\" capability"),
        (
            Some((&b"nope\x04\0\0\0"[..], Rights::READ)),
            "no disk: the \"config\" grant: it starts with",
        ),
        (Some((&good[..], Rights::WRITE)), "no disk: "),
    ] {
        let mut cx = FakeContext::new();
        let (mut grants, _) = grants(&mut cx);
        grants.retain(|grant| grant.name != GRANT_CONFIG);
        if let Some((bytes, rights)) = config {
            let cap = cx.region_with(bytes, rights);
            grants.push(Grant {
                name: GRANT_CONFIG,
                cap,
            });
        }
        device(&mut cx, reg::F_VERSION_1, 256);
        let mut driver = VirtioBlk::new();
        cx.start(&mut driver, &grants).unwrap();
        assert!(
            cx.logs.iter().any(|line| line.contains(expected)),
            "{expected}: {:?}",
            cx.logs
        );
        assert_eq!(driver.geometry(), None);
        assert!(
            cx.mmio_writes.is_empty(),
            "the device is not touched: {:?}",
            cx.mmio_writes
        );
    }
}
