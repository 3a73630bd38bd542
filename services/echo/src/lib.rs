//! The echo service: answers every `echo::Request` call with an
//! `echo::Reply` carrying the same sequence number and bytes. The smallest
//! useful server, and one half of the IPC benchmark.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, depends only on
//! `mealy-protocol`. A payload that is not an `echo::Request` is returned
//! as `HandleError::Malformed`, which the kernel turns into an error reply;
//! a plain send (no reply capability) is decoded and counted but has no one
//! to answer.
#![no_std]
#![forbid(unsafe_code)]

use mealy_protocol::echo::{Reply, Request};
use mealy_protocol::{
    Context, HandleError, Incoming, MAX_PAYLOAD, MessageKind, Outbox, StateMachine, decode,
};

/// The echo service's state.
#[derive(Debug, Default)]
pub struct Echo {
    outbox: Outbox<MAX_PAYLOAD>,
    /// Requests answered.
    pub answered: u64,
}

impl Echo {
    pub const fn new() -> Self {
        Self {
            outbox: Outbox::new(),
            answered: 0,
        }
    }
}

impl StateMachine for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if msg.kind != MessageKind::Request {
            return Ok(());
        }
        let request: Request<'_> = decode(msg.payload)?;
        let Some(reply) = msg.reply() else {
            return Ok(());
        };
        let answer = self.outbox.encode(&Reply {
            seq: request.seq,
            data: request.data,
        })?;
        cx.reply(reply, answer, &[])?;
        self.answered += 1;
        Ok(())
    }
}
