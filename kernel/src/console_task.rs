//! The shell's task: the console's hands in the scheduler. It holds an
//! endpoint to every boot task, so the shell's `send` is an ordinary call
//! through a capability: revoke that capability and the next `send` fails,
//! like any other holder's use would. Answers to its calls are kept until
//! the console collects them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mealy_protocol::{
    CallFailure, CallToken, CapRef, Context, HandleError, Incoming, MessageKind, StateMachine,
};
use spin::Mutex;

pub const NAME: &str = "shell";

/// How a call the console made through the shell task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAnswer {
    Reply(Vec<u8>),
    Failed(CallFailure),
}

/// Answers not yet collected. One shell task exists, so one queue.
static ANSWERS: Mutex<VecDeque<(CallToken, CallAnswer)>> = Mutex::new(VecDeque::new());

/// Capabilities that came with answers (the fs's Region of an open file),
/// now in the shell task's CSpace, by call.
static ANSWER_CAPS: Mutex<VecDeque<(CallToken, Vec<CapRef>)>> = Mutex::new(VecDeque::new());

/// Takes the capabilities that came with the answer to `token` (empty if
/// none did). Call it once the answer has come.
pub fn take_caps(token: CallToken) -> Vec<CapRef> {
    let mut caps = ANSWER_CAPS.lock();
    match caps.iter().position(|(waiting, _)| *waiting == token) {
        Some(index) => caps.remove(index).map(|(_, caps)| caps).unwrap_or_default(),
        None => Vec::new(),
    }
}

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
        let answer = match msg.kind {
            MessageKind::Reply { token } => {
                if !msg.caps().is_empty() {
                    let mut caps = ANSWER_CAPS.lock();
                    if caps.len() >= 16 {
                        caps.pop_front();
                    }
                    caps.push_back((token, msg.caps().to_vec()));
                }
                (token, CallAnswer::Reply(msg.payload.to_vec()))
            }
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
