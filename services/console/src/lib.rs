//! The console: the switchboard between terminals and the shell.
//!
//! Keystrokes from any input driver (`serial`, `keyboard`) go to the
//! shell; the shell's text goes to every display (`serial`, `fbcon`). The
//! console tells senders apart by the badge on the endpoint they hold, as
//! the task list mints them ([`badge`]), so a driver cannot pretend to be
//! the shell: only the shell's endpoint carries [`badge::SHELL`].
//!
//! It serves the `terminal` interface: `input` takes keystrokes only from
//! the drivers' badges, `output` only from the shell's; anything else is
//! counted as refused and the sender gets `Malformed`. It also serves
//! `text` commands (`send console stats`) through an unbadged endpoint,
//! like the shell's: `help`, `stats`.
//!
//! Grants: `shell` (required), `serial` and `fbcon` (displays, each
//! optional). A display that is gone or full does not stop the others:
//! the failure is counted and logged once per kind, and the console goes
//! on. `#![no_std]` with `alloc`, `#![forbid(unsafe_code)]`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use mealy_protocol::terminal::{self, Input, Output, not_accepted};
use mealy_protocol::text::{self, TextAnswer, TextCommand};
use mealy_protocol::{
    Answer, Badge, CapRef, Context, Grants, HandleError, Incoming, IpcError, MAX_PAYLOAD,
    MessageKind, Never, Outbox, Outgoing, StateMachine,
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
    /// Forwarded text is encoded again here: up to a whole payload.
    outbox: Outbox<MAX_PAYLOAD>,
    shell: Option<CapRef>,
    displays: [Option<CapRef>; 2],
    /// Messages a display or the shell could not take.
    pub undelivered: u64,
    /// Messages from senders without the badge their operation needs.
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

    /// Counts a message whose badge may not send it, and refuses it: a
    /// caller gets an error reply.
    fn refuse(&mut self) -> HandleError {
        self.refused += 1;
        not_accepted()
    }
}

impl Outgoing for Console {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl terminal::Server for Console {
    /// Keystrokes from a driver go to the shell.
    fn input(
        &mut self,
        cx: &mut dyn Context,
        message: Input<'_>,
        badge: Option<Badge>,
    ) -> Result<(), HandleError> {
        if !matches!(badge.map(Badge::get), Some(badge::SERIAL | badge::KEYBOARD)) {
            return Err(self.refuse());
        }
        let shell = self
            .shell
            .ok_or(HandleError::Fatal("console: started without `shell`"))?;
        if let Err(error) = mealy_protocol::send(cx, shell, self.outbox.space(), &message, &[]) {
            self.undeliverable(cx, "the shell", error);
        }
        Ok(())
    }

    /// The shell's text goes to every display; only the shell's badge
    /// may print.
    fn output(
        &mut self,
        cx: &mut dyn Context,
        message: Output<'_>,
        badge: Option<Badge>,
    ) -> Result<(), HandleError> {
        if badge.map(Badge::get) != Some(badge::SHELL) {
            return Err(self.refuse());
        }
        for display in self.displays.into_iter().flatten() {
            if let Err(error) =
                mealy_protocol::send(cx, display, self.outbox.space(), &message, &[])
            {
                self.undeliverable(cx, "a display", error);
            }
        }
        Ok(())
    }
}

impl text::Server for Console {
    /// `help` or `stats`.
    fn command<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: TextCommand<'a>,
        answer: Answer<TextCommand<'static>>,
    ) -> Result<(), Never> {
        let text = match request.line.trim() {
            "help" => String::from("console commands: help, stats"),
            "stats" => format!(
                "undelivered {}, refused {}, displays {}",
                self.undelivered,
                self.refused,
                self.displays.iter().flatten().count()
            ),
            other => format!("console: unknown command {other:?}; try help"),
        };
        if let Err(error) = answer.send(cx, self.outbox.space(), &TextAnswer { text: &text }, &[]) {
            cx.log(format_args!("cannot answer a text command: {error}"));
        }
        Ok(())
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
        match msg.badge() {
            // The shell's `send console <command>`, through an unbadged
            // endpoint.
            None => text::serve(self, cx, &msg),
            // Terminal traffic; each operation checks its sender's badge.
            Some(_) => terminal::serve(self, cx, &msg),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::vec::Vec;

    use super::*;
    use mealy_protocol::interface::{Request, encode_request};
    use mealy_protocol::testing::FakeContext;
    use mealy_protocol::{Grant, MAX_PAYLOAD};

    /// A started console with both displays, and its context.
    fn console() -> (FakeContext, Console, [CapRef; 3]) {
        let mut cx = FakeContext::new();
        let mut console = Console::new();
        let caps = [
            cx.endpoint("shell"),
            cx.endpoint("serial"),
            cx.endpoint("fbcon"),
        ];
        let grants = [
            Grant {
                name: "shell",
                cap: caps[0],
            },
            Grant {
                name: "serial",
                cap: caps[1],
            },
            Grant {
                name: "fbcon",
                cap: caps[2],
            },
        ];
        cx.start(&mut console, &grants).unwrap();
        (cx, console, caps)
    }

    fn wire<R: Request>(message: &R) -> Vec<u8> {
        let mut buffer = [0u8; MAX_PAYLOAD];
        encode_request(message, &mut buffer).unwrap().to_vec()
    }

    #[test]
    fn keystrokes_from_either_driver_go_to_the_shell() {
        let (mut cx, mut console, _) = console();
        for driver in [badge::SERIAL, badge::KEYBOARD] {
            let msg = cx.request(&Input { bytes: b"ls\r" }).with_badge(driver);
            cx.deliver(&mut console, &msg).unwrap();
        }
        let to: Vec<_> = cx.sends.iter().map(|sent| sent.to).collect();
        assert_eq!(to, ["shell", "shell"]);
        assert!(
            cx.sends
                .iter()
                .all(|sent| sent.payload == wire(&Input { bytes: b"ls\r" }))
        );
    }

    #[test]
    fn the_shells_text_goes_to_every_display() {
        let (mut cx, mut console, _) = console();
        let msg = cx
            .request(&Output { text: "hi\n" })
            .with_badge(badge::SHELL);
        cx.deliver(&mut console, &msg).unwrap();
        let to: Vec<_> = cx.sends.iter().map(|sent| sent.to).collect();
        assert_eq!(to, ["serial", "fbcon"]);
        assert!(
            cx.sends
                .iter()
                .all(|sent| sent.payload == wire(&Output { text: "hi\n" }))
        );
    }

    #[test]
    fn only_the_shells_badge_prints_and_only_drivers_type() {
        let (mut cx, mut console, _) = console();
        let refusals = [
            // A driver pretending to be the shell.
            cx.request(&Output { text: "$ " }).with_badge(badge::SERIAL),
            cx.request(&Output { text: "$ " })
                .with_badge(badge::KEYBOARD),
            // The shell typing into itself.
            cx.request(&Input { bytes: b"x" }).with_badge(badge::SHELL),
            // A badge the console never handed out.
            cx.request(&Input { bytes: b"x" }).with_badge(9),
            cx.request(&Output { text: "x" }).with_badge(9),
        ];
        for msg in &refusals {
            assert!(matches!(
                cx.deliver(&mut console, msg),
                Err(HandleError::Malformed(_))
            ));
        }
        assert!(cx.sends.is_empty());
        assert_eq!(console.refused, 5);
    }

    #[test]
    fn a_display_that_cannot_take_text_is_counted_and_the_other_still_gets_it() {
        let (mut cx, mut console, [_, serial, _]) = console();
        cx.drop_cap(serial).unwrap();
        for _ in 0..2 {
            let msg = cx.request(&Output { text: "a" }).with_badge(badge::SHELL);
            cx.deliver(&mut console, &msg).unwrap();
        }
        assert_eq!(console.undelivered, 2);
        let to: Vec<_> = cx.sends.iter().map(|sent| sent.to).collect();
        assert_eq!(to, ["fbcon", "fbcon"]);
        assert_eq!(cx.logs.len(), 1, "logged once: {:?}", cx.logs);
        assert!(cx.logs[0].contains("a display"));
    }

    #[test]
    fn text_commands_come_unbadged_and_stats_counts() {
        let (mut cx, mut console, [shell, ..]) = console();
        cx.drop_cap(shell).unwrap();
        let typed = cx
            .request(&Input { bytes: b"q" })
            .with_badge(badge::KEYBOARD);
        cx.deliver(&mut console, &typed).unwrap();
        let forged = cx
            .request(&Output { text: "q" })
            .with_badge(badge::KEYBOARD);
        let _ = cx.deliver(&mut console, &forged);
        let (stats, reply) = cx.call_request(&TextCommand { line: " stats " });
        cx.deliver(&mut console, &stats).unwrap();
        assert_eq!(
            cx.answer::<TextCommand>(reply),
            Some(Ok(TextAnswer {
                text: "undelivered 1, refused 1, displays 2"
            }))
        );
        let (unknown, reply) = cx.call_request(&TextCommand { line: "reboot" });
        cx.deliver(&mut console, &unknown).unwrap();
        let answer = cx.answer::<TextCommand>(reply).unwrap().unwrap();
        assert!(answer.text.contains("unknown command"), "{}", answer.text);
    }

    #[test]
    fn a_terminal_message_through_the_unbadged_endpoint_is_no_text_command() {
        let (mut cx, mut console, _) = console();
        let (msg, _) = cx.call_with_payload(&wire(&Output {
            text: "\u{7f}\u{7f}",
        }));
        assert!(cx.deliver(&mut console, &msg).is_err());
        assert!(cx.sends.is_empty());
    }
}
