//! What crosses a boundary in Mealy: the message [`Envelope`], the
//! [`StateMachine`] and [`Context`] traits, postcard encoding, the typed
//! errors of the message path, and one module of message types per service
//! ([`echo`], [`pinger`], [`terminal`], [`fs`], ...) plus the kernel's own ([`kernel`]).
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, and no heap except in
//! [`inspect`]'s reports; depends only on
//! `mealy-caps` (whose [`CapRef`], [`Badge`], [`Rights`], [`TaskId`] it
//! re-exports so services need no second dependency), `serde` and
//! `postcard`.
//!
//! # How a message looks to a service
//!
//! A handler gets an [`Incoming`]: what kind of message it is
//! ([`MessageKind`]: an ordinary send, the reply to one of its calls, a
//! failed call, an interrupt, a timeout), the [`Envelope`] (the badge of the
//! endpoint it came through, a one-shot reply capability if it was a call,
//! up to [`MAX_CAPS`] transferred capabilities, already moved into the
//! receiver's CSpace) and the payload bytes, at most [`MAX_PAYLOAD`].
//! Payloads are postcard; message types borrow `&str` and `&[u8]` from the
//! payload so decoding copies nothing.
//!
//! A handler returns `Result<(), HandleError>`: `?` on a failed
//! [`decode`] turns into [`HandleError::Malformed`], which the kernel
//! answers with a [`CallFailure::Malformed`] error reply to the caller
//! while the receiver keeps running.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod abi;
mod codec;
mod context;
mod envelope;
mod error;
mod incoming;
pub mod interface;
mod machine;

pub mod block;
pub mod echo;
pub mod fs;
pub mod inspect;
pub mod kernel;
pub mod mmio;
pub mod ping;
pub mod pinger;
pub mod supervision;
pub mod terminal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;

pub use codec::{
    CodecError, Outbox, as_bytes, bytes_equal, copy_bytes, decode, decode_prefix, encode,
};
pub use context::Context;
pub use envelope::{CapList, Envelope, MAX_CAPS, MAX_PAYLOAD, check_payload};
pub use error::{HandleError, IpcError};
pub use incoming::{CallToken, Incoming, MessageKind};
pub use interface::{Answer, Call, CallError, Never, Outgoing, Pending, ServiceError, call, send};
pub use kernel::CallFailure;
pub use machine::{Grant, Grants, StateMachine};

pub use mealy_caps::{Badge, CapRef, DeviceRange, ObjectKind, Rights, TaskId};
