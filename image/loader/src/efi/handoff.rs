//! The point of no return: exit boot services, put the CPU in the state the
//! Limine protocol defines, and jump to the kernel.
//!
//! Everything the kernel inherits was allocated by [`super::prepare`]; here
//! only the final firmware memory map is converted into the preallocated
//! Limine array (no allocation is possible after the exit). The switch
//! itself goes through a small naked trampoline:
//!
//! 1. Still on firmware tables: mask the PICs, set EFER.NXE, load CR3 with
//!    the kernel's tables. They map the HHDM and the kernel, plus (for this
//!    moment only) a copy of the HHDM in the lower half, so the loader code
//!    and firmware stack running now stay reachable at their identity
//!    addresses.
//! 2. Call the trampoline through its HHDM alias. It loads the protocol's
//!    GDT (through its HHDM address), reloads CS and the data segments,
//!    clears the lower-half PML4 entries and flushes the TLB (revision 1+
//!    promises no lower-half identity map), sets CR0.WP, switches to the
//!    kernel stack, pushes a 0 return address, clears RFLAGS and the general
//!    registers, and returns into the entry point.

use mealy_loader::gdt::{CODE64_SELECTOR, DATA64_SELECTOR};
use mealy_loader::memmap::{self, MemoryMapEntry, kind_for_uefi};
use mealy_loader::{PAGE_SIZE, hhdm};
use uefi::boot;
use uefi::mem::memory_map::MemoryMap;

use super::console::outb;

/// Where the post-exit memory map goes.
pub struct MemoryMapSlot {
    /// Physical address of the preallocated entry array.
    pub entries: u64,
    pub capacity: usize,
    /// Physical address of the response's `entry_count` word.
    pub count: u64,
}

/// Everything needed after ExitBootServices, as plain addresses.
pub struct Handoff {
    /// Physical address of the PML4.
    pub pml4: u64,
    /// HHDM address of the `lgdt` operand.
    pub gdtr: u64,
    /// HHDM address of the top of the kernel stack (16-byte aligned).
    pub stack_top: u64,
    pub entry: u64,
    pub memory_map: Option<MemoryMapSlot>,
    /// Kernel, module and framebuffer ranges laid over the firmware map.
    pub overlays: &'static [MemoryMapEntry],
    /// Whether the CPU supports NX (EFER.NXE is set only then).
    pub nx: bool,
}

/// Stops this CPU for good (used only after a loader bug).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops this CPU.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Exits boot services and enters the kernel.
///
/// # Safety
/// No firmware protocol or pool object may be in use, and `handoff` must
/// describe page tables, GDT, stack and memory-map storage that
/// [`super::prepare`] allocated and filled.
pub unsafe fn enter_kernel(handoff: Handoff) -> ! {
    super::console::firmware_gone();
    // SAFETY: the caller guarantees nothing refers to boot-services state.
    let firmware_map = unsafe { boot::exit_boot_services(None) };
    // SAFETY: from here on the loader owns the CPU; no handler may run.
    unsafe { core::arch::asm!("cli", options(nomem, nostack)) };

    if let Some(slot) = &handoff.memory_map {
        // SAFETY: `prepare` allocated `capacity` entries at `entries` and the
        // count word at `count`; both are identity-mapped and only ours.
        let (entries, count) = unsafe {
            (
                core::slice::from_raw_parts_mut(slot.entries as *mut MemoryMapEntry, slot.capacity),
                &mut *(slot.count as *mut u64),
            )
        };
        let regions = firmware_map.entries().map(|d| MemoryMapEntry {
            base: d.phys_start,
            length: d.page_count * PAGE_SIZE,
            kind: kind_for_uefi(d.ty.0),
        });
        match memmap::build(regions, handoff.overlays, entries) {
            Ok(n) => *count = n as u64,
            Err(memmap::TooManyEntries) => {
                say!("error: memory map: more than {} entries", slot.capacity);
                halt_forever();
            }
        }
    }

    // Mask both legacy PICs.
    outb(0x21, 0xff);
    outb(0xa1, 0xff);

    if handoff.nx {
        // SAFETY: the CPU reported NX support; setting EFER.NXE before the
        // new tables (which use NX bits) are loaded is required.
        unsafe {
            core::arch::asm!(
                "rdmsr",
                "or eax, 1 << 11",
                "wrmsr",
                in("ecx") 0xc000_0080u32,
                out("eax") _,
                out("edx") _,
                options(nomem, nostack),
            )
        };
    }

    let trampoline_alias = hhdm(trampoline as *const () as u64);
    // SAFETY: the new tables map this code, the current stack and all
    // loader data at their identity addresses (lower-half copy of the HHDM)
    // and the trampoline at its HHDM alias, so execution continues after
    // the CR3 load; the trampoline never returns.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) handoff.pml4, options(nostack));
        let jump: extern "sysv64" fn(u64, u64, u64, u64) -> ! =
            core::mem::transmute(trampoline_alias as usize);
        jump(
            handoff.gdtr,
            hhdm(handoff.pml4),
            handoff.stack_top,
            handoff.entry,
        )
    }
}

/// See the module docs, step 2. Arguments (System V): `rdi` = HHDM address
/// of the GDTR, `rsi` = HHDM address of the PML4, `rdx` = stack top,
/// `rcx` = entry point.
#[unsafe(naked)]
extern "sysv64" fn trampoline(_gdtr: u64, _pml4: u64, _stack_top: u64, _entry: u64) -> ! {
    core::arch::naked_asm!(
        "cld",
        "lgdt [rdi]",
        "push {code}",
        "lea rax, [rip + 2f]",
        "push rax",
        "retfq",
        "2:",
        "mov eax, {data}",
        "mov ds, eax",
        "mov es, eax",
        "mov fs, eax",
        "mov gs, eax",
        "mov ss, eax",
        // Drop the lower-half identity map and flush it from the TLB.
        "mov r8, rcx",
        "mov rdi, rsi",
        "xor eax, eax",
        "mov ecx, 256",
        "rep stosq",
        "mov rax, cr3",
        "mov cr3, rax",
        // CR0.WP: the kernel's read-only pages are read-only for it too.
        "mov rax, cr0",
        "or rax, 0x10000",
        "mov cr0, rax",
        // Kernel stack, with a 0 return address under the entry point.
        "mov rsp, rdx",
        "push 0",
        "push r8",
        "push 2",
        "popfq",
        "xor eax, eax",
        "xor ebx, ebx",
        "xor ecx, ecx",
        "xor edx, edx",
        "xor esi, esi",
        "xor edi, edi",
        "xor ebp, ebp",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        "xor r12d, r12d",
        "xor r13d, r13d",
        "xor r14d, r14d",
        "xor r15d, r15d",
        "ret",
        code = const CODE64_SELECTOR,
        data = const DATA64_SELECTOR,
    )
}
