//! `/bin/recurse`: recurses without bound. Must fault on the stack's
//! guard page (and only this task stops).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use core::hint::black_box;

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

/// Uses 512 bytes of stack per level and cannot be made a loop; never
/// returns, which is the point.
#[allow(unconditional_recursion)]
fn deeper(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    black_box(deeper(black_box(depth + 1))) + frame[depth as usize % 64]
}

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let depth = deeper(0);
    survived(cx, "recurse", format_args!("came back from depth {depth}"));
    Ok(())
}

mealy_user::program!(AtStart::new("recurse", start));
