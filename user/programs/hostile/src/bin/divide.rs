//! `/bin/divide`: divides by zero. Must fault with a divide error (#DE).
//! Rust checks `/` and would panic instead, so the `div` is inline
//! assembly, its divisor hidden from the compiler by `black_box`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let divisor = core::hint::black_box(0u64);
    let quotient: u64;
    // SAFETY: `div` touches only rax and rdx, both declared; dividing by
    // zero raises #DE, which must stop this task.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "div {divisor}",
            divisor = in(reg) divisor,
            inout("rax") 1u64 => quotient,
            inout("rdx") 0u64 => _,
            options(nomem, nostack),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let quotient = divisor;
    survived(cx, "divide", format_args!("1 / 0 = {quotient}"));
    Ok(())
}

mealy_user::program!(AtStart::new("divide", start));
