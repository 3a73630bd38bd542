//! `/bin/exec-data`: jumps into its own writable data (a `ret` placed in
//! `.data`). Must fault: W^X maps data no-execute.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use core::sync::atomic::{AtomicU8, Ordering};

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

/// `ret`, in a writable (so never executable) page.
static CODE: AtomicU8 = AtomicU8::new(0xc3);

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    CODE.store(0xc3, Ordering::Relaxed);
    let target = core::hint::black_box(CODE.as_ptr() as usize);
    // SAFETY: not safe, on purpose: the target is data, mapped no-execute;
    // the call must fault.
    let data: extern "C" fn() = unsafe { core::mem::transmute(target) };
    data();
    survived(
        cx,
        "exec-data",
        format_args!("executed data at {target:#x}"),
    );
    Ok(())
}

mealy_user::program!(AtStart::new("exec-data", start));
