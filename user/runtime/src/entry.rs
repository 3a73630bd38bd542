//! One upcall, from the message area to the system call that ends it:
//! decode the area, construct and start the state machine on the first
//! upcall, hand it every later message, and turn its `Result` into
//! `Done`'s outcome.
//!
//! | handler result | outcome | logged |
//! |---|---|---|
//! | `Ok(())` | `DONE_OK` | |
//! | `Err(Malformed)` | `DONE_MALFORMED` (the kernel fails the call) | |
//! | `Err(Ipc)` | `DONE_FAILED` | the error |
//! | `Err(Fatal)` | `DONE_FATAL` (the task is stopped) | the reason |
//!
//! Ring 3 cannot hand the kernel an error value, so the runtime logs
//! what a ring-0 kernel would have logged itself. A message area that
//! does not decode (`page::PageError`), a second start, or a message
//! before the start are kernel bugs the program cannot work around: each
//! is logged and ends the handler with `DONE_FATAL`.
//!
//! Pure code over the [`Kernel`] trait, so the whole path is tested on
//! the host; `start.rs` runs it on the machine.

use alloc::boxed::Box;

use mealy_protocol::abi::{DONE_FAILED, DONE_FATAL, DONE_MALFORMED, DONE_OK};
use mealy_protocol::{Context, Grants, HandleError, Incoming, StateMachine};

use crate::context::{Deferred, Ending, SyscallContext};
use crate::page::{self, Area, Upcall};
use crate::syscall::Kernel;

/// What a program keeps between upcalls, besides its own statics.
pub struct Runtime {
    machine: Option<Box<dyn StateMachine>>,
    pending: Deferred,
}

impl Runtime {
    pub const fn new() -> Self {
        Self {
            machine: None,
            pending: Deferred::new(),
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// Handles the upcall in `area` and says how it ends.
pub fn upcall<K: Kernel>(
    runtime: &mut Runtime,
    kernel: K,
    area: &Area,
    make: fn() -> Box<dyn StateMachine>,
) -> Ending {
    let mut cx =
        SyscallContext::new(kernel, &mut runtime.pending).deferring_calls(page::next_token(area));
    let outcome = match page::decode(area) {
        Err(error) => fatal(&mut cx, format_args!("bad message area: {error}")),
        Ok(Upcall::Start { records }) => {
            if runtime.machine.is_some() {
                fatal(&mut cx, format_args!("a second start upcall"))
            } else {
                match page::decode_grants(records) {
                    Err(error) => fatal(&mut cx, format_args!("bad start upcall: {error}")),
                    Ok(grants) => {
                        let machine = runtime.machine.insert(make());
                        let result = machine.start(&mut cx, Grants(&grants));
                        outcome(&mut cx, result)
                    }
                }
            }
        }
        // Only the kernel sets this kind: the fault is committed here, in
        // the task's own context, and the handler never sees it.
        Ok(Upcall::Message {
            kind: mealy_protocol::MessageKind::InjectFault { kind },
            ..
        }) => crate::fault::commit(kind),
        Ok(Upcall::Message {
            kind,
            envelope,
            payload,
        }) => match runtime.machine.as_mut() {
            None => fatal(&mut cx, format_args!("a message before the start upcall")),
            Some(machine) => {
                let incoming = Incoming {
                    kind,
                    envelope: &envelope,
                    payload,
                };
                let result = machine.handle(&mut cx, incoming);
                outcome(&mut cx, result)
            }
        },
    };
    cx.finish(outcome)
}

fn fatal(cx: &mut dyn Context, why: core::fmt::Arguments<'_>) -> u64 {
    cx.log(why);
    DONE_FATAL
}

fn outcome(cx: &mut dyn Context, result: Result<(), HandleError>) -> u64 {
    match result {
        Ok(()) => DONE_OK,
        Err(HandleError::Malformed(_)) => DONE_MALFORMED,
        Err(error @ HandleError::Ipc(_)) => {
            cx.log(format_args!("handler failed: {error}"));
            DONE_FAILED
        }
        Err(error @ HandleError::Fatal(_)) => {
            cx.log(format_args!("handler failed: {error}"));
            DONE_FATAL
        }
        Err(HandleError::Stopped) => DONE_FATAL,
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
