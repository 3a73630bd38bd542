//! Mealy's kernel, as a library: the portable parts that are tested on the
//! host, and (on the bare-metal target only) the x86_64 architecture layer.
//!
//! The binary (`main.rs`) is a thin entry that hands the boot responses to
//! [`boot`]. Everything that touches hardware or uses `unsafe` lives under
//! `arch/`; everything else builds and runs its tests on the host.
//!
//! May depend on `mealy-caps`, `mealy-protocol` and the services; nothing in
//! the workspace depends on the kernel.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod banner;
pub mod cmdline;
#[cfg(test)]
mod fs_service_tests;
pub mod inspect;
pub mod ipc;
pub mod mem;
pub mod power;
pub mod probe;
pub mod sched;
pub mod symbols;
pub mod tasks;
pub mod trap;

#[cfg(test)]
mod shell_tests;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod run_loop;
#[cfg(target_os = "none")]
pub mod scenarios;
