//! `/bin/supervisor`: the supervisor service (`services/supervisor`,
//! unchanged) as a ring-3 program, started at boot after every task it
//! supervises.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

mealy_user::program!(mealy_supervisor::Supervisor::new());
