//! The file-system benchmarks' clients (`mealy_fs::bench`) against the
//! real fs, scheduler and capability system on the host, with a counter
//! for a clock: what they read, what they leave behind, and how they fail.
//! Their figures are only printed by `test=bench`; here a figure is only
//! checked to have been taken.

mod common;

use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, Ordering};

use mealy_caps::Rights;
use mealy_fs::bench::{
    Clock, FS_GRANT, READ_FILES, ReadBench, ReadResult, Workload, WriteBench, WriteResult,
};
use mealy_fs::disk::{Change, format_image};
use mealy_protocol::block::{self, BLOCK_SIZE, BlockError};
use mealy_protocol::fs::{Create, FsError, Mkdir, Stat};
use mealy_protocol::{
    Call, CallError, CallToken, Context, Envelope, HandleError, Incoming, MAX_PAYLOAD, MessageKind,
    StateMachine,
};

use mealy_kernel::sched::{
    HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};

static PENDING: PendingInterrupts = PendingInterrupts::new();

/// A clock that moves one tick per reading.
fn ticks() -> u64 {
    static NOW: AtomicU64 = AtomicU64::new(0);
    NOW.fetch_add(1, Ordering::Relaxed)
}

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(mealy_fs::Fs::new())
}

thread_local! {
    /// Answers the checking client got, by call.
    static ANSWERS: RefCell<Vec<(CallToken, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// A task the test calls the fs as, to look at what a benchmark left.
struct Client;

impl StateMachine for Client {
    fn name(&self) -> &'static str {
        "client"
    }

    fn handle(&mut self, _cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if let MessageKind::Reply { token } = msg.kind {
            ANSWERS.with(|answers| answers.borrow_mut().push((token, msg.payload.to_vec())));
        }
        Ok(())
    }
}

fn make_client() -> Box<dyn StateMachine> {
    Box::new(Client)
}

static TO_FS: &[mealy_kernel::sched::CapSpec] =
    &[grant(FS_GRANT).endpoint_to("fs").rights(Rights::WRITE)];

/// The fs over the small test image (writable unless `read_only`) and
/// the checking client.
fn boot(read_only: bool) -> Scheduler<HostPlatform> {
    static WRITABLE: &[TaskSpec] = &[
        TaskSpec::new("fs", make_fs).caps(&[grant(mealy_fs::IMAGE_GRANT).boot_module("fs")]),
        TaskSpec::new("client", make_client).caps(TO_FS),
    ];
    static READ_ONLY: &[TaskSpec] = &[
        TaskSpec::new("fs", make_fs).caps(mealy_kernel::tasks::FS_READ_ONLY_IMAGE),
        TaskSpec::new("client", make_client).caps(TO_FS),
    ];
    let mut platform = HostPlatform::manual();
    platform.add_boot_module("fs", &common::fs_image());
    let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
    sched
        .spawn_all(if read_only { READ_ONLY } else { WRITABLE })
        .unwrap();
    sched.run_until_idle(1_000);
    sched
}

/// Calls `request` as the client; what the fs answered, decoded by `read`.
fn ask<C: Call, R>(
    sched: &mut Scheduler<HostPlatform>,
    request: &C,
    read: impl FnOnce(
        Result<<C::Marker as Call>::Reply<'_>, CallError<<C::Marker as Call>::Error>>,
    ) -> R,
) -> R {
    let client = sched.task_by_name("client").unwrap();
    let endpoint = sched.grants(client)[0].cap;
    let pending = sched
        .act_as(client, |cx| {
            let mut outbox = [0u8; MAX_PAYLOAD];
            mealy_protocol::call(cx, endpoint, &mut outbox, request, &[])
        })
        .unwrap()
        .unwrap();
    sched.run_until_idle(1_000);
    let payload = ANSWERS.with(|answers| {
        let mut answers = answers.borrow_mut();
        let at = answers
            .iter()
            .position(|(token, _)| *token == pending.token())
            .expect("an answer");
        answers.remove(at).1
    });
    let envelope = Envelope::plain(payload.len() as u16);
    let msg = Incoming {
        kind: MessageKind::Reply {
            token: pending.token(),
        },
        envelope: &envelope,
        payload: &payload,
    };
    read(pending.answer(&msg).expect("this call's answer"))
}

fn service<E: std::fmt::Debug>(error: CallError<E>) -> E {
    match error {
        CallError::Service(error) => error,
        other => panic!("{other:?}"),
    }
}

/// `Stat` of `path` as the client: (size, dirty), or the fs's error.
fn stat(sched: &mut Scheduler<HostPlatform>, path: &str) -> Result<(u64, bool), FsError> {
    ask(sched, &Stat { path }, |answer| {
        answer
            .map(|entry| (entry.size, entry.dirty))
            .map_err(service)
    })
}

/// A request answered `Done`, as the client.
fn done<C: Call<Error = FsError>>(
    sched: &mut Scheduler<HostPlatform>,
    request: &C,
) -> Result<(), FsError> {
    ask(sched, request, |answer| answer.map(|_| ()).map_err(service))
}

/// Spawns `bench` with an endpoint to the fs and runs until all is idle.
fn run(sched: &mut Scheduler<HostPlatform>, bench: &'static [TaskSpec]) {
    sched.spawn_all(bench).unwrap();
    sched.run_until_idle(100_000);
}

#[test]
fn the_read_benchmark_times_access_per_file_and_reads_the_same_bytes_both_ways() {
    static RESULT: ReadResult = ReadResult::new();
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(ReadBench::new(ticks, &RESULT))
    }
    static BENCH: &[TaskSpec] = &[TaskSpec::new("fs-bench", make_bench).caps(TO_FS)];
    let mut sched = boot(false);
    run(&mut sched, BENCH);
    assert!(
        !RESULT.failed.load(Relaxed),
        "{:?}",
        sched.platform().log_lines
    );
    assert!(RESULT.done.load(Relaxed));
    // Each file is there, at its size: what was opened was the whole file.
    for (path, len) in READ_FILES {
        assert_eq!(stat(&mut sched, path), Ok((len, true)), "{path}");
    }
    let (_, len) = READ_FILES[READ_FILES.len() - 1];
    let expected = (0..len)
        .map(|i| u64::from(mealy_fs::bench::pattern(i)))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(RESULT.map_sum.load(Relaxed), expected);
    assert_eq!(RESULT.copy_sum.load(Relaxed), expected);
    // Every figure was taken (the clock moves on each reading).
    for ticks in &RESULT.open_ticks {
        assert!(ticks.load(Relaxed) > 0);
    }
    assert!(RESULT.map_ticks.load(Relaxed) > 0);
    assert!(RESULT.copy_ticks.load(Relaxed) > 0);
}

/// A small workload, so the default fs limits hold it.
const SMALL_WORKLOAD: Workload = Workload {
    large: 256 * 1024,
    small_files: 12,
    small_len: 1000,
};

#[test]
fn the_write_benchmark_takes_every_figure_and_leaves_the_fs_as_it_found_it() {
    static RESULT: WriteResult = WriteResult::new();
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(WriteBench::new(
            Clock::ticks_only(ticks),
            SMALL_WORKLOAD,
            &RESULT,
        ))
    }
    static BENCH: &[TaskSpec] = &[TaskSpec::new("fs-write-bench", make_bench).caps(TO_FS)];
    let mut sched = boot(false);
    run(&mut sched, BENCH);
    assert!(
        !RESULT.failed.load(Relaxed),
        "{:?}",
        sched.platform().log_lines
    );
    assert!(RESULT.done.load(Relaxed));
    for figure in [
        &RESULT.mount,
        &RESULT.large,
        &RESULT.large_sync,
        &RESULT.small,
        &RESULT.small_sync,
    ] {
        let (ticks, waits) = figure.get();
        assert!(ticks > 0);
        assert_eq!(waits, 0, "nothing waits on this clock");
    }
    // The Sync is part of its figure.
    assert!(RESULT.large.get().0 > RESULT.large_sync.get().0);
    assert!(RESULT.small.get().0 > RESULT.small_sync.get().0);
    // Everything it made is gone; the image's files are untouched.
    assert_eq!(
        stat(&mut sched, mealy_fs::bench::WRITE_DIR),
        Err(FsError::NotFound)
    );
    assert_eq!(stat(&mut sched, "hello.txt"), Ok((14, false)));
}

#[test]
fn what_an_earlier_run_left_is_removed_first() {
    static RESULT: WriteResult = WriteResult::new();
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(WriteBench::new(
            Clock::ticks_only(ticks),
            SMALL_WORKLOAD,
            &RESULT,
        ))
    }
    static BENCH: &[TaskSpec] = &[TaskSpec::new("fs-write-bench", make_bench).caps(TO_FS)];
    let mut sched = boot(false);
    let dir = mealy_fs::bench::WRITE_DIR;
    done(&mut sched, &Mkdir { path: dir }).unwrap();
    for name in ["f0003", "large"] {
        let path = format!("{dir}/{name}");
        done(&mut sched, &Create { path: &path }).unwrap();
    }
    run(&mut sched, BENCH);
    assert!(
        !RESULT.failed.load(Relaxed),
        "{:?}",
        sched.platform().log_lines
    );
    assert!(RESULT.done.load(Relaxed));
    assert_eq!(stat(&mut sched, dir), Err(FsError::NotFound));
}

#[test]
fn a_read_only_fs_ends_the_write_benchmark_with_one_error_line() {
    static RESULT: WriteResult = WriteResult::new();
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(WriteBench::new(
            Clock::ticks_only(ticks),
            SMALL_WORKLOAD,
            &RESULT,
        ))
    }
    static BENCH: &[TaskSpec] = &[TaskSpec::new("fs-write-bench", make_bench).caps(TO_FS)];
    let mut sched = boot(true);
    run(&mut sched, BENCH);
    assert!(RESULT.failed.load(Relaxed));
    assert!(!RESULT.done.load(Relaxed));
    let errors: Vec<_> = sched
        .platform()
        .log_lines
        .iter()
        .filter(|line| line.contains("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("read-only file system"), "{errors:?}");
}

/// The disk the fake driver serves, and the requests it answered:
/// (`Info` and reads, writes and flushes).
static DISK: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
static READS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

/// A block driver over [`DISK`] that answers each request at once (the
/// virtio driver answers from its interrupt; the fs cannot tell).
struct MemoryDriver {
    incoming: Option<mealy_protocol::CapRef>,
    outbox: mealy_protocol::Outbox<64>,
}

impl MemoryDriver {
    /// The bytes of block `block`.
    fn range(block: u64) -> Result<std::ops::Range<usize>, BlockError> {
        let blocks = (DISK.lock().unwrap().len() / BLOCK_SIZE) as u64;
        if block >= blocks {
            return Err(BlockError::OutOfRange { block, blocks });
        }
        let at = block as usize * BLOCK_SIZE;
        Ok(at..at + BLOCK_SIZE)
    }
}

impl mealy_protocol::Outgoing for MemoryDriver {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl block::Server for MemoryDriver {
    fn info(&mut self, _: &mut dyn Context, _: block::Info) -> Result<block::Geometry, BlockError> {
        READS.fetch_add(1, Relaxed);
        Ok(block::Geometry {
            blocks: (DISK.lock().unwrap().len() / BLOCK_SIZE) as u64,
            block_size: BLOCK_SIZE as u32,
            read_only: false,
        })
    }

    fn read(
        &mut self,
        cx: &mut dyn Context,
        request: block::Read,
        answer: mealy_protocol::Answer<block::Read>,
    ) -> Result<(), BlockError> {
        READS.fetch_add(1, Relaxed);
        let range = Self::range(request.block)?;
        let buffer = self.incoming.take().ok_or(BlockError::NoBuffer)?;
        let copied = cx
            .region_mut(buffer)
            .map(|bytes| bytes[..BLOCK_SIZE].copy_from_slice(&DISK.lock().unwrap()[range]));
        let _ = cx.drop_cap(buffer);
        copied.map_err(|_| BlockError::NoBuffer)?;
        answer
            .send(cx, self.outbox.space(), &block::Done, &[])
            .map_err(|_| BlockError::Device)
    }

    fn write(
        &mut self,
        cx: &mut dyn Context,
        request: block::Write,
        answer: mealy_protocol::Answer<block::Write>,
    ) -> Result<(), BlockError> {
        WRITES.fetch_add(1, Relaxed);
        let range = Self::range(request.block)?;
        let buffer = self.incoming.take().ok_or(BlockError::NoBuffer)?;
        let copied = cx
            .region(buffer)
            .map(|bytes| DISK.lock().unwrap()[range].copy_from_slice(&bytes[..BLOCK_SIZE]));
        let _ = cx.drop_cap(buffer);
        copied.map_err(|_| BlockError::NoBuffer)?;
        answer
            .send(cx, self.outbox.space(), &block::Done, &[])
            .map_err(|_| BlockError::Device)
    }

    fn flush(
        &mut self,
        cx: &mut dyn Context,
        _: block::Flush,
        answer: mealy_protocol::Answer<block::Flush>,
    ) -> Result<(), BlockError> {
        WRITES.fetch_add(1, Relaxed);
        answer
            .send(cx, self.outbox.space(), &block::Done, &[])
            .map_err(|_| BlockError::Device)
    }
}

impl StateMachine for MemoryDriver {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        self.incoming = msg.caps().first().copied();
        let served = block::serve(self, cx, &msg);
        if let Some(unused) = self.incoming.take() {
            let _ = cx.drop_cap(unused);
        }
        served
    }
}

#[test]
fn the_mount_figure_lasts_until_the_disk_is_mounted() {
    static RESULT: WriteResult = WriteResult::new();
    /// The clock: requests the driver answered.
    fn requests() -> u64 {
        READS.load(Relaxed) + WRITES.load(Relaxed)
    }
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(WriteBench::new(
            Clock::ticks_only(requests),
            SMALL_WORKLOAD,
            &RESULT,
        ))
    }
    fn make_driver() -> Box<dyn StateMachine> {
        Box::new(MemoryDriver {
            incoming: None,
            outbox: mealy_protocol::Outbox::new(),
        })
    }
    static LIST: &[TaskSpec] = &[
        TaskSpec::new("virtio-blk", make_driver),
        TaskSpec::new("fs-write-bench", make_bench).caps(TO_FS),
        TaskSpec::new("fs", make_fs).caps(&[grant(mealy_fs::DISK_GRANT)
            .endpoint_to("virtio-blk")
            .rights(Rights::WRITE)]),
    ];
    let hello = vec![7u8; 9000];
    *DISK.lock().unwrap() = format_image(
        1024,
        &[
            Change::Write {
                path: "hello.txt",
                data: &hello,
            },
            Change::Mkdir { path: "etc" },
            Change::Write {
                path: "etc/motd",
                data: b"from the disk\n",
            },
        ],
    )
    .unwrap();
    let mut sched =
        Scheduler::new(HostPlatform::manual(), &PENDING, SchedConfig::default()).unwrap();
    sched.spawn_all(LIST).unwrap();
    sched.run_until_idle(100_000);
    let log = &sched.platform().log_lines;
    assert!(!RESULT.failed.load(Relaxed), "{log:?}");
    assert!(RESULT.done.load(Relaxed));
    assert!(
        log.iter()
            .any(|line| line.contains("mounted disk: 2 files")),
        "{log:?}"
    );
    // Every read the fs made was in the mount, and the benchmark's first
    // answer came after all of them: `Info`, superblocks, catalog, files.
    let (mount, _) = RESULT.mount.get();
    assert!(mount >= 4, "{mount}");
    assert_eq!(mount, READS.load(Relaxed));
    // Each Sync figure holds the Sync's writes to the disk: at least a
    // block per block of data it made durable.
    let (large_sync, _) = RESULT.large_sync.get();
    assert!(
        large_sync >= SMALL_WORKLOAD.large / BLOCK_SIZE as u64,
        "{large_sync}"
    );
    let (small_sync, _) = RESULT.small_sync.get();
    assert!(
        small_sync >= u64::from(SMALL_WORKLOAD.small_files),
        "{small_sync}"
    );
    // The three Syncs (large, small, tidy) committed three generations,
    // the last without the benchmark's directory.
    let mounted = mealy_fs::disk::mount_image(&DISK.lock().unwrap()).unwrap();
    assert_eq!(mounted.committed.generation, 4);
    let paths: Vec<_> = mounted
        .committed
        .catalog
        .entries()
        .map(|(path, _)| path.to_string())
        .collect();
    assert!(
        paths.iter().all(|path| !path.contains("bench-write")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|path| path.contains("motd")), "{paths:?}");
}
