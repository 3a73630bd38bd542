//! Commands that need another task's answer: `send` and the file
//! commands. Each is a small state machine of its own, a [`Job`]: it makes
//! a call through [`System::call`], and when the answer comes
//! ([`Job::resume`]) it prints, or makes the next call. The shell holds
//! the input typed meanwhile (`shell.rs`), so a job never waits inside a
//! handler, and its output still comes before the next prompt.
//!
//! The file commands are typed clients of the `mealy_protocol::fs`
//! interface, calling the task named [`FS`] through the endpoint the
//! shell was given like any other task's. Each fs step keeps the
//! [`Pending`] of its call, which says how to read the answer
//! (`Result<Reply, FsError>`); the call itself goes through
//! [`System::call`] as bytes, since `System` is a trait object and cannot
//! have the generic `mealy_protocol::call`:
//!
//! - `ls`: `List`; `cat`, `hexdump`: `Open` read-only, then read the
//!   pages through the Region capability that came with the answer, and
//!   drop it at once;
//! - `write`, `append`: `Open` writable (a missing file is `Create`d
//!   first, a file too small for the text gets room with `Reserve` and is
//!   opened again), write the pages, drop the capability, then `SetLen`
//!   (not `Sync`: a change reaches the disk only with `sync`, so a
//!   write is cheap and a person chooses when it becomes durable);
//! - `sync`: `Sync`, answered once every change is on the disk; `df`:
//!   `Usage`;
//! - at start, before the first prompt, `Usage` too ([`Job::ready`]): the
//!   fs answers once it has mounted (it holds requests meanwhile), so its
//!   start line comes before the prompt and the first command finds the
//!   fs ready. Whatever the answer, the prompt follows, silently;
//! - `rm`, `mv`, `mkdir`: `Remove`, `Rename`, `Mkdir`;
//! - `stat`: `Stat`, then (for a file) `Open` read-only to show the
//!   Region's address and rights;
//! - `run`: `Open` read-only, then `System::spawn` with the Region (the
//!   kernel copies the image, so it is dropped at once like `cat`'s);
//!   the grants are checked before the call and looked up again after.
//!
//! No capability is kept across a wait, so a job that is abandoned (a
//! timeout, Ctrl-C) leaves nothing behind.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use mealy_protocol::fs::{self as proto, Done, FsError, Kind, Opened};
use mealy_protocol::interface::{self, decode_answer};
use mealy_protocol::text::TextCommand;
use mealy_protocol::{Call, CallError, CallToken, CapRef, MAX_PAYLOAD, Pending};

use crate::command::{Command, TaskRef};
use crate::output::{self, FileStat};
use crate::programs;
use crate::system::{Answer, FileRow, Listing, System};

/// The name of the fs task, and of the shell's endpoint to it.
pub const FS: &str = "fs";

/// The most of a file `hexdump` shows; the rest is counted.
pub const HEXDUMP_LIMIT: usize = 4096;

/// A command that failed: `<command>: <reason>`, printed as one line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Failure {
    pub command: &'static str,
    pub reason: String,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.command, self.reason)
    }
}

/// What a job does next.
#[derive(Debug)]
pub enum Progress {
    /// Waiting for the answer to this call.
    Wait(CallToken),
    /// Finished; its output has been written.
    Done,
}

/// A command waiting for an answer, and what it will do with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Job {
    command: &'static str,
    /// The callee, for messages about it.
    peer: String,
    step: Step,
}

/// Where a job is, and (for the file commands) the call it waits for.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Step {
    Send {
        task: TaskRef,
    },
    List(Pending<proto::List<'static>>),
    Cat(Pending<proto::Open<'static>>),
    Hexdump(Pending<proto::Open<'static>>),
    /// `run`: the file opened to start it as the task `name`.
    Run {
        name: String,
        grants: Vec<TaskRef>,
        call: Pending<proto::Open<'static>>,
    },
    /// `Stat` asked; a file is then opened for its address.
    Stat {
        path: String,
        call: Pending<proto::Stat<'static>>,
    },
    StatOpen {
        path: String,
        entry: Entry,
        call: Pending<proto::Open<'static>>,
    },
    /// `Remove`, `Rename` or `Mkdir` asked; the line to print when done.
    Change {
        done: String,
        call: Change,
    },
    /// `Open` for writing asked.
    WriteOpen {
        write: Write,
        call: Pending<proto::Open<'static>>,
    },
    /// `Create` or `Reserve` asked; the file is opened (again) next.
    WriteRetry {
        write: Write,
        call: Room,
    },
    WriteSetLen {
        done: Written,
        call: Pending<proto::SetLen<'static>>,
    },
    Sync(Pending<proto::Sync>),
    Df(Pending<proto::Usage>),
    /// The shell's start, waiting for the fs to be ready.
    Ready(Pending<proto::Usage>),
}

/// The call of `rm`, `mv` or `mkdir`: each is answered `Done`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Change {
    Remove(Pending<proto::Remove<'static>>),
    Rename(Pending<proto::Rename<'static>>),
    Mkdir(Pending<proto::Mkdir<'static>>),
}

/// The call that makes room for a write: the file is created, or given
/// more capacity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Room {
    Create(Pending<proto::Create<'static>>),
    Reserve(Pending<proto::Reserve<'static>>),
}

impl Change {
    fn answer(self, payload: &[u8]) -> Result<Done, CallError<FsError>> {
        match self {
            Change::Remove(call) => answer_of(call, payload),
            Change::Rename(call) => answer_of(call, payload),
            Change::Mkdir(call) => answer_of(call, payload),
        }
    }
}

impl Room {
    fn answer(self, payload: &[u8]) -> Result<Done, CallError<FsError>> {
        match self {
            Room::Create(call) => answer_of(call, payload),
            Room::Reserve(call) => answer_of(call, payload),
        }
    }
}

/// What `stat` learned from `Stat` before it opens the file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    size: u64,
    capacity: u64,
    dirty: bool,
    persisted: bool,
}

/// What `write` or `append` is putting where.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Write {
    path: String,
    bytes: Vec<u8>,
    append: bool,
    /// The file was missing and has been created: not again.
    created: bool,
    /// The file was too small and has been given room: not again.
    reserved: bool,
}

/// A write that landed: the file's new length and the bytes added.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Written {
    path: String,
    len: u64,
    added: u64,
    append: bool,
}

impl Job {
    /// Starts `command` if it is one that waits for an answer: `None` if
    /// it is not; else the job and its first call, or why it could not
    /// start.
    pub fn start(
        command: &Command,
        system: &mut dyn System,
    ) -> Option<Result<(Job, CallToken), Failure>> {
        let change = |done: String, call| Step::Change { done, call };
        Some(match command {
            Command::Send { task, text } => encode_request("send", &TextCommand { line: text })
                .and_then(|request| {
                    let call = system.call(task, &request).map_err(|reason| Failure {
                        command: "send",
                        reason,
                    })?;
                    let step = Step::Send { task: task.clone() };
                    let job = Job {
                        command: "send",
                        peer: call.peer,
                        step,
                    };
                    Ok((job, call.token))
                }),
            Command::Ls { path } => {
                let path = path.as_deref().unwrap_or("");
                fs_job("ls", system, &proto::List { path }, Step::List)
            }
            Command::Cat { path } => fs_job(
                "cat",
                system,
                &proto::Open { path, write: false },
                Step::Cat,
            ),
            Command::Hexdump { path } => fs_job(
                "hexdump",
                system,
                &proto::Open { path, write: false },
                Step::Hexdump,
            ),
            Command::Stat { path } => fs_job("stat", system, &proto::Stat { path }, |call| {
                let path = path.clone();
                Step::Stat { path, call }
            }),
            Command::Write { path, text } | Command::Append { path, text } => {
                let append = matches!(command, Command::Append { .. });
                let name = if append { "append" } else { "write" };
                let write = Write {
                    path: path.clone(),
                    bytes: text.as_bytes().to_vec(),
                    append,
                    created: false,
                    reserved: false,
                };
                fs_job(name, system, &proto::Open { path, write: true }, |call| {
                    Step::WriteOpen { write, call }
                })
            }
            Command::Run { path, name, grants } => programs::endpoints(system, grants)
                .map_err(|reason| Failure {
                    command: "run",
                    reason,
                })
                .and_then(|_| {
                    let open = proto::Open { path, write: false };
                    fs_job("run", system, &open, |call| Step::Run {
                        name: name.clone(),
                        grants: grants.clone(),
                        call,
                    })
                }),
            Command::Rm { path } => fs_job("rm", system, &proto::Remove { path }, |call| {
                change(format!("removed {path}"), Change::Remove(call))
            }),
            Command::Mv { from, to } => fs_job("mv", system, &proto::Rename { from, to }, |call| {
                change(format!("moved {from} to {to}"), Change::Rename(call))
            }),
            Command::Mkdir { path } => fs_job("mkdir", system, &proto::Mkdir { path }, |call| {
                change(format!("made directory {path}"), Change::Mkdir(call))
            }),
            Command::Sync => fs_job("sync", system, &proto::Sync, Step::Sync),
            Command::Df => fs_job("df", system, &proto::Usage, Step::Df),
            _ => return None,
        })
    }

    /// The shell's start: asks the fs how much it holds, which it answers
    /// once it has mounted. `None` if the call cannot be made (no fs): the
    /// prompt then comes at once.
    pub fn ready(system: &mut dyn System) -> Option<(Job, CallToken)> {
        let (call, peer) = call_fs("start", system, &proto::Usage).ok()?;
        let job = Job {
            command: "start",
            peer,
            step: Step::Ready(call),
        };
        Some((job, call.token()))
    }

    /// The command's name, for its error lines.
    pub fn command(&self) -> &'static str {
        self.command
    }

    /// The callee's name.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Goes on with the `answer` to the job's call: prints to `text`, or
    /// makes the next call. Every capability that came with the answer is
    /// dropped before this returns.
    pub fn resume(
        &mut self,
        answer: Answer,
        system: &mut dyn System,
        text: &mut String,
    ) -> Result<Progress, Failure> {
        if let Step::Ready(_) = self.step {
            // Any answer, even a failure, means the fs is as ready as it
            // will be; what went wrong with it is in its own start line.
            if let Answer::Reply { caps, .. } = answer {
                for cap in caps {
                    system.drop_cap(cap);
                }
            }
            return Ok(Progress::Done);
        }
        let (payload, caps) = match answer {
            Answer::Reply { payload, caps } => (payload, caps),
            Answer::Failed(reason) => {
                return Err(Failure {
                    command: self.command,
                    reason: format!("{}: {reason}", self.peer),
                });
            }
        };
        let result = self.step(&payload, &caps, system, text);
        for &cap in &caps {
            system.drop_cap(cap);
        }
        result
    }

    fn step(
        &mut self,
        payload: &[u8],
        caps: &[CapRef],
        system: &mut dyn System,
        text: &mut String,
    ) -> Result<Progress, Failure> {
        let command = self.command;
        let fail = |reason: String| Failure { command, reason };
        let peer = self.peer.as_str();
        let unexpected = || fail(format!("{peer} gave an unexpected answer"));
        // What the fs refused, or why its answer is none.
        let refused = |error: CallError<FsError>| match error {
            CallError::Service(error) => fail(error.to_string()),
            CallError::Failed(reason) => fail(format!("{peer}: {reason}")),
            CallError::Malformed(_) => fail(format!("{peer} gave an answer it cannot read")),
        };
        // Writing to a `String` cannot fail: `fmt::Result`s are dropped.
        if let Step::Send { task } = &self.step {
            let Ok(Ok(answer)) = decode_answer::<TextCommand<'static>>(payload) else {
                let len = payload.len();
                return Err(fail(format!(
                    "{peer} answered {len} bytes that are not text"
                )));
            };
            let _ = output::write_send(text, task, answer.text);
            return Ok(Progress::Done);
        }
        // Each answer makes at most one more call; the step after it is
        // set below.
        let (next, progress) = match &self.step {
            // Answered above.
            Step::Send { .. } | Step::Ready(_) => return Err(unexpected()),
            Step::Sync(call) => {
                let synced = answer_of(*call, payload).map_err(refused)?;
                let _ = output::write_synced(text, &synced);
                return Ok(Progress::Done);
            }
            Step::Df(call) => {
                let space = answer_of(*call, payload).map_err(refused)?;
                let _ = output::write_space(text, &space);
                return Ok(Progress::Done);
            }
            Step::List(call) => {
                let listing = answer_of(*call, payload).map_err(refused)?;
                let mut rows = Vec::new();
                for entry in proto::entries(listing.entries) {
                    let entry = entry.map_err(|_| unexpected())?;
                    rows.push(FileRow {
                        name: entry.name.to_string(),
                        directory: entry.kind == Kind::Directory,
                        size: entry.size,
                    });
                }
                let listing = Listing {
                    entries: rows,
                    not_shown: listing.total.saturating_sub(listing.shown),
                };
                let _ = output::write_listing(text, &listing);
                return Ok(Progress::Done);
            }
            Step::Cat(call) | Step::Hexdump(call) => {
                let Opened { size, .. } = answer_of(*call, payload).map_err(refused)?;
                let region = one_region(caps).ok_or_else(unexpected)?;
                let hexdump = matches!(self.step, Step::Hexdump(_));
                let limit = if hexdump { HEXDUMP_LIMIT } else { usize::MAX };
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                let too_large = || "the file is larger than its region".to_string();
                let mut contents = Err(too_large());
                system
                    .read_region(region, &mut |pages| {
                        contents = pages
                            .get(..size)
                            .map(|file| file[..file.len().min(limit)].to_vec())
                            .ok_or_else(too_large);
                    })
                    .map_err(|reason| fail(format!("reading the file's region: {reason}")))?;
                let contents = contents.map_err(fail)?;
                let _ = if hexdump {
                    output::write_hexdump(text, &contents, size)
                } else {
                    output::write_file(text, &contents)
                };
                return Ok(Progress::Done);
            }
            Step::Run { name, grants, call } => {
                answer_of(*call, payload).map_err(refused)?;
                let region = one_region(caps).ok_or_else(unexpected)?;
                let grants = programs::endpoints(system, grants).map_err(fail)?;
                let started = system.spawn(region, name, &grants).map_err(fail)?;
                let _ = output::write_started(text, name, started);
                return Ok(Progress::Done);
            }
            Step::Stat { path, call } => {
                let entry = answer_of(*call, payload).map_err(refused)?;
                if entry.kind == Kind::Directory {
                    let stat = FileStat {
                        path,
                        directory: true,
                        size: entry.size,
                        capacity: 0,
                        dirty: false,
                        persisted: false,
                        region: None,
                    };
                    let _ = output::write_stat(text, &stat);
                    return Ok(Progress::Done);
                }
                let (call, progress) =
                    next_call(command, system, &proto::Open { path, write: false })?;
                let entry = Entry {
                    size: entry.size,
                    capacity: entry.capacity,
                    dirty: entry.dirty,
                    persisted: entry.persisted,
                };
                let next = Step::StatOpen {
                    path: path.clone(),
                    entry,
                    call,
                };
                (next, progress)
            }
            Step::StatOpen { path, entry, call } => {
                answer_of(*call, payload).map_err(refused)?;
                let region = one_region(caps).ok_or_else(unexpected)?;
                let mut address = 0;
                system
                    .read_region(region, &mut |pages| address = pages.as_ptr() as usize)
                    .map_err(|reason| fail(format!("the file's region: {reason}")))?;
                let rights = system.rights(region).map_err(fail)?;
                let stat = FileStat {
                    path,
                    directory: false,
                    size: entry.size,
                    capacity: entry.capacity,
                    dirty: entry.dirty,
                    persisted: entry.persisted,
                    region: Some((address, rights)),
                };
                let _ = output::write_stat(text, &stat);
                return Ok(Progress::Done);
            }
            Step::Change { done, call } => {
                call.answer(payload).map_err(refused)?;
                let _ = writeln!(text, "{done}");
                return Ok(Progress::Done);
            }
            Step::WriteOpen { write, call } => match answer_of(*call, payload) {
                // A missing file is created for `write` and `append`, once.
                Err(CallError::Service(FsError::NotFound)) if !write.created => {
                    let create = proto::Create { path: &write.path };
                    let (call, progress) = next_call(command, system, &create)?;
                    let mut write = write.clone();
                    write.created = true;
                    let call = Room::Create(call);
                    (Step::WriteRetry { write, call }, progress)
                }
                answer => {
                    let Opened { size, capacity } = answer.map_err(refused)?;
                    self.write_opened(write, size, capacity, caps, system)?
                }
            },
            Step::WriteRetry { write, call } => {
                call.answer(payload).map_err(refused)?;
                let open = proto::Open {
                    path: &write.path,
                    write: true,
                };
                let (call, progress) = next_call(command, system, &open)?;
                let write = write.clone();
                (Step::WriteOpen { write, call }, progress)
            }
            Step::WriteSetLen { done, call } => {
                answer_of(*call, payload).map_err(refused)?;
                let _ = if done.append {
                    output::write_appended(text, &done.path, done.added, done.len)
                } else {
                    output::write_written(text, &done.path, done.len)
                };
                return Ok(Progress::Done);
            }
        };
        self.step = next;
        Ok(progress)
    }

    /// `write` or `append` with the file open (`size` bytes of
    /// `capacity`): writes the bytes and sets the length, or first asks
    /// for room (once) if they do not fit.
    fn write_opened(
        &self,
        write: &Write,
        size: u64,
        capacity: u64,
        caps: &[CapRef],
        system: &mut dyn System,
    ) -> Result<(Step, Progress), Failure> {
        let command = self.command;
        let fail = |reason: String| Failure { command, reason };
        let peer = self.peer.as_str();
        let region =
            one_region(caps).ok_or_else(|| fail(format!("{peer} gave an unexpected answer")))?;
        let at = if write.append { size } else { 0 };
        let len = at + write.bytes.len() as u64;
        if len > capacity {
            if write.reserved {
                return Err(fail(FsError::NoSpace { capacity }.to_string()));
            }
            // Room first; the file may move, so it is opened again.
            let reserve = proto::Reserve {
                path: &write.path,
                capacity: len,
            };
            let (call, progress) = next_call(command, system, &reserve)?;
            let mut write = write.clone();
            write.reserved = true;
            let call = Room::Reserve(call);
            return Ok((Step::WriteRetry { write, call }, progress));
        }
        // Both fit in the region: `len <= capacity`, its length.
        let (start, end, old_end) = (at as usize, len as usize, size as usize);
        let bytes = &write.bytes;
        system
            .write_region(region, &mut |pages| {
                if let Some(place) = pages.get_mut(start..end) {
                    place.copy_from_slice(bytes);
                }
                // What lay past the new end is no longer the file's.
                if let Some(rest) = pages.get_mut(end..old_end.max(end)) {
                    rest.fill(0);
                }
            })
            .map_err(|reason| fail(format!("writing the file's region: {reason}")))?;
        let path = &write.path;
        let (call, progress) = next_call(command, system, &proto::SetLen { path, len })?;
        let done = Written {
            path: path.clone(),
            len,
            added: bytes.len() as u64,
            append: write.append,
        };
        Ok((Step::WriteSetLen { done, call }, progress))
    }
}

fn fs() -> TaskRef {
    TaskRef::Name(FS.to_string())
}

fn one_region(caps: &[CapRef]) -> Option<CapRef> {
    match caps {
        &[region] => Some(region),
        _ => None,
    }
}

/// `message` as its interface puts it on the wire.
fn encode_request<T: interface::Request>(
    command: &'static str,
    message: &T,
) -> Result<Vec<u8>, Failure> {
    let mut buffer = [0u8; MAX_PAYLOAD];
    interface::encode_request(message, &mut buffer)
        .map(<[u8]>::to_vec)
        .map_err(|error| Failure {
            command,
            reason: error.to_string(),
        })
}

/// Calls the fs with `request`: the call's [`Pending`], and the callee's
/// name.
fn call_fs<C: Call>(
    command: &'static str,
    system: &mut dyn System,
    request: &C,
) -> Result<(Pending<C::Marker>, String), Failure> {
    let fail = |reason: String| Failure { command, reason };
    let mut buffer = [0u8; MAX_PAYLOAD];
    let bytes = interface::encode_request(request, &mut buffer).map_err(|e| fail(e.to_string()))?;
    let call = system.call(&fs(), bytes).map_err(fail)?;
    Ok((Pending::new(call.token), call.peer))
}

/// A job's next call: its [`Pending`], and the progress that waits for it.
fn next_call<C: Call>(
    command: &'static str,
    system: &mut dyn System,
    request: &C,
) -> Result<(Pending<C::Marker>, Progress), Failure> {
    let (call, _) = call_fs(command, system, request)?;
    Ok((call, Progress::Wait(call.token())))
}

/// Starts the file command `command` with its first call, `request`;
/// `step` is what it waits in.
fn fs_job<C: Call>(
    command: &'static str,
    system: &mut dyn System,
    request: &C,
    step: impl FnOnce(Pending<C::Marker>) -> Step,
) -> Result<(Job, CallToken), Failure> {
    let (call, peer) = call_fs(command, system, request)?;
    let job = Job {
        command,
        peer,
        step: step(call),
    };
    Ok((job, call.token()))
}

/// The answer to `call` in `payload` (the shell keeps answers as bytes:
/// `Shell::answer` has matched the call already), as
/// `Pending::answer` reads it.
fn answer_of<C: Call>(
    _call: Pending<C>,
    payload: &[u8],
) -> Result<C::Reply<'_>, CallError<C::Error>> {
    match decode_answer::<C>(payload) {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => Err(CallError::Service(error)),
        Err(error) => Err(CallError::Malformed(error)),
    }
}
