//! The console: the switchboard between terminals and the shell.
//!
//! Keystrokes from any input driver (`serial`, `keyboard`) go to the
//! shell; the shell's text goes to every display (`serial`, `fbcon`). The
//! console tells senders apart by the badge on the endpoint they hold, as
//! the task list mints them ([`badge`]), so a driver cannot pretend to be
//! the shell: only the shell's endpoint carries [`badge::SHELL`].
//!
//! Grants: `shell` (required), `serial` and `fbcon` (displays, each
//! optional). A display that is gone or full does not stop the others:
//! the failure is counted and logged once per kind, and the console goes
//! on. `#![no_std]`, `#![forbid(unsafe_code)]`.
#![no_std]
#![forbid(unsafe_code)]

use mealy_protocol::terminal::{Input, Output};
use mealy_protocol::{
    CapRef, CodecError, Context, Grants, HandleError, Incoming, IpcError, MessageKind,
    StateMachine, decode,
};

/// The badges the task list puts on endpoints to the console.
pub mod badge {
    /// Input from the serial line.
    pub const SERIAL: u64 = 1;
    /// Input from the PS/2 keyboard.
    pub const KEYBOARD: u64 = 2;
    /// Output from the shell.
    pub const SHELL: u64 = 3;
}

/// The console's state.
#[derive(Debug, Default)]
pub struct Console {
    shell: Option<CapRef>,
    displays: [Option<CapRef>; 2],
    /// Messages a display or the shell could not take.
    pub undelivered: u64,
    /// Messages from senders without a known badge.
    pub refused: u64,
}

impl Console {
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs a failed delivery the first time it happens.
    fn undeliverable(&mut self, cx: &mut dyn Context, to: &str, error: IpcError) {
        if self.undelivered == 0 {
            cx.log(format_args!(
                "cannot deliver to {to}: {error} (counted from now on)"
            ));
        }
        self.undelivered += 1;
    }
}

impl StateMachine for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self, _cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.shell = Some(
            grants
                .get("shell")
                .ok_or(HandleError::Fatal("console: needs the grant `shell`"))?,
        );
        self.displays = [grants.get("serial"), grants.get("fbcon")];
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if msg.kind != MessageKind::Request {
            return Ok(());
        }
        let shell = self
            .shell
            .ok_or(HandleError::Fatal("console: started without `shell`"))?;
        match msg.badge().map(|badge| badge.get()) {
            Some(badge::SHELL) => {
                // Checked once here, so every display gets valid text.
                let _: Output<'_> = decode(msg.payload)?;
                for display in self.displays.into_iter().flatten() {
                    if let Err(error) = cx.send(display, msg.payload, &[]) {
                        self.undeliverable(cx, "a display", error);
                    }
                }
            }
            Some(badge::SERIAL | badge::KEYBOARD) => {
                let _: Input<'_> = decode(msg.payload)?;
                if let Err(error) = cx.send(shell, msg.payload, &[]) {
                    self.undeliverable(cx, "the shell", error);
                }
            }
            // Not a terminal message from anyone the console knows: the
            // caller, if it called, gets an error reply.
            _ => {
                self.refused += 1;
                return Err(HandleError::Malformed(CodecError::Invalid));
            }
        }
        Ok(())
    }
}
