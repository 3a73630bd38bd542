//! `/bin/privileged`: executes `hlt`, an instruction only ring 0 may use.
//! Must fault with a general protection fault (#GP).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    // SAFETY: not safe, on purpose: `hlt` at CPL 3 raises #GP(0), which
    // must stop this task; in ring 0 it would stop the core.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("hlt", options(nomem, nostack));
    }
    survived(cx, "privileged", format_args!("hlt did not fault"));
    Ok(())
}

mealy_user::program!(AtStart::new("privileged", start));
