//! The shell's task: the shell's hands in the scheduler. It holds the
//! capabilities every command acts through (`shell_system`), so revoking
//! one makes the command that needs it fail, like any other holder's use
//! would. It receives the keystrokes the console routes to it
//! (`terminal::Input`) and answers to its calls, and keeps both until the
//! kernel's console loop collects them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mealy_protocol::terminal::Input;
use mealy_protocol::{
    CallFailure, CallToken, Context, HandleError, Incoming, IpcError, MessageKind, StateMachine,
    decode,
};
use spin::Mutex;

pub const NAME: &str = "shell";

/// The grant name of the shell's endpoint to the console, where its output
/// goes.
pub const TERMINAL: &str = "terminal";

/// Keystrokes received from the console and not yet taken by the console
/// loop; past this many, more are refused with an error to the console.
const INPUT_LIMIT: usize = 64 * 1024;

static INPUT: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());

/// Moves waiting keystrokes into `buffer`; returns how many.
pub fn take_input(buffer: &mut [u8]) -> usize {
    let mut input = INPUT.lock();
    let count = buffer.len().min(input.len());
    for (slot, byte) in buffer.iter_mut().zip(input.drain(..count)) {
        *slot = byte;
    }
    count
}

/// Whether keystrokes are waiting.
pub fn has_input() -> bool {
    !INPUT.lock().is_empty()
}

/// How a call the console made through the shell task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAnswer {
    Reply(Vec<u8>),
    Failed(CallFailure),
}

/// Answers not yet collected. One shell task exists, so one queue.
static ANSWERS: Mutex<VecDeque<(CallToken, CallAnswer)>> = Mutex::new(VecDeque::new());

/// Takes the answer to `token`, if it has come.
pub fn take_answer(token: CallToken) -> Option<CallAnswer> {
    let mut answers = ANSWERS.lock();
    let index = answers.iter().position(|(waiting, _)| *waiting == token)?;
    answers.remove(index).map(|(_, answer)| answer)
}

#[derive(Debug, Default)]
pub struct ShellTask;

impl StateMachine for ShellTask {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&mut self, _cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if msg.kind == MessageKind::Request {
            let typed: Input<'_> = decode(msg.payload)?;
            let mut input = INPUT.lock();
            if input.len() + typed.bytes.len() > INPUT_LIMIT {
                return Err(HandleError::Ipc(IpcError::MailboxFull));
            }
            input.extend(typed.bytes);
            return Ok(());
        }
        let answer = match msg.kind {
            MessageKind::Reply { token } => (token, CallAnswer::Reply(msg.payload.to_vec())),
            MessageKind::CallFailed { token, reason } => (token, CallAnswer::Failed(reason)),
            _ => return Ok(()),
        };
        let mut answers = ANSWERS.lock();
        // Bounded: an answer nobody collects is dropped oldest first.
        if answers.len() >= 16 {
            answers.pop_front();
        }
        answers.push_back(answer);
        Ok(())
    }
}
