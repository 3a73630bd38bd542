//! The shell as a task: [`ShellTask`] is the `StateMachine` the kernel
//! starts under the name [`NAME`]. It takes keystrokes from the console
//! (it serves the `terminal` interface's `input`, and refuses `output`),
//! answers to its calls, and `Timeout`s; runs the
//! shell over them with a [`ContextSystem`]; and sends what the shell
//! prints to the console through its [`TERMINAL`] endpoint.
//!
//! Its one Timer ([`TIMER`]) serves three ends: the deadline of a command
//! waiting for an answer; a retry of output the console could not take
//! yet (a full mailbox is backpressure: the text is kept, in order, and
//! sent again [`RETRY_NS`] later); and, armed to fire at once, the next
//! line of typed-ahead input, which the shell runs one per message so a
//! long paste does not hold up every other task. Output the console cannot
//! take at all (it was killed, or the shell lost its endpoint) goes to the
//! kernel log, so the person at the terminal still sees it.

use alloc::string::String;
use alloc::vec::Vec;

use mealy_protocol::terminal::{self, Input, Output as TerminalOutput, not_accepted};
use mealy_protocol::{
    Badge, Context, Grant, Grants, HandleError, Incoming, IpcError, MAX_PAYLOAD, MessageKind,
    Outbox, Outgoing, StateMachine,
};

use crate::context_system::ContextSystem;
use crate::programs::Programs;
use crate::shell::{Output, Shell};
use crate::system::Answer;

/// The shell task's name in the task list and in `ps`.
pub const NAME: &str = "shell";

/// The grant name of the shell's endpoint to the console.
pub const TERMINAL: &str = "terminal";

/// The grant name of the shell's Timer.
pub const TIMER: &str = "timer";

/// How long output the console refused waits before it is sent again.
pub const RETRY_NS: u64 = 1_000_000;

/// The debug shell's task.
#[derive(Debug, Default)]
pub struct ShellTask {
    shell: Shell,
    grants: Vec<Grant>,
    /// The programs started with `run`: their Task capabilities.
    programs: Programs,
    /// Output not yet taken by the console, oldest first.
    unsent: String,
    outbox: Outbox<MAX_PAYLOAD>,
}

impl ShellTask {
    pub fn new() -> Self {
        Self::default()
    }

    fn grant(&self, name: &str) -> Option<mealy_protocol::CapRef> {
        Grants(&self.grants).get(name)
    }

    /// Runs `step` over the shell with this message's context, then shows
    /// what it printed and arms the timer for what is still to come.
    fn with_shell(
        &mut self,
        cx: &mut dyn Context,
        step: impl FnOnce(&mut Shell, &mut ContextSystem<'_>) -> Output,
    ) {
        let output = {
            let mut system = ContextSystem {
                cx: &mut *cx,
                grants: &self.grants,
                programs: &mut self.programs,
            };
            step(&mut self.shell, &mut system)
        };
        self.unsent.push_str(&output.text);
        self.flush(cx);
        self.arm(cx);
    }

    /// Sends the unsent output to the console, piece by piece, until it
    /// is all sent or the console's mailbox is full.
    fn flush(&mut self, cx: &mut dyn Context) {
        let terminal = self.grant(TERMINAL);
        let mut sent = 0;
        for piece in terminal::chunks(&self.unsent) {
            let output = TerminalOutput { text: piece };
            let result = match terminal {
                Some(terminal) => {
                    mealy_protocol::send(cx, terminal, self.outbox.space(), &output, &[])
                }
                None => Err(IpcError::InvalidCap),
            };
            match result {
                Ok(()) => {}
                Err(IpcError::MailboxFull) => break,
                Err(error) => {
                    // Nobody to show it: the kernel log still reaches a person.
                    cx.log(format_args!("terminal: {error}; output was: {piece}"));
                }
            }
            sent += piece.len();
        }
        self.unsent.drain(..sent);
    }

    /// Arms the timer for the earlier of a retry of unsent output and the
    /// waiting command's deadline.
    fn arm(&mut self, cx: &mut dyn Context) {
        let Some(timer) = self.grant(TIMER) else {
            return;
        };
        let now = cx.now_ns();
        // Held lines go on at once, but as a message of their own, so
        // other tasks get their turn between two lines.
        let retry = if self.shell.has_held_input() {
            Some(0)
        } else {
            (!self.unsent.is_empty()).then_some(RETRY_NS)
        };
        let deadline = self
            .shell
            .deadline_ns()
            .map(|deadline| deadline.saturating_sub(now).max(1));
        let after = match (retry, deadline) {
            (Some(retry), Some(deadline)) => Some(retry.min(deadline)),
            (retry, deadline) => retry.or(deadline),
        };
        if let Some(after) = after
            && let Err(error) = cx.set_timer(timer, after)
        {
            cx.log(format_args!("error: timer: {error}"));
        }
    }
}

impl Outgoing for ShellTask {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl terminal::Server for ShellTask {
    /// Keystrokes from the console.
    fn input(
        &mut self,
        cx: &mut dyn Context,
        message: Input<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.with_shell(cx, |shell, system| shell.feed(message.bytes, system));
        Ok(())
    }

    /// The shell prints; it shows nothing it is sent.
    fn output(
        &mut self,
        _: &mut dyn Context,
        _: TerminalOutput<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        Err(not_accepted())
    }
}

impl StateMachine for ShellTask {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.grants = grants.iter().copied().collect();
        // The prompt waits for the fs (`Shell::start_with`).
        self.with_shell(cx, |shell, system| shell.start_with(system));
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::Request => terminal::serve(self, cx, &msg)?,
            MessageKind::Reply { .. } | MessageKind::CallFailed { .. } => {
                if let Some((token, answer)) = Answer::of(&msg) {
                    self.with_shell(cx, |shell, system| shell.answer(token, answer, system));
                }
            }
            MessageKind::Timeout => {
                // `with_shell` also sends what the console refused before.
                let now = cx.now_ns();
                self.with_shell(cx, |shell, system| {
                    let mut out = shell.expire(now);
                    out.text.push_str(&shell.continue_input(system).text);
                    out
                });
            }
            // The shell supervises no task.
            MessageKind::Interrupt { .. }
            | MessageKind::TaskExited { .. }
            | MessageKind::InjectFault { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;
    use mealy_protocol::testing::{FakeContext, Operation};
    use mealy_protocol::{CapRef, decode};

    /// A started shell task whose terminal is the endpoint "console".
    fn shell_task() -> (FakeContext, ShellTask, CapRef) {
        let mut cx = FakeContext::new();
        let mut task = ShellTask::new();
        let grants = [
            Grant {
                name: TERMINAL,
                cap: cx.endpoint("console"),
            },
            Grant {
                name: TIMER,
                cap: cx.timer(),
            },
        ];
        cx.start(&mut task, &grants).unwrap();
        (cx, task, grants[1].cap)
    }

    /// Everything the task has shown on its terminal, in order.
    fn shown(cx: &FakeContext) -> String {
        let mut text = String::new();
        for sent in &cx.sends {
            assert_eq!(sent.to, "console");
            assert_eq!(sent.payload[0], 1, "tagged as `output`");
            let output: TerminalOutput<'_> = decode(&sent.payload[1..]).unwrap();
            text.push_str(output.text);
        }
        text
    }

    #[test]
    fn keystrokes_are_run_and_the_answer_goes_to_the_terminal() {
        let (mut cx, mut task, _) = shell_task();
        assert_eq!(
            shown(&cx),
            alloc::format!("{}{}", crate::GREETING, crate::PROMPT)
        );
        cx.sends.clear();
        cx.now_ns = 1_500_000_000;
        let typed = cx.request(&Input { bytes: b"uptime\r" });
        cx.deliver(&mut task, &typed).unwrap();
        let text = shown(&cx);
        assert!(text.starts_with("uptime"), "echoed: {text:?}");
        assert!(text.contains("up 00:00:01.500"), "{text:?}");
        assert!(text.ends_with(crate::PROMPT), "{text:?}");
    }

    #[test]
    fn text_sent_to_the_shell_is_refused() {
        let (mut cx, mut task, _) = shell_task();
        cx.sends.clear();
        let output = cx.request(&TerminalOutput { text: "ps\r" });
        assert!(matches!(
            cx.deliver(&mut task, &output),
            Err(HandleError::Malformed(_))
        ));
        assert!(cx.sends.is_empty(), "nothing ran");
    }

    #[test]
    fn output_the_console_cannot_take_is_kept_and_sent_on_the_timer() {
        let (mut cx, mut task, timer) = shell_task();
        cx.sends.clear();
        cx.fail(Operation::Send, IpcError::MailboxFull);
        let typed = cx.request(&Input { bytes: b"x" });
        cx.deliver(&mut task, &typed).unwrap();
        assert!(cx.sends.is_empty());
        assert_eq!(cx.timers.last(), Some(&(timer, RETRY_NS)));
        cx.heal();
        cx.deliver(&mut task, &cx.timeout()).unwrap();
        assert_eq!(shown(&cx), "x");
    }
}
