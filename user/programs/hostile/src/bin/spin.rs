//! `/bin/spin`: loops forever in its start handler. The timer must
//! preempt it and the kernel stop it over its budget, while every other
//! task keeps running.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::AtStart;
use mealy_protocol::{Context, Grants, HandleError};

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    cx.log(format_args!("spin: spinning"));
    loop {
        core::hint::spin_loop();
    }
}

mealy_user::program!(AtStart::new("spin", start));
