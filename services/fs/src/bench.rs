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

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mealy_protocol::fs::{READ_CHUNK, Reply, Request};
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, MessageKind, Outbox, StateMachine,
    decode,
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Create,
    Reserve,
    SetLen,
    Fill,
    Map,
    Copy,
    Finished,
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
            step: Step::Create,
            started: 0,
            offset: 0,
            sum: 0,
            outbox: Outbox::new(),
        }
    }

    fn call(&mut self, cx: &mut dyn Context, request: &Request<'_>) -> Result<(), HandleError> {
        let fs = self.fs.ok_or(HandleError::Fatal("no endpoint to the fs"))?;
        let bytes = self.outbox.encode(request)?;
        cx.call(fs, bytes, &[])?;
        Ok(())
    }

    fn fail(&mut self, cx: &mut dyn Context, why: &dyn core::fmt::Display) {
        cx.log(format_args!("error: {:?}: {why}", self.step));
        self.result.failed.store(true, Ordering::Relaxed);
        self.step = Step::Finished;
    }

    /// Sends the request of the current step.
    fn next(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        let path = BENCH_PATH;
        match self.step {
            Step::Create => self.call(cx, &Request::Create { path }),
            Step::Reserve => self.call(
                cx,
                &Request::Reserve {
                    path,
                    capacity: BENCH_LEN,
                },
            ),
            Step::SetLen => self.call(
                cx,
                &Request::SetLen {
                    path,
                    len: BENCH_LEN,
                },
            ),
            Step::Fill => self.call(cx, &Request::Open { path, write: true }),
            Step::Map => {
                self.started = (self.clock)();
                self.call(cx, &Request::Open { path, write: false })
            }
            Step::Copy => {
                if self.offset == 0 {
                    self.started = (self.clock)();
                }
                let len = READ_CHUNK;
                let offset = self.offset;
                self.call(cx, &Request::Read { path, offset, len })
            }
            Step::Finished => Ok(()),
        }
    }

    fn answered(
        &mut self,
        cx: &mut dyn Context,
        reply: Reply<'_>,
        caps: &[CapRef],
    ) -> Result<(), HandleError> {
        match (self.step, reply) {
            (Step::Create, Reply::Done) => self.step = Step::Reserve,
            (Step::Reserve, Reply::Done) => self.step = Step::SetLen,
            (Step::SetLen, Reply::Done) => self.step = Step::Fill,
            (Step::Fill, Reply::Opened { .. }) => {
                let &[region] = caps else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                if let Ok(bytes) = cx.region_mut(region) {
                    for (index, byte) in bytes.iter_mut().take(BENCH_LEN as usize).enumerate() {
                        *byte = pattern(index as u64);
                    }
                }
                cx.drop_cap(region)?;
                self.step = Step::Map;
            }
            (Step::Map, Reply::Opened { size, .. }) => {
                let &[region] = caps else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                let len = size.min(BENCH_LEN) as usize;
                let sum = cx
                    .region(region)
                    .map(|bytes| fold(0, bytes.get(..len).unwrap_or(bytes)))
                    .unwrap_or(0);
                cx.drop_cap(region)?;
                let ticks = (self.clock)().wrapping_sub(self.started);
                self.result.map_ticks.store(ticks, Ordering::Relaxed);
                self.result.map_sum.store(sum, Ordering::Relaxed);
                self.step = Step::Copy;
            }
            (Step::Copy, Reply::Data { bytes }) => {
                self.sum = fold(self.sum, bytes);
                self.offset += bytes.len() as u64;
                if bytes.is_empty() || self.offset >= BENCH_LEN {
                    let ticks = (self.clock)().wrapping_sub(self.started);
                    self.result.copy_ticks.store(ticks, Ordering::Relaxed);
                    self.result.copy_sum.store(self.sum, Ordering::Relaxed);
                    self.result.done.store(true, Ordering::Relaxed);
                    self.step = Step::Finished;
                }
            }
            (_, Reply::Error(error)) => {
                self.fail(cx, &error);
                return Ok(());
            }
            _ => {
                self.fail(cx, &"unexpected answer");
                return Ok(());
            }
        }
        self.next(cx)
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
        self.next(cx)
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::Reply { .. } => {
                let reply: Reply<'_> = decode(msg.payload)?;
                let caps: alloc::vec::Vec<CapRef> = msg.caps().to_vec();
                self.answered(cx, reply, &caps)
            }
            MessageKind::CallFailed { reason, .. } => {
                self.fail(cx, &reason);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
