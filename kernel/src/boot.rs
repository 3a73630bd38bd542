//! The boot sequence: from the loader's jump to a running kernel.
//!
//! [`kmain`] is the list of bring-up steps, each a function named for
//! what it brings up, in the order they must run: the boot CPU (serial,
//! GDT, IDT), memory, timers, ACPI and interrupt routing, then the banner
//! (what the loader answered and what those steps found). It then moves to a kernel stack region and
//! `after_boot` takes the page tables over and gives
//! bootloader-reclaimable memory back; from there on no Limine response may
//! be read (they lived in that memory). Then the test scenario the command
//! line chose runs, or the scheduler starts the boot task list for good.
//!
//! A step that fails logs why and leaves its part out (no memory manager,
//! no timer, no ACPI); the banner says what is missing, and the steps after
//! it work with what there is.

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use spin::Once;

use crate::arch::x86_64::acpi::{self, PowerOff};
use crate::arch::x86_64::limine as loader;
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::user::ArchCpu;
use crate::arch::x86_64::{
    apic, clock, cpu, fault, gdt, interrupts, ioapic, memory, paging, serial, trap_entry, user,
};
use crate::banner::{
    BootSummary, EntryPath, FramebufferSummary, ModuleSummary, PowerOffSummary, RoutingSummary,
    TimerSummary,
};
use crate::cmdline::KernelOptions;
use crate::mem::{MemoryRange, Owner, Permissions, Region};
use crate::program::{UserTask, boot_files};
use crate::scenarios;
use crate::sched::{SchedConfig, Scheduler, TaskSpec};
use crate::symbols::SymbolTable;
use crate::tasks;
use mealy_protocol::StateMachine;

/// How many modules the banner names one by one.
const BANNER_MODULES: usize = 8;

/// The kernel's own boot stack: 256 KiB with a guard page on each side,
/// so an overflow is a page fault that names the guard page.
const KERNEL_STACK_PAGES: u64 = 64;

/// What the bring-up steps found, for the banner.
struct BringUp {
    entry: EntryPath,
    entry_tsc: u64,
    hhdm_offset: Option<u64>,
    memory: Option<&'static KernelMemory>,
    timer: Result<TimerSummary, &'static str>,
    routing: Result<RoutingSummary, &'static str>,
    power_off: Option<Result<PowerOff, &'static str>>,
    cmdline: &'static str,
}

/// What [`after_boot`] needs, carried across the stack switch. Nothing in
/// it points into bootloader-reclaimable memory.
struct BootHandover {
    options: KernelOptions,
    /// The file-system image module (cmdline `fs`): its bytes live in
    /// executable-and-modules memory, which is never reclaimed, so the
    /// slice stays valid; `run_tasks` copies it into a Region.
    fs_image: Option<&'static [u8]>,
    memory: Option<&'static KernelMemory>,
    reclaimable: Vec<MemoryRange>,
    framebuffer: Option<Framebuffer>,
}

/// The loader's framebuffer: where it is and its shape.
#[derive(Clone, Copy, Debug)]
struct Framebuffer {
    phys: u64,
    geometry: mealy_fbcon::Geometry,
}

static HANDOVER: Once<BootHandover> = Once::new();
static KERNEL_STACK: Once<Region<'static>> = Once::new();

/// Brings the machine up, on the loader's stack; continues in
/// `after_boot` on the kernel's own.
pub fn kmain(entry: EntryPath, entry_tsc: u64) -> ! {
    start_boot_cpu();
    let hhdm_offset = find_direct_map();
    let memory = start_memory_manager(hhdm_offset);
    interrupts::disable_legacy_pic();
    let timer = start_local_apic_timer(memory);
    let acpi = read_acpi_tables(memory);
    let routing = route_isa_interrupts(acpi.as_ref());
    let power_off = prepare_power_off(acpi.as_ref());
    load_kernel_symbols();
    let cmdline = loader::command_line();
    print_banner(&BringUp {
        entry,
        entry_tsc,
        hhdm_offset,
        memory,
        timer,
        routing,
        power_off,
        cmdline,
    });
    list_pci_devices(memory);
    let options = apply_command_line(cmdline);
    HANDOVER.call_once(|| hand_over(options, memory, hhdm_offset));
    move_to_kernel_stack(memory)
}

/// COM1 and the log first, so everything after can report; then this
/// CPU's GDT and TSS (with the IST stacks) and the IDT, so a fault from
/// here on is reported rather than a triple fault.
fn start_boot_cpu() {
    serial::init();
    gdt::init_boot_cpu();
    trap_entry::load_idt();
    let ring3 = user::init_boot_cpu();
    log::info!(
        "ring 3: syscall entry ready; SMEP {}, SMAP {}",
        if ring3.smep { "on" } else { "absent" },
        if ring3.smap { "on" } else { "absent" }
    );
    assert!(
        loader::BASE_REVISION.is_supported(),
        "the bootloader does not support Limine base revision 3"
    );
}

/// Where the loader mapped all physical memory (the HHDM), which the page
/// walker of crash reports needs.
fn find_direct_map() -> Option<u64> {
    let offset = loader::HHDM.get_response().map(|hhdm| hhdm.offset())?;
    paging::set_hhdm_offset(offset);
    Some(offset)
}

/// The frame allocator over the memory map, the address space and the
/// kernel heap (`arch/x86_64/memory.rs`); with the heap, the queue COM1's
/// interrupt fills.
fn start_memory_manager(hhdm_offset: Option<u64>) -> Option<&'static KernelMemory> {
    let Some(offset) = hhdm_offset else {
        log::error!("memory: the bootloader gave no HHDM");
        return None;
    };
    let memory = memory::init(offset, loader::memory_ranges())
        .map_err(|error| log::error!("memory: {error}"))
        .ok()?;
    serial::init_receive_queue();
    Some(memory)
}

/// The local APIC (x2APIC, or xAPIC through its mapped register page) with
/// its timer, and the TSC, both calibrated in one PIT window. Without it
/// the TSC is calibrated alone.
fn start_local_apic_timer(
    memory: Option<&'static KernelMemory>,
) -> Result<TimerSummary, &'static str> {
    let xapic_page = if apic::has_x2apic() {
        None
    } else {
        memory.and_then(|memory| {
            memory::map_device(memory, apic::xapic_physical_base(), apic::XAPIC_BYTES)
                .map_err(|error| log::error!("local APIC: cannot map its registers: {error}"))
                .ok()
                .map(|page| page.as_u64())
        })
    };
    let window = clock::CALIBRATION_MICROS;
    apic::init(xapic_page)
        .and_then(|()| apic::calibrate_with(window, cpu::rdtsc))
        .map(|(timer_hz, tsc_samples)| TimerSummary {
            apic: if apic::is_x2apic() { "x2APIC" } else { "xAPIC" },
            timer_hz,
            tsc_hz: clock::set_calibration(tsc_samples, window),
        })
        .map_err(|error| {
            log::error!("local APIC: {error}");
            clock::calibrate();
            "the local APIC could not be started"
        })
}

/// The MADT, the FADT and the DSDT's `\_S5`, which need the memory
/// manager to map them.
fn read_acpi_tables(memory: Option<&'static KernelMemory>) -> Option<acpi::Platform> {
    let rsdp = memory.and(loader::RSDP.get_response())?;
    acpi::discover(rsdp.address() as u64)
        .map_err(|error| log::error!("{error}"))
        .ok()
}

/// Every I/O APIC's lines masked, and the 16 ISA IRQs routed to this core,
/// masked until a task's Irq capability arms one.
fn route_isa_interrupts(acpi: Option<&acpi::Platform>) -> Result<RoutingSummary, &'static str> {
    let platform = acpi.ok_or("no ACPI tables")?;
    ioapic::init(platform)
        .map(|routing| RoutingSummary {
            io_apics: routing.io_apics,
            first_address: routing.first.address,
            first_gsi_base: routing.first.gsi_base,
            first_lines: routing.first_lines,
            isa_routed: routing.isa_routed,
            isa_overrides: platform.isa_overrides.len(),
        })
        .map_err(|error| {
            log::error!("I/O APIC: {error}");
            "see the error above"
        })
}

/// The PM1 control registers and sleep type that power the machine off,
/// when ACPI has them.
fn prepare_power_off(acpi: Option<&acpi::Platform>) -> Option<Result<PowerOff, &'static str>> {
    let power_off = acpi.and_then(|platform| platform.power_off);
    if let Some(Err(why)) = power_off {
        log::warn!("power off: {why}");
    }
    acpi::set_power_off(power_off.and_then(Result::ok));
    power_off
}

/// The kernel's symbol table (the `symbols` module), so a crash report
/// names functions.
fn load_kernel_symbols() {
    let Some(symbols) = loader::module("symbols") else {
        return;
    };
    match core::str::from_utf8(loader::file_bytes(symbols)) {
        Ok(text) => fault::set_symbols(SymbolTable::new(text)),
        Err(_) => log::warn!("the symbols module is not UTF-8; crash reports will lack names"),
    }
}

/// One line per PCI function (`kernel::pci` decodes them); needs the
/// heap.
fn list_pci_devices(memory: Option<&'static KernelMemory>) {
    if memory.is_none() {
        return;
    }
    for function in crate::arch::x86_64::pci::functions() {
        crate::println!("{function}");
    }
}

/// The banner: what the loader answered and what bring-up found
/// (`banner.rs` formats it).
fn print_banner(found: &BringUp) {
    let module_files = loader::modules();
    let mut shown = [ModuleSummary {
        path: "",
        size: 0,
        cmdline: "",
    }; BANNER_MODULES];
    for (slot, file) in shown.iter_mut().zip(module_files) {
        *slot = ModuleSummary {
            path: loader::c_str(Some(file.path())),
            size: file.size(),
            cmdline: loader::c_str(Some(file.string())),
        };
    }
    let summary = BootSummary {
        version: env!("CARGO_PKG_VERSION"),
        bootloader: loader::BOOTLOADER_INFO
            .get_response()
            .map(|info| (info.name(), info.version())),
        base_revision: loader::BASE_REVISION.loaded_revision(),
        firmware: loader::firmware(),
        hhdm_offset: found.hhdm_offset,
        memory: loader::memory_summary(),
        framebuffer: loader::FRAMEBUFFER.get_response().and_then(|response| {
            response.framebuffers().next().map(|fb| FramebufferSummary {
                width: fb.width(),
                height: fb.height(),
                bpp: fb.bpp(),
                pitch: fb.pitch(),
            })
        }),
        modules: &shown[..module_files.len().min(BANNER_MODULES)],
        module_count: module_files.len(),
        rsdp: loader::RSDP
            .get_response()
            .map(|rsdp| rsdp.address() as u64),
        executable_path: loader::EXECUTABLE_FILE
            .get_response()
            .map(|response| loader::c_str(Some(response.file().path()))),
        executable_address: loader::EXECUTABLE_ADDRESS
            .get_response()
            .map(|address| (address.virtual_base(), address.physical_base())),
        cmdline: found.cmdline,
        entry: found.entry,
        timer: found.timer,
        frames: memory::frame_stats().ok_or("see the error above"),
        heap: found
            .memory
            .map(|_| (memory::heap_stats().mapped_bytes, memory::HEAP_LIMIT)),
        interrupts: found.routing,
        poweroff: match found.power_off {
            Some(Ok(registers)) => Ok(PowerOffSummary {
                pm1a_port: registers.pm1a_port,
                sleep_type: registers.sleep_type.0,
            }),
            Some(Err(why)) => Err(why),
            None => Err("no ACPI tables"),
        },
        entry_to_banner_ticks: cpu::rdtsc().wrapping_sub(found.entry_tsc),
    };
    serial::write_fmt(format_args!("{summary}"));
}

/// The command line's options; the ones that configure the task list
/// (`fs=ro`) take effect here. A bad command line ends the run.
fn apply_command_line(cmdline: &str) -> KernelOptions {
    let options = match KernelOptions::parse(cmdline) {
        Ok(options) => options,
        Err(error) => {
            log::error!("cmdline: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    if options.fs_read_only {
        tasks::set_fs_read_only();
    }
    options
}

/// Copies out of the Limine responses what [`after_boot`] needs, before
/// the memory they live in is reclaimed.
fn hand_over(
    options: KernelOptions,
    memory: Option<&'static KernelMemory>,
    hhdm_offset: Option<u64>,
) -> BootHandover {
    let framebuffer = loader::FRAMEBUFFER.get_response().and_then(|response| {
        let fb = response.framebuffers().next()?;
        // The response's address is in the HHDM.
        let phys = (fb.addr() as u64).checked_sub(hhdm_offset?)?;
        Some(Framebuffer {
            phys,
            geometry: mealy_fbcon::Geometry {
                width: usize::try_from(fb.width()).ok()?,
                height: usize::try_from(fb.height()).ok()?,
                pitch: usize::try_from(fb.pitch()).ok()?,
                bpp: fb.bpp(),
            },
        })
    });
    BootHandover {
        options,
        fs_image: loader::module(tasks::FS_MODULE).map(loader::file_bytes),
        memory,
        reclaimable: loader::reclaimable_ranges().collect(),
        framebuffer,
    }
}

/// Continues in [`after_boot`] on a kernel stack (a `Region` with guard
/// pages). Without memory management the kernel stays on the loader's
/// stack and keeps bootloader memory as it is.
fn move_to_kernel_stack(memory: Option<&'static KernelMemory>) -> ! {
    let stack = memory.and_then(|memory| {
        Region::new_mapped(
            memory,
            KERNEL_STACK_PAGES,
            1,
            Owner(0),
            Permissions::KERNEL_DATA,
        )
        .map_err(|error| log::error!("kernel stack: {error}"))
        .ok()
    });
    match stack {
        Some(stack) => {
            let top = KERNEL_STACK.call_once(|| stack).range().end().as_u64();
            cpu::switch_stack(top, after_boot)
        }
        None => run(HANDOVER.get()),
    }
}

/// The rest of boot, on the kernel's own stack.
extern "C" fn after_boot() -> ! {
    let handover = HANDOVER.get();
    if let Some(BootHandover {
        memory: Some(memory),
        reclaimable,
        ..
    }) = handover
    {
        take_over_boot_memory(memory, reclaimable);
    }
    run(handover)
}

/// Copies the upper half of the page tables into frames the kernel owns,
/// loads them, and gives bootloader-reclaimable memory to the frame
/// allocator.
fn take_over_boot_memory(memory: &'static KernelMemory, reclaimable: &[MemoryRange]) {
    match memory::take_over_page_tables(memory)
        .and_then(|tables| Ok((tables, memory::reclaim(memory, reclaimable)?)))
    {
        Ok((tables, frames)) => log::info!(
            "memory: page tables ({tables} copied) and stack are the kernel's; \
             reclaimed {} KiB of bootloader memory, {} frames free",
            frames * 4,
            memory.frame_stats().free
        ),
        Err(error) => log::error!("memory: bootloader memory not reclaimed: {error}"),
    }
}

/// The scenario the command line chose, or the boot task list.
fn run(handover: Option<&BootHandover>) -> ! {
    let Some(handover) = handover else {
        cpu::halt_forever()
    };
    match handover.options.test {
        Some(scenario) => scenarios::run(scenario, handover.memory, handover.fs_image),
        None => run_tasks(handover),
    }
}

/// Starts the boot task list and runs the scheduler for good.
fn run_tasks(handover: &BootHandover) -> ! {
    let platform = machine_platform(handover);
    let mut scheduler = start_scheduler(platform);
    // COM1's input belongs to the serial task from here on.
    serial::hand_over_input();
    if let Some(fault) = handover.options.fault_at_start {
        let name: &'static str = alloc::string::String::leak(fault.name().into());
        log::warn!(
            "cmdline: {name} faults ({}) after every start",
            fault.kind.name()
        );
        scheduler.fault_at_every_start(name, fault.kind);
    }
    start_boot_tasks(&mut scheduler, handover);
    crate::run_loop::run(scheduler)
}

/// The scheduler's platform, with the file-system image copied into a
/// region of its own and the framebuffer mapped as one, so the tasks reach
/// both through Region capabilities.
fn machine_platform(handover: &BootHandover) -> MachinePlatform {
    let mut platform = MachinePlatform::new(handover.memory);
    match handover.fs_image {
        Some(bytes) => match platform.add_boot_module(tasks::FS_MODULE, bytes) {
            Ok(len) => log::info!(
                "fs image: {} bytes copied into a {len}-byte region",
                bytes.len()
            ),
            Err(error) => log::error!("fs image: cannot copy the module: {error}"),
        },
        None => log::warn!("fs image: no boot module `{}`", tasks::FS_MODULE),
    }
    // The framebuffer gets a range of the one address space like any
    // region, so fbcon reaches it through a Region capability.
    if let (Some(memory), Some(fb)) = (handover.memory, handover.framebuffer) {
        let len = (fb.geometry.pitch as u64).saturating_mul(fb.geometry.height as u64);
        match memory::map_device(memory, fb.phys, len) {
            Ok(base) => {
                platform = platform.with_framebuffer(base.as_u64(), len);
                tasks::set_display(fb.geometry);
            }
            Err(error) => log::warn!("framebuffer: not mapped, no fbcon: {error}"),
        }
    }
    if let Some(memory) = handover.memory {
        start_block_device(memory);
    }
    platform
}

/// The state machine of boot task `spec`: a ring-3 program from `/bin`
/// for the ones `BOOT_PROGRAMS` lists, if the file is there and loads;
/// otherwise (and for every other task) the service linked into the
/// kernel, with one line saying why.
///
/// A program comes with its file, which a restart loads again.
fn boot_task(
    spec: &TaskSpec,
    handover: &BootHandover,
    id: u64,
) -> (Box<dyn StateMachine>, Option<&'static [u8]>) {
    static CPU: ArchCpu = ArchCpu;
    let (Some(path), Some(memory)) = (boot_files::path_of(spec.name), handover.memory) else {
        return ((spec.factory)(), None);
    };
    let loaded = boot_files::read(handover.fs_image, path)
        .map_err(|error| alloc::format!("{error}"))
        .and_then(|file| {
            UserTask::load(spec.name, file, memory, memory, &CPU, Owner(id))
                .map(|task| {
                    let task = task
                        .with_region_quota(boot_files::region_quota(spec.name))
                        .with_budget(crate::program::task::program_budget(spec.budget_ns));
                    (task, file)
                })
                .map_err(|error| alloc::format!("{error}"))
        });
    match loaded {
        Ok((task, file)) => {
            let (base, len) = task.image();
            log::info!("{}: ring 3, {path} at {base:#x} ({len} bytes)", spec.name);
            (Box::new(task), Some(file))
        }
        Err(error) => {
            log::warn!("{}: {path}: {error}; running the ring-0 service", spec.name);
            ((spec.factory)(), None)
        }
    }
}

/// Readies the first virtio-blk device for its driver
/// (`arch/x86_64/pci.rs`) and puts the driver in the task list.
pub fn start_block_device(memory: &'static KernelMemory) {
    use mealy_caps::DeviceRange;
    match crate::arch::x86_64::pci::start_virtio_blk(memory) {
        Ok(Some(found)) => {
            let mmio = |(base, len): (u64, u64)| DeviceRange::Mmio { base, len };
            log::info!(
                "disk: virtio-blk at {} on MSI line {}",
                found.at,
                found.line
            );
            tasks::set_block_device(tasks::BlockDevice {
                common: mmio(found.common),
                notify: mmio(found.notify),
                device: mmio(found.device),
                notify_multiplier: found.notify_multiplier,
                line: found.line,
            });
        }
        Ok(None) => log::info!("disk: no virtio-blk device"),
        Err(error) => log::warn!("disk: virtio-blk not started: {error}"),
    }
}

/// The scheduler over `platform`, fed by the trap handlers' interrupt
/// board; without one the kernel halts.
fn start_scheduler(platform: MachinePlatform) -> Scheduler<MachinePlatform> {
    let config = SchedConfig {
        // Unoptimised code under QEMU's emulation runs a simple handler in
        // milliseconds; report only what would be slow in that build.
        budget_ns: if cfg!(debug_assertions) {
            50_000_000
        } else {
            SchedConfig::default().budget_ns
        },
        ..SchedConfig::default()
    };
    match Scheduler::new(platform, &interrupts::PENDING, config) {
        Ok(scheduler) => scheduler,
        Err(error) => {
            log::error!("scheduler: {error}");
            cpu::halt_forever()
        }
    }
}

/// The task list in its two stages (`tasks::boot_stages`): the services,
/// run until idle so what they say at start comes before the prompt; then
/// the terminal (drivers, console, shell). Both stages load their programs
/// the same way (`start_stage`).
fn start_boot_tasks(scheduler: &mut Scheduler<MachinePlatform>, handover: &BootHandover) {
    let (services, terminal) = tasks::boot_stages();
    match spawn_stage(scheduler, &services, handover) {
        Ok(count) => log::info!("scheduler: started {count} services"),
        Err(error) => log::error!("scheduler: task list: {error}"),
    }
    scheduler.run_until_idle(usize::MAX);
    // The terminal stage ends with the supervisor, a ring-3 program too.
    match spawn_stage(scheduler, &terminal, handover) {
        Ok(count) => log::info!("scheduler: started {count} terminal tasks"),
        Err(error) => log::error!("scheduler: terminal: {error}"),
    }
}

/// Spawns one stage of the boot list, each task from its program file
/// when it has one (`boot_task`); returns how many started.
fn spawn_stage(
    scheduler: &mut Scheduler<MachinePlatform>,
    specs: &[crate::sched::TaskSpec],
    handover: &BootHandover,
) -> Result<usize, crate::sched::SpawnError> {
    let first = scheduler.tasks().count() as u64;
    let mut index = 0;
    let mut files = Vec::new();
    let ids = scheduler.spawn_all_with(specs, |spec| {
        index += 1;
        let (machine, file) = boot_task(spec, handover, first + index - 1);
        files.push(file);
        machine
    })?;
    for (&id, file) in ids.iter().zip(files) {
        if let Some(file) = file {
            scheduler.keep_program_image(id, file);
        }
    }
    Ok(ids.len())
}
