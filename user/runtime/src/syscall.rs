//! The `syscall` instruction, per the register table in
//! `mealy_protocol::abi`: `rax` the call number, arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, `r8`, `r9`; back come `rax` (0 or an error code), `rdx`
//! and `rsi`. `rcx` and `r11` are the CPU's; every other caller-saved
//! register is declared clobbered (`clobber_abi("C")`), so the compiler
//! keeps nothing in them across the call.
//!
//! Safety: the kernel checks every argument and never faults on a bad
//! one, so a system call cannot break this program's memory except where
//! the kernel writes through a pointer it was given: `Inspect`'s output
//! buffer. [`Kernel::syscall`] (safe) refuses it and the three calls that
//! end the handler;
//! [`Kernel::inspect`] makes `Inspect` safely (the buffer is a `&mut`
//! borrow); [`raw`] (unsafe) makes any call.
//!
//! On the host (unit tests, `cargo build` of the workspace) there is no
//! kernel: [`Trap`] answers every call with `Unsupported`, and the calls
//! that end the handler panic.

use mealy_protocol::IpcError;
use mealy_protocol::abi::{self, Syscall};

/// What a system call left in `rax`, `rdx` and `rsi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw {
    pub code: u64,
    pub value: u64,
    pub second: u64,
}

impl Raw {
    /// `(rdx, rsi)` on success, else the decoded error.
    pub fn result(self) -> Result<(u64, u64), IpcError> {
        match abi::decode_error(self.code, self.value) {
            None => Ok((self.value, self.second)),
            Some(error) => Err(error),
        }
    }

    /// A failure with `error`, as the kernel would report it.
    pub fn error(error: IpcError) -> Raw {
        let (code, value) = abi::encode_error(error);
        Raw {
            code,
            value,
            second: 0,
        }
    }
}

/// The kernel as the runtime's context sees it: the real one ([`Trap`]),
/// or a recording fake in the unit tests.
///
/// # Safety
/// A successful `Region` call must return (in `value` and `second`) the
/// address and length of memory mapped for this program, readable, and
/// writable when asked for, which stays mapped while the capability is
/// held: [`crate::mapped`] turns it into a slice.
pub unsafe trait Kernel {
    /// Makes `call` with `args`. Pointer arguments are only read by the
    /// kernel for the calls this allows.
    fn syscall(&self, call: Syscall, args: [u64; 6]) -> Raw;

    /// `Inspect` of `query` with the capability `inspect`, the report
    /// written into `out` (a buffer of this call's own, so the kernel may
    /// write it).
    fn inspect(&self, inspect: u64, query: u64, out: &mut [u8]) -> Raw;
}

/// Calls the kernel may write memory for, or that do not return.
fn refused(call: Syscall) -> bool {
    matches!(
        call,
        Syscall::Inspect | Syscall::CallDone | Syscall::Done | Syscall::ReplyDone
    )
}

/// The real kernel, through the `syscall` instruction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trap;

// SAFETY: the real kernel maps a Region before answering `Region` with
// its address and length (the ABI's contract), and unmaps it only when
// the capability goes away.
unsafe impl Kernel for Trap {
    fn syscall(&self, call: Syscall, args: [u64; 6]) -> Raw {
        if refused(call) {
            return Raw::error(IpcError::Unsupported);
        }
        // SAFETY: the remaining calls only read through their pointer
        // arguments, and the kernel checks each one (a bad one is
        // `BadAddress`); none writes this program's memory or ends it.
        unsafe { raw(call, args) }
    }

    fn inspect(&self, inspect: u64, query: u64, out: &mut [u8]) -> Raw {
        let args = [
            inspect,
            query,
            out.as_mut_ptr() as u64,
            out.len() as u64,
            0,
            0,
        ];
        // SAFETY: `out` is an exclusive borrow of `out.len()` bytes, live
        // for the call: the only memory `Inspect` writes.
        unsafe { raw(Syscall::Inspect, args) }
    }
}

/// Makes any system call.
///
/// # Safety
/// For `Inspect`, the output pointer must be valid for the kernel to
/// write (`out_len` bytes) and not aliased by a live reference. `Done`, `ReplyDone` and `CallDone` do not return.
#[cfg(target_os = "none")]
pub unsafe fn raw(call: Syscall, args: [u64; 6]) -> Raw {
    let (code, value, second);
    // SAFETY: `syscall` enters the kernel, which preserves the stack and
    // every callee-saved register and returns to the next instruction;
    // the caller's contract covers memory the kernel writes.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") call as u64 => code,
            inlateout("rdi") args[0] => _,
            inlateout("rsi") args[1] => second,
            inlateout("rdx") args[2] => value,
            inlateout("r10") args[3] => _,
            inlateout("r8") args[4] => _,
            inlateout("r9") args[5] => _,
            lateout("rcx") _,
            lateout("r11") _,
            clobber_abi("C"),
            options(nostack),
        );
    }
    Raw {
        code,
        value,
        second,
    }
}

/// On the host there is no kernel: every call is `Unsupported`.
///
/// # Safety
/// None needed on the host; the signature matches the target's.
#[cfg(not(target_os = "none"))]
pub unsafe fn raw(call: Syscall, args: [u64; 6]) -> Raw {
    let _ = (call, args);
    Raw::error(IpcError::Unsupported)
}

/// Ends the handler with `outcome` (`abi::DONE_*`).
#[cfg(target_os = "none")]
pub fn done(outcome: u64) -> ! {
    // SAFETY: `Done` reads no memory and never returns; `ud2` faults the
    // task if a kernel bug ever returned from it.
    unsafe {
        core::arch::asm!(
            "syscall",
            "ud2",
            in("rax") Syscall::Done as u64,
            in("rdi") outcome,
            options(noreturn, nostack),
        )
    }
}

/// Sends the reply in `args` (`Reply`'s five arguments) and ends the
/// handler with `outcome`, which goes in `r9`.
#[cfg(target_os = "none")]
pub fn reply_done(args: [u64; 5], outcome: u64) -> ! {
    // SAFETY: `ReplyDone` only reads the payload and caps `args` point at
    // (checked by the kernel) and never returns; `ud2` as in `done`.
    unsafe {
        core::arch::asm!(
            "syscall",
            "ud2",
            in("rax") Syscall::ReplyDone as u64,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") outcome,
            options(noreturn, nostack),
        )
    }
}

/// Makes the deferred call in `args` (`Call`'s five arguments) under
/// `token`, which goes in `r9`, and ends the handler with `DONE_OK`.
#[cfg(target_os = "none")]
pub fn call_done(args: [u64; 5], token: u64) -> ! {
    // SAFETY: `CallDone` only reads the payload and caps `args` point at
    // (checked by the kernel) and never returns; `ud2` as in `done`.
    unsafe {
        core::arch::asm!(
            "syscall",
            "ud2",
            in("rax") Syscall::CallDone as u64,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") token,
            options(noreturn, nostack),
        )
    }
}

/// A kernel for the unit tests: records every call, reads the bytes a
/// call passes, answers from a script (success with 0 by default) and
/// maps one fixed buffer for `Region`.
#[cfg(test)]
pub mod fake {
    use alloc::boxed::Box;
    use alloc::collections::VecDeque;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    use super::*;

    pub struct FakeKernel {
        pub calls: RefCell<Vec<(Syscall, [u64; 6])>>,
        /// The payload of every Send, Call, Reply and Log, in order.
        pub bytes: RefCell<Vec<Vec<u8>>>,
        pub answers: RefCell<VecDeque<Raw>>,
        region: Box<[u8]>,
        /// What `inspect` writes (or, if it does not fit, says it needs).
        pub report: RefCell<Vec<u8>>,
    }

    impl Default for FakeKernel {
        fn default() -> Self {
            Self::new()
        }
    }

    impl FakeKernel {
        pub fn new() -> Self {
            Self {
                calls: RefCell::default(),
                bytes: RefCell::default(),
                answers: RefCell::default(),
                region: vec![7u8; 8192].into_boxed_slice(),
                report: RefCell::default(),
            }
        }

        pub fn answer(&self, raw: Raw) {
            self.answers.borrow_mut().push_back(raw);
        }

        pub fn calls(&self) -> Vec<Syscall> {
            self.calls.borrow().iter().map(|(call, _)| *call).collect()
        }

        pub fn logs(&self) -> Vec<String> {
            let calls = self.calls.borrow();
            let bytes = self.bytes.borrow();
            calls
                .iter()
                .filter(|(call, _)| {
                    matches!(
                        call,
                        Syscall::Send | Syscall::Call | Syscall::Reply | Syscall::Log
                    )
                })
                .zip(bytes.iter())
                .filter(|((call, _), _)| *call == Syscall::Log)
                .map(|(_, text)| String::from_utf8_lossy(text).into_owned())
                .collect()
        }
    }

    // SAFETY: `Region` answers with the fake's own buffer, which lives as
    // long as the fake and is never moved (a boxed slice).
    unsafe impl Kernel for &FakeKernel {
        fn syscall(&self, call: Syscall, args: [u64; 6]) -> Raw {
            self.calls.borrow_mut().push((call, args));
            if call == Syscall::Spawn {
                // The name, then the grant records.
                for (address, len) in [
                    (args[1], args[2]),
                    (args[3], args[4] * mealy_protocol::abi::GRANT_RECORD as u64),
                ] {
                    // SAFETY: the context passes the address and length of
                    // slices that are live for the duration of the call.
                    let bytes =
                        unsafe { core::slice::from_raw_parts(address as *const u8, len as usize) };
                    self.bytes.borrow_mut().push(bytes.to_vec());
                }
            }
            let (address, len) = match call {
                Syscall::Log => (args[0], args[1]),
                Syscall::Send | Syscall::Call | Syscall::Reply => (args[1], args[2]),
                _ => (0, 0),
            };
            if address != 0 {
                // SAFETY: the context passes the address and length of a
                // slice that is live for the duration of the call.
                let text =
                    unsafe { core::slice::from_raw_parts(address as *const u8, len as usize) };
                self.bytes.borrow_mut().push(text.to_vec());
            } else if matches!(
                call,
                Syscall::Log | Syscall::Send | Syscall::Call | Syscall::Reply
            ) {
                self.bytes.borrow_mut().push(Vec::new());
            }
            if let Some(raw) = self.answers.borrow_mut().pop_front() {
                return raw;
            }
            let (value, second) = match call {
                Syscall::Region => (self.region.as_ptr() as u64, self.region.len() as u64),
                _ => (0, 0),
            };
            Raw {
                code: 0,
                value,
                second,
            }
        }

        fn inspect(&self, inspect: u64, query: u64, out: &mut [u8]) -> Raw {
            let args = [inspect, query, 0, out.len() as u64, 0, 0];
            self.calls.borrow_mut().push((Syscall::Inspect, args));
            let report = self.report.borrow();
            if report.len() > out.len() {
                return Raw::error(IpcError::PayloadTooLarge {
                    len: report.len() as u32,
                    max: out.len() as u32,
                });
            }
            out[..report.len()].copy_from_slice(&report);
            Raw {
                code: 0,
                value: report.len() as u64,
                second: 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_decode_through_the_abi() {
        let ok = Raw {
            code: 0,
            value: 5,
            second: 6,
        };
        assert_eq!(ok.result(), Ok((5, 6)));
        assert_eq!(
            Raw::error(IpcError::InvalidCap).result(),
            Err(IpcError::InvalidCap)
        );
    }

    #[test]
    fn the_safe_path_refuses_calls_that_write_or_end() {
        for call in [
            Syscall::Inspect,
            Syscall::CallDone,
            Syscall::Done,
            Syscall::ReplyDone,
        ] {
            assert_eq!(
                Trap.syscall(call, [0; 6]).result(),
                Err(IpcError::Unsupported)
            );
        }
    }
}
