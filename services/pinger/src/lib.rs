//! The pinger: calls the echo service again and again and checks every
//! answer, one call in flight at a time. It is the client half of the IPC
//! benchmark and the guest's `bench` command.
//!
//! It finds echo under the grant named `"echo"`. A run starts at boot
//! (`Pinger::new(rounds, ..)` with `rounds > 0`) or when a client calls
//! `pinger::Run`; the client's [`Answer`] is kept in the state and gets
//! the `pinger::Summary` when the last answer is back. `pinger::Report`
//! answers at once with the last finished run. Never blocks: each answer
//! arrives as a message and triggers the next call.
//!
//! A call to echo that fails, is failed by the kernel, or is answered
//! with other bytes counts as a mismatch. A call that cannot even be made
//! (no echo grant, echo gone) ends the run there: the client still gets
//! its summary, and the error goes to the kernel (or, in the `run`
//! handler, whose interface has no error to answer with, to the log).
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, depends only on `mealy-protocol`.
#![no_std]
#![forbid(unsafe_code)]

use mealy_protocol::pinger::{self, Report, Run, Summary};
use mealy_protocol::{
    Answer, CallError, CapRef, Context, Grants, HandleError, Incoming, IpcError, Never, Outbox,
    Outgoing, Pending, StateMachine, bytes_equal, echo,
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
    /// Rounds to run at start (0: wait for a `Run`).
    autostart: u32,
    remaining: u32,
    seq: u32,
    in_flight: Option<Pending<echo::Request<'static>>>,
    started_ns: u64,
    current: Summary,
    /// The last finished run.
    pub last: Option<Summary>,
    /// The client waiting for the summary of the current run.
    client: Option<Answer<Run>>,
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

    /// Sends the next ping, or finishes the run. A call that cannot be
    /// made ends the run, and is the error returned.
    #[inline]
    fn next(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        if self.remaining == 0 {
            self.finish(cx);
            return Ok(());
        }
        let Some(echo) = self.echo else {
            return self.cannot_call(cx, IpcError::InvalidCap);
        };
        self.remaining -= 1;
        self.seq = self.seq.wrapping_add(1);
        let request = echo::Request {
            seq: self.seq,
            data: &self.data[..self.data_len],
        };
        match mealy_protocol::call(cx, echo, self.outbox.space(), &request, &[]) {
            Ok(pending) => {
                self.in_flight = Some(pending);
                Ok(())
            }
            Err(error) => self.cannot_call(cx, error),
        }
    }

    /// Ends the run on a call that could not be made.
    #[cold]
    fn cannot_call(&mut self, cx: &mut dyn Context, error: IpcError) -> Result<(), HandleError> {
        self.current.mismatches += 1;
        self.finish(cx);
        Err(error.into())
    }

    fn finish(&mut self, cx: &mut dyn Context) {
        self.in_flight = None;
        self.current.elapsed_ns = cx.now_ns().saturating_sub(self.started_ns);
        let summary = self.current;
        self.last = Some(summary);
        cx.log(format_args!(
            "{} round trips, {} mismatches, {} ns",
            summary.completed, summary.mismatches, summary.elapsed_ns
        ));
        if let Some(client) = self.client.take()
            && let Err(error) = client.send(cx, self.outbox.space(), &summary, &[])
        {
            cx.log(format_args!("cannot answer the run's client: {error}"));
        }
    }

    /// Counts the answer to the call in flight as completed or mismatched.
    #[inline]
    fn count(&mut self, answer: Result<echo::Reply<'_>, CallError<Never>>) {
        let matches = match answer {
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
}

impl Outgoing for Pinger {
    #[inline]
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl pinger::Server for Pinger {
    fn run(
        &mut self,
        cx: &mut dyn Context,
        request: Run,
        answer: Answer<Run>,
    ) -> Result<(), Never> {
        if self.running() {
            // One run at a time: the second client hears about the last.
            let last = self.last.unwrap_or_default();
            if let Err(error) = answer.send(cx, self.outbox.space(), &last, &[]) {
                cx.log(format_args!("cannot answer a run: {error}"));
            }
            return Ok(());
        }
        self.data_len = usize::from(request.payload_len).min(MAX_DATA);
        self.client = Some(answer);
        // The client has its summary either way; the reason is logged.
        if let Err(error) = self.begin(cx, request.rounds) {
            cx.log(format_args!("cannot call echo: {error}; the run ends"));
        }
        Ok(())
    }

    fn report<'a>(&mut self, _: &mut dyn Context, _: Report) -> Result<Summary, Never> {
        Ok(self.last.unwrap_or_default())
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
        // The answer to the call in flight; any other reply (one from
        // before a failed call ended the run) is stale, and `serve`
        // ignores it with everything else that is not a request.
        if let Some(pending) = self.in_flight
            && let Some(answer) = pending.answer(&msg)
        {
            self.count(answer);
            return self.next(cx);
        }
        pinger::serve(self, cx, &msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::testing::{FakeContext, Operation};
    use mealy_protocol::{CallFailure, CallToken, Grant, decode};

    /// A started pinger (`rounds` at start, 0: wait for a `Run`) and its
    /// context, where echo is a test-played endpoint.
    fn started(rounds: u32) -> (FakeContext, Pinger) {
        let mut cx = FakeContext::new();
        let mut pinger = Pinger::new(rounds, 4);
        let echo = cx.endpoint("echo");
        cx.start(
            &mut pinger,
            &[Grant {
                name: "echo",
                cap: echo,
            }],
        )
        .unwrap();
        (cx, pinger)
    }

    /// Calls the pinger with `request`; the client's Reply capability.
    fn ask<C: mealy_protocol::Call>(
        cx: &mut FakeContext,
        pinger: &mut Pinger,
        request: &C,
    ) -> CapRef {
        let (msg, client) = cx.call_request(request);
        cx.deliver(pinger, &msg).unwrap();
        client
    }

    fn run(rounds: u32, payload_len: u16) -> Run {
        Run {
            rounds,
            payload_len,
        }
    }

    /// Plays echo for the pinger's last call: its request, unchanged.
    fn echo_back(cx: &mut FakeContext, pinger: &mut Pinger) {
        let call = cx.calls.last().expect("a call to echo");
        assert_eq!(call.to, "echo");
        let request: echo::Request<'_> = decode(&call.payload).unwrap();
        let reply = echo::Reply {
            seq: request.seq,
            data: request.data,
        };
        let answer = cx.answer_call::<echo::Request>(call.token, &reply);
        cx.deliver(pinger, &answer).unwrap();
    }

    /// `(completed, mismatches)` of the summary the client got.
    fn counts(cx: &FakeContext, client: CapRef) -> (u32, u32) {
        let summary = cx.answer::<Run>(client).expect("answered").unwrap();
        (summary.completed, summary.mismatches)
    }

    #[test]
    fn a_run_calls_echo_n_times_and_answers_the_client_with_the_summary() {
        let (mut cx, mut pinger) = started(0);
        cx.now_ns = 1_000;
        let client = ask(&mut cx, &mut pinger, &run(3, 5));
        for round in 1..=3 {
            assert_eq!(cx.calls.len(), round, "one call in flight at a time");
            let request: echo::Request<'_> = decode(&cx.calls[round - 1].payload).unwrap();
            assert_eq!(request.data, [0, 1, 2, 3, 4]);
            assert_eq!(cx.answer::<Run>(client), None, "not before the last reply");
            cx.now_ns += 100;
            echo_back(&mut cx, &mut pinger);
        }
        let summary = Summary {
            completed: 3,
            mismatches: 0,
            elapsed_ns: 300,
        };
        assert_eq!(cx.answer::<Run>(client), Some(Ok(summary)));
        assert_eq!(cx.calls.len(), 3);
        assert!(!pinger.running());
        assert_eq!(pinger.last, Some(summary));
    }

    #[test]
    fn wrong_answers_and_failed_calls_count_as_mismatches() {
        let (mut cx, mut pinger) = started(0);
        let client = ask(&mut cx, &mut pinger, &run(4, 2));
        let token = |cx: &FakeContext| cx.calls.last().unwrap().token;
        let answers = [
            // Other bytes.
            |cx: &FakeContext, token| {
                let reply = echo::Reply {
                    seq: 1,
                    data: b"xx",
                };
                cx.answer_call::<echo::Request>(token, &reply)
            },
            // Another sequence number.
            |cx: &FakeContext, token| {
                let reply = echo::Reply {
                    seq: 1,
                    data: &[0, 1],
                };
                cx.answer_call::<echo::Request>(token, &reply)
            },
            // Echo died.
            |cx: &FakeContext, token| cx.fail_call(token, CallFailure::PeerDied),
            // An answer that does not decode.
            |cx: &FakeContext, token| cx.answer_call_bytes(token, &[0xff]),
        ];
        for answer in answers {
            let msg = answer(&cx, token(&cx));
            cx.deliver(&mut pinger, &msg).unwrap();
        }
        assert_eq!(counts(&cx, client), (0, 4));
    }

    #[test]
    fn a_stale_reply_is_ignored() {
        let (mut cx, mut pinger) = started(0);
        let client = ask(&mut cx, &mut pinger, &run(2, 0));
        let first = cx.calls[0].token;
        echo_back(&mut cx, &mut pinger);
        // The first call's answer again, and one to a call never made.
        for token in [first, CallToken(99)] {
            let reply = echo::Reply { seq: 2, data: b"" };
            let stale = cx.answer_call::<echo::Request>(token, &reply);
            cx.deliver(&mut pinger, &stale).unwrap();
        }
        assert_eq!(cx.calls.len(), 2, "no call made for a stale reply");
        assert!(pinger.running());
        assert_eq!(cx.answer::<Run>(client), None);
        echo_back(&mut cx, &mut pinger);
        assert_eq!(counts(&cx, client), (2, 0));
    }

    #[test]
    fn a_report_answers_the_last_summary() {
        let (mut cx, mut pinger) = started(0);
        let before = ask(&mut cx, &mut pinger, &Report);
        assert_eq!(cx.answer::<Report>(before), Some(Ok(Summary::default())));
        ask(&mut cx, &mut pinger, &run(1, 1));
        echo_back(&mut cx, &mut pinger);
        let after = ask(&mut cx, &mut pinger, &Report);
        let summary = cx.answer::<Report>(after).unwrap().unwrap();
        assert_eq!((summary.completed, summary.mismatches), (1, 0));
    }

    #[test]
    fn a_second_run_while_running_gets_the_last_summary_and_starts_nothing() {
        let (mut cx, mut pinger) = started(0);
        let first = ask(&mut cx, &mut pinger, &run(2, 3));
        let second = ask(&mut cx, &mut pinger, &run(50, 9));
        assert_eq!(cx.answer::<Run>(second), Some(Ok(Summary::default())));
        assert_eq!(cx.calls.len(), 1, "the second run made no call");
        echo_back(&mut cx, &mut pinger);
        echo_back(&mut cx, &mut pinger);
        assert_eq!(counts(&cx, first), (2, 0));
        assert_eq!(cx.calls.len(), 2);
    }

    #[test]
    fn a_call_that_cannot_be_made_ends_the_run_and_still_answers() {
        let (mut cx, mut pinger) = started(0);
        cx.fail(Operation::Call, IpcError::DeadTask);
        let client = ask(&mut cx, &mut pinger, &run(5, 1));
        assert_eq!(counts(&cx, client), (0, 1));
        assert!(!pinger.running());
        assert!(cx.logs.iter().any(|line| line.contains("cannot call echo")));
    }

    #[test]
    fn a_run_at_start_needs_no_client() {
        let (mut cx, mut pinger) = started(2);
        echo_back(&mut cx, &mut pinger);
        echo_back(&mut cx, &mut pinger);
        assert_eq!(pinger.last.map(|last| last.completed), Some(2));
        assert!(cx.replies.is_empty());
    }

    #[test]
    fn a_payload_that_is_no_command_is_malformed() {
        let (mut cx, mut pinger) = started(0);
        let (bad, _) = cx.call_with_payload(&[7]);
        assert!(matches!(
            cx.deliver(&mut pinger, &bad),
            Err(HandleError::Malformed(_))
        ));
    }
}
