//! Commands that need another task's answer: `send` and the file
//! commands. Each is a small state machine of its own, a [`Job`]: it makes
//! a call through [`System::call`], and when the answer comes
//! ([`Job::resume`]) it prints, or makes the next call. The shell holds
//! the input typed meanwhile (`shell.rs`), so a job never waits inside a
//! handler, and its output still comes before the next prompt.
//!
//! The file commands speak `mealy_protocol::fs` to the task named
//! [`FS`], through the endpoint the shell was given like any other task's:
//!
//! - `ls`: `List`; `cat`, `hexdump`: `Open` read-only, then read the
//!   pages through the Region capability that came with the answer, and
//!   drop it at once;
//! - `write`, `append`: `Open` writable (a missing file is `Create`d
//!   first, a file too small for the text gets room with `Reserve` and is
//!   opened again), write the pages, drop the capability, then `SetLen`
//!   and `Sync`;
//! - `rm`, `mv`, `mkdir`: `Remove`, `Rename`, `Mkdir`;
//! - `stat`: `Stat`, then (for a file) `Open` read-only to show the
//!   Region's address and rights.
//!
//! No capability is kept across a wait, so a job that is abandoned (a
//! timeout, Ctrl-C) leaves nothing behind.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use mealy_protocol::fs::{self as proto, FsError, Kind, Reply, Request};
use mealy_protocol::interface::decode_answer;
use mealy_protocol::text::TextCommand;
use mealy_protocol::{CallToken, CapRef, MAX_PAYLOAD, decode, encode};

use crate::command::{Command, TaskRef};
use crate::output::{self, FileStat};
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

#[derive(Clone, PartialEq, Eq, Debug)]
enum Step {
    Send {
        task: TaskRef,
    },
    List,
    Cat,
    Hexdump,
    /// `Stat` asked; a file is then opened for its address.
    Stat {
        path: String,
    },
    StatOpen {
        path: String,
        entry: Entry,
    },
    /// `Remove`, `Rename` or `Mkdir` asked; the line to print when done.
    Change {
        done: String,
    },
    /// `Open` for writing asked.
    WriteOpen {
        write: Write,
    },
    /// `Create` or `Reserve` asked; the file is opened (again) next.
    WriteRetry {
        write: Write,
    },
    WriteSetLen {
        done: Written,
    },
    WriteSync {
        done: Written,
    },
}

/// What `stat` learned from `Stat` before it opens the file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    size: u64,
    capacity: u64,
    dirty: bool,
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
        let change = |done: String| Step::Change { done };
        let (name, step, target, request) = match command {
            Command::Send { task, text } => {
                let request = text_request(&TextCommand { line: text });
                let step = Step::Send { task: task.clone() };
                ("send", step, task.clone(), request)
            }
            Command::Ls { path } => {
                let path = path.as_deref().unwrap_or("");
                let request = fs_request("ls", &Request::List { path });
                ("ls", Step::List, fs(), request)
            }
            Command::Cat { path } => ("cat", Step::Cat, fs(), open("cat", path, false)),
            Command::Hexdump { path } => {
                ("hexdump", Step::Hexdump, fs(), open("hexdump", path, false))
            }
            Command::Stat { path } => {
                let step = Step::Stat { path: path.clone() };
                let request = fs_request("stat", &Request::Stat { path });
                ("stat", step, fs(), request)
            }
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
                let step = Step::WriteOpen { write };
                (name, step, fs(), open(name, path, true))
            }
            Command::Rm { path } => {
                let request = fs_request("rm", &Request::Remove { path });
                ("rm", change(format!("removed {path}")), fs(), request)
            }
            Command::Mv { from, to } => {
                let request = fs_request("mv", &Request::Rename { from, to });
                ("mv", change(format!("moved {from} to {to}")), fs(), request)
            }
            Command::Mkdir { path } => {
                let request = fs_request("mkdir", &Request::Mkdir { path });
                (
                    "mkdir",
                    change(format!("made directory {path}")),
                    fs(),
                    request,
                )
            }
            _ => return None,
        };
        Some(request.and_then(|request| {
            let call = system.call(&target, &request).map_err(|reason| Failure {
                command: name,
                reason,
            })?;
            let job = Job {
                command: name,
                peer: call.peer,
                step,
            };
            Ok((job, call.token))
        }))
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
        // Each call makes at most one more; the caller sets the next step.
        let call = |system: &mut dyn System, request: &Request<'_>| {
            let bytes = fs_request(command, request)?;
            let call = system.call(&fs(), &bytes).map_err(fail)?;
            Ok(Progress::Wait(call.token))
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
        let reply = match decode::<Reply<'_>>(payload) {
            Ok(reply) => reply,
            Err(_) => return Err(fail(format!("{peer} gave an answer it cannot read"))),
        };
        let (next, progress) = match (&self.step, reply) {
            // A missing file is created for `write` and `append`, once.
            (Step::WriteOpen { write }, Reply::Error(FsError::NotFound)) if !write.created => {
                let progress = call(system, &Request::Create { path: &write.path })?;
                let mut write = write.clone();
                write.created = true;
                (Step::WriteRetry { write }, progress)
            }
            (_, Reply::Error(error)) => return Err(fail(error.to_string())),
            (
                Step::List,
                Reply::Listing {
                    total,
                    shown,
                    entries,
                },
            ) => {
                let mut rows = Vec::new();
                for entry in proto::entries(entries) {
                    let entry = entry.map_err(|_| unexpected())?;
                    rows.push(FileRow {
                        name: entry.name.to_string(),
                        directory: entry.kind == Kind::Directory,
                        size: entry.size,
                    });
                }
                let listing = Listing {
                    entries: rows,
                    not_shown: total.saturating_sub(shown),
                };
                let _ = output::write_listing(text, &listing);
                return Ok(Progress::Done);
            }
            (Step::Cat | Step::Hexdump, Reply::Opened { size, .. }) => {
                let region = one_region(caps).ok_or_else(unexpected)?;
                let hexdump = matches!(self.step, Step::Hexdump);
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
            (Step::Stat { path }, Reply::Stat(entry)) => {
                if entry.kind == Kind::Directory {
                    let stat = FileStat {
                        path,
                        directory: true,
                        size: entry.size,
                        capacity: 0,
                        dirty: false,
                        region: None,
                    };
                    let _ = output::write_stat(text, &stat);
                    return Ok(Progress::Done);
                }
                let progress = call(system, &Request::Open { path, write: false })?;
                let entry = Entry {
                    size: entry.size,
                    capacity: entry.capacity,
                    dirty: entry.dirty,
                };
                let next = Step::StatOpen {
                    path: path.clone(),
                    entry,
                };
                (next, progress)
            }
            (Step::StatOpen { path, entry }, Reply::Opened { .. }) => {
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
                    region: Some((address, rights)),
                };
                let _ = output::write_stat(text, &stat);
                return Ok(Progress::Done);
            }
            (Step::Change { done }, Reply::Done) => {
                let _ = writeln!(text, "{done}");
                return Ok(Progress::Done);
            }
            (Step::WriteRetry { write }, Reply::Done) => {
                let path = &write.path;
                let progress = call(system, &Request::Open { path, write: true })?;
                (
                    Step::WriteOpen {
                        write: write.clone(),
                    },
                    progress,
                )
            }
            (Step::WriteOpen { write }, Reply::Opened { size, capacity }) => {
                let region = one_region(caps).ok_or_else(unexpected)?;
                let at = if write.append { size } else { 0 };
                let len = at + write.bytes.len() as u64;
                if len > capacity {
                    if write.reserved {
                        return Err(fail(FsError::NoSpace { capacity }.to_string()));
                    }
                    // Room first; the file may move, so it is opened again.
                    let request = Request::Reserve {
                        path: &write.path,
                        capacity: len,
                    };
                    let progress = call(system, &request)?;
                    let mut write = write.clone();
                    write.reserved = true;
                    (Step::WriteRetry { write }, progress)
                } else {
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
                    let progress = call(system, &Request::SetLen { path, len })?;
                    let done = Written {
                        path: path.clone(),
                        len,
                        added: bytes.len() as u64,
                        append: write.append,
                    };
                    (Step::WriteSetLen { done }, progress)
                }
            }
            (Step::WriteSetLen { done }, Reply::Done) => {
                let progress = call(system, &Request::Sync)?;
                (Step::WriteSync { done: done.clone() }, progress)
            }
            (Step::WriteSync { done }, Reply::Done) => {
                let _ = if done.append {
                    output::write_appended(text, &done.path, done.added, done.len)
                } else {
                    output::write_written(text, &done.path, done.len)
                };
                return Ok(Progress::Done);
            }
            _ => return Err(unexpected()),
        };
        self.step = next;
        Ok(progress)
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

fn encode_request<T: serde::Serialize>(
    command: &'static str,
    message: &T,
) -> Result<Vec<u8>, Failure> {
    let mut buffer = [0u8; MAX_PAYLOAD];
    encode(message, &mut buffer)
        .map(<[u8]>::to_vec)
        .map_err(|error| Failure {
            command,
            reason: error.to_string(),
        })
}

/// A `send` request, as the `text` interface puts it on the wire.
fn text_request(command: &TextCommand<'_>) -> Result<Vec<u8>, Failure> {
    let mut buffer = [0u8; MAX_PAYLOAD];
    mealy_protocol::interface::encode_request(command, &mut buffer)
        .map(<[u8]>::to_vec)
        .map_err(|error| Failure {
            command: "send",
            reason: error.to_string(),
        })
}

fn fs_request(command: &'static str, request: &Request<'_>) -> Result<Vec<u8>, Failure> {
    encode_request(command, request)
}

fn open(command: &'static str, path: &str, write: bool) -> Result<Vec<u8>, Failure> {
    fs_request(command, &Request::Open { path, write })
}
