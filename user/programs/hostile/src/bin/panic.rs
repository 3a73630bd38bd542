//! `/bin/panic`: panics at start. The runtime's panic handler must log
//! `panicked at .../panic.rs:LINE: deliberate panic` and end with
//! `DONE_FATAL`, and the kernel must stop only this task.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, survived};
use mealy_protocol::{Context, Grants, HandleError};

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    if core::hint::black_box(true) {
        panic!("deliberate panic");
    }
    survived(cx, "panic", format_args!("did not panic"));
    Ok(())
}

mealy_user::program!(AtStart::new("panic", start));
