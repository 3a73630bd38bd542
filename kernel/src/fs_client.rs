//! The shell's file commands (`ls`, `cat`, `write`) as calls from the
//! shell's own task to the fs service, through the `fs` endpoint the task
//! list gives it like any other task's: no back door into the fs's state.
//!
//! `cat` opens the file read-only and reads its bytes through the Region
//! capability the fs answers with (`cx.region`), then drops it; `write`
//! opens it writable, writes the pages, drops the capability, then records
//! the size (`SetLen`) and syncs. Portable code, so the whole path runs in
//! host tests over `HostPlatform`; `console.rs` wires it to `System`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mealy_protocol::fs::{self as proto, FsError, Kind, Reply, Request};
use mealy_protocol::{CapRef, MAX_PAYLOAD, decode, encode};
use mealy_shell::{FileRow, Listing};

use crate::console_task::{self, CallAnswer};
use crate::sched::{Platform, Scheduler};

/// The name of the fs task, and of the shell's endpoint to it.
pub const FS_TASK: &str = "fs";

/// An answer of the fs: the payload and the capabilities that came with it.
struct Answer {
    payload: Vec<u8>,
    caps: Vec<CapRef>,
}

/// Calls the fs from the shell's task and runs the scheduler until the
/// answer comes.
fn call<P: Platform>(sched: &mut Scheduler<P>, request: &Request<'_>) -> Result<Answer, String> {
    let shell = sched
        .task_by_name(console_task::NAME)
        .ok_or("the shell task is not running")?;
    let endpoint = sched
        .grants(shell)
        .iter()
        .find(|grant| grant.name == FS_TASK)
        .map(|grant| grant.cap)
        .ok_or("the shell holds no endpoint to fs")?;
    let mut buffer = [0u8; MAX_PAYLOAD];
    let payload = encode(request, &mut buffer).map_err(|error| error.to_string())?;
    let token = sched
        .act_as(shell, |cx| cx.call(endpoint, payload, &[]))
        .ok_or("the shell task is not running")?
        .map_err(|error| format!("fs: {error}"))?;
    loop {
        if let Some(answer) = console_task::take_answer(token) {
            let caps = console_task::take_caps(token);
            return match answer {
                CallAnswer::Reply(payload) => Ok(Answer { payload, caps }),
                CallAnswer::Failed(reason) => Err(format!("fs: {reason}")),
            };
        }
        if !sched.dispatch_one() {
            return Err("fs did not answer".into());
        }
    }
}

fn unexpected(what: &str) -> String {
    format!("fs gave an unexpected answer to {what}")
}

fn fs_error(error: FsError) -> String {
    error.to_string()
}

/// Drops capabilities the shell task was given but does not keep.
fn drop_all<P: Platform>(sched: &mut Scheduler<P>, caps: &[CapRef]) {
    if let Some(shell) = sched.task_by_name(console_task::NAME) {
        sched.act_as(shell, |cx| {
            for &cap in caps {
                let _ = cx.drop_cap(cap);
            }
        });
    }
}

/// `ls`: the entries of the directory at `path`.
pub fn list<P: Platform>(sched: &mut Scheduler<P>, path: &str) -> Result<Listing, String> {
    let answer = call(sched, &Request::List { path })?;
    drop_all(sched, &answer.caps);
    match decode::<Reply<'_>>(&answer.payload).map_err(|_| unexpected("List"))? {
        Reply::Listing {
            total,
            shown,
            entries,
        } => {
            let mut rows = Vec::new();
            for entry in proto::entries(entries) {
                let entry = entry.map_err(|_| unexpected("List"))?;
                rows.push(FileRow {
                    name: entry.name.to_string(),
                    directory: entry.kind == Kind::Directory,
                    size: entry.size,
                });
            }
            Ok(Listing {
                entries: rows,
                not_shown: total.saturating_sub(shown),
            })
        }
        Reply::Error(error) => Err(fs_error(error)),
        _ => Err(unexpected("List")),
    }
}

/// Opens `path`; returns the file's Region (in the shell task's CSpace),
/// its size and its capacity.
fn open<P: Platform>(
    sched: &mut Scheduler<P>,
    path: &str,
    write: bool,
) -> Result<(CapRef, u64, u64), String> {
    let answer = call(sched, &Request::Open { path, write })?;
    let reply = decode::<Reply<'_>>(&answer.payload);
    match (reply, answer.caps.as_slice()) {
        (Ok(Reply::Opened { size, capacity }), &[region]) => Ok((region, size, capacity)),
        (Ok(Reply::Error(error)), _) => {
            drop_all(sched, &answer.caps);
            Err(fs_error(error))
        }
        _ => {
            drop_all(sched, &answer.caps);
            Err(unexpected("Open"))
        }
    }
}

/// `cat`: the file's bytes, read through its Region capability.
pub fn read<P: Platform>(sched: &mut Scheduler<P>, path: &str) -> Result<Vec<u8>, String> {
    let (region, size, _) = open(sched, path, false)?;
    let shell = sched
        .task_by_name(console_task::NAME)
        .ok_or("the shell task is not running")?;
    sched
        .act_as(shell, |cx| {
            let bytes = cx
                .region(region)
                .map_err(|error| format!("reading the file's region: {error}"))
                .and_then(|pages| {
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    pages
                        .get(..size)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| "the file is larger than its region".to_string())
                });
            let _ = cx.drop_cap(region);
            bytes
        })
        .ok_or("the shell task is not running")?
}

/// `write`: replaces the file's contents with `bytes` (within the room
/// the image reserved for it), records the size and syncs.
pub fn write<P: Platform>(
    sched: &mut Scheduler<P>,
    path: &str,
    bytes: &[u8],
) -> Result<u64, String> {
    let (region, _, capacity) = open(sched, path, true)?;
    let shell = sched
        .task_by_name(console_task::NAME)
        .ok_or("the shell task is not running")?;
    let written = sched
        .act_as(shell, |cx| {
            let written = if bytes.len() as u64 > capacity {
                Err(fs_error(FsError::NoSpace { capacity }))
            } else {
                cx.region_mut(region)
                    .map_err(|error| format!("writing the file's region: {error}"))
                    .map(|pages| {
                        let (contents, rest) = pages.split_at_mut(bytes.len());
                        contents.copy_from_slice(bytes);
                        // What lay past the new end is no longer the file's.
                        rest.fill(0);
                        bytes.len() as u64
                    })
            };
            let _ = cx.drop_cap(region);
            written
        })
        .ok_or("the shell task is not running")??;
    for request in [Request::SetLen { path, len: written }, Request::Sync] {
        let answer = call(sched, &request)?;
        drop_all(sched, &answer.caps);
        match decode::<Reply<'_>>(&answer.payload).map_err(|_| unexpected("SetLen"))? {
            Reply::Done => {}
            Reply::Error(error) => return Err(fs_error(error)),
            _ => return Err(unexpected("SetLen")),
        }
    }
    Ok(written)
}

#[cfg(test)]
#[path = "fs_client_tests.rs"]
mod tests;
