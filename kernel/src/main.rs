//! The kernel binary: everything lives in the library; this file only
//! supplies the panic handler the bare-metal target needs. The entry points
//! are in `arch/x86_64/entry.rs`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    mealy_kernel::arch::x86_64::panic::report(info)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("mealy-kernel runs on bare metal; boot it with `cargo xtask qemu`");
    std::process::exit(2);
}
