//! The file-read benchmark's client (issue #7): reads one file of
//! [`BENCH_LEN`] bytes twice, once by mapping it (`Open`, then reading the
//! Region's memory) and once by copying it through messages (`Read` calls
//! of [`READ_CHUNK`]), and records how many clock ticks each took. The
//! guest scenario (`test=bench`) gives it the TSC, which counts guest
//! instructions under `-icount shift=0`; host tests give it a counter.
//!
//! It is an ordinary state machine with an endpoint to the fs (grant
//! [`FS_GRANT`]): it makes the file itself (`Create`, `Reserve`, `SetLen`,
//! a writable `Open` to fill it with a pattern), so it needs a writable
//! image, then measures. Both reads sum the bytes the same way, so the
//! work is not optimised away and the two can be checked equal.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mealy_protocol::fs::{Create, Open, READ_CHUNK, Read, Reserve, SetLen};
use mealy_protocol::{
    Call, CallError, CapRef, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, Outbox, Pending,
    StateMachine,
};

/// The grant naming the fs's endpoint.
pub const FS_GRANT: &str = "fs";

/// The file the benchmark makes and reads.
pub const BENCH_PATH: &str = "bench-1mib";

/// Bytes read each way.
pub const BENCH_LEN: u64 = 1024 * 1024;

/// What a run measured; shared with whoever started the task.
#[derive(Debug, Default)]
pub struct BenchResult {
    pub map_ticks: AtomicU64,
    pub copy_ticks: AtomicU64,
    pub map_sum: AtomicU64,
    pub copy_sum: AtomicU64,
    /// Both reads finished.
    pub done: AtomicBool,
    /// Something was refused (the task logged what).
    pub failed: AtomicBool,
}

impl BenchResult {
    pub const fn new() -> Self {
        Self {
            map_ticks: AtomicU64::new(0),
            copy_ticks: AtomicU64::new(0),
            map_sum: AtomicU64::new(0),
            copy_sum: AtomicU64::new(0),
            done: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        }
    }
}

/// The byte at `index` of the benchmark file.
pub fn pattern(index: u64) -> u8 {
    (index ^ (index >> 8) ^ (index >> 16)) as u8
}

/// Folds `bytes` into `sum` (wrapping, so chunking does not change it).
pub fn fold(sum: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(sum, |sum, &byte| sum.wrapping_add(u64::from(byte)))
}

/// Where the benchmark is: the call it waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Create(Pending<Create<'static>>),
    Reserve(Pending<Reserve<'static>>),
    SetLen(Pending<SetLen<'static>>),
    /// A writable open, to write the pattern.
    Fill(Pending<Open<'static>>),
    /// The timed read-only open, read by mapping.
    Map(Pending<Open<'static>>),
    /// The timed `Read` calls.
    Copy(Pending<Read<'static>>),
    Finished,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Create(_) => "Create",
            Step::Reserve(_) => "Reserve",
            Step::SetLen(_) => "SetLen",
            Step::Fill(_) => "Fill",
            Step::Map(_) => "Map",
            Step::Copy(_) => "Copy",
            Step::Finished => "Finished",
        }
    }
}

/// The benchmark task.
pub struct ReadBench {
    clock: fn() -> u64,
    result: &'static BenchResult,
    fs: Option<CapRef>,
    step: Step,
    started: u64,
    offset: u64,
    sum: u64,
    outbox: Outbox<MAX_PAYLOAD>,
}

impl ReadBench {
    pub fn new(clock: fn() -> u64, result: &'static BenchResult) -> Self {
        Self {
            clock,
            result,
            fs: None,
            step: Step::Finished,
            started: 0,
            offset: 0,
            sum: 0,
            outbox: Outbox::new(),
        }
    }

    fn call<C: Call>(
        &mut self,
        cx: &mut dyn Context,
        request: &C,
    ) -> Result<Pending<C::Marker>, HandleError> {
        let fs = self.fs.ok_or(HandleError::Fatal("no endpoint to the fs"))?;
        Ok(mealy_protocol::call(
            cx,
            fs,
            self.outbox.space(),
            request,
            &[],
        )?)
    }

    fn fail(&mut self, cx: &mut dyn Context, why: &dyn fmt::Display) {
        cx.log(format_args!("error: {}: {why}", self.step.name()));
        self.result.failed.store(true, Ordering::Relaxed);
        self.step = Step::Finished;
    }

    /// The reply in `answer`, if it is the awaited call's and a success;
    /// a failure ends the benchmark.
    fn answered<R, E: fmt::Display>(
        &mut self,
        cx: &mut dyn Context,
        answer: Option<Result<R, CallError<E>>>,
    ) -> Option<R> {
        match answer? {
            Ok(reply) => Some(reply),
            Err(error) => {
                self.fail(cx, &error);
                None
            }
        }
    }

    /// The next `Read` call, from `offset`.
    fn read_next(&mut self, cx: &mut dyn Context) -> Result<Step, HandleError> {
        let read = Read {
            path: BENCH_PATH,
            offset: self.offset,
            len: READ_CHUNK,
        };
        Ok(Step::Copy(self.call(cx, &read)?))
    }

    /// Goes on after the awaited answer `msg` (anything else is ignored).
    fn resume(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Result<(), HandleError> {
        let path = BENCH_PATH;
        let next = match self.step {
            Step::Create(call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let reserve = Reserve {
                    path,
                    capacity: BENCH_LEN,
                };
                Step::Reserve(self.call(cx, &reserve)?)
            }
            Step::Reserve(call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let set_len = SetLen {
                    path,
                    len: BENCH_LEN,
                };
                Step::SetLen(self.call(cx, &set_len)?)
            }
            Step::SetLen(call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                Step::Fill(self.call(cx, &Open { path, write: true })?)
            }
            Step::Fill(call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let &[region] = msg.caps() else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                if let Ok(bytes) = cx.region_mut(region) {
                    for (index, byte) in bytes.iter_mut().take(BENCH_LEN as usize).enumerate() {
                        *byte = pattern(index as u64);
                    }
                }
                cx.drop_cap(region)?;
                self.started = (self.clock)();
                Step::Map(self.call(cx, &Open { path, write: false })?)
            }
            Step::Map(call) => {
                let Some(opened) = self.answered(cx, call.answer(msg)) else {
                    return Ok(());
                };
                let &[region] = msg.caps() else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                let len = opened.size.min(BENCH_LEN) as usize;
                let sum = cx
                    .region(region)
                    .map(|bytes| fold(0, bytes.get(..len).unwrap_or(bytes)))
                    .unwrap_or(0);
                cx.drop_cap(region)?;
                let ticks = (self.clock)().wrapping_sub(self.started);
                self.result.map_ticks.store(ticks, Ordering::Relaxed);
                self.result.map_sum.store(sum, Ordering::Relaxed);
                self.offset = 0;
                self.sum = 0;
                self.started = (self.clock)();
                self.read_next(cx)?
            }
            Step::Copy(call) => {
                let Some(data) = self.answered(cx, call.answer(msg)) else {
                    return Ok(());
                };
                self.sum = fold(self.sum, data.bytes);
                self.offset += data.bytes.len() as u64;
                if data.bytes.is_empty() || self.offset >= BENCH_LEN {
                    let ticks = (self.clock)().wrapping_sub(self.started);
                    self.result.copy_ticks.store(ticks, Ordering::Relaxed);
                    self.result.copy_sum.store(self.sum, Ordering::Relaxed);
                    self.result.done.store(true, Ordering::Relaxed);
                    Step::Finished
                } else {
                    self.read_next(cx)?
                }
            }
            Step::Finished => return Ok(()),
        };
        self.step = next;
        Ok(())
    }
}

impl StateMachine for ReadBench {
    fn name(&self) -> &'static str {
        "fs-bench"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.fs = grants.get(FS_GRANT);
        if self.fs.is_none() {
            self.fail(cx, &"no endpoint to the fs");
            return Ok(());
        }
        self.step = Step::Create(self.call(cx, &Create { path: BENCH_PATH })?);
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        self.resume(cx, &msg)
    }
}
