//! Typed protocols: a service declares its interface once with
//! [`interface!`](crate::interface!), and gets server-side dispatch to one
//! typed handler per operation, typed client calls whose answers are
//! matched to their calls, and the error reply for a payload that does not
//! decode. Hubris's Idol is the model: one declaration, both sides.
//!
//! # Declaring an interface
//!
//! In the protocol module of a service, next to its message types:
//!
//! ```ignore
//! mealy_protocol::interface! {
//!     <'a> error FsError;
//!     /// Opens a file; the answer carries its Region.
//!     0 => fn open(Open<'a>, answer) -> Opened;
//!     1 => fn stat(Stat<'a>) -> Entry<'a>;
//!     2 => fn sync(Sync) -> Done;
//! }
//! ```
//!
//! `<'a>` names the lifetime the message types borrow the payload with
//! (macros cannot invent one that matches the caller's). `error E` is the
//! service's own error type, sent back as the `Err` of the answer; leave it
//! out for an interface that cannot fail (its error is [`Never`]). Each
//! operation has a fixed number, its tag on the wire, so adding operations
//! at the end keeps old encodings. Three forms:
//!
//! - `N => fn name(Req<'a>) -> Rep;` a call answered by the handler's
//!   return value: `fn name<'a>(&mut self, cx, request: Req<'a>) ->
//!   Result<Rep, E>`. The answer may borrow the request, not the server.
//! - `N => fn name(Req<'a>, answer) -> Rep;` a call the handler answers
//!   itself through an [`Answer`]: when the answer carries capabilities,
//!   borrows the server's own buffers, or comes later (keep the `Answer`
//!   in the state). Returning `Err(e)` answers `Err(e)` for it.
//! - `N => fn name(Msg<'a>);` a one-way message (`send`, no answer); the
//!   handler also gets the badge of the endpoint it came through.
//!
//! An interface with a single operation may leave out the number: then the
//! request goes on the wire untagged, exactly as its type encodes (the
//! `echo` benchmark's bytes stay what they were).
//!
//! The macro generates, in the module where it is invoked:
//! - `trait Server`: one method per operation; a service implements it;
//! - `fn serve(server, cx, msg)`: decodes a request, runs its handler and
//!   sends the answer. Anything that is not a request is ignored (`Ok`), so
//!   a service's `handle` can start with it. A payload that is no request of
//!   the interface is [`HandleError::Malformed`], which the kernel answers
//!   with `CallFailed { Malformed }` while the service keeps running;
//! - for each request type, [`Request`] and (calls) [`Call`], so clients
//!   use the generic [`call`] and [`send`], and a [`Pending`] matches the
//!   answer.
//!
//! # Wire format
//!
//! A request is `varint(op)` then the postcard encoding of its type (no tag
//! for a one-operation interface). An answer is the postcard encoding of
//! `Result<Rep, E>`, or of `Rep` alone when the error type is [`Never`].

use core::fmt;
use core::marker::PhantomData;

use mealy_caps::CapRef;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, decode, encode};
use crate::context::Context;
use crate::error::{HandleError, IpcError};
use crate::incoming::{CallToken, Incoming, MessageKind};
use crate::kernel::CallFailure;

/// The error type of an interface that cannot fail: it has no values, so
/// an answer of such an interface is sent as the reply alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// An error type that goes back to the caller in an answer. Implement it
/// (empty body) for a service's error enum.
pub trait ServiceError: Serialize + DeserializeOwned + Copy + fmt::Debug {
    /// Whether answers carry a `Result` tag. Only [`Never`] says no.
    const IN_ANSWER: bool = true;
}

impl ServiceError for Never {
    const IN_ANSWER: bool = false;
}

/// A message type of an interface: how it is tagged on the wire.
/// Implemented by [`interface!`](crate::interface!).
pub trait Request: Serialize {
    /// The operation number, or `None` for a one-operation interface.
    const OP: Option<u32>;
}

/// A request that is answered. Implemented by
/// [`interface!`](crate::interface!).
pub trait Call: Request {
    /// The request type with its lifetime set to `'static`: what a
    /// [`Pending`] or an [`Answer`] is typed by.
    type Marker: Call<Error = Self::Error>;
    /// The successful answer, borrowing the answer's payload.
    type Reply<'a>: Serialize + Deserialize<'a>;
    /// The service's error.
    type Error: ServiceError;
}

/// `varint(op)` then `T`: postcard writes an enum's newtype variant so.
struct Tagged<'r, T>(u32, &'r T);

impl<T: Serialize> Serialize for Tagged<'_, T> {
    #[inline]
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_variant("", self.0, "", self.1)
    }
}

/// Encodes `request` as its interface puts it on the wire, into `outbox`.
#[inline]
pub fn encode_request<'b, R: Request>(
    request: &R,
    outbox: &'b mut [u8],
) -> Result<&'b [u8], CodecError> {
    match R::OP {
        Some(op) => encode(&Tagged(op, request), outbox),
        None => encode(request, outbox),
    }
}

/// Encodes an answer as [`Call`]'s wire format says, into `outbox`.
#[inline]
pub fn encode_answer<'b, R: Serialize, E: ServiceError>(
    answer: &Result<R, E>,
    outbox: &'b mut [u8],
) -> Result<&'b [u8], CodecError> {
    if E::IN_ANSWER {
        encode(answer, outbox)
    } else {
        match answer {
            Ok(reply) => encode(reply, outbox),
            // No error value exists when `IN_ANSWER` is false; encode it
            // tagged anyway rather than assume.
            Err(_) => encode(answer, outbox),
        }
    }
}

/// Decodes an answer to a call of `C`.
#[inline]
pub fn decode_answer<C: Call>(
    payload: &[u8],
) -> Result<Result<C::Reply<'_>, C::Error>, CodecError> {
    if <C::Error as ServiceError>::IN_ANSWER {
        decode(payload)
    } else {
        decode(payload).map(Ok)
    }
}

/// Sends the one-way message `message` to the endpoint `to`, encoded in
/// `outbox`, moving `caps` with it.
#[inline]
pub fn send<R: Request>(
    cx: &mut dyn Context,
    to: CapRef,
    outbox: &mut [u8],
    message: &R,
    caps: &[CapRef],
) -> Result<(), IpcError> {
    let bytes = encode_request(message, outbox)?;
    cx.send(to, bytes, caps)
}

/// Calls the endpoint `to` with `request`, encoded in `outbox`, moving
/// `caps` with it. The answer arrives later as a message; the returned
/// [`Pending`] recognises and decodes it.
#[inline]
pub fn call<C: Call>(
    cx: &mut dyn Context,
    to: CapRef,
    outbox: &mut [u8],
    request: &C,
    caps: &[CapRef],
) -> Result<Pending<C::Marker>, IpcError> {
    let bytes = encode_request(request, outbox)?;
    let token = cx.call(to, bytes, caps)?;
    Ok(Pending::new(token))
}

/// Why a call got no successful answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CallError<E> {
    /// The service answered with its own error.
    Service(E),
    /// The kernel failed the call: the callee died, dropped it, or could
    /// not decode the request.
    Failed(CallFailure),
    /// The answer did not decode as this call's answer.
    Malformed(CodecError),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Service(error) => write!(f, "{error}"),
            CallError::Failed(reason) => write!(f, "{reason}"),
            CallError::Malformed(error) => write!(f, "bad answer: {error}"),
        }
    }
}

/// A call of `C` waiting for its answer. Keep it in the state; when a
/// message arrives, [`Pending::answer`] says whether it is this call's.
pub struct Pending<C> {
    token: CallToken,
    call: PhantomData<fn() -> C>,
}

impl<C> Clone for Pending<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Pending<C> {}

impl<C> PartialEq for Pending<C> {
    fn eq(&self, other: &Self) -> bool {
        self.token == other.token
    }
}
impl<C> Eq for Pending<C> {}

impl<C> fmt::Debug for Pending<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pending({})", self.token)
    }
}

impl<C: Call> Pending<C> {
    /// The call the kernel named `token`.
    pub const fn new(token: CallToken) -> Self {
        Self {
            token,
            call: PhantomData,
        }
    }

    pub const fn token(&self) -> CallToken {
        self.token
    }

    /// If `msg` answers this call: the decoded answer. `None` for any
    /// other message.
    #[inline]
    pub fn answer<'p>(
        &self,
        msg: &Incoming<'p>,
    ) -> Option<Result<C::Reply<'p>, CallError<C::Error>>> {
        match msg.kind {
            MessageKind::Reply { token } if token == self.token => {
                Some(match decode_answer::<C>(msg.payload) {
                    Ok(Ok(reply)) => Ok(reply),
                    Ok(Err(error)) => Err(CallError::Service(error)),
                    Err(error) => Err(CallError::Malformed(error)),
                })
            }
            MessageKind::CallFailed { token, reason } if token == self.token => {
                Some(Err(CallError::Failed(reason)))
            }
            _ => None,
        }
    }
}

/// The right to answer one call of `C`: what a handler declared with
/// `answer` gets. `Copy`, so it can be kept to answer later; the kernel's
/// Reply capability inside is one-shot, so only the first answer goes out
/// (a second fails with `InvalidCap`). A request that came by `send`, not
/// `call`, has no one to answer: every answer then does nothing.
pub struct Answer<C> {
    reply: Option<CapRef>,
    call: PhantomData<fn() -> C>,
}

impl<C> Clone for Answer<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Answer<C> {}

impl<C> fmt::Debug for Answer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer({:?})", self.reply)
    }
}

impl<C: Call> Answer<C> {
    /// The answer through the Reply capability `reply` (if the request was
    /// a call).
    pub const fn new(reply: Option<CapRef>) -> Self {
        Self {
            reply,
            call: PhantomData,
        }
    }

    /// The Reply capability, if the request was a call.
    pub const fn reply_cap(&self) -> Option<CapRef> {
        self.reply
    }

    /// Answers `Ok(reply)`, moving `caps` to the caller.
    #[inline]
    pub fn send(
        self,
        cx: &mut dyn Context,
        outbox: &mut [u8],
        reply: &C::Reply<'_>,
        caps: &[CapRef],
    ) -> Result<(), IpcError> {
        let Some(cap) = self.reply else {
            return Ok(());
        };
        let bytes = encode_answer::<_, C::Error>(&Ok(reply), outbox)?;
        cx.reply(cap, bytes, caps)
    }

    /// Answers `Err(error)`.
    #[inline]
    pub fn fail(
        self,
        cx: &mut dyn Context,
        outbox: &mut [u8],
        error: C::Error,
    ) -> Result<(), IpcError> {
        let Some(cap) = self.reply else {
            return Ok(());
        };
        let bytes = encode_answer::<(), C::Error>(&Err(error), outbox)?;
        cx.reply(cap, bytes, &[])
    }
}

/// What every server has: the buffer its answers are encoded into. The
/// generated `serve` encodes a handler's answer there once the handler
/// has returned, so the answer may borrow the request but not the server.
pub trait Outgoing {
    fn outbox(&mut self) -> &mut [u8];
}

/// Sends a handler's answer for `serve`: nothing if the request was not a
/// call.
#[doc(hidden)]
#[inline]
pub fn answer_with<R: Serialize, E: ServiceError>(
    cx: &mut dyn Context,
    reply: Option<CapRef>,
    outbox: &mut [u8],
    answer: &Result<R, E>,
) -> Result<(), HandleError> {
    let Some(reply) = reply else {
        return Ok(());
    };
    let bytes = encode_answer(answer, outbox)?;
    cx.reply(reply, bytes, &[])?;
    Ok(())
}

/// Splits a tagged request into its operation number and the rest.
#[doc(hidden)]
#[inline]
pub fn split_op(payload: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    crate::codec::decode_prefix::<u32>(payload)
}

/// Declares a service's interface; see the [module docs](mod@crate::interface).
#[macro_export]
macro_rules! interface {
    // One operation, untagged.
    (<$lt:lifetime> $(error $err:ty;)? $(#[$meta:meta])* fn $name:ident $args:tt $(-> $rep:ty)?;) => {
        $crate::__interface_ops!(@all $lt [$($err)?] [$(#[$meta])* [None] fn $name $args $(-> $rep)?;]);
    };
    (<$lt:lifetime> $(error $err:ty;)? $($(#[$meta:meta])* $op:literal => fn $name:ident $args:tt $(-> $rep:ty)?;)+) => {
        $crate::__interface_ops!(@all $lt [$($err)?] [$($(#[$meta])* [Some($op)] fn $name $args $(-> $rep)?;)+]);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __interface_ops {
    (@all $lt:lifetime [] [$($ops:tt)+]) => {
        $crate::__interface_ops!(@all $lt [$crate::Never] [$($ops)+]);
    };
    (@all $lt:lifetime [$err:ty] [$($(#[$meta:meta])* [$($op:tt)+] fn $name:ident $args:tt $(-> $rep:ty)?;)+]) => {
        $( $crate::__interface_ops!(@impls $lt $err [$($op)+] $args $(-> $rep)?); )+

        /// The handlers of this interface; a service implements it and
        /// calls [`serve`] for requests.
        pub trait Server: $crate::Outgoing {
            $( $crate::__interface_ops!(@method $lt $err [$(#[$meta])*] $name $args $(-> $rep)?); )+
        }

        /// Runs the handler `msg` asks for and sends its answer. Anything
        /// but a request is ignored; a payload that is no request of this
        /// interface is `HandleError::Malformed`.
        #[inline]
        pub fn serve<S: Server + ?Sized>(
            server: &mut S,
            cx: &mut dyn $crate::Context,
            msg: &$crate::Incoming<'_>,
        ) -> ::core::result::Result<(), $crate::HandleError> {
            if msg.kind != $crate::MessageKind::Request {
                return Ok(());
            }
            $crate::__interface_ops!(@dispatch server cx msg $err [$([$($op)+] $name $args $(-> $rep)?;)+])
        }
    };

    // Trait impls for each request type. The impl's own lifetime is not
    // the interface's: the answer type's lifetime is the `Reply` GAT's.
    (@impls $lt:lifetime $err:ty [$($op:tt)+] ($req:ident $(<$rl:lifetime>)? $(, answer)?) -> $rep:ty) => {
        impl<'__request> $crate::interface::Request for $crate::__interface_ops!(@any '__request $req $($rl)?) {
            const OP: Option<u32> = $($op)+;
        }
        impl<'__request> $crate::interface::Call for $crate::__interface_ops!(@any '__request $req $($rl)?) {
            type Marker = $crate::__interface_ops!(@static $req $($rl)?);
            type Reply<$lt> = $rep;
            type Error = $err;
        }
    };
    (@impls $lt:lifetime $err:ty [$($op:tt)+] ($req:ident $(<$rl:lifetime>)?)) => {
        impl<'__request> $crate::interface::Request for $crate::__interface_ops!(@any '__request $req $($rl)?) {
            const OP: Option<u32> = $($op)+;
        }
    };
    (@any $l:lifetime $req:ident) => { $req };
    (@any $l:lifetime $req:ident $rl:lifetime) => { $req<$l> };
    (@static $req:ident) => { $req };
    (@static $req:ident $rl:lifetime) => { $req<'static> };

    // Server methods.
    (@method $lt:lifetime $err:ty [$(#[$meta:meta])*] $name:ident ($req:ident $(<$rl:lifetime>)?, answer) -> $rep:ty) => {
        $(#[$meta])*
        fn $name $(<$rl>)? (
            &mut self,
            cx: &mut dyn $crate::Context,
            request: $req $(<$rl>)?,
            answer: $crate::interface::Answer<$crate::__interface_ops!(@static $req $($rl)?)>,
        ) -> ::core::result::Result<(), $err>;
    };
    (@method $lt:lifetime $err:ty [$(#[$meta:meta])*] $name:ident ($req:ident $(<$rl:lifetime>)?) -> $rep:ty) => {
        $(#[$meta])*
        // The lifetime ties the answer to the request; an operation whose
        // types borrow nothing leaves it unused.
        #[allow(clippy::extra_unused_lifetimes)]
        fn $name<$lt>(
            &mut self,
            cx: &mut dyn $crate::Context,
            request: $req $(<$rl>)?,
        ) -> ::core::result::Result<$rep, $err>;
    };
    (@method $lt:lifetime $err:ty [$(#[$meta:meta])*] $name:ident ($req:ident $(<$rl:lifetime>)?)) => {
        $(#[$meta])*
        fn $name $(<$rl>)? (
            &mut self,
            cx: &mut dyn $crate::Context,
            message: $req $(<$rl>)?,
            badge: ::core::option::Option<$crate::Badge>,
        ) -> ::core::result::Result<(), $crate::HandleError>;
    };

    // Dispatch: untagged (one operation) or by operation number.
    (@dispatch $server:ident $cx:ident $msg:ident $err:ty [[None] $name:ident $args:tt $(-> $rep:ty)?;]) => {{
        let body = $msg.payload;
        $crate::__interface_ops!(@run $server $cx $msg body [$err] $name $args $(-> $rep)?)
    }};
    (@dispatch $server:ident $cx:ident $msg:ident $err:ty [$([Some($op:literal)] $name:ident $args:tt $(-> $rep:ty)?;)+]) => {{
        let (op, body) = $crate::interface::split_op($msg.payload)?;
        match op {
            $( $op => $crate::__interface_ops!(@run $server $cx $msg body [$err] $name $args $(-> $rep)?), )+
            _ => Err($crate::HandleError::Malformed($crate::CodecError::Invalid)),
        }
    }};

    (@run $server:ident $cx:ident $msg:ident $body:ident [$err:ty] $name:ident ($req:ident $(<$rl:lifetime>)?, answer) -> $rep:ty) => {{
        let request: $crate::__interface_ops!(@any '_ $req $($rl)?) = $crate::decode($body)?;
        let answer = $crate::interface::Answer::new($msg.reply());
        match $server.$name($cx, request, answer) {
            Ok(()) => Ok(()),
            Err(error) => {
                answer.fail($cx, $crate::Outgoing::outbox($server), error)?;
                Ok(())
            }
        }
    }};
    (@run $server:ident $cx:ident $msg:ident $body:ident [$err:ty] $name:ident ($req:ident $(<$rl:lifetime>)?) -> $rep:ty) => {{
        let request: $crate::__interface_ops!(@any '_ $req $($rl)?) = $crate::decode($body)?;
        let answer = $server.$name($cx, request);
        $crate::interface::answer_with::<_, $err>(
            $cx,
            $msg.reply(),
            $crate::Outgoing::outbox($server),
            &answer,
        )
    }};
    (@run $server:ident $cx:ident $msg:ident $body:ident [$err:ty] $name:ident ($req:ident $(<$rl:lifetime>)?)) => {{
        let message: $crate::__interface_ops!(@any '_ $req $($rl)?) = $crate::decode($body)?;
        $server.$name($cx, message, $msg.badge())
    }};
}

#[cfg(test)]
mod tests;
