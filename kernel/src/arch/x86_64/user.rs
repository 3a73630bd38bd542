//! Ring 3: the per-core state the crossings need, entering a task with
//! `iretq`, and coming back on a `syscall` or on any trap taken in ring 3.
//!
//! The shape is a loop the kernel runs, not a context switch: [`run`]
//! saves the kernel's callee-saved registers and stack pointer in the
//! core's [`PerCpu`], loads the task's registers from a [`TrapFrame`] and
//! leaves for ring 3. Whatever brings the core back (a `syscall`, an
//! exception, an interrupt) stores the task's registers into that same
//! frame, restores the kernel's stack and returns from [`run`] as if from
//! an ordinary call. The portable side (`crate::program`) then decides:
//! serve the system call and enter again, handle the interrupt and enter
//! again, or stop the task. There is no kernel stack per task: a task
//! holds no kernel state between crossings.
//!
//! Page tables: the task runs on its domain's root, whose upper half is
//! the kernel's (supervisor-only) and whose lower half maps only what the
//! task may touch. The kernel itself always runs on its own root: every
//! way in switches CR3 first thing (like KPTI), so no kernel code runs on
//! a domain's tables except the few instructions here, which touch only
//! the kernel image (upper half): this file's code, [`PER_CPU`] and the
//! entry stacks. On QEMU's TCG, which has no PCID, each CR3 write flushes
//! the TLB; instruction counts do not see that cost.
//!
//! `swapgs`: in the kernel, GS base points at the core's [`PerCpu`]; in
//! ring 3 it is the task's (zero), and the kernel's value waits in
//! `KERNEL_GS_BASE`. Every way in from ring 3 swaps first; every way out
//! swaps last. Traps from ring 0 never swap.
//!
//! SMEP and SMAP are switched on when CPUID says the CPU has them (a
//! reserved CR4 bit hangs QEMU's vCPU rather than faulting). The kernel
//! never reads user memory through user mappings (its own root has none;
//! checked copies go through the direct map), so SMAP never has to be
//! lifted.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use ::x86_64::VirtAddr;
use ::x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use ::x86_64::registers::model_specific::{
    Efer, EferFlags, GsBase, KernelGsBase, LStar, SFMask, Star,
};
use ::x86_64::registers::rflags::RFlags;
use ::x86_64::structures::paging::PhysFrame;

use super::gdt::{KERNEL_CODE, KERNEL_DATA, USER_CODE, USER_DATA};
use crate::program::{Exit, UserCpu};
use crate::trap::TrapFrame;

/// The `vector` a system call leaves in the frame: above every real one.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Cores this kernel lays out state for. One runs today (phase 3 starts
/// the others); each has its own [`PerCpu`] and entry stack.
pub const MAX_CPUS: usize = 8;

/// The stack the CPU switches to on a trap from ring 3 (TSS RSP0) and
/// that [`run`] builds the `iretq` frame on.
pub const ENTRY_STACK_SIZE: usize = 16 * 1024;

/// One core's crossing state, reached through GS. The offsets are used
/// by the assembly below; a test of the layout keeps them honest.
#[repr(C)]
pub struct PerCpu {
    /// This struct's own address (GS base's value), for Rust code.
    this: u64,
    /// The kernel's stack pointer inside [`run`], while a task runs.
    kernel_rsp: u64,
    /// The kernel's page-table root.
    kernel_cr3: u64,
    /// The running task's domain root.
    user_cr3: u64,
    /// The [`TrapFrame`] the running task's registers go to.
    frame: u64,
    /// One register's worth of room while no register is free.
    scratch: u64,
    /// Top of this core's entry stack.
    entry_stack_top: u64,
}

const KERNEL_RSP: usize = 8;
const KERNEL_CR3: usize = 16;
const USER_CR3: usize = 24;
const FRAME: usize = 32;
const SCRATCH: usize = 40;
const ENTRY_STACK_TOP: usize = 48;

/// Every core's [`PerCpu`]; written only by that core.
struct PerCpuTable(UnsafeCell<[PerCpu; MAX_CPUS]>);

// SAFETY: each core touches only its own entry, through GS or `boot_cpu`,
// and never concurrently with itself (interrupts are off in the crossings).
unsafe impl Sync for PerCpuTable {}

const EMPTY: PerCpu = PerCpu {
    this: 0,
    kernel_rsp: 0,
    kernel_cr3: 0,
    user_cr3: 0,
    frame: 0,
    scratch: 0,
    entry_stack_top: 0,
};

static PER_CPU: PerCpuTable = PerCpuTable(UnsafeCell::new([EMPTY; MAX_CPUS]));

#[repr(C, align(16))]
struct EntryStacks(UnsafeCell<[[u8; ENTRY_STACK_SIZE]; MAX_CPUS]>);

// SAFETY: only the CPU and the crossing assembly use these stacks, one
// core each; Rust never forms references into them.
unsafe impl Sync for EntryStacks {}

static ENTRY_STACKS: EntryStacks = EntryStacks(UnsafeCell::new([[0; ENTRY_STACK_SIZE]; MAX_CPUS]));

/// The top of core `cpu`'s entry stack: the TSS's RSP0.
pub fn entry_stack_top(cpu: usize) -> VirtAddr {
    let base = ENTRY_STACKS.0.get() as u64 + (cpu * ENTRY_STACK_SIZE) as u64;
    VirtAddr::new(base + ENTRY_STACK_SIZE as u64)
}

static READY: AtomicBool = AtomicBool::new(false);

/// What the CPU offers that ring 3 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protections {
    pub smep: bool,
    pub smap: bool,
}

fn cpuid_leaf7_ebx() -> u32 {
    // Leaf 0 says how many leaves there are: leaf 7 is read only if it
    // exists.
    if core::arch::x86_64::__cpuid(0).eax < 7 {
        return 0;
    }
    core::arch::x86_64::__cpuid_count(7, 0).ebx
}

/// Sets up the boot core for ring 3: its [`PerCpu`] in GS, `syscall`
/// (EFER.SCE, STAR, LSTAR, SFMASK), and SMEP/SMAP where CPUID has them.
/// Call once, after the GDT (whose TSS has RSP0 = `entry_stack_top(0)`).
pub fn init_boot_cpu() -> Protections {
    // SAFETY: boot, one core, before any task runs: nothing else reads
    // the table yet.
    let percpu = unsafe { &mut (*PER_CPU.0.get())[0] };
    percpu.this = percpu as *mut PerCpu as u64;
    percpu.entry_stack_top = entry_stack_top(0).as_u64();
    GsBase::write(VirtAddr::new(percpu.this));
    KernelGsBase::write(VirtAddr::new(0));
    // SAFETY: the selectors are the GDT's (gdt.rs orders them for
    // `sysret`), LSTAR is the entry below, and SFMASK clears IF, TF, DF
    // and AC so the entry runs with interrupts off and flags sane.
    unsafe {
        Star::write(USER_CODE, USER_DATA, KERNEL_CODE, KERNEL_DATA)
            .expect("the GDT's selectors are ordered for syscall/sysret");
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(
            RFlags::INTERRUPT_FLAG
                | RFlags::TRAP_FLAG
                | RFlags::DIRECTION_FLAG
                | RFlags::ALIGNMENT_CHECK
                | RFlags::NESTED_TASK,
        );
        Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
    let leaf7 = cpuid_leaf7_ebx();
    let protections = Protections {
        smep: leaf7 & (1 << 7) != 0,
        smap: leaf7 & (1 << 20) != 0,
    };
    let mut cr4 = Cr4Flags::empty();
    if protections.smep {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if protections.smap {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: only bits CPUID reports are set (a reserved one would hang
    // QEMU); the kernel runs on a root with no user pages, so neither
    // protection can trip it.
    unsafe { Cr4::update(|flags| flags.insert(cr4)) };
    READY.store(true, Ordering::Release);
    protections
}

/// Whether [`init_boot_cpu`] has run.
pub fn is_ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// RFLAGS a task may hold: the arithmetic flags and DF; IF is forced on,
/// bit 1 is always set, and IOPL, TF, NT, AC and the rest are never the
/// task's to set.
const USER_FLAGS: u64 =
    (1 << 0) | (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 10) | (1 << 11);
const FLAGS_ALWAYS: u64 = (1 << 1) | (1 << 9);

/// Whether `address` is canonical (a non-canonical RIP makes `iretq`
/// fault in ring 0).
fn is_canonical(address: u64) -> bool {
    let top = (address as i64) >> 47;
    top == 0 || top == -1
}

/// Runs the task described by `frame` on the domain `root` until it
/// enters the kernel again; the task's registers are then in `frame`.
/// Interrupts are on in ring 3; an interrupt is handled here (the usual
/// handlers: EOI, post to the scheduler) before returning.
pub fn run(frame: &mut TrapFrame, root: PhysFrame) -> Exit {
    if !is_canonical(frame.rip) || !is_canonical(frame.rsp) {
        return Exit::BadFrame;
    }
    frame.cs = u64::from(USER_CODE.0);
    frame.ss = u64::from(USER_DATA.0);
    frame.rflags = (frame.rflags & USER_FLAGS) | FLAGS_ALWAYS;
    let were_enabled = ::x86_64::instructions::interrupts::are_enabled();
    // SAFETY: GS base is this core's PerCpu (init_boot_cpu); interrupts
    // are off between here and the `iretq` (enter disables them first
    // thing), so nothing else uses these fields meanwhile.
    unsafe {
        let percpu = GsBase::read().as_u64() as *mut PerCpu;
        (*percpu).kernel_cr3 = Cr3::read_raw().0.start_address().as_u64();
        (*percpu).user_cr3 = root.start_address().as_u64();
        enter(frame);
    }
    // Back with interrupts off.
    let exit = match frame.vector {
        SYSCALL_VECTOR => Exit::Syscall,
        vector if vector < crate::trap::FIRST_INTERRUPT => Exit::Exception {
            vector,
            error_code: frame.error_code,
            cr2: ::x86_64::registers::control::Cr2::read_raw(),
        },
        vector => {
            super::interrupts::handle(frame);
            Exit::Interrupt { vector }
        }
    };
    if were_enabled {
        ::x86_64::instructions::interrupts::enable();
    }
    exit
}

/// Enters ring 3 with `frame`'s registers; returns when the task is back
/// in the kernel, with its registers in `frame`.
// SAFETY (of the body): saves the System V callee-saved registers and the
// stack pointer in the core's PerCpu, so the ways back in (`syscall_entry`,
// the ring-3 branch of `trap_common`) can restore them and `ret` to our
// caller. Interrupts go off before RSP moves to the entry stack (upper
// half, mapped in every root); the frame (kernel memory, lower half) is
// read completely before CR3 moves to the domain, after which only the
// entry stack and GS (this PerCpu, upper half) are touched.
#[unsafe(naked)]
unsafe extern "C" fn enter(frame: *mut TrapFrame) {
    core::arch::naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov gs:[{kernel_rsp}], rsp",
        "mov gs:[{frame}], rdi",
        "cli",
        "mov rsp, gs:[{stack_top}]",
        "push qword ptr [rdi + 21*8]",
        "push qword ptr [rdi + 20*8]",
        "push qword ptr [rdi + 19*8]",
        "push qword ptr [rdi + 18*8]",
        "push qword ptr [rdi + 17*8]",
        "mov rax, [rdi + 14*8]",
        "mov gs:[{scratch}], rax",
        "mov r15, [rdi + 0*8]",
        "mov r14, [rdi + 1*8]",
        "mov r13, [rdi + 2*8]",
        "mov r12, [rdi + 3*8]",
        "mov r11, [rdi + 4*8]",
        "mov r10, [rdi + 5*8]",
        "mov r9, [rdi + 6*8]",
        "mov r8, [rdi + 7*8]",
        "mov rbp, [rdi + 8*8]",
        "mov rsi, [rdi + 10*8]",
        "mov rdx, [rdi + 11*8]",
        "mov rcx, [rdi + 12*8]",
        "mov rbx, [rdi + 13*8]",
        "mov rdi, [rdi + 9*8]",
        "mov rax, gs:[{user_cr3}]",
        "mov cr3, rax",
        "mov rax, gs:[{scratch}]",
        "swapgs",
        "iretq",
        kernel_rsp = const KERNEL_RSP,
        frame = const FRAME,
        stack_top = const ENTRY_STACK_TOP,
        scratch = const SCRATCH,
        user_cr3 = const USER_CR3,
    )
}

/// The `syscall` entry (LSTAR). The CPU left the task's RIP in RCX and
/// RFLAGS in R11 and masked IF; RSP is still the task's.
// SAFETY (of the body): reached only by `syscall` from ring 3, entered
// through `enter`, so GS (after `swapgs`) is this core's PerCpu with the
// kernel's CR3, the frame and the saved kernel stack. RSP is used as the
// scratch register for CR3 before it becomes the frame pointer, then the
// kernel's stack: `back_in_kernel` mirrors `enter`'s prologue.
#[unsafe(naked)]
unsafe extern "C" fn syscall_entry() {
    core::arch::naked_asm!(
        "swapgs",
        "mov gs:[{scratch}], rsp",
        "mov rsp, gs:[{kernel_cr3}]",
        "mov cr3, rsp",
        "mov rsp, gs:[{frame}]",
        "mov [rsp + 0*8], r15",
        "mov [rsp + 1*8], r14",
        "mov [rsp + 2*8], r13",
        "mov [rsp + 3*8], r12",
        "mov [rsp + 4*8], r11",
        "mov [rsp + 5*8], r10",
        "mov [rsp + 6*8], r9",
        "mov [rsp + 7*8], r8",
        "mov [rsp + 8*8], rbp",
        "mov [rsp + 9*8], rdi",
        "mov [rsp + 10*8], rsi",
        "mov [rsp + 11*8], rdx",
        "mov [rsp + 12*8], rcx",
        "mov [rsp + 13*8], rbx",
        "mov [rsp + 14*8], rax",
        "mov qword ptr [rsp + 15*8], {vector}",
        "mov qword ptr [rsp + 16*8], 0",
        "mov [rsp + 17*8], rcx",
        "mov [rsp + 19*8], r11",
        "mov rax, gs:[{scratch}]",
        "mov [rsp + 20*8], rax",
        "jmp {back}",
        scratch = const SCRATCH,
        kernel_cr3 = const KERNEL_CR3,
        frame = const FRAME,
        back = sym back_in_kernel,
        vector = const SYSCALL_VECTOR,
    )
}

/// The ring-3 half of `trap_common`: it jumps here with the full
/// [`TrapFrame`] at RSP (on the entry stack or an IST stack) when the
/// trapped CS has RPL 3. Copies the frame to the running task's and
/// returns from `enter` as `syscall_entry` does.
///
/// # Safety
/// Never called: only `trap_common` jumps here, as described.
// SAFETY (of the body): only `trap_common` jumps here, and only for a
// trap from ring 3, which can only have been entered through `enter`, so
// the PerCpu fields it reads are set. Every register is already saved in
// the frame being copied.
#[unsafe(naked)]
pub unsafe extern "C" fn trap_from_user() {
    core::arch::naked_asm!(
        "swapgs",
        "mov rax, gs:[{kernel_cr3}]",
        "mov cr3, rax",
        "mov rdi, gs:[{frame}]",
        "mov rsi, rsp",
        "mov ecx, 22",
        "cld",
        "rep movsq",
        "jmp {back}",
        kernel_cr3 = const KERNEL_CR3,
        frame = const FRAME,
        back = sym back_in_kernel,
    )
}

/// The one way back from ring 3: restores the kernel's stack and the
/// callee-saved registers `enter` pushed, and returns to `enter`'s
/// caller. Both `syscall_entry` and `trap_from_user` end by jumping here,
/// once the task's registers are in its frame and CR3 is the kernel's.
// SAFETY (of the body): reached only by those two jumps, with GS the
// kernel's (after their `swapgs`), so `kernel_rsp` is what `enter` saved
// after its six pushes; the pops mirror them in reverse.
#[unsafe(naked)]
unsafe extern "C" fn back_in_kernel() {
    core::arch::naked_asm!(
        "mov rsp, gs:[{kernel_rsp}]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
        kernel_rsp = const KERNEL_RSP,
    )
}

/// The machine's [`UserCpu`]: [`run`], the local APIC's one-shot timer
/// for budgets, and the live page tables.
pub struct ArchCpu;

impl UserCpu for ArchCpu {
    fn run(&self, frame: &mut TrapFrame, root: PhysFrame) -> Exit {
        run(frame, root)
    }

    fn arm_budget(&self, ns: u64) {
        super::apic::arm_oneshot(ns);
    }

    fn kernel_root(&self) -> PhysFrame {
        Cr3::read().0
    }

    fn kernel_translate(&self, address: VirtAddr) -> Option<PhysFrame> {
        super::paging::translate(address.as_u64())
            .map(|phys| PhysFrame::containing_address(::x86_64::PhysAddr::new(phys)))
    }
}

const _: () = {
    assert!(core::mem::offset_of!(PerCpu, kernel_rsp) == KERNEL_RSP);
    assert!(core::mem::offset_of!(PerCpu, kernel_cr3) == KERNEL_CR3);
    assert!(core::mem::offset_of!(PerCpu, user_cr3) == USER_CR3);
    assert!(core::mem::offset_of!(PerCpu, frame) == FRAME);
    assert!(core::mem::offset_of!(PerCpu, scratch) == SCRATCH);
    assert!(core::mem::offset_of!(PerCpu, entry_stack_top) == ENTRY_STACK_TOP);
    assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rax) == 14 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rip) == 17 * 8);
    assert!(core::mem::offset_of!(TrapFrame, cs) == 18 * 8);
    assert!(core::mem::offset_of!(TrapFrame, ss) == 21 * 8);
};
