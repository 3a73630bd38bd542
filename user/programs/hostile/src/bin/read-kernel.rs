//! `/bin/read-kernel`: reads the kernel's first page (`0xffffffff80000000`,
//! supervisor-only in every domain). Must fault: a page fault in ring 3.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

const KERNEL: usize = 0xffff_ffff_8000_0000;

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    // SAFETY: not safe, on purpose: the address is the kernel's, which
    // this domain maps supervisor-only; the read must fault.
    let value = unsafe { core::ptr::read_volatile(KERNEL as *const u64) };
    survived(
        cx,
        "read-kernel",
        format_args!("read {value:#x} at {KERNEL:#x}"),
    );
    Ok(())
}

mealy_user::program!(AtStart::new("read-kernel", start));
