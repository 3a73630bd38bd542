//! The handful of CPU instructions the rest of the kernel asks for by name.

/// The time-stamp counter. Under QEMU with `-icount` it counts guest
/// instructions, which is what makes in-guest measurements repeatable.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter; it has no memory effects and every
    // x86_64 CPU implements it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops this core for good: interrupts off, then `hlt` forever.
pub fn halt_forever() -> ! {
    ::x86_64::instructions::interrupts::disable();
    loop {
        ::x86_64::instructions::hlt();
    }
}

/// Continues on another stack: sets RSP to `top` (16-byte aligned), ends the
/// frame-pointer chain, and calls `next`. The current stack is abandoned.
pub fn switch_stack(top: u64, next: extern "C" fn() -> !) -> ! {
    debug_assert!(top.is_multiple_of(16));
    // SAFETY: `top` is the end of a mapped, writable stack owned by the
    // caller for good; nothing on the old stack is used again, since
    // `next` never returns.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {next}",
            "ud2",
            top = in(reg) top,
            next = in(reg) next,
            options(noreturn),
        )
    }
}
