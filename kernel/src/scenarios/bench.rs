//! `test=bench`: the in-guest numbers `cargo xtask bench` reports, in TSC
//! ticks (guest instructions under `-icount shift=0`): mapping and
//! unmapping a region, the IPC round trip (the product's measurement,
//! `crate::bench`, which the shell's `bench` runs too), and reading a file
//! by mapping it against copying it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering::Relaxed;

use mealy_fs::bench::{BenchResult, ReadBench};

use super::require_memory;
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::user::ArchCpu;
use crate::arch::x86_64::{cpu, interrupts};
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
    match measure_fs_read(memory) {
        Ok((map, copy)) => println!(
            "bench: fs read 1 MiB: map={map} copy={copy} instructions (copy/map={}.{:02})",
            copy / map.max(1),
            copy % map.max(1) * 100 / map.max(1)
        ),
        Err(why) => fail(format_args!("fs read: {why}")),
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
    let config = SchedConfig {
        budget_ns: u64::MAX,
        ..SchedConfig::default()
    };
    let platform = MachinePlatform::new(Some(memory)).quiet();
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, config)
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

/// The fs and the read-benchmark client (`mealy_fs::bench`): the client
/// makes a 1 MiB file in the boot image's fs, then reads it by mapping
/// (`Open`, sum the Region's bytes, drop it) and by copying (`Read` calls
/// of `READ_CHUNK`); (map, copy) in TSC ticks, instructions under
/// `-icount shift=0`. Both must sum to the same value.
fn measure_fs_read(memory: Option<&'static KernelMemory>) -> Result<(u64, u64), &'static str> {
    static RESULT: BenchResult = BenchResult::new();
    static FS_ENDPOINT: &[CapSpec] = &[grant(mealy_fs::bench::FS_GRANT)
        .endpoint_to("fs")
        .rights(mealy_caps::Rights::WRITE)];
    fn make_bench() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(ReadBench::new(cpu::rdtsc, &RESULT))
    }

    // An image of its own (an empty root), so the benchmark does not
    // depend on, or change, the boot image.
    let empty = mealy_fs::format::Node::empty_dir();
    let image = mealy_fs::format::build(&empty, mealy_fs::format::BuildOptions::default())
        .map_err(|_| "the benchmark image could not be built")?;
    let mut platform = MachinePlatform::new(memory);
    platform
        .add_boot_module(tasks::FS_MODULE, &image)
        .map_err(|_| "no memory for the benchmark image")?;
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
        .map_err(|_| "the scheduler could not be built")?;
    let mut list: Vec<TaskSpec> = tasks::TASKS
        .iter()
        .filter(|spec| spec.name == "fs")
        .copied()
        .collect();
    list.push(TaskSpec::new("fs-bench", make_bench).caps(FS_ENDPOINT));
    scheduler
        .spawn_all(&list)
        .map_err(|_| "the task list could not be spawned")?;
    scheduler.run_until_idle(usize::MAX);
    if RESULT.failed.load(Relaxed) || !RESULT.done.load(Relaxed) {
        return Err("the benchmark client did not finish (see its log line)");
    }
    if RESULT.map_sum.load(Relaxed) != RESULT.copy_sum.load(Relaxed) {
        return Err("mapping and copying read different bytes");
    }
    Ok((
        RESULT.map_ticks.load(Relaxed),
        RESULT.copy_ticks.load(Relaxed),
    ))
}
