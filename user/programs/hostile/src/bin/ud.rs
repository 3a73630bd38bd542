//! `/bin/ud`: executes `ud2`. Must fault with an invalid opcode (#UD).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    // SAFETY: `ud2` touches nothing; it raises #UD, which must stop this
    // task (it never "continues").
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("ud2", options(nomem, nostack));
    }
    survived(cx, "ud", format_args!("ud2 did not fault"));
    Ok(())
}

mealy_user::program!(AtStart::new("ud", start));
