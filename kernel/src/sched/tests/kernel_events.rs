//! Kernel-generated messages: interrupts posted from trap context, timer
//! timeouts; and regions.

use mealy_caps::{Badge, TaskId};
use mealy_protocol::{IpcError, MessageKind};

use super::{Behaviour, recorder, world};
use crate::sched::{CapSpec, Platform, grant};

static DRIVER_CAPS: &[CapSpec] = &[grant("irq").irq(33).badge(0x33), grant("timer").timer()];

#[test]
fn posted_interrupts_reach_the_irq_holder_once() {
    let mut w = world(&[(recorder("driver").caps(DRIVER_CAPS), Behaviour::Record)]);
    let pending = w.sched.pending();
    // As a trap handler would: no scheduler access, no allocation.
    pending.post(33);
    pending.post(33);
    pending.post(34);
    w.run();
    let got = w.received(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, MessageKind::Interrupt { line: 33 });
    assert_eq!(got[0].badge, Badge::new(0x33));
    assert_eq!(w.sched.stats().unrouted_interrupts, 1);
    let irq = w.grant(TaskId(0), "irq");
    w.act(TaskId(0), |cx| cx.irq_ack(irq)).unwrap();
    assert_eq!(w.sched.platform().acked_irqs, [33]);
    let timer = w.grant(TaskId(0), "timer");
    assert!(matches!(
        w.act(TaskId(0), |cx| cx.irq_ack(timer)),
        Err(IpcError::WrongKind { .. })
    ));
}

#[test]
fn timers_deliver_one_timeout_after_the_deadline() {
    let mut w = world(&[(recorder("driver").caps(DRIVER_CAPS), Behaviour::Record)]);
    let timer = w.grant(TaskId(0), "timer");
    w.act(TaskId(0), |cx| cx.set_timer(timer, 1_000)).unwrap();
    assert_eq!(w.run(), 0, "not due yet");
    w.sched.idle(); // the host platform jumps to the deadline
    w.run();
    assert_eq!(w.received(0).len(), 1);
    assert_eq!(w.received(0)[0].kind, MessageKind::Timeout);
    w.sched.platform().advance(10_000);
    assert_eq!(w.run(), 0, "one-shot");
}

#[test]
fn dead_task_timers_and_irqs_are_dropped() {
    let mut w = world(&[(recorder("driver").caps(DRIVER_CAPS), Behaviour::Record)]);
    let timer = w.grant(TaskId(0), "timer");
    w.act(TaskId(0), |cx| cx.set_timer(timer, 10)).unwrap();
    w.sched.stop(TaskId(0));
    w.sched.platform().advance(1_000);
    w.sched.pending().post(33);
    assert_eq!(w.run(), 0);
    assert_eq!(w.sched.stats().unrouted_interrupts, 1);
}

#[test]
fn regions_are_allocated_read_and_written_through_caps() {
    let mut w = world(&[(recorder("user"), Behaviour::Record)]);
    let region = w.act(TaskId(0), |cx| cx.alloc_region(100)).unwrap();
    w.act(TaskId(0), |cx| {
        let bytes = cx.region_mut(region)?;
        bytes[..5].copy_from_slice(b"hello");
        Ok::<_, IpcError>(())
    })
    .unwrap();
    let read = w.act(TaskId(0), |cx| {
        cx.region(region).map(|bytes| bytes[..5].to_vec())
    });
    assert_eq!(read.unwrap(), b"hello");
    let read_only = w
        .act(TaskId(0), |cx| {
            cx.mint(region, mealy_caps::Rights::READ, None)
        })
        .unwrap();
    assert!(matches!(
        w.act(TaskId(0), |cx| cx.region_mut(read_only).map(|_| ())),
        Err(IpcError::MissingRights { .. })
    ));
    assert_eq!(w.act(TaskId(0), |cx| cx.revoke(region)), Ok(1));
    assert_eq!(
        w.act(TaskId(0), |cx| cx.region(read_only).map(|_| ())),
        Err(IpcError::InvalidCap)
    );
}

static CONFIG_CAPS: &[CapSpec] = &[grant("config").bytes(b"width=640")];

#[test]
fn a_bytes_grant_is_a_read_only_region_holding_them() {
    let mut w = world(&[(recorder("user").caps(CONFIG_CAPS), Behaviour::Record)]);
    let config = w.grant(TaskId(0), "config");
    let read = w.act(TaskId(0), |cx| {
        cx.region(config).map(|bytes| bytes.to_vec())
    });
    let read = read.unwrap();
    assert_eq!(&read[..9], b"width=640");
    assert!(read[9..].iter().all(|&byte| byte == 0));
    assert!(matches!(
        w.act(TaskId(0), |cx| cx.region_mut(config).map(|_| ())),
        Err(IpcError::MissingRights { .. })
    ));
}

static PORT_CAPS: &[CapSpec] = &[
    grant("ports").device(mealy_caps::DeviceRange::Ports {
        base: 0x3f8,
        len: 8,
    }),
    grant("read-only")
        .device(mealy_caps::DeviceRange::Ports { base: 0x60, len: 1 })
        .rights(mealy_caps::Rights::READ),
    grant("timer").timer(),
];

#[test]
fn port_io_goes_through_a_device_capability_and_stays_in_its_range() {
    let mut w = world(&[(recorder("driver").caps(PORT_CAPS), Behaviour::Record)]);
    let ports = w.grant(TaskId(0), "ports");
    let read_only = w.grant(TaskId(0), "read-only");
    let timer = w.grant(TaskId(0), "timer");
    w.sched
        .platform_mut()
        .port_input
        .insert(0x3fd, [0x61, 0x20].into_iter().collect());
    assert_eq!(w.act(TaskId(0), |cx| cx.port_read(ports, 5)), Ok(0x61));
    assert_eq!(w.act(TaskId(0), |cx| cx.port_read(ports, 5)), Ok(0x20));
    w.act(TaskId(0), |cx| cx.port_write(ports, 0, b'x'))
        .unwrap();
    assert_eq!(w.sched.platform().port_writes, [(0x3f8, b'x')]);

    // Past the end of the range: refused, and the port is not touched.
    assert_eq!(
        w.act(TaskId(0), |cx| cx.port_write(ports, 8, 1)),
        Err(IpcError::OutOfRange { offset: 8, len: 8 })
    );
    assert_eq!(
        w.act(TaskId(0), |cx| cx.port_read(ports, 0xffff)),
        Err(IpcError::OutOfRange {
            offset: 0xffff,
            len: 8
        })
    );
    // Rights: a read-only device capability cannot write.
    assert_eq!(w.act(TaskId(0), |cx| cx.port_read(read_only, 0)), Ok(0xff));
    assert!(matches!(
        w.act(TaskId(0), |cx| cx.port_write(read_only, 0, 1)),
        Err(IpcError::MissingRights { .. })
    ));
    // Kind and validity.
    assert!(matches!(
        w.act(TaskId(0), |cx| cx.port_write(timer, 0, 1)),
        Err(IpcError::WrongKind { .. })
    ));
    assert_eq!(
        w.act(TaskId(0), |cx| cx
            .port_read(mealy_caps::CapRef::from_raw(0xdead_0000), 0)),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(w.sched.platform().port_writes.len(), 1);
}

#[test]
fn power_off_waits_for_a_timer_due_before_the_deadline_but_no_longer() {
    let mut w = world(&[(recorder("driver").caps(DRIVER_CAPS), Behaviour::Record)]);
    let now = w.sched.platform().now_ns();
    assert!(w.sched.may_power_off(now, now + 1_000), "no timer: at once");
    let timer = w.grant(TaskId(0), "timer");
    // Output being retried in 100 ns: worth waiting for.
    w.act(TaskId(0), |cx| cx.set_timer(timer, 100)).unwrap();
    let now = w.sched.platform().now_ns();
    assert!(!w.sched.may_power_off(now, now + 1_000));
    // But only until the deadline.
    assert!(w.sched.may_power_off(now + 1_000, now + 1_000));
    // Once it fired, nothing holds the power-off.
    w.sched.idle();
    w.run();
    let now = w.sched.platform().now_ns();
    assert!(w.sched.may_power_off(now, now + 1_000));
    // A timer past the deadline (a 5 s answer deadline) does not hold it.
    w.act(TaskId(0), |cx| cx.set_timer(timer, 5_000_000_000))
        .unwrap();
    let now = w.sched.platform().now_ns();
    assert!(w.sched.may_power_off(now, now + 1_000));
}
