//! The boot sequence: from the loader's jump to a running kernel.
//!
//! [`kmain`] runs on the loader's stack: serial, traps, memory, timers,
//! ACPI and interrupt routing, then the banner from the Limine responses.
//! It then moves to a kernel stack region and [`after_boot`] takes the page
//! tables over and gives bootloader-reclaimable memory back; from there on
//! no Limine response may be read (they lived in that memory). Then the
//! test scenario the command line chose runs, or the kernel idles.

extern crate alloc;

use alloc::vec::Vec;
use core::ffi::CStr;

use spin::Once;

use limine::firmware_type::FirmwareType;
use limine::memory_map::EntryType;

use crate::arch::x86_64::limine as requests;
use crate::arch::x86_64::memory::KernelMemory;
use crate::arch::x86_64::platform::MachinePlatform;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{
    acpi, apic, clock, cpu, fault, gdt, interrupts, ioapic, memory, paging, serial, trap_entry,
};
use crate::banner::{
    BootSummary, EntryPath, FramebufferSummary, MemorySummary, ModuleSummary, PowerOffSummary,
    RoutingSummary, TimerSummary,
};
use crate::cmdline::KernelOptions;
use crate::mem::{MemoryKind, MemoryRange, Owner, Permissions, Region};
use crate::scenarios;
use crate::sched::{SchedConfig, Scheduler};
use crate::symbols::SymbolTable;

/// How many modules the banner names one by one.
const BANNER_MODULES: usize = 8;

/// The kernel's own boot stack: 256 KiB with a guard page on each side,
/// so an overflow is a page fault that names the guard page.
const KERNEL_STACK_PAGES: u64 = 64;

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

pub fn kmain(entry: EntryPath, entry_tsc: u64) -> ! {
    serial::init();
    gdt::init_boot_cpu();
    trap_entry::load_idt();
    assert!(
        requests::BASE_REVISION.is_supported(),
        "the bootloader does not support Limine base revision 3"
    );
    let hhdm_offset = requests::HHDM.get_response().map(|hhdm| hhdm.offset());
    if let Some(offset) = hhdm_offset {
        paging::set_hhdm_offset(offset);
    }
    let memory_map = requests::MEMORY_MAP
        .get_response()
        .map(|map| map.entries())
        .unwrap_or(&[]);
    let memory = match hhdm_offset {
        Some(offset) => memory::init(
            offset,
            memory_map.iter().map(|entry| MemoryRange {
                base: entry.base,
                length: entry.length,
                kind: memory_kind(entry.entry_type),
            }),
        )
        .map_err(|error| log::error!("memory: {error}"))
        .ok(),
        None => {
            log::error!("memory: the bootloader gave no HHDM");
            None
        }
    };

    interrupts::disable_legacy_pic();
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
    let timer = apic::init(xapic_page)
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
        });
    if memory.is_some() {
        serial::init_receive_queue();
    }

    let platform = match (memory, requests::RSDP.get_response()) {
        (Some(_), Some(rsdp)) => acpi::discover(rsdp.address() as u64)
            .map_err(|error| log::error!("{error}"))
            .ok(),
        _ => None,
    };
    let interrupts = match &platform {
        Some(platform) => ioapic::init(platform)
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
            }),
        None => Err("no ACPI tables"),
    };
    let power_off = platform.as_ref().and_then(|platform| platform.power_off);
    if let Some(Err(why)) = power_off {
        log::warn!("power off: {why}");
    }
    acpi::set_power_off(power_off.and_then(Result::ok));

    let cmdline = c_str(
        requests::EXECUTABLE_CMDLINE
            .get_response()
            .map(|response| response.cmdline()),
    );
    let mut modules = [ModuleSummary {
        path: "",
        size: 0,
        cmdline: "",
    }; BANNER_MODULES];
    let module_files = requests::MODULES
        .get_response()
        .map(|response| response.modules())
        .unwrap_or(&[]);
    if let Some(symbols) = module_files
        .iter()
        .find(|file| file.string().to_bytes() == b"symbols")
    {
        match core::str::from_utf8(requests::file_bytes(symbols)) {
            Ok(text) => fault::set_symbols(SymbolTable::new(text)),
            Err(_) => log::warn!("the symbols module is not UTF-8; crash reports will lack names"),
        }
    }
    let fs_image = module_files
        .iter()
        .find(|file| file.string().to_bytes() == crate::tasks::FS_MODULE.as_bytes())
        .map(|file| requests::file_bytes(file));
    for (slot, file) in modules.iter_mut().zip(module_files) {
        *slot = ModuleSummary {
            path: c_str(Some(file.path())),
            size: file.size(),
            cmdline: c_str(Some(file.string())),
        };
    }
    let shown = module_files.len().min(BANNER_MODULES);

    let summary = BootSummary {
        version: env!("CARGO_PKG_VERSION"),
        bootloader: requests::BOOTLOADER_INFO
            .get_response()
            .map(|info| (info.name(), info.version())),
        base_revision: requests::BASE_REVISION.loaded_revision(),
        firmware: requests::FIRMWARE_TYPE
            .get_response()
            .map(|response| firmware_name(response.firmware_type())),
        hhdm_offset,
        memory: requests::MEMORY_MAP.get_response().map(|_| {
            let mut summary = MemorySummary::default();
            for entry in memory_map {
                summary.add(memory_type_number(entry.entry_type), entry.length);
            }
            summary
        }),
        framebuffer: requests::FRAMEBUFFER.get_response().and_then(|response| {
            response.framebuffers().next().map(|fb| FramebufferSummary {
                width: fb.width(),
                height: fb.height(),
                bpp: fb.bpp(),
                pitch: fb.pitch(),
            })
        }),
        modules: &modules[..shown],
        module_count: module_files.len(),
        rsdp: requests::RSDP
            .get_response()
            .map(|rsdp| rsdp.address() as u64),
        executable_path: requests::EXECUTABLE_FILE
            .get_response()
            .map(|response| c_str(Some(response.file().path()))),
        executable_address: requests::EXECUTABLE_ADDRESS
            .get_response()
            .map(|address| (address.virtual_base(), address.physical_base())),
        cmdline,
        entry,
        timer,
        frames: memory::frame_stats().ok_or("see the error above"),
        heap: memory.map(|_| (memory::heap_stats().mapped_bytes, memory::HEAP_LIMIT)),
        interrupts,
        poweroff: match power_off {
            Some(Ok(registers)) => Ok(PowerOffSummary {
                pm1a_port: registers.pm1a_port,
                sleep_type: registers.sleep_type.0,
            }),
            Some(Err(why)) => Err(why),
            None => Err("no ACPI tables"),
        },
        entry_to_banner_ticks: cpu::rdtsc().wrapping_sub(entry_tsc),
    };
    serial::write_fmt(format_args!("{summary}"));

    let options = match KernelOptions::parse(cmdline) {
        Ok(options) => options,
        Err(error) => {
            log::error!("cmdline: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    if options.fs_read_only {
        crate::tasks::set_fs_read_only();
    }
    let reclaimable = memory_map
        .iter()
        .filter(|entry| entry.entry_type == EntryType::BOOTLOADER_RECLAIMABLE)
        .map(|entry| MemoryRange {
            base: entry.base,
            length: entry.length,
            kind: MemoryKind::BootloaderReclaimable,
        })
        .collect();
    let framebuffer = requests::FRAMEBUFFER.get_response().and_then(|response| {
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
    HANDOVER.call_once(|| BootHandover {
        options,
        fs_image,
        memory,
        reclaimable,
        framebuffer,
    });
    let stack = memory.and_then(|memory| {
        let region = Region::new_mapped(
            memory,
            KERNEL_STACK_PAGES,
            1,
            Owner(0),
            Permissions::KERNEL_DATA,
        );
        region
            .map_err(|error| log::error!("kernel stack: {error}"))
            .ok()
    });
    match stack {
        Some(stack) => {
            let top = KERNEL_STACK.call_once(|| stack).range().end().as_u64();
            cpu::switch_stack(top, after_boot)
        }
        // Without memory management the kernel stays on the loader's
        // stack and keeps bootloader memory as it is.
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
    run(handover)
}

fn run(handover: Option<&BootHandover>) -> ! {
    let Some(handover) = handover else {
        cpu::halt_forever()
    };
    match handover.options.test {
        Some(scenario) => scenarios::run(scenario, handover.memory),
        None => run_tasks(handover.memory, handover.framebuffer, handover.fs_image),
    }
}

/// Starts the boot task list and runs the scheduler for good.
fn run_tasks(
    memory: Option<&'static KernelMemory>,
    framebuffer: Option<Framebuffer>,
    fs_image: Option<&'static [u8]>,
) -> ! {
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
    let mut platform = MachinePlatform::new(memory);
    match fs_image {
        Some(bytes) => match platform.add_boot_module(crate::tasks::FS_MODULE, bytes) {
            Ok(len) => log::info!(
                "fs image: {} bytes copied into a {len}-byte region",
                bytes.len()
            ),
            Err(error) => log::error!("fs image: cannot copy the module: {error}"),
        },
        None => log::warn!("fs image: no boot module `{}`", crate::tasks::FS_MODULE),
    }
    // The framebuffer gets a range of the one address space like any
    // region, so fbcon reaches it through a Region capability.
    if let (Some(memory), Some(fb)) = (memory, framebuffer) {
        let len = (fb.geometry.pitch as u64).saturating_mul(fb.geometry.height as u64);
        match memory::map_device(memory, fb.phys, len) {
            Ok(base) => {
                platform = platform.with_framebuffer(base.as_u64(), len);
                crate::tasks::set_display(fb.geometry);
            }
            Err(error) => log::warn!("framebuffer: not mapped, no fbcon: {error}"),
        }
    }
    let mut scheduler = match Scheduler::new(platform, &interrupts::PENDING, config) {
        Ok(scheduler) => scheduler,
        Err(error) => {
            log::error!("scheduler: {error}");
            cpu::halt_forever()
        }
    };
    // COM1's input belongs to the serial task from here on.
    serial::hand_over_input();
    let (services, terminal) = crate::tasks::boot_stages();
    match scheduler.spawn_all(&services) {
        Ok(ids) => log::info!("scheduler: started {} services", ids.len()),
        Err(error) => log::error!("scheduler: task list: {error}"),
    }
    // Let them say what they say at start; the prompt comes after.
    scheduler.run_until_idle(usize::MAX);
    match scheduler.spawn_all(&terminal) {
        Ok(ids) => log::info!("scheduler: started {} terminal tasks", ids.len()),
        Err(error) => log::error!("scheduler: terminal: {error}"),
    }
    crate::run_loop::run(scheduler)
}

/// The protocol number of a memory-map type (the crate keeps it private);
/// numbers past the known types mean "unknown" to the banner.
fn memory_type_number(entry_type: EntryType) -> u64 {
    const KNOWN: [EntryType; 8] = [
        EntryType::USABLE,
        EntryType::RESERVED,
        EntryType::ACPI_RECLAIMABLE,
        EntryType::ACPI_NVS,
        EntryType::BAD_MEMORY,
        EntryType::BOOTLOADER_RECLAIMABLE,
        EntryType::EXECUTABLE_AND_MODULES,
        EntryType::FRAMEBUFFER,
    ];
    KNOWN
        .iter()
        .position(|known| *known == entry_type)
        .unwrap_or(KNOWN.len()) as u64
}

fn memory_kind(entry_type: EntryType) -> MemoryKind {
    const KINDS: [MemoryKind; 8] = [
        MemoryKind::Usable,
        MemoryKind::Reserved,
        MemoryKind::AcpiReclaimable,
        MemoryKind::AcpiNvs,
        MemoryKind::Bad,
        MemoryKind::BootloaderReclaimable,
        MemoryKind::ExecutableAndModules,
        MemoryKind::Framebuffer,
    ];
    KINDS
        .get(memory_type_number(entry_type) as usize)
        .copied()
        .unwrap_or(MemoryKind::Reserved)
}

fn firmware_name(firmware: FirmwareType) -> &'static str {
    match firmware {
        FirmwareType::UEFI_64 => "UEFI x86_64",
        FirmwareType::UEFI_32 => "UEFI ia32",
        FirmwareType::X86_BIOS => "BIOS",
        _ => "unknown",
    }
}

/// A C string from the loader as `&str`; the banner shows what is not UTF-8
/// as a marker rather than trusting it.
fn c_str(text: Option<&CStr>) -> &str {
    match text {
        Some(text) => text.to_str().unwrap_or("<not UTF-8>"),
        None => "",
    }
}
