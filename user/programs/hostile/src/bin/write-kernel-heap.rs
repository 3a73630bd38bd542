//! `/bin/write-kernel-heap`: writes to a lower-half address this task was
//! never given (`0x0000_1000_0000_0000`, where other tasks' and the
//! kernel's regions live in the one layout). Must fault.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

const NOT_MINE: usize = 0x0000_1000_0000_0000;

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    // SAFETY: not safe, on purpose: this domain does not map the address
    // (or maps it for someone else); the write must fault.
    unsafe { core::ptr::write_volatile(NOT_MINE as *mut u64, 0xdead_beef) };
    survived(
        cx,
        "write-kernel-heap",
        format_args!("wrote at {NOT_MINE:#x}"),
    );
    Ok(())
}

mealy_user::program!(AtStart::new("write-kernel-heap", start));
