//! The Limine boot-protocol requests the kernel makes, at base revision 3,
//! and their answers read as the kernel's own types.
//!
//! They live in the `.requests` section between the start and end markers
//! (see `kernel/linker.ld`), which is where a Limine-protocol loader looks.
//! The loader writes each answer's address into the request before the
//! kernel runs; a request it does not support keeps a null response, which
//! the readers below turn into an empty list or `None`. The answers live in
//! bootloader-reclaimable memory: read them only before boot reclaims it
//! (`boot::after_boot`).

use core::ffi::CStr;

use limine::BaseRevision;
use limine::file::File;
use limine::firmware_type::FirmwareType;
use limine::memory_map::{Entry, EntryType};
use limine::request::{
    BootloaderInfoRequest, EntryPointRequest, ExecutableAddressRequest, ExecutableCmdlineRequest,
    ExecutableFileRequest, FirmwareTypeRequest, FramebufferRequest, HhdmRequest, MemoryMapRequest,
    ModuleRequest, PagingModeRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest,
    StackSizeRequest,
};

use crate::banner::MemorySummary;
use crate::mem::{MemoryKind, MemoryRange};

/// The kernel stack the loader must provide (the protocol's default is
/// 64 KiB; the kernel asks for more because its panic and trap paths format
/// text on the stack).
pub const STACK_SIZE: u64 = 256 * 1024;

// SAFETY (every `link_section` in this file): the three sections hold
// nothing but these statics, each a request type from the `limine` crate
// with the layout the protocol defines; `kernel/linker.ld` keeps them
// together between the markers, and the loader writes only the response
// pointers inside them, before the kernel runs.
#[used]
#[unsafe(link_section = ".requests_start_marker")]
static START_MARKER: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static BASE_REVISION: BaseRevision = BaseRevision::with_revision(3);

#[used]
#[unsafe(link_section = ".requests")]
pub static BOOTLOADER_INFO: BootloaderInfoRequest = BootloaderInfoRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static FIRMWARE_TYPE: FirmwareTypeRequest = FirmwareTypeRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static STACK: StackSizeRequest = StackSizeRequest::new().with_size(STACK_SIZE);

#[used]
#[unsafe(link_section = ".requests")]
pub static HHDM: HhdmRequest = HhdmRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static FRAMEBUFFER: FramebufferRequest = FramebufferRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static MODULES: ModuleRequest = ModuleRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static RSDP: RsdpRequest = RsdpRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static EXECUTABLE_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static EXECUTABLE_FILE: ExecutableFileRequest = ExecutableFileRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static EXECUTABLE_CMDLINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static PAGING_MODE: PagingModeRequest = PagingModeRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static ENTRY_POINT: EntryPointRequest =
    EntryPointRequest::new().with_entry_point(super::entry::kernel_request_entry);

#[used]
#[unsafe(link_section = ".requests_end_marker")]
static END_MARKER: RequestsEndMarker = RequestsEndMarker::new();

/// The contents of a file the loader handed over (a module or the kernel).
pub fn file_bytes(file: &File) -> &'static [u8] {
    // SAFETY: the loader placed the file at this address (in the direct
    // map) with this size, in memory it marked executable-and-modules,
    // which the kernel never reuses.
    unsafe { core::slice::from_raw_parts(file.addr(), file.size() as usize) }
}

/// The loader's memory map; empty if it gave none.
pub fn memory_map() -> &'static [&'static Entry] {
    MEMORY_MAP
        .get_response()
        .map(|map| map.entries())
        .unwrap_or(&[])
}

/// Every entry of the memory map, as the memory manager's ranges.
pub fn memory_ranges() -> impl ExactSizeIterator<Item = MemoryRange> {
    memory_map().iter().map(|entry| MemoryRange {
        base: entry.base,
        length: entry.length,
        kind: memory_kind(entry.entry_type),
    })
}

/// The bootloader-reclaimable ranges, which the kernel takes once it no
/// longer reads the answers in them.
pub fn reclaimable_ranges() -> impl Iterator<Item = MemoryRange> {
    memory_ranges().filter(|range| range.kind == MemoryKind::BootloaderReclaimable)
}

/// The memory map by type, for the banner; `None` without a map.
pub fn memory_summary() -> Option<MemorySummary> {
    MEMORY_MAP.get_response().map(|_| {
        let mut summary = MemorySummary::default();
        for entry in memory_map() {
            summary.add(memory_type_number(entry.entry_type), entry.length);
        }
        summary
    })
}

/// The modules the loader loaded; empty if it gave none.
pub fn modules() -> &'static [&'static File] {
    MODULES
        .get_response()
        .map(|response| response.modules())
        .unwrap_or(&[])
}

/// The module whose command line is `cmdline`.
pub fn module(cmdline: &str) -> Option<&'static File> {
    modules()
        .iter()
        .find(|file| file.string().to_bytes() == cmdline.as_bytes())
        .copied()
}

/// The kernel's command line; empty if the loader gave none.
pub fn command_line() -> &'static str {
    c_str(
        EXECUTABLE_CMDLINE
            .get_response()
            .map(|response| response.cmdline()),
    )
}

/// The firmware the loader ran on, by name.
pub fn firmware() -> Option<&'static str> {
    let firmware = FIRMWARE_TYPE.get_response()?.firmware_type();
    Some(match firmware {
        FirmwareType::UEFI_64 => "UEFI x86_64",
        FirmwareType::UEFI_32 => "UEFI ia32",
        FirmwareType::X86_BIOS => "BIOS",
        _ => "unknown",
    })
}

/// A C string from the loader as `&str`; the banner shows what is not UTF-8
/// as a marker rather than trusting it.
pub fn c_str(text: Option<&CStr>) -> &str {
    match text {
        Some(text) => text.to_str().unwrap_or("<not UTF-8>"),
        None => "",
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
