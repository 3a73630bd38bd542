//! Injected faults (`Context::inject_fault`, the shell's `fault`, the
//! kernel's `fault=NAME:KIND`): on an `InjectFault` upcall the runtime,
//! not the program's handler, commits the named fault in the task's own
//! context, so the kernel sees and reports exactly what a real bug of
//! that kind would cause. This is a test facility; only the holder of a
//! Task capability can ask for it.
//!
//! On the host (unit tests) there is no CPU to fault: [`commit`] panics
//! with the kind's name instead.

use mealy_protocol::supervision::FaultKind;

/// Commits the fault `kind`. Never returns.
#[cfg(target_os = "none")]
pub fn commit(kind: FaultKind) -> ! {
    use core::arch::asm;
    match kind {
        // SAFETY: a load from the null page, which no domain maps: it
        // faults (#PF) and the kernel ends the task; nothing is read.
        FaultKind::PageFault => unsafe {
            asm!("mov {0}, qword ptr [{1}]", out(reg) _, in(reg) 8usize, options(nostack));
        },
        // SAFETY: a load from a non-canonical address: #GP before any
        // memory is touched.
        FaultKind::GeneralProtection => unsafe {
            asm!(
                "mov {0}, qword ptr [{1}]",
                out(reg) _,
                in(reg) 0x8000_0000_0000_0000usize,
                options(nostack)
            );
        },
        // SAFETY: `ud2` raises #UD; it touches no state.
        FaultKind::InvalidOpcode => unsafe { asm!("ud2", options(nomem, nostack)) },
        // SAFETY: a division by zero raises #DE before any register is
        // written.
        FaultKind::DivideError => unsafe {
            asm!(
                "xor edx, edx",
                "xor eax, eax",
                "xor ecx, ecx",
                "div ecx",
                out("eax") _, out("ecx") _, out("edx") _,
                options(nomem, nostack)
            );
        },
        // SAFETY: pushes until the stack runs into its unmapped guard
        // page (#PF). The stack is thrown away with the task; nothing
        // after the loop runs.
        FaultKind::StackOverflow => unsafe {
            asm!("2:", "push rax", "jmp 2b", options(noreturn));
        },
        FaultKind::Panic => panic!("injected fault: panic"),
        FaultKind::Loop => loop {
            core::hint::spin_loop();
        },
    }
    // The fault did not happen: end the task anyway.
    crate::syscall::done(mealy_protocol::abi::DONE_FATAL)
}

/// On the host: a panic naming the kind, for the unit tests.
#[cfg(not(target_os = "none"))]
pub fn commit(kind: FaultKind) -> ! {
    panic!("injected fault: {}", kind.name())
}
