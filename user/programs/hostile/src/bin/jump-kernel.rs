//! `/bin/jump-kernel`: calls into the kernel's code
//! (`0xffffffff80001000`). Must fault: an instruction fetch from a
//! supervisor page in ring 3.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

const KERNEL_CODE: usize = 0xffff_ffff_8000_1000;

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let target = core::hint::black_box(KERNEL_CODE);
    // SAFETY: not safe, on purpose: the address is kernel code, which
    // ring 3 cannot execute; the call must fault.
    let kernel: extern "C" fn() = unsafe { core::mem::transmute(target) };
    kernel();
    survived(
        cx,
        "jump-kernel",
        format_args!("returned from {KERNEL_CODE:#x}"),
    );
    Ok(())
}

mealy_user::program!(AtStart::new("jump-kernel", start));
