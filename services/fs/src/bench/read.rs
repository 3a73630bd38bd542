//! The file-read benchmark (issue 7; split in two by issue 17): what it
//! costs to get access to a file, and what it costs to read its bytes.
//!
//! - **Access**: `Open` (read-only) of a file, a look at the Region that
//!   comes with the answer (`cx.region`: where a ring-3 task's domain
//!   would map it), and dropping it again; [`OPEN_ROUNDS`] times for each
//!   of [`FILES`], a small and a large one. A file is a Region, so this
//!   should not grow with its size: the two means show whether it does.
//!   `test=bench` runs this task in ring 0, where the look is a
//!   capability check; a ring-3 program would also have its domain map
//!   the Region's pages (`Syscall::Region`), a cost per page that this
//!   figure does not include.
//! - **Reading**: the large file's bytes summed through its Region (the
//!   open not counted), against the same bytes copied through `Read`
//!   calls of [`READ_CHUNK`] and summed. Both sum the same way, so the
//!   work is not optimised away and the two can be checked equal.
//!
//! The task makes the files itself first (`Create`, `Reserve`, a writable
//! `Open` to fill them with [`pattern`], `SetLen`), so it needs a writable
//! fs; both are then private copies in the fs's memory, which is what an
//! `Open` after a change hands out.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mealy_protocol::fs::{Create, Open, READ_CHUNK, Read, Reserve, SetLen};
use mealy_protocol::{CallError, Context, Grants, HandleError, Incoming, Pending, StateMachine};

use super::{FS_GRANT, FsClient, fold, pattern};

/// The files the benchmark makes: (path, bytes). The last is the one read.
pub const FILES: [(&str, u64); 2] = [("bench-4kib", 4 * 1024), ("bench-1mib", 1024 * 1024)];

/// Timed opens of each file; the figure is their mean.
pub const OPEN_ROUNDS: u64 = 16;

/// The file read both ways: the last of [`FILES`].
const READ_FILE: usize = FILES.len() - 1;

/// What a run measured; shared with whoever started the task.
#[derive(Debug)]
pub struct ReadResult {
    /// Ticks per `Open`, look and drop, for each of [`FILES`] (the mean of
    /// [`OPEN_ROUNDS`]).
    pub open_ticks: [AtomicU64; FILES.len()],
    /// Ticks to sum the read file's bytes through its Region.
    pub map_ticks: AtomicU64,
    /// Ticks to copy them through `Read` calls and sum them.
    pub copy_ticks: AtomicU64,
    pub map_sum: AtomicU64,
    pub copy_sum: AtomicU64,
    /// Every measurement finished.
    pub done: AtomicBool,
    /// Something was refused (the task logged what).
    pub failed: AtomicBool,
}

impl Default for ReadResult {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadResult {
    pub const fn new() -> Self {
        Self {
            open_ticks: [const { AtomicU64::new(0) }; FILES.len()],
            map_ticks: AtomicU64::new(0),
            copy_ticks: AtomicU64::new(0),
            map_sum: AtomicU64::new(0),
            copy_sum: AtomicU64::new(0),
            done: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        }
    }
}

/// Where the benchmark is: the call it waits for, and for which file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Create(usize, Pending<Create<'static>>),
    Reserve(usize, Pending<Reserve<'static>>),
    /// A writable open, to write the pattern.
    Fill(usize, Pending<Open<'static>>),
    SetLen(usize, Pending<SetLen<'static>>),
    /// A timed read-only open: the file and the round.
    Access(usize, u64, Pending<Open<'static>>),
    /// The read-only open whose Region is then read (not timed).
    Map(Pending<Open<'static>>),
    /// The timed `Read` calls.
    Copy(Pending<Read<'static>>),
    Finished,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Create(..) => "Create",
            Step::Reserve(..) => "Reserve",
            Step::Fill(..) => "Fill",
            Step::SetLen(..) => "SetLen",
            Step::Access(..) => "Access",
            Step::Map(_) => "Map",
            Step::Copy(_) => "Copy",
            Step::Finished => "Finished",
        }
    }
}

/// The read benchmark's task.
pub struct ReadBench {
    clock: fn() -> u64,
    result: &'static ReadResult,
    fs: FsClient,
    step: Step,
    /// The clock when the timed operation began.
    started: u64,
    /// Ticks of the timed opens of the current file so far.
    opening: u64,
    offset: u64,
    sum: u64,
}

impl ReadBench {
    pub fn new(clock: fn() -> u64, result: &'static ReadResult) -> Self {
        Self {
            clock,
            result,
            fs: FsClient::new(),
            step: Step::Finished,
            started: 0,
            opening: 0,
            offset: 0,
            sum: 0,
        }
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

    /// Makes file `file`, or goes on to the timed opens after the last.
    fn create(&mut self, cx: &mut dyn Context, file: usize) -> Result<Step, HandleError> {
        match FILES.get(file) {
            Some(&(path, _)) => Ok(Step::Create(file, self.fs.call(cx, &Create { path })?)),
            None => self.access(cx, 0, 0),
        }
    }

    /// Starts timed open `round` of file `file`, or goes on.
    fn access(
        &mut self,
        cx: &mut dyn Context,
        file: usize,
        round: u64,
    ) -> Result<Step, HandleError> {
        if round == OPEN_ROUNDS {
            if let Some(slot) = self.result.open_ticks.get(file) {
                slot.store(self.opening / OPEN_ROUNDS, Ordering::Relaxed);
            }
            self.opening = 0;
            return self.access(cx, file + 1, 0);
        }
        let Some(&(path, _)) = FILES.get(file) else {
            let path = FILES[READ_FILE].0;
            return Ok(Step::Map(self.fs.call(cx, &Open { path, write: false })?));
        };
        self.started = (self.clock)();
        let open = Open { path, write: false };
        Ok(Step::Access(file, round, self.fs.call(cx, &open)?))
    }

    /// The next `Read` call, from `offset`.
    fn read_next(&mut self, cx: &mut dyn Context) -> Result<Step, HandleError> {
        let read = Read {
            path: FILES[READ_FILE].0,
            offset: self.offset,
            len: READ_CHUNK,
        };
        Ok(Step::Copy(self.fs.call(cx, &read)?))
    }

    /// Goes on after the awaited answer `msg` (anything else is ignored).
    fn resume(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Result<(), HandleError> {
        let next = match self.step {
            Step::Create(file, call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let (path, len) = FILES[file];
                let reserve = Reserve {
                    path,
                    capacity: len,
                };
                Step::Reserve(file, self.fs.call(cx, &reserve)?)
            }
            Step::Reserve(file, call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let path = FILES[file].0;
                Step::Fill(file, self.fs.call(cx, &Open { path, write: true })?)
            }
            Step::Fill(file, call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                let &[region] = msg.caps() else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                let (path, len) = FILES[file];
                if let Ok(bytes) = cx.region_mut(region) {
                    for (index, byte) in bytes.iter_mut().take(len as usize).enumerate() {
                        *byte = pattern(index as u64);
                    }
                }
                cx.drop_cap(region)?;
                Step::SetLen(file, self.fs.call(cx, &SetLen { path, len })?)
            }
            Step::SetLen(file, call) => {
                if self.answered(cx, call.answer(msg)).is_none() {
                    return Ok(());
                }
                self.create(cx, file + 1)?
            }
            Step::Access(file, round, call) => {
                let Some(opened) = self.answered(cx, call.answer(msg)) else {
                    return Ok(());
                };
                let &[region] = msg.caps() else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                let whole = cx
                    .region(region)
                    .is_ok_and(|bytes| bytes.len() as u64 >= opened.size);
                cx.drop_cap(region)?;
                self.opening += (self.clock)().wrapping_sub(self.started);
                if !whole {
                    self.fail(cx, &"the Region does not hold the whole file");
                    return Ok(());
                }
                self.access(cx, file, round + 1)?
            }
            Step::Map(call) => {
                let Some(opened) = self.answered(cx, call.answer(msg)) else {
                    return Ok(());
                };
                let &[region] = msg.caps() else {
                    self.fail(cx, &"no Region came with the open");
                    return Ok(());
                };
                let len = opened.size.min(FILES[READ_FILE].1) as usize;
                let started = (self.clock)();
                let sum = cx
                    .region(region)
                    .map(|bytes| fold(0, bytes.get(..len).unwrap_or(bytes)))
                    .unwrap_or(0);
                let ticks = (self.clock)().wrapping_sub(started);
                cx.drop_cap(region)?;
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
                if data.bytes.is_empty() || self.offset >= FILES[READ_FILE].1 {
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
        self.fs.fs = grants.get(FS_GRANT);
        if self.fs.fs.is_none() {
            self.fail(cx, &"no endpoint to the fs");
            return Ok(());
        }
        self.step = self.create(cx, 0)?;
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        self.resume(cx, &msg)
    }
}
