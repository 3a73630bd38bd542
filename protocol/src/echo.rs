//! Messages of the `echo` service: it answers every [`Request`] with a
//! [`Reply`] carrying the same sequence number and bytes.
//!
//! Fields borrow from the payload (`&[u8]`, `&str`): decoding copies nothing.

use serde::{Deserialize, Serialize};

/// Sent with `call`; answered with a [`Reply`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Request<'a> {
    pub seq: u32,
    #[serde(serialize_with = "crate::codec::as_bytes")]
    pub data: &'a [u8],
}

/// The answer: the request's `seq` and `data`, unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Reply<'a> {
    pub seq: u32,
    #[serde(serialize_with = "crate::codec::as_bytes")]
    pub data: &'a [u8],
}

crate::interface! {
    <'a>
    /// Answers with the request's `seq` and `data`, unchanged.
    fn echo(Request<'a>) -> Reply<'a>;
}
