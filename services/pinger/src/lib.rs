//! The pinger: calls the echo service again and again and checks every
//! answer, one call in flight at a time. It is the client half of the IPC
//! benchmark and the guest's `bench` command.
//!
//! It finds echo under the grant named `"echo"`. A run starts at boot
//! (`Pinger::new(rounds, ..)` with `rounds > 0`) or when a client calls
//! with `pinger::Command::Run`; the client gets the `pinger::Summary` when
//! the last answer is back. Never blocks: each answer arrives as a message
//! and triggers the next call.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, depends only on `mealy-protocol`.
#![no_std]
#![forbid(unsafe_code)]

use mealy_protocol::pinger::{Command, Summary};
use mealy_protocol::{
    CallToken, CapRef, Context, Grants, HandleError, Incoming, IpcError, MessageKind, Outbox,
    StateMachine, bytes_equal, decode, echo,
};

/// The largest ping the pinger sends, in data bytes.
pub const MAX_DATA: usize = 1024;

/// The pinger's state.
#[derive(Debug)]
pub struct Pinger {
    echo: Option<CapRef>,
    outbox: Outbox<{ MAX_DATA + 16 }>,
    data: [u8; MAX_DATA],
    data_len: usize,
    /// Rounds to run at start (0: wait for a `Command::Run`).
    autostart: u32,
    remaining: u32,
    seq: u32,
    in_flight: Option<CallToken>,
    started_ns: u64,
    current: Summary,
    /// The last finished run.
    pub last: Option<Summary>,
    /// The client waiting for the summary of the current run.
    client: Option<CapRef>,
}

impl Pinger {
    /// A pinger that runs `rounds` round trips of `data_len`-byte pings
    /// (clamped to [`MAX_DATA`]) as soon as it starts.
    pub fn new(rounds: u32, data_len: usize) -> Self {
        let mut data = [0u8; MAX_DATA];
        for (index, byte) in data.iter_mut().enumerate() {
            *byte = index as u8;
        }
        Self {
            echo: None,
            outbox: Outbox::new(),
            data,
            data_len: data_len.min(MAX_DATA),
            autostart: rounds,
            remaining: 0,
            seq: 0,
            in_flight: None,
            started_ns: 0,
            current: Summary::default(),
            last: None,
            client: None,
        }
    }

    /// Whether a run is going on.
    pub fn running(&self) -> bool {
        self.in_flight.is_some()
    }

    fn begin(&mut self, cx: &mut dyn Context, rounds: u32) -> Result<(), HandleError> {
        self.current = Summary::default();
        self.remaining = rounds;
        self.started_ns = cx.now_ns();
        self.next(cx)
    }

    /// Sends the next ping, or finishes the run.
    fn next(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        if self.remaining == 0 {
            return self.finish(cx);
        }
        let echo = self.echo.ok_or(IpcError::InvalidCap)?;
        self.remaining -= 1;
        self.seq = self.seq.wrapping_add(1);
        let request = self.outbox.encode(&echo::Request {
            seq: self.seq,
            data: &self.data[..self.data_len],
        })?;
        match cx.call(echo, request, &[]) {
            Ok(token) => {
                self.in_flight = Some(token);
                Ok(())
            }
            Err(error) => {
                self.in_flight = None;
                self.current.mismatches += 1;
                self.finish(cx)?;
                Err(error.into())
            }
        }
    }

    fn finish(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        self.in_flight = None;
        self.current.elapsed_ns = cx.now_ns().saturating_sub(self.started_ns);
        let summary = self.current;
        self.last = Some(summary);
        cx.log(format_args!(
            "{} round trips, {} mismatches, {} ns",
            summary.completed, summary.mismatches, summary.elapsed_ns
        ));
        if let Some(client) = self.client.take() {
            let bytes = self.outbox.encode(&summary)?;
            cx.reply(client, bytes, &[])?;
        }
        Ok(())
    }

    /// Counts the answer to the call in flight as completed or mismatched.
    fn answer(&mut self, payload: &[u8]) {
        let matches = match decode::<echo::Reply<'_>>(payload) {
            Ok(reply) => {
                reply.seq == self.seq && bytes_equal(reply.data, &self.data[..self.data_len])
            }
            Err(_) => false,
        };
        if matches {
            self.current.completed += 1;
        } else {
            self.current.mismatches += 1;
        }
    }

    fn command(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Result<(), HandleError> {
        let command: Command = decode(msg.payload)?;
        let Some(client) = msg.reply() else {
            return Ok(());
        };
        match command {
            Command::Run {
                rounds,
                payload_len,
            } if !self.running() => {
                self.data_len = usize::from(payload_len).min(MAX_DATA);
                self.client = Some(client);
                self.begin(cx, rounds)
            }
            Command::Run { .. } | Command::Report => {
                let bytes = self.outbox.encode(&self.last.unwrap_or_default())?;
                cx.reply(client, bytes, &[])?;
                Ok(())
            }
        }
    }
}

impl StateMachine for Pinger {
    fn name(&self) -> &'static str {
        "pinger"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.echo = grants.get("echo");
        if self.autostart > 0 {
            return self.begin(cx, self.autostart);
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::Request => self.command(cx, &msg),
            // A reply to anything but the call in flight (one from before a
            // failed call ended the run) is stale and ignored.
            MessageKind::Reply { token } if self.in_flight == Some(token) => {
                self.answer(msg.payload);
                self.next(cx)
            }
            MessageKind::CallFailed { token, .. } if self.in_flight == Some(token) => {
                self.current.mismatches += 1;
                self.next(cx)
            }
            _ => Ok(()),
        }
    }
}
