//! The write benchmark (issue 17's figures): what mounting, writing and
//! syncing cost, measured from a client of the fs interface, so it
//! measures whatever the fs does for them (a `Sync` that writes through
//! the disk driver is counted with the driver's work and the kernel's
//! messages).
//!
//! 1. **Mount**: the task's first call (`Stat` of the root) is answered
//!    only once the fs has mounted (a disk mount holds requests until it
//!    ends), so the time from the task's start to that answer is the
//!    mount, when the task is started just before the fs.
//! 2. **Large file**: `Create`, `Reserve` of [`Workload::large`] bytes, a
//!    writable `Open` whose Region is then written (a distinct byte per
//!    4 KiB block), `SetLen`, then `Sync`.
//! 3. **Small files**: [`Workload::small_files`] times `Create`, writable
//!    `Open` and its bytes, `SetLen`; then one `Sync`.
//!
//! Each figure is also split at the `Sync`, and each counts the device
//! waits the clock saw. A `Stat` after each `Sync` checks the last file's
//! size and that it is clean. Everything lives under [`DIR`]: what a
//! previous run left there is removed first and everything made is removed
//! (and synced) at the end, untimed, so a persistent disk keeps the files
//! it had.

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mealy_protocol::fs::{Create, Done, FsError, Mkdir, Open, Remove, Reserve, SetLen, Stat, Sync};
use mealy_protocol::{
    CallError, CapRef, Context, Grants, HandleError, Incoming, Pending, StateMachine,
};

use super::{Clock, FS_GRANT, FsClient, Sample};

/// The directory the benchmark works in.
pub const DIR: &str = "/bench-write";

/// What the benchmark writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Workload {
    /// The large file's bytes.
    pub large: u64,
    /// How many small files.
    pub small_files: u32,
    /// Each small file's bytes.
    pub small_len: u64,
}

impl Workload {
    /// Issue 17's: 4 MiB, and 1,000 files of 1 KiB.
    pub const FULL: Workload = Workload {
        large: 4 * 1024 * 1024,
        small_files: 1000,
        small_len: 1024,
    };
}

/// One measured interval: ticks of the clock, and device waits in it.
#[derive(Debug)]
pub struct Figure {
    pub ticks: AtomicU64,
    pub waits: AtomicU64,
}

impl Figure {
    pub const fn new() -> Self {
        Self {
            ticks: AtomicU64::new(0),
            waits: AtomicU64::new(0),
        }
    }

    fn record(&self, from: Sample, to: Sample) {
        let (ticks, waits) = from.until(to);
        self.ticks.store(ticks, Ordering::Relaxed);
        self.waits.store(waits, Ordering::Relaxed);
    }

    /// (ticks, waits).
    pub fn get(&self) -> (u64, u64) {
        (
            self.ticks.load(Ordering::Relaxed),
            self.waits.load(Ordering::Relaxed),
        )
    }
}

impl Default for Figure {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run measured; shared with whoever started the task.
#[derive(Debug, Default)]
pub struct WriteResult {
    /// From the task's start to the answer of its first call.
    pub mount: Figure,
    /// The large file, its `Sync` included, and that `Sync` alone.
    pub large: Figure,
    pub large_sync: Figure,
    /// The small files, their `Sync` included, and that `Sync` alone.
    pub small: Figure,
    pub small_sync: Figure,
    /// Every measurement finished and the directory was removed.
    pub done: AtomicBool,
    /// Something was refused (the task logged what).
    pub failed: AtomicBool,
}

impl WriteResult {
    pub const fn new() -> Self {
        Self {
            mount: Figure::new(),
            large: Figure::new(),
            large_sync: Figure::new(),
            small: Figure::new(),
            small_sync: Figure::new(),
            done: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        }
    }
}

/// The step within making one file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FileStep {
    Create,
    Reserve,
    Open,
    SetLen,
}

/// Where the benchmark is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// The first call, answered once the fs has mounted.
    Mount,
    /// Removing what a previous run left: target `index` (see `target`).
    Clear(u32),
    Mkdir,
    Large(FileStep),
    LargeSync,
    LargeCheck,
    /// Small file `index`.
    Small(u32, FileStep),
    SmallSync,
    SmallCheck,
    /// Removing what this run made: target `index`.
    Tidy(u32),
    TidySync,
    Finished,
}

/// The call awaited, by the type of its answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Waiting {
    /// Any request answered `Done` (their answers decode alike, so one
    /// marker serves).
    Done(Pending<Create<'static>>),
    /// `Sync`, whatever its answer says beyond success.
    Sync(Pending<Sync>),
    Open(Pending<Open<'static>>),
    Stat(Pending<Stat<'static>>),
    Nothing,
}

/// An awaited call's successful answer.
enum Answer {
    Done,
    Opened(CapRef),
    Entry { size: u64, dirty: bool },
}

/// The write benchmark's task.
pub struct WriteBench {
    clock: Clock,
    workload: Workload,
    result: &'static WriteResult,
    fs: FsClient,
    phase: Phase,
    waiting: Waiting,
    /// When the running figure, and its `Sync`, began.
    began: Sample,
    sync_began: Sample,
}

impl WriteBench {
    pub fn new(clock: Clock, workload: Workload, result: &'static WriteResult) -> Self {
        Self {
            clock,
            workload,
            result,
            fs: FsClient::new(),
            phase: Phase::Finished,
            waiting: Waiting::Nothing,
            began: Sample::default(),
            sync_began: Sample::default(),
        }
    }

    fn fail(&mut self, cx: &mut dyn Context, why: &dyn fmt::Display) {
        cx.log(format_args!("error: {:?}: {why}", self.phase));
        self.result.failed.store(true, Ordering::Relaxed);
        self.phase = Phase::Finished;
        self.waiting = Waiting::Nothing;
    }

    fn large_path() -> String {
        format!("{DIR}/large")
    }

    fn small_path(index: u32) -> String {
        format!("{DIR}/f{index:04}")
    }

    /// What `Clear` and `Tidy` remove, in order: the small files, the
    /// large one, the directory; `None` past the end.
    fn target(&self, index: u32) -> Option<String> {
        let files = self.workload.small_files;
        match index {
            i if i < files => Some(Self::small_path(i)),
            i if i == files => Some(Self::large_path()),
            i if i == files + 1 => Some(String::from(DIR)),
            _ => None,
        }
    }

    /// Calls a request answered `Done`.
    fn done_call<C>(&mut self, cx: &mut dyn Context, request: &C) -> Result<(), HandleError>
    where
        C: for<'a> mealy_protocol::Call<Error = FsError, Reply<'a> = Done>,
    {
        let pending = self.fs.call(cx, request)?;
        self.waiting = Waiting::Done(Pending::new(pending.token()));
        Ok(())
    }

    fn open(&mut self, cx: &mut dyn Context, path: &str) -> Result<(), HandleError> {
        let pending = self.fs.call(cx, &Open { path, write: true })?;
        self.waiting = Waiting::Open(pending);
        Ok(())
    }

    fn sync(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        self.waiting = Waiting::Sync(self.fs.call(cx, &Sync)?);
        Ok(())
    }

    fn stat(&mut self, cx: &mut dyn Context, path: &str) -> Result<(), HandleError> {
        self.waiting = Waiting::Stat(self.fs.call(cx, &Stat { path })?);
        Ok(())
    }

    /// Enters `phase` and makes its call.
    fn enter(&mut self, cx: &mut dyn Context, phase: Phase) -> Result<(), HandleError> {
        self.phase = phase;
        let large = self.workload.large;
        let small = self.workload.small_len;
        match phase {
            Phase::Mount => self.stat(cx, "/"),
            Phase::Clear(index) | Phase::Tidy(index) => match self.target(index) {
                Some(path) => self.done_call(cx, &Remove { path: &path }),
                None if matches!(phase, Phase::Clear(_)) => self.enter(cx, Phase::Mkdir),
                None => self.enter(cx, Phase::TidySync),
            },
            Phase::Mkdir => self.done_call(cx, &Mkdir { path: DIR }),
            Phase::Large(step) => {
                let path = Self::large_path();
                self.file_call(cx, &path, step, large)
            }
            Phase::Small(index, step) => {
                let path = Self::small_path(index);
                self.file_call(cx, &path, step, small)
            }
            Phase::LargeSync | Phase::SmallSync => {
                self.sync_began = self.clock.now();
                self.sync(cx)
            }
            Phase::TidySync => self.sync(cx),
            Phase::LargeCheck => self.stat(cx, &Self::large_path()),
            Phase::SmallCheck => {
                let last = self.workload.small_files.saturating_sub(1);
                self.stat(cx, &Self::small_path(last))
            }
            Phase::Finished => {
                self.result.done.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// The call of `step` for the file at `path` of `len` bytes.
    fn file_call(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        step: FileStep,
        len: u64,
    ) -> Result<(), HandleError> {
        match step {
            FileStep::Create => self.done_call(cx, &Create { path }),
            FileStep::Reserve => self.done_call(
                cx,
                &Reserve {
                    path,
                    capacity: len,
                },
            ),
            FileStep::Open => self.open(cx, path),
            FileStep::SetLen => self.done_call(cx, &SetLen { path, len }),
        }
    }

    /// Writes `len` bytes into the Region `region` (a distinct byte per
    /// block) and drops it.
    fn fill(cx: &mut dyn Context, region: CapRef, len: u64) -> Result<(), &'static str> {
        let filled = match cx.region_mut(region) {
            Ok(bytes) => match bytes.get_mut(..len as usize) {
                Some(bytes) => {
                    for (block, chunk) in bytes.chunks_mut(4096).enumerate() {
                        chunk.fill(block as u8 ^ 0x5a);
                    }
                    Ok(())
                }
                None => Err("the Region is smaller than the file"),
            },
            Err(_) => Err("the Region cannot be written"),
        };
        cx.drop_cap(region)
            .map_err(|_| "the Region cannot be dropped")?;
        filled
    }

    /// The phase after `phase`, whose call was answered `answer`.
    fn advance(
        &mut self,
        cx: &mut dyn Context,
        answer: Result<Answer, CallError<FsError>>,
    ) -> Result<(), HandleError> {
        let phase = self.phase;
        let answer = match (phase, answer) {
            // Nothing left over to remove is the usual case.
            (Phase::Clear(_), Err(CallError::Service(FsError::NotFound))) => Answer::Done,
            (_, Ok(answer)) => answer,
            (_, Err(error)) => {
                self.fail(cx, &error);
                return Ok(());
            }
        };
        let workload = self.workload;
        let next = match (phase, answer) {
            (Phase::Mount, _) => {
                self.result.mount.record(self.began, self.clock.now());
                Phase::Clear(0)
            }
            (Phase::Clear(index), _) => Phase::Clear(index + 1),
            (Phase::Mkdir, _) => {
                self.began = self.clock.now();
                Phase::Large(FileStep::Create)
            }
            (Phase::Large(FileStep::Create), _) => Phase::Large(FileStep::Reserve),
            (Phase::Large(FileStep::Reserve), _) => Phase::Large(FileStep::Open),
            (Phase::Large(FileStep::Open), Answer::Opened(region)) => {
                if let Err(why) = Self::fill(cx, region, workload.large) {
                    self.fail(cx, &why);
                    return Ok(());
                }
                Phase::Large(FileStep::SetLen)
            }
            (Phase::Large(FileStep::SetLen), _) => Phase::LargeSync,
            (Phase::LargeSync, _) => {
                let now = self.clock.now();
                self.result.large.record(self.began, now);
                self.result.large_sync.record(self.sync_began, now);
                Phase::LargeCheck
            }
            (Phase::LargeCheck, Answer::Entry { size, dirty }) => {
                if size != workload.large || dirty {
                    self.fail(
                        cx,
                        &"the large file is not its size, or not clean, after Sync",
                    );
                    return Ok(());
                }
                self.began = self.clock.now();
                if workload.small_files == 0 {
                    Phase::SmallSync
                } else {
                    Phase::Small(0, FileStep::Create)
                }
            }
            (Phase::Small(index, FileStep::Create), _) => Phase::Small(index, FileStep::Open),
            (Phase::Small(index, FileStep::Open), Answer::Opened(region)) => {
                if let Err(why) = Self::fill(cx, region, workload.small_len) {
                    self.fail(cx, &why);
                    return Ok(());
                }
                Phase::Small(index, FileStep::SetLen)
            }
            (Phase::Small(index, FileStep::SetLen), _) if index + 1 < workload.small_files => {
                Phase::Small(index + 1, FileStep::Create)
            }
            (Phase::Small(_, FileStep::SetLen), _) => Phase::SmallSync,
            (Phase::SmallSync, _) => {
                let now = self.clock.now();
                self.result.small.record(self.began, now);
                self.result.small_sync.record(self.sync_began, now);
                if workload.small_files == 0 {
                    Phase::Tidy(0)
                } else {
                    Phase::SmallCheck
                }
            }
            (Phase::SmallCheck, Answer::Entry { size, dirty }) => {
                if size != workload.small_len || dirty {
                    self.fail(
                        cx,
                        &"a small file is not its size, or not clean, after Sync",
                    );
                    return Ok(());
                }
                Phase::Tidy(0)
            }
            (Phase::Tidy(index), _) => Phase::Tidy(index + 1),
            (Phase::TidySync, _) => Phase::Finished,
            (phase, _) => {
                self.fail(cx, &format_args!("an unexpected answer in {phase:?}"));
                return Ok(());
            }
        };
        self.enter(cx, next)
    }
}

impl StateMachine for WriteBench {
    fn name(&self) -> &'static str {
        "fs-write-bench"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.fs.fs = grants.get(FS_GRANT);
        if self.fs.fs.is_none() {
            self.fail(cx, &"no endpoint to the fs");
            return Ok(());
        }
        self.began = self.clock.now();
        self.enter(cx, Phase::Mount)
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        let answer = match self.waiting {
            Waiting::Done(call) => call.answer(&msg).map(|a| a.map(|_| Answer::Done)),
            Waiting::Sync(call) => call.answer(&msg).map(|a| a.map(|_| Answer::Done)),
            Waiting::Stat(call) => call.answer(&msg).map(|a| {
                a.map(|entry| Answer::Entry {
                    size: entry.size,
                    dirty: entry.dirty,
                })
            }),
            Waiting::Open(call) => call.answer(&msg).map(|a| {
                a.and_then(|_| match msg.caps() {
                    &[region] => Ok(Answer::Opened(region)),
                    _ => Err(CallError::Service(FsError::Kernel)),
                })
            }),
            Waiting::Nothing => None,
        };
        let Some(answer) = answer else {
            return Ok(());
        };
        self.waiting = Waiting::Nothing;
        self.advance(cx, answer)
    }
}
