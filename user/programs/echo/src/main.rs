//! `/bin/echo`: the echo service (`services/echo`, unchanged) as a ring-3
//! program. The same crate runs as a ring-0 task in the boot list.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

mealy_user::program!(mealy_echo::Echo::new());
