//! The echo service: answers every `echo::Request` call with an
//! `echo::Reply` carrying the same sequence number and bytes. The smallest
//! useful server, and one half of the IPC benchmark.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, depends only on
//! `mealy-protocol`. It implements the `echo` interface
//! (`mealy_protocol::echo::Server`); the generated `serve` decodes each
//! request and sends the answer. A payload that is not an `echo::Request`
//! is `HandleError::Malformed`, which the kernel turns into an error reply;
//! a plain send (no reply capability) is decoded and counted but has no one
//! to answer.
#![no_std]
#![forbid(unsafe_code)]

use mealy_protocol::echo::{self, Reply, Request};
use mealy_protocol::{
    Context, HandleError, Incoming, MAX_PAYLOAD, Never, Outbox, Outgoing, StateMachine,
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

impl Outgoing for Echo {
    #[inline]
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl echo::Server for Echo {
    #[inline]
    fn echo<'a>(&mut self, _: &mut dyn Context, request: Request<'a>) -> Result<Reply<'a>, Never> {
        self.answered += 1;
        Ok(Reply {
            seq: request.seq,
            data: request.data,
        })
    }
}

impl StateMachine for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        echo::serve(self, cx, &msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::testing::FakeContext;
    use mealy_protocol::{IpcError, MessageKind, testing::Operation};

    #[test]
    fn answers_with_the_same_seq_and_bytes() {
        let mut cx = FakeContext::new();
        let mut echo = Echo::new();
        let (msg, reply) = cx.call_request(&Request {
            seq: 41,
            data: b"hello",
        });
        echo.handle(&mut cx, msg.incoming()).unwrap();
        assert_eq!(
            cx.answer::<Request>(reply),
            Some(Ok(Reply {
                seq: 41,
                data: b"hello"
            }))
        );
        assert_eq!(echo.answered, 1);
    }

    #[test]
    fn a_malformed_request_is_an_error_and_echo_keeps_answering() {
        let mut cx = FakeContext::new();
        let mut echo = Echo::new();
        let (bad, reply) = cx.call_with_payload(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            echo.handle(&mut cx, bad.incoming()),
            Err(HandleError::Malformed(_))
        ));
        assert!(
            cx.reply_to(reply).is_none(),
            "the kernel answers it, not echo"
        );
        let (good, reply) = cx.call_request(&Request { seq: 1, data: b"" });
        echo.handle(&mut cx, good.incoming()).unwrap();
        assert!(cx.reply_to(reply).is_some());
    }

    #[test]
    fn a_plain_send_is_counted_but_not_answered() {
        let mut cx = FakeContext::new();
        let mut echo = Echo::new();
        let msg = cx.request(&Request { seq: 1, data: b"x" });
        assert_eq!(msg.kind, MessageKind::Request);
        echo.handle(&mut cx, msg.incoming()).unwrap();
        assert!(cx.replies.is_empty());
        assert_eq!(echo.answered, 1);
    }

    #[test]
    fn a_failed_reply_is_reported_to_the_kernel() {
        let mut cx = FakeContext::new();
        let mut echo = Echo::new();
        cx.fail(Operation::Reply, IpcError::DeadTask);
        let (msg, _) = cx.call_request(&Request { seq: 1, data: b"x" });
        assert_eq!(
            echo.handle(&mut cx, msg.incoming()),
            Err(HandleError::Ipc(IpcError::DeadTask))
        );
    }
}
