//! The driver operations of the kernel's Context (`sched/context.rs`):
//! `mmio_read`, `mmio_write` and `region_phys` check the capability's
//! kind, rights and range before the platform is asked anything, and
//! every refusal is an error value. The host platform maps no device
//! memory and has no DMA memory, so a request that passes every check
//! ends in `Unsupported` there (the guest's answers are `tests/tests/disk.rs`).

use mealy_caps::{DeviceRange, ObjectKind, Rights};
use mealy_kernel::sched::{
    CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_protocol::mmio::Width;
use mealy_protocol::{CapRef, Context, HandleError, Incoming, IpcError, StateMachine};

struct Idle;

impl StateMachine for Idle {
    fn name(&self) -> &'static str {
        "driver"
    }

    fn handle(&mut self, _: &mut dyn Context, _: Incoming<'_>) -> Result<(), HandleError> {
        Ok(())
    }
}

fn make_idle() -> Box<dyn StateMachine> {
    Box::new(Idle)
}

const BAR: DeviceRange = DeviceRange::Mmio {
    base: 0xfe00_0000,
    len: 0x1000,
};

static CAPS: &[CapSpec] = &[
    grant("bar").device(BAR),
    grant("bar-ro").device(BAR).rights(Rights::READ),
    grant("ports").device(DeviceRange::Ports { base: 0x60, len: 4 }),
    grant("region").region(4096),
    grant("region-no-map")
        .region(4096)
        .rights(Rights::READ.union(Rights::WRITE)),
    grant("timer").timer(),
];

static TASKS: &[TaskSpec] = &[TaskSpec::new("driver", make_idle).caps(CAPS)];

/// Runs `act` as the driver task, with its grants by name.
fn as_driver<R>(act: impl FnOnce(&mut dyn Context, &dyn Fn(&str) -> CapRef) -> R) -> R {
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    let mut sched = Scheduler::new(HostPlatform::manual(), pending, SchedConfig::default())
        .expect("tables fit");
    sched.spawn_all(TASKS).expect("task list is valid");
    let id = sched.task_by_name("driver").expect("spawned");
    let grants: Vec<(&'static str, CapRef)> = sched
        .grants(id)
        .iter()
        .map(|grant| (grant.name, grant.cap))
        .collect();
    let find = move |name: &str| {
        grants
            .iter()
            .find(|(granted, _)| *granted == name)
            .map(|(_, cap)| *cap)
            .expect("granted")
    };
    sched
        .act_as(id, |cx| act(cx, &find))
        .expect("the task is alive")
}

#[test]
fn mmio_access_is_checked_against_the_device_capability() {
    as_driver(|cx, cap| {
        let bar = cap("bar");
        // Every check passed: the host maps no device memory.
        assert_eq!(
            cx.mmio_read(bar, 0x14, Width::U8),
            Err(IpcError::Unsupported)
        );
        assert_eq!(
            cx.mmio_read(bar, 0x1000, Width::U8),
            Err(IpcError::OutOfRange {
                offset: 0x1000,
                len: 0x1000
            }),
            "past the end"
        );
        assert_eq!(
            cx.mmio_read(bar, 0xffc, Width::U64),
            Err(IpcError::OutOfRange {
                offset: 0xffc,
                len: 0x1000
            }),
            "straddles the end"
        );
        assert!(
            matches!(
                cx.mmio_read(bar, 0x2, Width::U32),
                Err(IpcError::OutOfRange { .. })
            ),
            "unaligned"
        );
        assert!(
            matches!(
                cx.mmio_read(bar, u64::MAX, Width::U8),
                Err(IpcError::OutOfRange { .. })
            ),
            "an offset that overflows"
        );
        assert_eq!(
            cx.mmio_write(cap("bar-ro"), 0, Width::U8, 1),
            Err(IpcError::MissingRights {
                missing: Rights::WRITE
            })
        );
        assert!(
            matches!(
                cx.mmio_write(bar, 0, Width::U8, 0x100),
                Err(IpcError::OutOfRange { .. })
            ),
            "a value wider than the access"
        );
        assert_eq!(
            cx.mmio_read(cap("ports"), 0, Width::U8),
            Err(IpcError::WrongKind {
                found: ObjectKind::Device
            }),
            "ports are not MMIO"
        );
        assert_eq!(
            cx.mmio_write(cap("timer"), 0, Width::U8, 0),
            Err(IpcError::WrongKind {
                found: ObjectKind::Timer
            }),
            "not a device at all"
        );
        assert_eq!(
            cx.mmio_read(CapRef::from_raw(0xdead_0000_0077), 0, Width::U8),
            Err(IpcError::InvalidCap),
            "a forged ref"
        );
    });
}

#[test]
fn physical_addresses_need_map_and_dma_memory() {
    as_driver(|cx, cap| {
        assert_eq!(
            cx.region_phys(cap("region"), 0),
            Err(IpcError::Unsupported),
            "not DMA memory"
        );
        assert_eq!(
            cx.region_phys(cap("region"), 4096),
            Err(IpcError::OutOfRange {
                offset: 4096,
                len: 4096
            })
        );
        assert_eq!(
            cx.region_phys(cap("region-no-map"), 0),
            Err(IpcError::MissingRights {
                missing: Rights::MAP
            })
        );
        assert_eq!(
            cx.region_phys(cap("bar"), 0),
            Err(IpcError::WrongKind {
                found: ObjectKind::Device
            })
        );
    });
}

#[test]
fn a_dma_grant_needs_a_platform_with_dma_memory() {
    static DMA: &[CapSpec] = &[grant("dma").dma(4096)];
    static WITH_DMA: &[TaskSpec] = &[TaskSpec::new("driver", make_idle).caps(DMA)];
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    let mut sched = Scheduler::new(HostPlatform::manual(), pending, SchedConfig::default())
        .expect("tables fit");
    let error = sched
        .spawn_all(WITH_DMA)
        .expect_err("the host has no DMA memory");
    assert!(error.to_string().contains("\"dma\""), "{error}");
}
