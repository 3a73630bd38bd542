//! `mealy-loader`: boots a Limine-protocol kernel from UEFI.
//!
//! Built for `x86_64-unknown-uefi` this is the loader (`src/efi/`); built
//! for the host (as `cargo build` at the workspace root does) it is a stub
//! that says how to run the real thing, so the workspace builds and tests on
//! the host.

#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
extern crate alloc;

#[cfg(target_os = "uefi")]
mod efi;

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("mealy-loader is a UEFI application; build it with `cargo xtask qemu`");
    std::process::exit(2);
}
