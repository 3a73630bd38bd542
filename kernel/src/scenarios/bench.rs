//! `test=bench`: the in-guest numbers `cargo xtask bench` reports, in TSC
//! ticks (guest instructions under `-icount shift=0`): mapping and
//! unmapping a region, the IPC round trip (the product's measurement,
//! `crate::bench`, which the shell's `bench` runs too), getting access to
//! a file against reading its bytes, mapped or copied
//! (`mealy_fs::bench::ReadBench`, over an image in memory), and, when a
//! data disk is attached, mounting it, writing a large file and creating
//! many small ones, each then synced (`mealy_fs::bench::WriteBench`).
//! The fs and the disk driver are the ring-3 programs `/bin/fs` and
//! `/bin/virtio-blk` of the boot image, as at boot.
//!
//! Waiting for the disk is not work: the CPU halts until the driver's
//! interrupt, and under `-icount` QEMU advances the TSC over a halt by the
//! host's real time, which no two runs share. So the disk figures read a
//! clock that leaves out the ticks spent halted ([`busy_ticks`]) and say
//! how many halts they left out.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering::Relaxed;

use core::sync::atomic::AtomicU64;

use mealy_fs::bench::{
    Clock, OPEN_ROUNDS, READ_FILES, ReadBench, ReadResult, Workload, WriteBench, WriteResult,
};

use super::require_memory;
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::user::ArchCpu;
use crate::arch::x86_64::{clock, cpu, interrupts};
use crate::bench::{self, IPC_ROUNDS};
use crate::mem::{Owner, Permissions, Region};
use crate::println;
use crate::program::{UserTask, boot_files};
use crate::sched::{CapSpec, SchedConfig, Scheduler, TaskSpec, grant};
use crate::tasks;

/// `test=bench`: each measurement in turn, one line each; the first that
/// fails ends the run with a failure.
pub(super) fn run(memory: Option<&'static KernelMemory>, fs_image: Option<&'static [u8]>) -> ! {
    let per_region = region_map_unmap(require_memory(memory));
    println!(
        "bench: region map+unmap of {REGION_PAGES} pages: {per_region} TSC ticks ({} per page)",
        per_region / REGION_PAGES
    );
    let platform = MachinePlatform::new(memory);
    match bench::measure_ipc(platform, &interrupts::PENDING, cpu::rdtsc) {
        Ok(measured) if measured.answered_all() => println!(
            "bench: ipc round trip: {} TSC ticks (mean of {IPC_ROUNDS})",
            measured.ticks_per_round_trip()
        ),
        Ok(measured) => fail(format_args!(
            "echo answered {} of {IPC_ROUNDS}",
            measured.echoed
        )),
        Err(error) => fail(format_args!("{error}")),
    }
    match measure_user_round_trip(require_memory(memory), fs_image) {
        Ok((ticks, rounds)) => println!(
            "user-roundtrip: {ticks} guest instructions per call+reply between two ring-3 tasks in different domains (mean of {rounds}; TLB refills after each CR3 write are not instructions)"
        ),
        Err(why) => fail(format_args!("user round trip: {why}")),
    }
    match measure_fs_read(require_memory(memory), fs_image) {
        Ok(read) => print_read(read),
        Err(why) => fail(format_args!("fs read: {why}")),
    }
    match measure_fs_write(require_memory(memory), fs_image) {
        Ok(Some(result)) => print_write(result),
        Ok(None) => println!("fs-mount: no data disk attached; the disk figures are skipped"),
        Err(why) => fail(format_args!("fs write: {why}")),
    }
    qemu::exit(ExitStatus::Success)
}

fn fail(why: fmt::Arguments<'_>) -> ! {
    println!("bench: {why}");
    qemu::exit(ExitStatus::Failure)
}

/// The ring-3 echo and pinger from the boot image's `/bin`, each in its
/// own domain: the pinger's start makes its first call, so what the
/// scheduler then runs is exactly its round trips (call, upcall, reply
/// and done on both sides, two CR3 switches). Returns (ticks per round
/// trip, round trips).
fn measure_user_round_trip(
    memory: &'static KernelMemory,
    fs_image: Option<&'static [u8]>,
) -> Result<(u64, u64), &'static str> {
    static CPU: ArchCpu = ArchCpu;
    let mut files = [None; 2];
    for (slot, path) in files.iter_mut().zip(["/bin/echo", "/bin/pinger"]) {
        *slot = Some(
            boot_files::read(fs_image, path)
                .map_err(|_| "no /bin/echo or /bin/pinger in the image")?,
        );
    }
    let platform = MachinePlatform::new(Some(memory)).quiet();
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, unbounded())
        .map_err(|_| "the scheduler could not be built")?;
    let pair: Vec<TaskSpec> = tasks::TASKS
        .iter()
        .filter(|spec| matches!(spec.name, "echo" | "pinger"))
        .copied()
        .collect();
    let mut failed = false;
    scheduler
        .spawn_all_with(&pair, |spec| {
            let file = if spec.name == "echo" {
                files[0]
            } else {
                files[1]
            };
            match file.map(|file| UserTask::load(spec.name, file, memory, memory, &CPU, Owner(0))) {
                Some(Ok(task)) => Box::new(task),
                _ => {
                    failed = true;
                    (spec.factory)()
                }
            }
        })
        .map_err(|_| "the pair could not be spawned")?;
    if failed {
        return Err("a program did not load");
    }
    let start = cpu::rdtsc();
    scheduler.run_until_idle(usize::MAX);
    let ticks = cpu::rdtsc().wrapping_sub(start);
    let rounds = scheduler
        .task_by_name("echo")
        .and_then(|id| scheduler.task_info(id))
        .map_or(0, |info| info.counters.handled);
    if rounds == 0 {
        return Err("echo answered nothing");
    }
    Ok((ticks / rounds, rounds))
}

/// Boot program `name` (`/bin/NAME` of the boot image), loaded as a
/// ring-3 task that may allocate `quota` bytes of Regions: the fs and the
/// disk driver are measured as they run at boot.
fn ring_3(
    memory: &'static KernelMemory,
    fs_image: Option<&'static [u8]>,
    name: &'static str,
    quota: u64,
) -> Result<Box<dyn mealy_protocol::StateMachine>, &'static str> {
    static CPU: ArchCpu = ArchCpu;
    let path = boot_files::path_of(name).ok_or("not a boot program")?;
    let file = boot_files::read(fs_image, path).map_err(|_| "a program is not in /bin")?;
    let task = UserTask::load(name, file, memory, memory, &CPU, Owner(0))
        .map_err(|_| "a program did not load")?;
    Ok(Box::new(task.with_region_quota(quota)))
}

/// The size of the region [`region_map_unmap`] maps, and how many times.
const REGION_PAGES: u64 = 16;
const REGION_REPEATS: u64 = 100;

/// Maps and unmaps a [`REGION_PAGES`]-page region (frames, page tables,
/// TLB flush, address-space bookkeeping) [`REGION_REPEATS`] times; the
/// mean in TSC ticks.
fn region_map_unmap(memory: &'static KernelMemory) -> u64 {
    let start = cpu::rdtsc();
    for _ in 0..REGION_REPEATS {
        match Region::new_mapped(memory, REGION_PAGES, 1, Owner(0), Permissions::KERNEL_DATA) {
            // Dropping it unmaps, flushes and frees.
            Ok(region) => drop(region),
            Err(error) => fail(format_args!("region: {error}")),
        }
    }
    (cpu::rdtsc() - start) / REGION_REPEATS
}

/// `bytes` as the figures name a size: whole MiB or KiB.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            bytes if bytes >= MIB && bytes % MIB == 0 => write!(f, "{} MiB", bytes / MIB),
            bytes if bytes >= 1024 && bytes % 1024 == 0 => write!(f, "{} KiB", bytes / 1024),
            bytes => write!(f, "{bytes} bytes"),
        }
    }
}

/// `ticks` for `bytes`, scaled to one MiB.
fn per_mib(ticks: u64, bytes: u64) -> u64 {
    (u128::from(ticks) * (1 << 20) / u128::from(bytes.max(1))) as u64
}

/// One line per read figure: access per file size, then reading.
fn print_read(read: &ReadResult) {
    for ((_, len), ticks) in READ_FILES.iter().zip(&read.open_ticks) {
        println!(
            "fs-open-map: {} guest instructions to get access to a {} file (Open, its Region looked at and dropped; mean of {OPEN_ROUNDS})",
            ticks.load(Relaxed),
            Size(*len)
        );
    }
    let len = READ_FILES[READ_FILES.len() - 1].1;
    let mapped = per_mib(read.map_ticks.load(Relaxed), len);
    let copied = per_mib(read.copy_ticks.load(Relaxed), len);
    println!(
        "fs-read-mapped: {mapped} guest instructions per MiB summed through the file's Region (the open not counted)"
    );
    println!(
        "fs-read-copied: {copied} guest instructions per MiB copied through Read messages of {} bytes and summed ({}.{:02}x mapped)",
        mealy_protocol::fs::READ_CHUNK,
        copied / mapped.max(1),
        copied % mapped.max(1) * 100 / mapped.max(1)
    );
}

/// One line per disk figure.
fn print_write(result: &WriteResult) {
    let workload = WRITE_WORKLOAD;
    let (mount, mount_waits) = result.mount.get();
    println!(
        "fs-mount: {mount} guest instructions to mount the data disk, from the fs's start to its first answer ({mount_waits} halts waiting for the disk not counted)"
    );
    let (large, large_waits) = result.large.get();
    let (large_sync, _) = result.large_sync.get();
    println!(
        "fs-write-sync: {large} guest instructions to write {} to a new file and Sync ({large_sync} of them the Sync; {large_waits} halts waiting for the disk not counted)",
        Size(workload.large)
    );
    let (small, small_waits) = result.small.get();
    let (small_sync, _) = result.small_sync.get();
    println!(
        "fs-create-sync: {small} guest instructions to create {} files of {} and Sync ({} per file; {small_sync} of them the Sync; {small_waits} halts waiting for the disk not counted)",
        workload.small_files,
        Size(workload.small_len),
        small / u64::from(workload.small_files.max(1))
    );
}

/// TSC ticks spent halted in [`measure_fs_write`]'s loop, and how many
/// halts.
static IDLE_TICKS: AtomicU64 = AtomicU64::new(0);
static HALTS: AtomicU64 = AtomicU64::new(0);

/// The TSC less the ticks spent halted: under `-icount shift=0`, the
/// instructions executed.
fn busy_ticks() -> u64 {
    cpu::rdtsc().wrapping_sub(IDLE_TICKS.load(Relaxed))
}

fn halts() -> u64 {
    HALTS.load(Relaxed)
}

/// The fs and the read-benchmark client (`mealy_fs::bench::ReadBench`)
/// over an image of their own in memory (an empty root, so the benchmark
/// neither depends on nor changes the boot image): the client makes its
/// files, then times opening each, summing the large one through its
/// Region, and copying it through `Read` calls. Both reads must sum the
/// same.
fn measure_fs_read(
    memory: &'static KernelMemory,
    fs_image: Option<&'static [u8]>,
) -> Result<&'static ReadResult, &'static str> {
    static RESULT: ReadResult = ReadResult::new();
    static FS_ENDPOINT: &[CapSpec] = &[grant(mealy_fs::bench::FS_GRANT)
        .endpoint_to("fs")
        .rights(mealy_caps::Rights::WRITE)];
    fn make_bench() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(ReadBench::new(cpu::rdtsc, &RESULT))
    }

    let empty = mealy_fs::format::Node::empty_dir();
    let image = mealy_fs::format::build(&empty, mealy_fs::format::BuildOptions::default())
        .map_err(|_| "the benchmark image could not be built")?;
    let mut platform = MachinePlatform::new(Some(memory));
    platform
        .add_boot_module(tasks::FS_MODULE, &image)
        .map_err(|_| "no memory for the benchmark image")?;
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, unbounded())
        .map_err(|_| "the scheduler could not be built")?;
    let mut list: Vec<TaskSpec> = tasks::TASKS
        .iter()
        .filter(|spec| spec.name == "fs")
        .copied()
        .collect();
    list.push(TaskSpec::new("fs-bench", make_bench).caps(FS_ENDPOINT));
    let mut fs = Some(ring_3(
        memory,
        fs_image,
        "fs",
        boot_files::region_quota("fs"),
    )?);
    scheduler
        .spawn_all_with(&list, |spec| match fs.take() {
            Some(fs) if spec.name == "fs" => fs,
            _ => (spec.factory)(),
        })
        .map_err(|_| "the task list could not be spawned")?;
    scheduler.run_until_idle(usize::MAX);
    if RESULT.failed.load(Relaxed) || !RESULT.done.load(Relaxed) {
        return Err("the benchmark client did not finish (see its log line)");
    }
    if RESULT.map_sum.load(Relaxed) != RESULT.copy_sum.load(Relaxed) {
        return Err("mapping and copying read different bytes");
    }
    Ok(&RESULT)
}

/// What the write benchmark writes: issue 17's figures in a release
/// build; a debug build (the QEMU test of this scenario, without
/// `-icount`) writes a tenth, to stay within its time limit.
const WRITE_WORKLOAD: Workload = if cfg!(debug_assertions) {
    Workload {
        large: Workload::FULL.large / 4,
        small_files: Workload::FULL.small_files / 10,
        small_len: Workload::FULL.small_len,
    }
} else {
    Workload::FULL
};

/// How long the write benchmark may take, in guest time.
const WRITE_DEADLINE_NS: u64 = 600_000_000_000;

/// The fs's bounds in the write benchmark: room for every file it makes
/// (each `Create` is a private Region of `CREATE_CAPACITY`, and one
/// capability), which the boot list's fs does not give.
const WRITE_FS_LIMITS: mealy_fs::Limits = mealy_fs::Limits {
    entries: 4096,
    private_bytes: 160 * 1024 * 1024,
    held_caps: 1536,
};

/// The virtio-blk driver, the write-benchmark client and an fs that mounts
/// the data disk (granted only the driver, no image: a disk that does not
/// mount fails the benchmark rather than measuring the boot image), in
/// that order, so the client's start, just before the fs's, begins the
/// mount figure. Runs until the client ends, halting between messages as
/// the kernel's run loop does and keeping the halted ticks out of the
/// clock. `None` without a data disk.
fn measure_fs_write(
    memory: &'static KernelMemory,
    fs_image: Option<&'static [u8]>,
) -> Result<Option<&'static WriteResult>, &'static str> {
    static RESULT: WriteResult = WriteResult::new();
    static CLIENT_CAPS: &[CapSpec] = &[grant(mealy_fs::bench::FS_GRANT)
        .endpoint_to("fs")
        .rights(mealy_caps::Rights::WRITE)];

    fn make_bench() -> Box<dyn mealy_protocol::StateMachine> {
        let clock = Clock {
            ticks: busy_ticks,
            waits: halts,
        };
        Box::new(WriteBench::new(clock, WRITE_WORKLOAD, &RESULT))
    }

    crate::boot::start_block_device(memory);
    let Some(driver) = tasks::block_device().map(tasks::block_driver) else {
        return Ok(None);
    };
    // The fs's limits, as a bytes grant: a ring-3 fs reads nothing else.
    let limits: &'static [u8] = Vec::leak(WRITE_FS_LIMITS.encode().to_vec());
    let fs_caps: &'static [CapSpec] = Vec::leak(Vec::from([
        grant(mealy_fs::DISK_GRANT)
            .endpoint_to(mealy_virtio_blk::NAME)
            .rights(mealy_caps::Rights::WRITE),
        grant(mealy_fs::LIMITS_GRANT).bytes(limits),
    ]));
    let list = [
        driver,
        TaskSpec::new("fs-write-bench", make_bench).caps(CLIENT_CAPS),
        TaskSpec::new("fs", tasks::make_fs)
            .caps(fs_caps)
            .cspace_slots(2 * WRITE_FS_LIMITS.held_caps as u32),
    ];
    // Room for twice its copies (a Sync's snapshot is on its heap).
    let fs_quota = 2 * WRITE_FS_LIMITS.private_bytes + (16 << 20);
    let mut programs = [
        Some(ring_3(
            memory,
            fs_image,
            mealy_virtio_blk::NAME,
            boot_files::region_quota(mealy_virtio_blk::NAME),
        )?),
        Some(ring_3(memory, fs_image, "fs", fs_quota)?),
    ];
    let platform = MachinePlatform::new(Some(memory));
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, unbounded())
        .map_err(|_| "the scheduler could not be built")?;
    scheduler
        .spawn_all_with(&list, |spec| {
            let program = match spec.name {
                mealy_virtio_blk::NAME => programs[0].take(),
                "fs" => programs[1].take(),
                _ => None,
            };
            program.unwrap_or_else(|| (spec.factory)())
        })
        .map_err(|_| "the task list could not be spawned")?;
    interrupts::enable();
    let deadline = clock::now_nanos() + WRITE_DEADLINE_NS;
    loop {
        scheduler.run_until_idle(usize::MAX);
        if RESULT.failed.load(Relaxed) {
            return Err("the benchmark client failed (see its log line)");
        }
        if RESULT.done.load(Relaxed) {
            return Ok(Some(&RESULT));
        }
        if clock::now_nanos() > deadline {
            return Err("the benchmark did not finish in time");
        }
        let halted = cpu::rdtsc();
        scheduler.idle();
        IDLE_TICKS.fetch_add(cpu::rdtsc().wrapping_sub(halted), Relaxed);
        HALTS.fetch_add(1, Relaxed);
    }
}

/// A scheduler configuration without a handler budget: a benchmark's
/// long handlers are what it measures, not a fault to report.
fn unbounded() -> SchedConfig {
    SchedConfig {
        budget_ns: u64::MAX,
        ..SchedConfig::default()
    }
}
