//! What the kernel does with a trap once the frame is saved: a CPU
//! exception gets the full crash report (name, decoded error code, RIP and
//! its symbol, CR2 and what it hit, registers, a symbolised backtrace) and
//! stops the machine; later phases stop only the faulting task.

use core::fmt::Write;

use ::x86_64::registers::control::Cr2;
use spin::Once;

use super::qemu::{self, ExitStatus};
use super::{memory, paging, serial};
use crate::symbols::SymbolTable;
use crate::trap::{self, ExceptionReport, FaultTarget, TrapFrame};

static SYMBOLS: Once<SymbolTable<'static>> = Once::new();

/// How many return addresses a report shows at most.
const BACKTRACE_DEPTH: usize = 32;

/// Hands the symbol table from the boot module to crash reports.
pub fn set_symbols(table: SymbolTable<'static>) {
    SYMBOLS.call_once(|| table);
}

/// Reports a CPU exception and stops the machine.
pub fn report_exception(frame: &TrapFrame) -> ! {
    let cr2 = if frame.vector == trap::PAGE_FAULT {
        Cr2::read_raw()
    } else {
        0
    };
    let mut backtrace = [0u64; BACKTRACE_DEPTH];
    let depth = trap::backtrace(
        frame.rbp,
        |address| {
            paging::is_readable_u64(address)
                // SAFETY: the page tables say the address is mapped.
                .then(|| unsafe { (address as *const u64).read_volatile() })
        },
        &mut backtrace,
    );
    let target = fault_target(cr2);
    let report = ExceptionReport {
        frame,
        cr2,
        fault_target: Some(&target),
        symbols: SYMBOLS.get().copied(),
        backtrace: &backtrace[..depth],
    };
    let mut out = serial::panic_writer();
    let _ = write!(out, "\n{report}halted.\n");
    qemu::exit(ExitStatus::Failure)
}

fn fault_target(address: u64) -> FaultTarget {
    if address >= trap::KERNEL_HALF {
        return FaultTarget::KernelHalf;
    }
    let Some(memory) = memory::memory() else {
        return FaultTarget::Nothing;
    };
    match memory.try_lookup(::x86_64::VirtAddr::new_truncate(address)) {
        Ok(Some((range, in_guard))) => {
            let (start, end) = (range.start().as_u64(), range.end().as_u64());
            if in_guard {
                FaultTarget::GuardOf { start, end }
            } else {
                FaultTarget::Region { start, end }
            }
        }
        Ok(None) => FaultTarget::Nothing,
        Err(()) => FaultTarget::Unknown,
    }
}

/// The faults the `test=` scenarios provoke, so the reports can be checked.
/// Writes the first byte past the end of a live region, which is its guard
/// page.
pub fn provoke_page_fault(region_end: u64) -> ! {
    // SAFETY: deliberately faults; the page-fault handler reports and halts,
    // so the write never completes.
    unsafe { (region_end as *mut u8).write_volatile(0x5a) };
    unreachable!("the write to a guard page returned")
}

pub fn provoke_divide_error() -> ! {
    // SAFETY: divides by zero on purpose (Rust's own division would panic
    // first); the divide-error handler reports and halts.
    unsafe {
        core::arch::asm!("xor ecx, ecx", "div ecx", out("eax") _, out("ecx") _, out("edx") _);
    }
    unreachable!("division by zero returned")
}

pub fn provoke_invalid_opcode() -> ! {
    // SAFETY: ud2 raises #UD, whose handler reports and halts.
    unsafe { core::arch::asm!("ud2") };
    unreachable!("ud2 returned")
}
