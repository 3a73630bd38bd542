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
