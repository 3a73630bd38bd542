// The source of ring3.elf: a program written straight to the system-call
// ABI (no runtime), for the `test=user` scenario's first checks of the
// ring-3 path; not part of the crate. Rebuild:
//   rustc --edition 2024 --target x86_64-unknown-none -C panic=abort -O ring3.rs -o ring3.elf
// At start it logs, tries bad system calls (each must fail with the right
// code), logs the verdict, and then reads kernel memory, which must stop it.
#![no_std]
#![no_main]
use core::arch::asm;

unsafe fn syscall(n: u64, a: [u64; 6]) -> (u64, u64) {
    let (rax, rdx): (u64, u64);
    unsafe {
        asm!("syscall", inlateout("rax") n => rax, inlateout("rdi") a[0] => _,
             inlateout("rsi") a[1] => _, inlateout("rdx") a[2] => rdx,
             inlateout("r10") a[3] => _, inlateout("r8") a[4] => _,
             inlateout("r9") a[5] => _, lateout("rcx") _, lateout("r11") _,
             options(nostack));
    }
    (rax, rdx)
}

fn log(text: &[u8]) {
    unsafe { syscall(20, [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0]) };
}

#[unsafe(no_mangle)]
pub extern "C" fn _start(page: *const u32) -> ! {
    let kind = unsafe { page.read_volatile() };
    if kind == 0 {
        log(b"hello from ring 3");
        let mut ok = true;
        // Unknown call: 17. Kernel pointer: BadAddress 16. Overlong: 8.
        ok &= unsafe { syscall(999, [0; 6]) }.0 == 17;
        ok &= unsafe { syscall(20, [0xffff_ffff_8000_0000, 8, 0, 0, 0, 0]) }.0 == 16;
        ok &= unsafe { syscall(20, [0, 8, 0, 0, 0, 0]) }.0 == 16;
        ok &= unsafe { syscall(20, [page as u64, 1 << 40, 0, 0, 0, 0]) }.0 == 8;
        // Forged CapRef: InvalidCap 3.
        ok &= unsafe { syscall(2, [0xdead_0000_0007, 0, 0, 0, 0, 0]) }.0 == 3;
        log(if ok { b"hostile syscalls: ok" } else { b"hostile syscalls: WRONG" });
        let secret = unsafe { (0xffff_ffff_8000_0000 as *const u64).read_volatile() };
        log(if secret == 0 { b"read kernel: zero" } else { b"read kernel: got it" });
    }
    unsafe { syscall(0, [0; 6]) };
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
