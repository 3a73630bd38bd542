//! The health check every service made by `cargo xtask new-service`
//! answers: a [`Ping`] call, answered with a [`Pong`] naming the service.
//! The kernel's `test=ping` probe sends it to every boot task.

use serde::{Deserialize, Serialize};

/// Sent with `call`; answered with a [`Pong`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Ping {
    pub seq: u32,
}

/// The answer: the ping's `seq` and the answering service's name.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Pong<'a> {
    pub seq: u32,
    pub name: &'a str,
}

crate::interface! {
    <'a>
    /// Answers with the ping's `seq` and the service's name.
    fn ping(Ping) -> Pong<'a>;
}
