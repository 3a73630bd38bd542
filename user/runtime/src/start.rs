//! The machine side of the runtime, built only for `target_os = "none"`:
//! the entry every upcall comes through, the global allocator and the
//! panic handler.
//!
//! The program's `_start` (written by [`crate::program!`]) calls
//! [`enter`] with `rdi`, the message area's address. The kernel starts
//! each upcall on a fresh stack, so nothing here survives between
//! upcalls except the statics: the [`Runtime`] in [`RUNTIME`], the heap,
//! and the program's own.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};

use mealy_protocol::StateMachine;
use mealy_protocol::abi::{DONE_FATAL, Syscall, page};

use crate::cell::UpcallCell;
use crate::context::Ending;
use crate::entry::{Runtime, upcall};
use crate::heap::{KernelRegions, LockedHeap};
use crate::line::Line;
use crate::page::Area;
use crate::syscall::{Kernel, Trap, call_done, done, reply_done};

static RUNTIME: UpcallCell<Runtime> = UpcallCell::new(Runtime::new());

#[global_allocator]
static HEAP: LockedHeap<KernelRegions> = LockedHeap::new(KernelRegions);

/// Runs one upcall; `area` is what the kernel passed in `rdi`.
pub fn enter(area: usize, make: fn() -> Box<dyn StateMachine>) -> ! {
    if area == 0 || !area.is_multiple_of(4096) {
        log_raw(b"mealy-user: the message area is not a page address");
        done(DONE_FATAL);
    }
    // SAFETY: the kernel maps the message area (`page::LEN` bytes at a
    // page-aligned address) readable for this upcall and writes it only
    // between upcalls, so it is a valid, unchanging `Area` until `Done`.
    let area: &Area = unsafe { &*(area as *const [u8; page::LEN]) };
    match RUNTIME.with(|runtime| upcall(runtime, Trap, area, make)) {
        Some(Ending::Done(outcome)) => done(outcome),
        // The arguments point into `RUNTIME`'s pending reply, which no
        // reference borrows any more.
        Some(Ending::ReplyDone { args, outcome }) => reply_done(args, outcome),
        Some(Ending::CallDone { args, token }) => call_done(args, token),
        None => {
            log_raw(b"mealy-user: an upcall while another runs");
            done(DONE_FATAL)
        }
    }
}

fn log_raw(text: &[u8]) {
    let _ = Trap.syscall(
        Syscall::Log,
        [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0],
    );
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Logs `panicked at FILE:LINE: MESSAGE` and ends the handler with
/// `DONE_FATAL`, so the kernel stops the task. It needs no heap (the
/// panic may be the heap running out) and does not touch [`RUNTIME`]; a
/// panic inside it ends the handler without a second line.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let line = match info.location() {
            Some(at) => Line::<{ crate::context::LOG_LINE }>::format(format_args!(
                "panicked at {}:{}: {}",
                at.file(),
                at.line(),
                info.message()
            )),
            None => Line::format(format_args!("panicked: {}", info.message())),
        };
        log_raw(line.as_bytes());
    }
    done(DONE_FATAL)
}
