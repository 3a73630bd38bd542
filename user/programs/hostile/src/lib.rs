//! Hostile test programs: each binary in `src/bin/` breaks one rule from
//! its start handler, and the kernel must stop (or refuse) only it. The
//! QEMU tests run them from `/bin` and read the log.
//!
//! Two kinds:
//!
//! - **Faults** (`read-kernel`, `write-kernel-heap`, `jump-kernel`,
//!   `exec-data`, `use-after-drop`, `recurse`, `divide`, `ud`, `privileged`, `panic`,
//!   `oom`, `spin`): the
//!   task must be stopped with one fault report (or, for `spin`,
//!   preempted and stopped over its budget). If the forbidden step ever
//!   returns, the program logs `NAME: FAILED: ...`.
//! - **Refusals** (`forge-caps`, `bad-pointers`, `escalate`): every bad
//!   request must come back as the right error value. The program logs
//!   `NAME: ok` if each did, else one `NAME: FAILED: ...` line per miss.
//!
//! The faulting programs need `unsafe` to do what safe Rust forbids; each
//! such block says so (its `SAFETY` line is the reason it is *not* safe,
//! which is the point). This library is safe code.
#![no_std]
#![deny(unsafe_code)]

use core::fmt::Debug;

use mealy_protocol::{Context, Grants, HandleError, Incoming, IpcError, StateMachine};

/// A program whose whole behaviour is its start handler.
pub struct AtStart {
    name: &'static str,
    start: fn(&mut dyn Context, Grants<'_>) -> Result<(), HandleError>,
}

impl AtStart {
    pub const fn new(
        name: &'static str,
        start: fn(&mut dyn Context, Grants<'_>) -> Result<(), HandleError>,
    ) -> Self {
        Self { name, start }
    }
}

impl StateMachine for AtStart {
    fn name(&self) -> &'static str {
        self.name
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        (self.start)(cx, grants)
    }

    fn handle(&mut self, _: &mut dyn Context, _: Incoming<'_>) -> Result<(), HandleError> {
        Ok(())
    }
}

/// Logs that a forbidden step returned: the kernel let it through.
pub fn survived(cx: &mut dyn Context, name: &str, what: core::fmt::Arguments<'_>) {
    cx.log(format_args!(
        "{name}: FAILED: {what} (the kernel should have stopped this task)"
    ));
}

/// A list of refusals to check, reported as one `NAME: ok` line or a
/// `FAILED` line per miss.
pub struct Checks {
    name: &'static str,
    failed: u32,
    run: u32,
}

impl Checks {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            failed: 0,
            run: 0,
        }
    }

    /// `got` must be an error that `want` accepts.
    pub fn expect<T: Debug>(
        &mut self,
        cx: &mut dyn Context,
        what: &str,
        got: Result<T, IpcError>,
        want: fn(&IpcError) -> bool,
    ) {
        self.run += 1;
        match got {
            Err(error) if want(&error) => {}
            other => {
                self.failed += 1;
                cx.log(format_args!("{}: FAILED: {what}: got {other:?}", self.name));
            }
        }
    }

    /// Logs the verdict.
    pub fn finish(self, cx: &mut dyn Context) -> Result<(), HandleError> {
        if self.failed == 0 {
            cx.log(format_args!("{}: ok", self.name));
        } else {
            cx.log(format_args!(
                "{}: {} of {} checks failed",
                self.name, self.failed, self.run
            ));
        }
        Ok(())
    }
}
