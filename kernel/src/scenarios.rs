//! The `test=NAME` scenarios (`cmdline.rs` lists them): each exercises one
//! part of the kernel in QEMU and ends the run with a status, so the host
//! tests in `tests/` can check it from outside.

extern crate alloc;

use crate::arch::x86_64::memory::{self, KernelMemory};
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{acpi, apic, clock, cpu, fault, interrupts, ioapic, serial};
use crate::cmdline::TestScenario;
use crate::mem::{Owner, Permissions, Region};
use crate::println;
use crate::sched::{SchedConfig, Scheduler};
use crate::tasks;

/// The prompt the shell prints when it is ready for input. xtask holds
/// input piped into `cargo xtask qemu --headless` until it sees this, so
/// the firmware does not eat it (`xtask/src/serial_filter.rs`,
/// `READY_PROMPT`).
pub const PROMPT: &str = "mealy> ";

/// Runs `scenario`; never returns.
pub fn run(scenario: TestScenario, memory: Option<&'static KernelMemory>) -> ! {
    match scenario {
        TestScenario::Boot => qemu::exit(ExitStatus::Success),
        TestScenario::Panic => panic!("deliberate panic (test=panic)"),
        TestScenario::Echo => echo_one_line(),
        TestScenario::PageFault => fault_on_guard_page(memory),
        TestScenario::DivideError => fault::provoke_divide_error(),
        TestScenario::InvalidOpcode => fault::provoke_invalid_opcode(),
        TestScenario::Timer => check_timer(),
        TestScenario::Exhaust => exhaust(memory),
        TestScenario::Shutdown => shut_down(),
        TestScenario::Ipc => ipc_round_trips(memory),
        TestScenario::Ping => ping_every_task(memory),
        TestScenario::Bench => bench(memory),
    }
}

fn require_memory(memory: Option<&'static KernelMemory>) -> &'static KernelMemory {
    match memory {
        Some(memory) => memory,
        None => {
            println!("scenario: no memory manager (see the error above)");
            qemu::exit(ExitStatus::Failure)
        }
    }
}

/// `test=page-fault`: map a 4-page region, use it, then write one byte
/// past its end: the report must name the region's guard page.
fn fault_on_guard_page(memory: Option<&'static KernelMemory>) -> ! {
    let memory = require_memory(memory);
    let region = match Region::new_mapped(memory, 4, 1, Owner(0), Permissions::KERNEL_DATA) {
        Ok(region) => region,
        Err(error) => {
            println!("page-fault: cannot map a region: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    let range = region.range();
    println!(
        "page-fault: region {:#x}..{:#x} mapped; writing past its end",
        range.start().as_u64(),
        range.end().as_u64()
    );
    fault::provoke_page_fault(range.end().as_u64())
}

/// `test=exhaust`: take every free frame, then grow the heap until it is
/// refused. Both must end in an error value, and the kernel must go on.
fn exhaust(memory: Option<&'static KernelMemory>) -> ! {
    extern crate alloc;
    use alloc::vec::Vec;

    let memory = require_memory(memory);
    let mut taken = Vec::new();
    if taken
        .try_reserve_exact(memory.frame_stats().free as usize)
        .is_err()
    {
        println!("exhaust: no heap for the frame list");
        qemu::exit(ExitStatus::Failure)
    }
    // After the list's own heap growth, which is not given back.
    let before = memory.frame_stats();
    let error = loop {
        match memory.with_frames(|frames| frames.allocate()) {
            Ok(frame) => taken.push(frame),
            Err(error) => break error,
        }
    };
    println!(
        "exhaust: frames ran out after {} allocations: {error}",
        taken.len()
    );
    for frame in taken.drain(..) {
        if let Err(error) = memory.with_frames(|frames| frames.free(frame)) {
            println!("exhaust: freeing a frame failed: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    }
    let after = memory.frame_stats();
    println!(
        "exhaust: frames free before {} after {}",
        before.free, after.free
    );

    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() || chunks.try_reserve(1).is_err() {
            break;
        }
        chunk.resize(CHUNK, 0xa5);
        chunks.push(chunk);
    }
    match memory::last_heap_failure() {
        Some(failure) => println!(
            "exhaust: heap refused after {} MiB: {failure}",
            (chunks.len() * CHUNK) >> 20
        ),
        None => println!("exhaust: heap refused with no recorded failure"),
    }
    let grown_to = memory::heap_stats().mapped_bytes;
    drop(chunks);
    let mut probe: Vec<u8> = Vec::new();
    let still_works = probe.try_reserve_exact(4096).is_ok();
    println!(
        "exhaust: heap mapped {} MiB; after freeing, a 4 KiB allocation {}",
        grown_to >> 20,
        if still_works { "succeeds" } else { "fails" }
    );
    if still_works && after.free == before.free {
        println!("exhaust: ok, the kernel is still running");
        qemu::exit(ExitStatus::Success)
    }
    qemu::exit(ExitStatus::Failure)
}

/// The `test=echo` scenario: route COM1's IRQ 4 through the I/O APIC,
/// print the prompt, and sleep until interrupts have delivered one line;
/// echo it. Proves ISA routing and that input piped in early was held.
fn echo_one_line() -> ! {
    let route = match ioapic::unmask_isa(serial::IRQ) {
        Ok(route) => route,
        Err(error) => {
            println!("echo: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    interrupts::enable();
    let mut line = [0u8; 256];
    let mut len = 0;
    serial::write_fmt(format_args!("{PROMPT}"));
    loop {
        let byte = interrupts::wait_for(serial::try_read_byte);
        match byte {
            b'\r' | b'\n' => break,
            _ if len < line.len() => {
                line[len] = byte;
                len += 1;
            }
            _ => {}
        }
    }
    match core::str::from_utf8(&line[..len]) {
        Ok(text) => println!("\necho: {text}"),
        Err(_) => println!("\necho: <not UTF-8>"),
    }
    println!(
        "echo: {} interrupts on ISA IRQ {} (GSI {}, vector {:#x})",
        interrupts::isa_count(serial::IRQ),
        serial::IRQ,
        route.gsi,
        route.vector
    );
    qemu::exit(ExitStatus::Success)
}

/// The `test=shutdown` scenario: power off through ACPI. QEMU then exits
/// with status 0; if the machine stays on, that is a failure.
fn shut_down() -> ! {
    println!("shutdown: powering off");
    let error = acpi::shutdown();
    println!("shutdown: {error}");
    qemu::exit(ExitStatus::Failure)
}

/// The `test=timer` scenario: 50 ticks at 100 Hz should take 500 ms of the
/// monotonic clock, and a 20 ms one-shot should fire after 20 ms. Both
/// clocks are QEMU's virtual clock, so a busy host slows both alike; the
/// tolerance is for interrupt latency, not for load.
fn check_timer() -> ! {
    const RATE_HZ: u64 = 100;
    const TICKS: u64 = 50;
    const ONESHOT_NANOS: u64 = 20_000_000;
    interrupts::enable();

    let programmed = apic::start_periodic(RATE_HZ);
    let first = interrupts::timer_ticks();
    interrupts::wait_for(|| (interrupts::timer_ticks() != first).then_some(()));
    let start = clock::now_nanos();
    let from = interrupts::timer_ticks();
    interrupts::wait_for(|| (interrupts::timer_ticks() >= from + TICKS).then_some(()));
    let elapsed = clock::now_nanos() - start;
    apic::stop_timer();
    let expected = TICKS * 1_000_000_000 / programmed.max(1);
    println!(
        "timer: {TICKS} ticks at {programmed} Hz took {} us (expected {} us)",
        elapsed / 1000,
        expected / 1000
    );
    let periodic_ok = elapsed.abs_diff(expected) <= expected / 10;

    let before = interrupts::timer_ticks();
    let start = clock::now_nanos();
    apic::arm_oneshot(ONESHOT_NANOS);
    interrupts::wait_for(|| (interrupts::timer_ticks() != before).then_some(()));
    let fired_after = clock::now_nanos() - start;
    println!(
        "timer: one-shot of {} us fired after {} us",
        ONESHOT_NANOS / 1000,
        fired_after / 1000
    );
    let oneshot_ok = (ONESHOT_NANOS * 9 / 10..=ONESHOT_NANOS * 3).contains(&fired_after);

    if periodic_ok && oneshot_ok {
        println!("timer: ok");
        qemu::exit(ExitStatus::Success)
    }
    println!("timer: out of tolerance");
    qemu::exit(ExitStatus::Failure)
}

/// Round trips the `ipc` and `bench` scenarios make.
const IPC_ROUNDS: u32 = 1000;

/// What [`measure_ipc`] saw.
struct IpcMeasurement {
    handled: usize,
    ticks: u64,
    echoed: u64,
}

/// The boot tasks, with the pinger making [`IPC_ROUNDS`] calls to echo
/// (32-byte postcard payloads, capability checks, one-shot replies),
/// dispatched until idle. Under `-icount shift=0` the TSC counts guest
/// instructions, so the cost is exact and repeatable.
fn measure_ipc(
    memory: Option<&'static KernelMemory>,
    quiet: bool,
) -> Result<IpcMeasurement, &'static str> {
    extern crate alloc;
    use alloc::boxed::Box;
    use mealy_pinger::Pinger;

    // With no budget: a measurement. `quiet` for the shell's `bench`,
    // which runs it while the shell's last output is still on its way.
    let platform = if quiet {
        MachinePlatform::new(memory).quiet()
    } else {
        MachinePlatform::new(memory)
    };
    let config = SchedConfig {
        budget_ns: u64::MAX,
        ..SchedConfig::default()
    };
    let mut scheduler = Scheduler::new(platform, &interrupts::PENDING, config)
        .map_err(|_| "the scheduler could not be built")?;
    // Echo and pinger alone: the drivers in the boot list own devices.
    let pair: alloc::vec::Vec<_> = tasks::TASKS
        .iter()
        .filter(|spec| matches!(spec.name, "echo" | "pinger"))
        .copied()
        .collect();
    scheduler
        .spawn_all_with(&pair, |spec| {
            if spec.name == "pinger" {
                Box::new(Pinger::new(IPC_ROUNDS, tasks::PINGER_PAYLOAD))
            } else {
                (spec.factory)()
            }
        })
        .map_err(|_| "the task list could not be spawned")?;
    let start = cpu::rdtsc();
    let handled = scheduler.run_until_idle(usize::MAX);
    let ticks = cpu::rdtsc() - start;
    let echoed = scheduler
        .task_by_name("echo")
        .and_then(|id| scheduler.task_info(id))
        .map_or(0, |info| info.counters.handled);
    Ok(IpcMeasurement {
        handled,
        ticks,
        echoed,
    })
}

/// The shell's `bench`: [`IPC_ROUNDS`] round trips between fresh echo and
/// pinger tasks; (round trips, TSC ticks).
pub fn ipc_bench(
    memory: Option<&'static KernelMemory>,
) -> Result<(u64, u64), alloc::string::String> {
    let measured = measure_ipc(memory, true).map_err(alloc::string::String::from)?;
    if measured.echoed != u64::from(IPC_ROUNDS) {
        return Err(alloc::format!(
            "echo answered {} of {IPC_ROUNDS} calls",
            measured.echoed
        ));
    }
    Ok((u64::from(IPC_ROUNDS), measured.ticks))
}

/// `test=ipc`: [`measure_ipc`], and every call must have been answered.
fn ipc_round_trips(memory: Option<&'static KernelMemory>) -> ! {
    let measured = match measure_ipc(memory, false) {
        Ok(measured) => measured,
        Err(why) => {
            println!("ipc: {why}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    println!(
        "ipc: {IPC_ROUNDS} round trips, {} messages dispatched in {} TSC ticks: {} per round trip",
        measured.handled,
        measured.ticks,
        measured.ticks / u64::from(IPC_ROUNDS)
    );
    if measured.echoed == u64::from(IPC_ROUNDS) {
        qemu::exit(ExitStatus::Success)
    }
    println!("ipc: echo answered {} of {IPC_ROUNDS}", measured.echoed);
    qemu::exit(ExitStatus::Failure)
}

/// `test=bench`: the in-guest numbers `cargo xtask bench` reports, in TSC
/// ticks (instructions under `-icount shift=0`): mapping and unmapping a
/// 16-page region (frames, page tables, TLB flush, address-space
/// bookkeeping), and the IPC round trip.
fn bench(memory: Option<&'static KernelMemory>) -> ! {
    const PAGES: u64 = 16;
    const REPEATS: u64 = 100;
    let memory_system = require_memory(memory);
    let start = cpu::rdtsc();
    for _ in 0..REPEATS {
        match Region::new_mapped(memory_system, PAGES, 1, Owner(0), Permissions::KERNEL_DATA) {
            // Dropping it unmaps, flushes and frees.
            Ok(region) => drop(region),
            Err(error) => {
                println!("bench: region: {error}");
                qemu::exit(ExitStatus::Failure)
            }
        }
    }
    let per_region = (cpu::rdtsc() - start) / REPEATS;
    println!(
        "bench: region map+unmap of {PAGES} pages: {per_region} TSC ticks ({} per page)",
        per_region / PAGES
    );
    match measure_ipc(memory, false) {
        Ok(measured) if measured.echoed == u64::from(IPC_ROUNDS) => {
            println!(
                "bench: ipc round trip: {} TSC ticks (mean of {IPC_ROUNDS})",
                measured.ticks / u64::from(IPC_ROUNDS)
            );
            match measure_fs_read(memory) {
                Ok((map, copy)) => {
                    println!(
                        "bench: fs read 1 MiB: map={map} copy={copy} instructions (copy/map={}.{:02})",
                        copy / map.max(1),
                        copy % map.max(1) * 100 / map.max(1)
                    );
                    qemu::exit(ExitStatus::Success)
                }
                Err(why) => println!("bench: fs read: {why}"),
            }
        }
        Ok(measured) => println!("bench: echo answered {} of {IPC_ROUNDS}", measured.echoed),
        Err(why) => println!("bench: {why}"),
    }
    qemu::exit(ExitStatus::Failure)
}

/// The fs and the read-benchmark client (`mealy_fs::bench`): the client
/// makes a 1 MiB file in the boot image's fs, then reads it by mapping
/// (`Open`, sum the Region's bytes, drop it) and by copying (`Read` calls
/// of `READ_CHUNK`); (map, copy) in TSC ticks, instructions under
/// `-icount shift=0`. Both must sum to the same value.
fn measure_fs_read(memory: Option<&'static KernelMemory>) -> Result<(u64, u64), &'static str> {
    extern crate alloc;
    use alloc::boxed::Box;
    use core::sync::atomic::Ordering::Relaxed;
    use mealy_fs::bench::{BenchResult, ReadBench};

    use crate::sched::{CapSpec, TaskSpec};

    static RESULT: BenchResult = BenchResult::new();
    static FS_ENDPOINT: &[CapSpec] = &[CapSpec::endpoint(
        mealy_fs::bench::FS_GRANT,
        "fs",
        mealy_caps::Rights::WRITE,
        0,
    )];
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
    let mut list: alloc::vec::Vec<TaskSpec> = tasks::TASKS
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

/// `test=ping`: the boot tasks plus the probe, which calls every one of
/// them with `ping::Ping` and logs each answer; the run ends when the
/// scheduler goes idle. Services made by `cargo xtask new-service` answer
/// with a pong.
fn ping_every_task(memory: Option<&'static KernelMemory>) -> ! {
    extern crate alloc;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    use crate::probe::{self, Probe};
    use crate::sched::{CapSpec, TaskSpec};

    fn make_probe() -> Box<dyn mealy_protocol::StateMachine> {
        Box::new(Probe::new())
    }

    let mut list: Vec<TaskSpec> = tasks::boot_list();
    let endpoints: Vec<CapSpec> = list
        .iter()
        .map(|task| CapSpec::endpoint(task.name, task.name, mealy_caps::Rights::WRITE, 0))
        .collect();
    let endpoints: &'static [CapSpec] = Vec::leak(endpoints);
    list.push(TaskSpec::new(probe::NAME, make_probe).caps(endpoints));

    let platform = MachinePlatform::new(memory);
    let mut scheduler = match Scheduler::new(platform, &interrupts::PENDING, SchedConfig::default())
    {
        Ok(scheduler) => scheduler,
        Err(error) => {
            println!("ping: scheduler: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    if let Err(error) = scheduler.spawn_all(&list) {
        println!("ping: task list: {error}");
        qemu::exit(ExitStatus::Failure)
    }
    scheduler.run_until_idle(usize::MAX);
    qemu::exit(ExitStatus::Success)
}
