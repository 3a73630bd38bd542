//! Mealy's user runtime: what turns a `StateMachine` into a ring-3 program.
//!
//! A program is a static-PIE ELF in `/bin` of the file system. The kernel
//! enters its `_start` once per message (an *upcall*) with the address of
//! the read-only message area in `rdi` and a fresh stack; the handler ends
//! with the `Done` system call. This crate supplies everything between
//! those two points (`mealy_protocol::abi` is the contract):
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | [`program!`], the one line a program crate writes |
//! | `entry.rs` | one upcall: decode, start or handle, `Result` to `Done`'s outcome |
//! | `page.rs` | the message area and the start upcall's grant records, decoded and checked |
//! | `context.rs` | [`SyscallContext`]: `Context` over system calls, with the deferred reply |
//! | `syscall.rs` | the `syscall` instruction and the [`Kernel`] trait over it |
//! | `mapped.rs` | a Region's bytes as a slice |
//! | `heap.rs` | the global allocator: `talc` over Regions, null when they run out |
//! | `cell.rs` | the static state lent to one upcall at a time |
//! | `start.rs` | machine only: `enter`, the `#[global_allocator]`, the panic handler |
//! | `line.rs` | fixed-size log lines |
//! | `fault.rs` | injected faults: the real fault, committed on an `InjectFault` upcall |
//!
//! `#![no_std]`; depends on `mealy-protocol`, `talc` and `spin`. Builds
//! and tests on the host: the machine-only parts (`start.rs`, the
//! instruction in `syscall.rs`) are `cfg(target_os = "none")`, and the
//! rest runs against a fake kernel in the unit tests.
//!
//! `unsafe` is denied except in `syscall.rs` (the instruction),
//! `mapped.rs` (a mapped Region as a slice), `heap.rs` (the allocator),
//! `cell.rs` (the static state), `fault.rs` (the deliberate faults) and `start.rs` (the message area's
//! address as a reference); each block says why it holds.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

#[allow(unsafe_code)]
pub mod cell;
pub mod context;
pub mod entry;
#[allow(unsafe_code)]
pub mod fault;
#[allow(unsafe_code)]
pub mod heap;
pub mod line;
#[allow(unsafe_code)]
mod mapped;
pub mod page;
#[allow(unsafe_code)]
#[cfg(target_os = "none")]
pub mod start;
#[allow(unsafe_code)]
pub mod syscall;

pub use context::SyscallContext;
pub use syscall::Kernel;

use alloc::boxed::Box;
use mealy_protocol::StateMachine;

/// `machine` as the runtime keeps it.
pub fn boxed<M: StateMachine + 'static>(machine: M) -> Box<dyn StateMachine> {
    Box::new(machine)
}

/// Makes this crate a program whose state machine is `$make`, built on
/// the first upcall:
///
/// ```ignore
/// #![cfg_attr(target_os = "none", no_std, no_main)]
/// #![deny(unsafe_code)]
/// mealy_user::program!(mealy_echo::Echo::new());
/// ```
///
/// On the machine it defines `_start`, the ELF entry point (so the crate
/// cannot `forbid(unsafe_code)`: the exported symbol is `#[unsafe(no_mangle)]`;
/// `deny` is fine, the macro allows it on that one item). On the host it
/// defines a `main` that says to build with `cargo xtask`, and type-checks
/// `$make`.
#[macro_export]
macro_rules! program {
    ($make:expr) => {
        #[cfg(target_os = "none")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn _start(area: usize) -> ! {
            $crate::start::enter(area, || $crate::boxed($make))
        }

        #[cfg(not(target_os = "none"))]
        fn main() {
            let _make = || $crate::boxed($make);
            eprintln!(
                "{} is a Mealy program: `cargo xtask` builds it into /bin",
                env!("CARGO_BIN_NAME")
            );
            std::process::exit(2);
        }
    };
}
