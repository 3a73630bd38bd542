//! The `pinger` interface. The pinger measures round trips to `echo`: a
//! [`Run`] call makes it ping `echo` `rounds` times, and it answers with a
//! [`Summary`] once the last reply is back; [`Report`] answers at once
//! with the summary of the last finished run.

use serde::{Deserialize, Serialize};

/// Ping `echo` `rounds` times with a `payload_len`-byte request (clamped
/// to the pinger's buffer); answered with the run's [`Summary`] when its
/// last reply is back. Asked while a run is going on, it starts nothing
/// and is answered at once with the last finished run's summary.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Run {
    pub rounds: u32,
    pub payload_len: u16,
}

/// Answered with the [`Summary`] of the last finished run (all zeros
/// before the first).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Report;

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

crate::interface! {
    <'a>
    /// Starts a run; answered when it ends (kept in the pinger's state).
    0 => fn run(Run, answer) -> Summary;
    /// The last finished run.
    1 => fn report(Report) -> Summary;
}
