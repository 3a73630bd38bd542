//! The probe: a kernel-side task for the `test=ping` scenario that calls
//! every endpoint it was granted with a `ping::Ping` and logs how each
//! answered. It shows a new service works end to end (built, spawned from
//! the task list, reached through a capability, answering) without the
//! service knowing it is being tested.

use alloc::vec::Vec;

use mealy_protocol::ping::{Ping, Pong};
use mealy_protocol::{
    CallToken, Context, Grants, HandleError, Incoming, MessageKind, Outbox, StateMachine, decode,
};

pub const NAME: &str = "probe";

#[derive(Default)]
pub struct Probe {
    outbox: Outbox<16>,
    /// Calls in flight: their token and the grant's name.
    waiting: Vec<(CallToken, &'static str)>,
}

impl Probe {
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateMachine for Probe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        for (seq, grant) in grants.iter().enumerate() {
            let ping = self.outbox.encode(&Ping { seq: seq as u32 })?;
            match cx.call(grant.cap, ping, &[]) {
                Ok(token) => self.waiting.push((token, grant.name)),
                Err(error) => cx.log(format_args!("ping: {}: cannot call: {error}", grant.name)),
            }
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        let token = match msg.kind {
            MessageKind::Reply { token } | MessageKind::CallFailed { token, .. } => token,
            _ => return Ok(()),
        };
        let Some(index) = self
            .waiting
            .iter()
            .position(|(waiting, _)| *waiting == token)
        else {
            return Ok(());
        };
        let (_, name) = self.waiting.swap_remove(index);
        match msg.kind {
            MessageKind::CallFailed { reason, .. } => {
                cx.log(format_args!("ping: {name}: no pong ({reason})"))
            }
            _ => match decode::<Pong<'_>>(msg.payload) {
                Ok(pong) => cx.log(format_args!(
                    "ping: {name} answered pong {} from {}",
                    pong.seq, pong.name
                )),
                Err(error) => cx.log(format_args!("ping: {name}: not a pong ({error})")),
            },
        }
        if self.waiting.is_empty() {
            cx.log(format_args!("ping: done"));
        }
        Ok(())
    }
}
