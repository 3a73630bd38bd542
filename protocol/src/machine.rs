//! The [`StateMachine`] trait every task implements, and the [`Grants`] a
//! task receives when it starts.
//!
//! A task is `(state, message) -> (new state, messages sent)`: the kernel
//! calls [`StateMachine::handle`] with one message at a time and the handler
//! runs to completion, never blocking. Waiting for an answer means returning
//! and getting the answer later as another message.
//!
//! Capabilities from the task list are handed over by name at start
//! ([`Grants`]), so a service never guesses slot numbers: `echo` is
//! whatever the task list called the endpoint to the echo service.

use mealy_caps::CapRef;

use crate::context::Context;
use crate::error::HandleError;
use crate::incoming::Incoming;

/// One capability the task list gave this task, under the name the list
/// chose for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Grant {
    pub name: &'static str,
    pub cap: CapRef,
}

/// The capabilities a task starts with, by name.
#[derive(Clone, Copy, Debug)]
pub struct Grants<'a>(pub &'a [Grant]);

impl Grants<'_> {
    /// The capability named `name`, if the task list granted one.
    pub fn get(&self, name: &str) -> Option<CapRef> {
        self.0
            .iter()
            .find(|grant| grant.name == name)
            .map(|grant| grant.cap)
    }

    /// Every grant, in task-list order.
    pub fn iter(&self) -> impl Iterator<Item = &Grant> {
        self.0.iter()
    }
}

/// A Mealy task: a service, a driver or a user task.
pub trait StateMachine {
    /// The task's name, as `ps` shows it and peers' task-list entries name
    /// it. Static: it is a property of the code, not of the instance.
    fn name(&self) -> &'static str;

    /// Called once, before the first message, with the capabilities from
    /// the task list. Every task in the list exists by then, so a task may
    /// already send. The default does nothing.
    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let _ = (cx, grants);
        Ok(())
    }

    /// The privilege level its handlers run at: 0 (linked into the
    /// kernel) unless the kernel runs it as a ring-3 program.
    fn ring(&self) -> u8 {
        0
    }

    /// The fault its last handler ended with, if it ended with
    /// `HandleError::Stopped` after one: what the kernel reports to a
    /// supervisor and in `ps`. Only a ring-3 program knows more than the
    /// error it returned.
    fn fault(&self) -> Option<crate::inspect::Fault> {
        None
    }

    /// Reacts to one message, to completion. See [`HandleError`] for what
    /// the kernel does with an error.
    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError>;
}
