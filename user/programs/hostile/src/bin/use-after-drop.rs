//! `/bin/use-after-drop`: maps a Region it allocated, writes to it, drops
//! its capability and writes to the same address again. Dropping the
//! capability takes the Region out of the domain at once (its frames go
//! back to the allocator, and may be another task's next), so the second
//! write must fault.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

#[allow(unsafe_code)]
fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let region = cx.alloc_region(4096)?;
    let address = {
        let bytes = cx.region_mut(region)?;
        bytes[0] = 1;
        bytes.as_mut_ptr() as usize
    };
    cx.drop_cap(region)?;
    // SAFETY: not safe, on purpose: the Region behind `address` is gone
    // with its capability; the write must fault.
    unsafe { core::ptr::write_volatile(address as *mut u8, 2) };
    survived(
        cx,
        "use-after-drop",
        format_args!("wrote {address:#x} after dropping its Region"),
    );
    Ok(())
}

mealy_user::program!(AtStart::new("use-after-drop", start));
