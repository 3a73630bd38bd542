//! `/bin/oom`: allocates 1 MiB blocks and keeps them until the kernel
//! refuses a heap Region. The allocator then returns null, `alloc` panics
//! with "memory allocation of N bytes failed", and the runtime's panic
//! handler ends the task; the kernel must give all of it back.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

const BLOCK: usize = 1 << 20;

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let mut held: Vec<Vec<u8>> = Vec::new();
    // Bounded so a host run (never made) or a kernel without limits ends.
    for mib in 0..1 << 20 {
        if mib % 16 == 0 {
            cx.log(format_args!("oom: {mib} MiB"));
        }
        let mut block = Vec::with_capacity(BLOCK);
        block.resize(BLOCK, mib as u8);
        held.push(block);
    }
    survived(cx, "oom", format_args!("allocated 1 TiB"));
    Ok(())
}

mealy_user::program!(AtStart::new("oom", start));
