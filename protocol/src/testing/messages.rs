//! Messages for the service under test: requests and calls to deliver,
//! the kernel's notices, and the answers to the service's own calls.

use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::{CapRef, Rights};

use crate::envelope::MAX_PAYLOAD;
use crate::error::HandleError;
use crate::incoming::{CallToken, MessageKind};
use crate::interface::{Call, CallError, Request, decode_answer, encode_answer, encode_request};
use crate::kernel::CallFailure;
use crate::machine::StateMachine;

use super::{FakeContext, FakeObject, Message, SentReply};

impl FakeContext {
    /// A one-way message (`send`) of an interface, no badge.
    pub fn request<R: Request>(&self, message: &R) -> Message {
        Message::new(MessageKind::Request, &Self::encoded(message))
    }

    /// A call of an interface, with a fresh Reply capability in the
    /// service's table; [`FakeContext::answer`] reads what the service
    /// answered through it.
    pub fn call_request<C: Call>(&mut self, request: &C) -> (Message, CapRef) {
        self.call_with_payload(&Self::encoded(request))
    }

    /// A call carrying `payload` as it is (for malformed input).
    pub fn call_with_payload(&mut self, payload: &[u8]) -> (Message, CapRef) {
        let id = self.next_reply;
        self.next_reply += 1;
        let reply = self.insert(FakeObject::Reply(id), Rights::WRITE | Rights::GRANT);
        let mut message = Message::new(MessageKind::Request, payload);
        message.envelope.reply = Some(reply);
        (message, reply)
    }

    fn encoded<R: Request>(message: &R) -> Vec<u8> {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        match encode_request(message, &mut buffer) {
            Ok(bytes) => bytes.to_vec(),
            Err(error) => panic!("test message does not encode: {error}"),
        }
    }

    /// Hands `message` to `machine`, as the kernel's dispatch would.
    pub fn deliver(
        &mut self,
        machine: &mut dyn StateMachine,
        message: &Message,
    ) -> Result<(), HandleError> {
        machine.handle(self, message.incoming())
    }

    /// What the service answered through `reply`, if it did.
    pub fn reply_to(&self, reply: CapRef) -> Option<&SentReply> {
        self.replies.iter().find(|sent| sent.reply == reply)
    }

    /// The service's answer through `reply`, decoded as an answer to `C`.
    /// `None` if it has not answered.
    pub fn answer<C: Call>(
        &self,
        reply: CapRef,
    ) -> Option<Result<C::Reply<'_>, CallError<C::Error>>> {
        let sent = self.reply_to(reply)?;
        Some(match decode_answer::<C>(&sent.payload) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(CallError::Service(error)),
            Err(error) => Err(CallError::Malformed(error)),
        })
    }

    /// The answer to the service's call `token`: `reply` as its interface
    /// encodes a success.
    pub fn answer_call<C: Call>(&self, token: CallToken, reply: &C::Reply<'_>) -> Message {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        let bytes = encode_answer::<_, C::Error>(&Ok(reply), &mut buffer)
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        Message::new(MessageKind::Reply { token }, &bytes)
    }

    /// The answer to the service's call `token`: the service error `error`.
    pub fn answer_call_error<C: Call>(&self, token: CallToken, error: C::Error) -> Message {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        let bytes = encode_answer::<(), C::Error>(&Err(error), &mut buffer)
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        Message::new(MessageKind::Reply { token }, &bytes)
    }

    /// The answer to the service's call `token`, as raw bytes.
    pub fn answer_call_bytes(&self, token: CallToken, payload: &[u8]) -> Message {
        Message::new(MessageKind::Reply { token }, payload)
    }

    /// The kernel's notice that call `token` failed (`PeerDied`,
    /// `Dropped`, `Malformed`).
    pub fn fail_call(&self, token: CallToken, reason: CallFailure) -> Message {
        Message::new(MessageKind::CallFailed { token, reason }, &[])
    }

    /// An interrupt on `line`.
    pub fn interrupt(&self, line: u8) -> Message {
        Message::new(MessageKind::Interrupt { line }, &[])
    }

    /// A timer's `Timeout`.
    pub fn timeout(&self) -> Message {
        Message::new(MessageKind::Timeout, &[])
    }
}
