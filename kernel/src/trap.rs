//! Traps as data: the one frame layout every trap entry saves, what each CPU
//! exception is called, how its error code reads, and the crash report.
//!
//! The entry stubs and the IDT are in `arch/x86_64/trap_entry.rs`; this
//! module is portable so the report format is tested on the host. The
//! scheduler will resume tasks from the same [`TrapFrame`].

use core::fmt;

use crate::symbols::SymbolTable;

/// Every general register, the vector and error code, and what the CPU
/// pushed, in memory order from the lowest address. The entry stubs push
/// the error code (0 if the CPU does not), the vector, then `rax`..`r15`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Vectors for which the CPU pushes an error code.
pub const VECTORS_WITH_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

pub const PAGE_FAULT: u64 = 14;
/// The first vector that is not a CPU exception.
pub const FIRST_INTERRUPT: u64 = 32;

/// The exception's name and mnemonic, for vectors below 32.
pub fn exception_name(vector: u64) -> Option<(&'static str, &'static str)> {
    Some(match vector {
        0 => ("divide error", "#DE"),
        1 => ("debug", "#DB"),
        2 => ("non-maskable interrupt", "NMI"),
        3 => ("breakpoint", "#BP"),
        4 => ("overflow", "#OF"),
        5 => ("bound range exceeded", "#BR"),
        6 => ("invalid opcode", "#UD"),
        7 => ("device not available", "#NM"),
        8 => ("double fault", "#DF"),
        10 => ("invalid TSS", "#TS"),
        11 => ("segment not present", "#NP"),
        12 => ("stack-segment fault", "#SS"),
        13 => ("general protection fault", "#GP"),
        14 => ("page fault", "#PF"),
        16 => ("x87 floating-point error", "#MF"),
        17 => ("alignment check", "#AC"),
        18 => ("machine check", "#MC"),
        19 => ("SIMD floating-point error", "#XM"),
        20 => ("virtualization exception", "#VE"),
        21 => ("control protection", "#CP"),
        28 => ("hypervisor injection", "#HV"),
        29 => ("VMM communication", "#VC"),
        30 => ("security exception", "#SX"),
        _ => return None,
    })
}

/// A page fault's error code in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFaultCode(pub u64);

impl fmt::Display for PageFaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |n: u32| self.0 & (1 << n) != 0;
        f.write_str(if bit(0) { "present" } else { "not present" })?;
        f.write_str(if bit(1) { ", write" } else { ", read" })?;
        f.write_str(if bit(2) { ", user" } else { ", kernel" })?;
        if bit(4) {
            f.write_str(", instruction fetch")?;
        }
        if bit(3) {
            f.write_str(", reserved bit set")?;
        }
        if bit(5) {
            f.write_str(", protection key")?;
        }
        if bit(6) {
            f.write_str(", shadow stack")?;
        }
        Ok(())
    }
}

/// A segment-selector error code (#TS, #NP, #SS, #GP) in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectorCode(pub u64);

impl fmt::Display for SelectorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("no selector");
        }
        let table = match (self.0 >> 1) & 0b11 {
            0 => "GDT",
            1 | 3 => "IDT",
            _ => "LDT",
        };
        write!(f, "{table} index {}", (self.0 >> 3) & 0x1fff)?;
        if self.0 & 1 != 0 {
            f.write_str(", external")?;
        }
        Ok(())
    }
}

/// What a page fault's address hit, for the report's `cr2:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// Inside a live region `[start, end)`.
    Region { start: u64, end: u64 },
    /// In a guard page beside the live region `[start, end)`.
    GuardOf { start: u64, end: u64 },
    /// The kernel half: the direct map or the kernel image.
    KernelHalf,
    /// No region owns the address.
    Nothing,
    /// The region table was locked when the fault struck.
    Unknown,
}

/// Where the upper (kernel) half of the address space begins.
pub const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

impl fmt::Display for FaultTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultTarget::Region { start, end } => write!(f, "in region {start:#x}..{end:#x}"),
            FaultTarget::GuardOf { start, end } => {
                write!(f, "guard page of region {start:#x}..{end:#x}")
            }
            FaultTarget::KernelHalf => f.write_str("kernel half: direct map or kernel image"),
            FaultTarget::Nothing => f.write_str("not in any region"),
            FaultTarget::Unknown => f.write_str("region table busy, not looked up"),
        }
    }
}

/// Follows the frame-pointer chain from `rbp`, writing return addresses to
/// `out`; returns how many. `read` must return `None` for any address that
/// cannot be read safely. Stops at a null, misaligned, non-increasing or
/// unreadable link (the stack grows down, so callers' frames lie above).
pub fn backtrace(mut rbp: u64, read: impl Fn(u64) -> Option<u64>, out: &mut [u64]) -> usize {
    let mut count = 0;
    while count < out.len() && rbp != 0 && rbp.is_multiple_of(8) {
        let (Some(next), Some(return_address)) = (read(rbp), read(rbp.wrapping_add(8))) else {
            break;
        };
        if return_address == 0 {
            break;
        }
        out[count] = return_address;
        count += 1;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    count
}

/// The crash report for an exception: everything the issue asks a fault to
/// say, in a fixed line format tests match on.
pub struct ExceptionReport<'a> {
    pub frame: &'a TrapFrame,
    /// CR2, meaningful for page faults.
    pub cr2: u64,
    /// What the faulting address hit ("guard page below region ...").
    pub fault_target: Option<&'a dyn fmt::Display>,
    pub symbols: Option<SymbolTable<'a>>,
    pub backtrace: &'a [u64],
}

/// An address and its symbol. A return address is looked up one byte
/// earlier: after a call that ends its function (a call to a `-> !`
/// function), the return address is already past the caller's last byte.
struct At<'a> {
    address: u64,
    symbols: Option<SymbolTable<'a>>,
    is_return_address: bool,
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.address)?;
        let adjust = u64::from(self.is_return_address);
        let symbol = self
            .symbols
            .and_then(|table| table.lookup(self.address.wrapping_sub(adjust)));
        match symbol {
            Some(mut symbol) => {
                symbol.offset += adjust;
                write!(f, " {symbol}")
            }
            None => f.write_str(" <unknown>"),
        }
    }
}

impl fmt::Display for ExceptionReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.frame;
        let (name, mnemonic) =
            exception_name(frame.vector).unwrap_or(("unexpected interrupt", "-"));
        writeln!(f, "EXCEPTION: {name} ({mnemonic}, vector {})", frame.vector)?;
        match frame.vector {
            PAGE_FAULT => writeln!(
                f,
                "  error code: {:#x} ({})",
                frame.error_code,
                PageFaultCode(frame.error_code)
            )?,
            10..=13 => writeln!(
                f,
                "  error code: {:#x} ({})",
                frame.error_code,
                SelectorCode(frame.error_code)
            )?,
            vector if VECTORS_WITH_ERROR_CODE.contains(&(vector as u8)) => {
                writeln!(f, "  error code: {:#x}", frame.error_code)?
            }
            _ => {}
        }
        let rip = At {
            address: frame.rip,
            symbols: self.symbols,
            is_return_address: false,
        };
        writeln!(f, "  rip: {rip}")?;
        if frame.vector == PAGE_FAULT {
            write!(f, "  cr2: {:#018x}", self.cr2)?;
            match self.fault_target {
                Some(target) => writeln!(f, " ({target})")?,
                None => writeln!(f)?,
            }
        }
        writeln!(
            f,
            "  rsp: {:#018x}  rflags: {:#x}  cs: {:#x}  ss: {:#x}",
            frame.rsp, frame.rflags, frame.cs, frame.ss
        )?;
        let registers = [
            ("rax", frame.rax),
            ("rbx", frame.rbx),
            ("rcx", frame.rcx),
            ("rdx", frame.rdx),
            ("rsi", frame.rsi),
            ("rdi", frame.rdi),
            ("rbp", frame.rbp),
            ("r8", frame.r8),
            ("r9", frame.r9),
            ("r10", frame.r10),
            ("r11", frame.r11),
            ("r12", frame.r12),
            ("r13", frame.r13),
            ("r14", frame.r14),
            ("r15", frame.r15),
        ];
        for row in registers.chunks(4) {
            f.write_str(" ")?;
            for (name, value) in row {
                write!(f, " {name:>3}: {value:#018x}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "  backtrace:")?;
        if self.backtrace.is_empty() {
            writeln!(f, "    (no frames)")?;
        }
        for (depth, address) in self.backtrace.iter().enumerate() {
            let at = At {
                address: *address,
                symbols: self.symbols,
                is_return_address: true,
            };
            writeln!(f, "    {depth:>2}: {at}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMBOLS: &str = "ffffffff80001000 100 mealy_kernel::boot::fault_on_purpose\n\
                           ffffffff80002000 200 mealy_kernel::boot::kmain\n";

    #[test]
    fn every_exception_below_32_that_exists_has_a_name() {
        for vector in [0, 6, 8, 13, 14, 18] {
            assert!(exception_name(vector).is_some(), "{vector}");
        }
        assert_eq!(exception_name(15), None, "reserved");
        assert_eq!(exception_name(32), None, "an interrupt");
    }

    #[test]
    fn page_fault_codes_read_as_words() {
        assert_eq!(PageFaultCode(0).to_string(), "not present, read, kernel");
        assert_eq!(PageFaultCode(0b00011).to_string(), "present, write, kernel");
        assert_eq!(
            PageFaultCode(0b11101).to_string(),
            "present, read, user, instruction fetch, reserved bit set"
        );
    }

    #[test]
    fn selector_codes_name_the_table_and_index() {
        assert_eq!(SelectorCode(0).to_string(), "no selector");
        assert_eq!(SelectorCode(0x28).to_string(), "GDT index 5");
        assert_eq!(SelectorCode((14 << 3) | 0b10).to_string(), "IDT index 14");
        assert_eq!(SelectorCode(0b101).to_string(), "LDT index 0, external");
    }

    #[test]
    fn fault_targets_read_as_words() {
        let guard = FaultTarget::GuardOf {
            start: 0x1000_0000_1000,
            end: 0x1000_0000_5000,
        };
        assert_eq!(
            guard.to_string(),
            "guard page of region 0x100000001000..0x100000005000"
        );
        assert_eq!(
            FaultTarget::Region {
                start: 0x2000,
                end: 0x3000
            }
            .to_string(),
            "in region 0x2000..0x3000"
        );
        assert_eq!(FaultTarget::Nothing.to_string(), "not in any region");
    }

    #[test]
    fn backtrace_follows_the_chain_and_stops_safely() {
        // Three frames at 0x1000 -> 0x1100 -> 0x1200 -> null.
        let stack = [
            (0x1000, 0x1100),
            (0x1008, 0xaaa),
            (0x1100, 0x1200),
            (0x1108, 0xbbb),
            (0x1200, 0),
            (0x1208, 0xccc),
        ];
        let read = |address: u64| {
            stack
                .iter()
                .find(|(at, _)| *at == address)
                .map(|(_, value)| *value)
        };
        let mut out = [0; 8];
        let n = backtrace(0x1000, read, &mut out);
        assert_eq!(&out[..n], &[0xaaa, 0xbbb, 0xccc]);

        assert_eq!(backtrace(0x1003, read, &mut out), 0, "misaligned");
        assert_eq!(backtrace(0x5000, read, &mut out), 0, "unreadable");
        let mut short = [0; 2];
        assert_eq!(backtrace(0x1000, read, &mut short), 2, "bounded by out");
        let looping = |address: u64| {
            Some(if address.is_multiple_of(16) {
                address
            } else {
                0x1
            })
        };
        assert_eq!(backtrace(0x2000, looping, &mut out), 1, "a loop stops");
    }

    #[test]
    fn page_fault_report_has_every_field() {
        let frame = TrapFrame {
            vector: PAGE_FAULT,
            error_code: 0b10,
            rip: 0xffff_ffff_8000_1010,
            rsp: 0xffff_8000_0010_0000,
            rax: 0x1234,
            r15: 0xf,
            cs: 0x28,
            ss: 0x30,
            rflags: 0x2,
            ..TrapFrame::default()
        };
        let target = "guard page below region 0x100000000000..0x100000004000";
        let report = ExceptionReport {
            frame: &frame,
            cr2: 0xfff_ffff_f000,
            fault_target: Some(&target),
            symbols: Some(SymbolTable::new(SYMBOLS)),
            // The second return address is one past fault_on_purpose's end.
            backtrace: &[0xffff_ffff_8000_2040, 0xffff_ffff_8000_1100, 0x42],
        }
        .to_string();
        let expected_lines = [
            "EXCEPTION: page fault (#PF, vector 14)",
            "  error code: 0x2 (not present, write, kernel)",
            "  rip: 0xffffffff80001010 mealy_kernel::boot::fault_on_purpose+0x10",
            "  cr2: 0x00000ffffffff000 (guard page below region 0x100000000000..0x100000004000)",
            "  rsp: 0xffff800000100000  rflags: 0x2  cs: 0x28  ss: 0x30",
            "  backtrace:",
            "     0: 0xffffffff80002040 mealy_kernel::boot::kmain+0x40",
            "     1: 0xffffffff80001100 mealy_kernel::boot::fault_on_purpose+0x100",
            "     2: 0x0000000000000042 <unknown>",
        ];
        for line in expected_lines {
            assert!(
                report.lines().any(|l| l == line),
                "missing {line:?} in\n{report}"
            );
        }
        assert!(report.contains("rax: 0x0000000000001234"));
        assert!(report.contains("r15: 0x000000000000000f"));
    }

    #[test]
    fn divide_error_report_has_no_error_code_or_cr2() {
        let frame = TrapFrame {
            vector: 0,
            ..TrapFrame::default()
        };
        let report = ExceptionReport {
            frame: &frame,
            cr2: 0,
            fault_target: None,
            symbols: None,
            backtrace: &[],
        }
        .to_string();
        assert!(report.starts_with("EXCEPTION: divide error (#DE, vector 0)\n"));
        assert!(!report.contains("error code"));
        assert!(!report.contains("cr2"));
        assert!(report.contains("    (no frames)\n"));
    }
}
