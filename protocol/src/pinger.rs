//! Messages of the `pinger` service, which measures round trips to `echo`:
//! a [`Command::Run`] call makes it ping `echo` `rounds` times, and it
//! answers with a [`Summary`] once the last reply is back.

use serde::{Deserialize, Serialize};

/// What a client may ask of the pinger.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Ping `echo` `rounds` times with a `payload_len`-byte request
    /// (clamped to the pinger's buffer); answer with a [`Summary`].
    Run { rounds: u32, payload_len: u16 },
    /// Answer with the [`Summary`] of the last finished run.
    Report,
}

/// The result of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Round trips completed with a matching reply.
    pub completed: u32,
    /// Replies whose sequence number or bytes did not match, or failed calls.
    pub mismatches: u32,
    /// Wall time from the first call to the last reply, per the kernel clock.
    pub elapsed_ns: u64,
}
