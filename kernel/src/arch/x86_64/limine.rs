//! The Limine boot-protocol requests the kernel makes, at base revision 3.
//!
//! They live in the `.requests` section between the start and end markers
//! (see `kernel/linker.ld`), which is where a Limine-protocol loader looks.
//! The loader writes each answer's address into the request before the
//! kernel runs; a request it does not support keeps a null response.

use limine::BaseRevision;
use limine::file::File;
use limine::request::{
    BootloaderInfoRequest, EntryPointRequest, ExecutableAddressRequest, ExecutableCmdlineRequest,
    ExecutableFileRequest, FirmwareTypeRequest, FramebufferRequest, HhdmRequest, MemoryMapRequest,
    ModuleRequest, PagingModeRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest,
    StackSizeRequest,
};

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
