// The source of hello.elf, a real static PIE for elf_tests.rs; not part of
// the crate. Rebuild: rustc --edition 2024 --target x86_64-unknown-none
//   -C panic=abort -O hello.rs -o hello.elf
// (it only needs relocated pointers in RELRO and in writable data).
#![no_std]
#![no_main]
static TABLE: [&str; 3] = ["a", "bb", "ccc"];
static mut DATA: [&str; 2] = ["x", "yy"];
static mut COUNTER: usize = 0;
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let t = core::hint::black_box(&TABLE);
    let mut n = 0;
    for s in t.iter() { n += s.len(); }
    unsafe { let d = core::hint::black_box(&raw mut DATA); (*d)[0] = "zzz"; COUNTER = n + (&(*d)[1]).len(); }
    loop { core::hint::spin_loop(); }
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
