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
//! - `write`, `append`: `Open` writable, write the pages, drop the
//!   capability, then `SetLen` and `Sync`;
//! - `stat`: `Stat`, then (for a file) `Open` read-only to show the
//!   Region's address and rights.
//!
//! No capability is kept across a wait, so a job that is abandoned (a
//! timeout, Ctrl-C) leaves nothing behind.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_protocol::fs::{self as proto, FsError, Kind, Reply, Request};
use mealy_protocol::text::{TextAnswer, TextCommand};
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
        entry: (u64, u64),
    },
    /// `Open` for writing asked.
    WriteOpen {
        path: String,
        bytes: Vec<u8>,
        append: bool,
    },
    WriteSetLen {
        path: String,
        len: u64,
        added: u64,
        append: bool,
    },
    WriteSync {
        path: String,
        len: u64,
        added: u64,
        append: bool,
    },
}

impl Job {
    /// Starts `command` if it is one that waits for an answer: `None` if
    /// it is not; else the job and its first call, or why it could not
    /// start.
    pub fn start(
        command: &Command,
        system: &mut dyn System,
    ) -> Option<Result<(Job, CallToken), Failure>> {
        let (name, step, target, request) = match command {
            Command::Send { task, text } => {
                let request = encode_request("send", &TextCommand { line: text });
                let step = Step::Send { task: task.clone() };
                ("send", step, task.clone(), request)
            }
            Command::Ls { path } => {
                let path = path.as_deref().unwrap_or("");
                (
                    "ls",
                    Step::List,
                    fs(),
                    fs_request("ls", &Request::List { path }),
                )
            }
            Command::Cat { path } => ("cat", Step::Cat, fs(), open("cat", path, false)),
            Command::Hexdump { path } => {
                ("hexdump", Step::Hexdump, fs(), open("hexdump", path, false))
            }
            Command::Stat { path } => {
                let step = Step::Stat { path: path.clone() };
                (
                    "stat",
                    step,
                    fs(),
                    fs_request("stat", &Request::Stat { path }),
                )
            }
            Command::Write { path, text } | Command::Append { path, text } => {
                let append = matches!(command, Command::Append { .. });
                let name = if append { "append" } else { "write" };
                let step = Step::WriteOpen {
                    path: path.clone(),
                    bytes: text.as_bytes().to_vec(),
                    append,
                };
                (name, step, fs(), open(name, path, true))
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
        // Each call makes at most one more; `call` puts the job in its step.
        let call = |system: &mut dyn System, request: &Request<'_>| {
            let bytes = fs_request(command, request)?;
            let call = system.call(&fs(), &bytes).map_err(fail)?;
            Ok(Progress::Wait(call.token))
        };
        // Writing to a `String` cannot fail: `fmt::Result`s are dropped.
        if let Step::Send { task } = &self.step {
            let Ok(answer) = decode::<TextAnswer<'_>>(payload) else {
                let len = payload.len();
                return Err(fail(format!(
                    "{peer} answered {len} bytes that are not text"
                )));
            };
            let _ = output::write_send(text, task, answer.text);
            return Ok(Progress::Done);
        }
        let reply = match decode::<Reply<'_>>(payload) {
            Ok(Reply::Error(error)) => return Err(fail(error.to_string())),
            Ok(reply) => reply,
            Err(_) => return Err(fail(format!("{peer} gave an answer it cannot read"))),
        };
        let (next, progress) = match (&self.step, reply) {
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
                        region: None,
                    };
                    let _ = output::write_stat(text, &stat);
                    return Ok(Progress::Done);
                }
                let progress = call(system, &Request::Open { path, write: false })?;
                let next = Step::StatOpen {
                    path: path.clone(),
                    entry: (entry.size, entry.capacity),
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
                    size: entry.0,
                    capacity: entry.1,
                    region: Some((address, rights)),
                };
                let _ = output::write_stat(text, &stat);
                return Ok(Progress::Done);
            }
            (
                Step::WriteOpen {
                    path,
                    bytes,
                    append,
                },
                Reply::Opened { size, capacity },
            ) => {
                let region = one_region(caps).ok_or_else(unexpected)?;
                let at = if *append { size } else { 0 };
                let len = at + bytes.len() as u64;
                if len > capacity {
                    return Err(fail(FsError::NoSpace { capacity }.to_string()));
                }
                // Both fit in the region: `len <= capacity`, its length.
                let (start, end, old_end) = (at as usize, len as usize, size as usize);
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
                let progress = call(system, &Request::SetLen { path, len })?;
                let next = Step::WriteSetLen {
                    path: path.clone(),
                    len,
                    added: bytes.len() as u64,
                    append: *append,
                };
                (next, progress)
            }
            (
                Step::WriteSetLen {
                    path,
                    len,
                    added,
                    append,
                },
                Reply::Done,
            ) => {
                let progress = call(system, &Request::Sync)?;
                let next = Step::WriteSync {
                    path: path.clone(),
                    len: *len,
                    added: *added,
                    append: *append,
                };
                (next, progress)
            }
            (
                Step::WriteSync {
                    path,
                    len,
                    added,
                    append,
                },
                Reply::Done,
            ) => {
                let _ = if *append {
                    output::write_appended(text, path, *added, *len)
                } else {
                    output::write_written(text, path, *len)
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

fn fs_request(command: &'static str, request: &Request<'_>) -> Result<Vec<u8>, Failure> {
    encode_request(command, request)
}

fn open(command: &'static str, path: &str, write: bool) -> Result<Vec<u8>, Failure> {
    fs_request(command, &Request::Open { path, write })
}
