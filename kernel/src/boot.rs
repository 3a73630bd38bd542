//! The boot sequence: from the loader's jump to a running kernel.
//!
//! Today that is: serial up, base revision checked, the banner printed from
//! the Limine responses, then the test scenario the command line chose, or
//! an idle halt. Later phases insert traps, memory and the scheduler here.

use core::ffi::CStr;

use limine::firmware_type::FirmwareType;
use limine::memory_map::EntryType;

use crate::arch::x86_64::limine as requests;
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{cpu, serial};
use crate::banner::{BootSummary, EntryPath, FramebufferSummary, MemorySummary, ModuleSummary};
use crate::cmdline::{KernelOptions, TestScenario};
use crate::println;

/// How many modules the banner names one by one.
const BANNER_MODULES: usize = 8;

/// The prompt the shell prints when it is ready for input. xtask holds
/// input piped into `cargo xtask qemu --headless` until it sees this, so
/// the firmware does not eat it (`xtask/src/qemu.rs`, `READY_PROMPT`).
pub const PROMPT: &str = "mealy> ";

pub fn kmain(entry: EntryPath, entry_tsc: u64) -> ! {
    serial::init();
    assert!(
        requests::BASE_REVISION.is_supported(),
        "the bootloader does not support Limine base revision 3"
    );

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
        hhdm_offset: requests::HHDM.get_response().map(|hhdm| hhdm.offset()),
        memory: requests::MEMORY_MAP.get_response().map(|map| {
            let mut summary = MemorySummary::default();
            for entry in map.entries() {
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
    match options.test {
        Some(TestScenario::Boot) => qemu::exit(ExitStatus::Success),
        Some(TestScenario::Panic) => panic!("deliberate panic (test=panic)"),
        Some(TestScenario::Echo) => echo_one_line(),
        None => {
            log::info!("no shell yet: the kernel halts here (quit QEMU with Ctrl-C)");
            cpu::halt_forever()
        }
    }
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

/// The `test=echo` scenario: prompt, read one line from COM1 by polling,
/// echo it, exit with success.
fn echo_one_line() -> ! {
    let mut line = [0u8; 256];
    let mut len = 0;
    serial::write_fmt(format_args!("{PROMPT}"));
    loop {
        let Some(byte) = serial::try_read_byte() else {
            core::hint::spin_loop();
            continue;
        };
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
    qemu::exit(ExitStatus::Success)
}
