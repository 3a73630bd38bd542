//! `/bin/pinger`: the pinger service (`services/pinger`, unchanged) as a
//! ring-3 program: at start it calls the endpoint granted as `"echo"`
//! [`ROUNDS`] times with [`PAYLOAD`]-byte pings and logs the summary, as
//! the boot list's ring-0 pinger does.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

/// Round trips at start (the boot list's `PINGER_ROUNDS`).
const ROUNDS: u32 = 100;
/// Bytes per ping (the boot list's `PINGER_PAYLOAD`).
const PAYLOAD: usize = 32;

mealy_user::program!(mealy_pinger::Pinger::new(ROUNDS, PAYLOAD));
