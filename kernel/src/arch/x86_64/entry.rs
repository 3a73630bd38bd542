//! The kernel's two entry points. A Limine loader jumps to the one named by
//! the entry-point request if it supports that request, else to the ELF
//! entry; the banner reports which, so a loader that ignores the request is
//! visible.

use super::cpu;
use crate::banner::EntryPath;

/// The ELF header's entry (`ENTRY` in `kernel/linker.ld`).
// SAFETY: no other item in the kernel or its dependencies is named
// `kernel_elf_entry`, so the unmangled symbol the linker script names is
// this function and nothing else.
#[unsafe(no_mangle)]
pub extern "C" fn kernel_elf_entry() -> ! {
    let entry_tsc = cpu::rdtsc();
    crate::boot::kmain(EntryPath::ElfEntry, entry_tsc)
}

/// The entry named in the entry-point request.
pub extern "C" fn kernel_request_entry() -> ! {
    let entry_tsc = cpu::rdtsc();
    crate::boot::kmain(EntryPath::EntryPointRequest, entry_tsc)
}
