//! A fixed, in-memory [`System`] for tests: two tasks (`echo` 1 and
//! `pinger` 2), a few capabilities with one derivation, and a switch that
//! makes every request fail. It records what it was asked.
//!
//! Calls are answered the way the real tasks would, but later: each
//! answer waits in [`FakeSystem::answers`] until the test hands it to the
//! shell (`Shell::answer`). `echo` answers a text command with its text;
//! `pinger` never answers (for timeouts); `fs` speaks `mealy_protocol::fs`
//! over a flat set of files, each with 4096 bytes of capacity, opened as
//! fake Region capabilities.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::{CapSystem, Limits, Object, Snapshot, TaskId};
use mealy_protocol::fs::{self, Data, Done, Entry, FsError, Kind, Listing, Opened};
use mealy_protocol::interface::{Request as _, encode_answer};
use mealy_protocol::text::{TextAnswer, TextCommand};
use mealy_protocol::{
    Badge, CallToken, CapRef, CodecError, MAX_PAYLOAD, Rights, decode, decode_prefix, encode,
};

use crate::command::{SlotRef, TaskRef};
use crate::system::{
    Answer, BenchReport, Call, CapRow, MemReport, RegionRow, Stats, System, TaskRow, TaskStatus,
};

/// Every fake file's capacity.
pub const CAPACITY: usize = 4096;

/// A fake file: its pages (`CAPACITY` bytes) and its size.
#[derive(Clone, Debug)]
pub struct FakeFile {
    pub name: String,
    pub pages: Vec<u8>,
    pub size: usize,
}

impl FakeFile {
    pub fn new(name: &str, contents: &[u8]) -> Self {
        let mut pages = vec![0; CAPACITY];
        pages[..contents.len()].copy_from_slice(contents);
        Self {
            name: name.to_string(),
            pages,
            size: contents.len(),
        }
    }

    pub fn contents(&self) -> &[u8] {
        &self.pages[..self.size]
    }
}

#[derive(Debug, Default)]
pub struct FakeSystem {
    /// Every request, as `name args`.
    pub requests: Vec<String>,
    /// Makes every request fail with this reason.
    pub failure: Option<String>,
    pub snapshot: Snapshot,
    pub caps: Vec<CapRow>,
    /// A flat file system.
    pub files: Vec<FakeFile>,
    /// Answers not yet given to the shell, oldest first.
    pub answers: VecDeque<(CallToken, Answer)>,
    /// Fake Region capabilities the shell holds: which file, and whether
    /// writable.
    pub regions: Vec<(CapRef, String, bool)>,
    /// Tokens and capability slots handed out so far.
    pub issued: u64,
}

impl FakeSystem {
    pub fn new() -> Self {
        let (snapshot, caps) = sample_graph();
        Self {
            requests: Vec::new(),
            failure: None,
            snapshot,
            caps,
            files: vec![FakeFile::new("hello.txt", b"Hello, Mealy!\n")],
            answers: VecDeque::new(),
            regions: Vec::new(),
            issued: 0,
        }
    }

    fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.issued
    }

    /// Queues `answer` (as the fs interface encodes it) for `token`.
    fn reply<R: serde::Serialize>(
        &mut self,
        token: CallToken,
        answer: &Result<R, FsError>,
        caps: Vec<CapRef>,
    ) {
        let mut buffer = [0u8; MAX_PAYLOAD];
        let payload = encode_answer(answer, &mut buffer).unwrap().to_vec();
        self.answers
            .push_back((token, Answer::Reply { payload, caps }));
    }

    fn done(&mut self, token: CallToken) {
        self.reply(token, &Ok(Done), Vec::new());
    }

    fn error(&mut self, token: CallToken, error: FsError) {
        self.reply::<Done>(token, &Err(error), Vec::new());
    }

    /// What the fake fs answers to `request`.
    fn fs(&mut self, token: CallToken, request: FsCall<'_>) {
        let find = |files: &[FakeFile], path: &str| {
            files
                .iter()
                .position(|file| file.name == path.trim_start_matches('/'))
        };
        let no_space = FsError::NoSpace {
            capacity: CAPACITY as u64,
        };
        match request {
            FsCall::List(fs::List { path }) if path.is_empty() || path == "/" => {
                let mut area = [0u8; 1024];
                let mut used = 0;
                for file in &self.files {
                    let entry = Entry {
                        name: &file.name,
                        kind: Kind::File,
                        size: file.size as u64,
                        capacity: CAPACITY as u64,
                        dirty: false,
                    };
                    used += encode(&entry, &mut area[used..]).unwrap().len();
                }
                let count = self.files.len() as u32;
                let listing = Listing {
                    total: count,
                    shown: count,
                    entries: &area[..used],
                };
                self.reply(token, &Ok(listing), Vec::new());
            }
            FsCall::List(_) => self.error(token, FsError::NotADirectory),
            FsCall::Open(fs::Open { path, write }) => match find(&self.files, path) {
                Some(index) => {
                    let region = CapRef::from_raw(self.issue());
                    let name = self.files[index].name.clone();
                    self.regions.push((region, name, write));
                    let opened = Opened {
                        size: self.files[index].size as u64,
                        capacity: CAPACITY as u64,
                    };
                    self.reply(token, &Ok(opened), vec![region]);
                }
                None => self.error(token, FsError::NotFound),
            },
            FsCall::Stat(fs::Stat { path }) if path.is_empty() || path == "/" => {
                let entry = Entry {
                    name: "",
                    kind: Kind::Directory,
                    size: self.files.len() as u64,
                    capacity: 0,
                    dirty: false,
                };
                self.reply(token, &Ok(entry), Vec::new());
            }
            FsCall::Stat(fs::Stat { path }) => match find(&self.files, path) {
                Some(index) => {
                    let file = self.files[index].clone();
                    let entry = Entry {
                        name: &file.name,
                        kind: Kind::File,
                        size: file.size as u64,
                        capacity: CAPACITY as u64,
                        dirty: false,
                    };
                    self.reply(token, &Ok(entry), Vec::new());
                }
                None => self.error(token, FsError::NotFound),
            },
            FsCall::SetLen(fs::SetLen { path, len }) => match find(&self.files, path) {
                Some(index) if len as usize <= CAPACITY => {
                    self.files[index].size = len as usize;
                    self.done(token);
                }
                Some(_) => self.error(token, no_space),
                None => self.error(token, FsError::NotFound),
            },
            FsCall::Sync(fs::Sync) => self.done(token),
            FsCall::Create(fs::Create { path }) => match find(&self.files, path) {
                Some(_) => self.error(token, FsError::Exists),
                None => {
                    let name = path.trim_start_matches('/');
                    self.files.push(FakeFile::new(name, b""));
                    self.done(token);
                }
            },
            FsCall::Remove(fs::Remove { path }) => match find(&self.files, path) {
                Some(index) => {
                    let name = self.files.remove(index).name;
                    // Its Regions go with it.
                    self.regions.retain(|(_, file, _)| *file != name);
                    self.done(token);
                }
                None => self.error(token, FsError::NotFound),
            },
            FsCall::Rename(fs::Rename { from, to }) => {
                match (find(&self.files, from), find(&self.files, to)) {
                    (_, Some(_)) => self.error(token, FsError::Exists),
                    (Some(index), None) => {
                        let new = to.trim_start_matches('/').to_string();
                        let old = core::mem::replace(&mut self.files[index].name, new.clone());
                        for region in &mut self.regions {
                            if region.1 == old {
                                region.1 = new.clone();
                            }
                        }
                        self.done(token);
                    }
                    (None, None) => self.error(token, FsError::NotFound),
                }
            }
            // A flat file system: no directories to make.
            FsCall::Mkdir(fs::Mkdir { path }) => match find(&self.files, path) {
                Some(_) => self.error(token, FsError::Exists),
                None => self.error(token, FsError::BadPath),
            },
            FsCall::Reserve(fs::Reserve { path, capacity }) => match find(&self.files, path) {
                Some(_) if capacity as usize <= CAPACITY => self.done(token),
                Some(_) => self.error(token, no_space),
                None => self.error(token, FsError::NotFound),
            },
            FsCall::Read(fs::Read { path, offset, len }) => match find(&self.files, path) {
                Some(index) => {
                    let contents = self.files[index].contents();
                    let from = contents.len().min(offset as usize);
                    let bytes = &contents[from..contents.len().min(from + len as usize)];
                    let bytes = bytes.to_vec();
                    self.reply(token, &Ok(Data { bytes: &bytes }), Vec::new());
                }
                None => self.error(token, FsError::NotFound),
            },
        }
    }

    fn file_of(&self, region: CapRef, write: bool) -> Result<usize, String> {
        let (_, name, writable) = self
            .regions
            .iter()
            .find(|(cap, _, _)| *cap == region)
            .ok_or("invalid or stale capability")?;
        if write && !writable {
            return Err("the capability lacks the rights for this".into());
        }
        self.files
            .iter()
            .position(|file| file.name == *name)
            .ok_or_else(|| "the file is gone".into())
    }

    fn answer<T>(&mut self, request: String, value: T) -> Result<T, String> {
        self.requests.push(request);
        match &self.failure {
            Some(reason) => Err(reason.clone()),
            None => Ok(value),
        }
    }

    fn task_id(task: &TaskRef) -> Result<u32, String> {
        [(1, "echo"), (2, "pinger")]
            .iter()
            .find(|(id, name)| task.matches(*id, name))
            .map(|(id, _)| *id)
            .ok_or_else(|| alloc::format!("no task {task}"))
    }
}

/// A request of the fs interface, as the fake fs reads it.
#[derive(Debug)]
enum FsCall<'a> {
    Open(fs::Open<'a>),
    List(fs::List<'a>),
    Stat(fs::Stat<'a>),
    SetLen(fs::SetLen<'a>),
    Sync(fs::Sync),
    Create(fs::Create<'a>),
    Remove(fs::Remove<'a>),
    Rename(fs::Rename<'a>),
    Read(fs::Read<'a>),
    Mkdir(fs::Mkdir<'a>),
    Reserve(fs::Reserve<'a>),
}

impl<'a> FsCall<'a> {
    /// The operation number, then that operation's request.
    fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        let (op, body) = decode_prefix::<u32>(payload)?;
        let op = Some(op);
        Ok(match op {
            _ if op == fs::Open::OP => FsCall::Open(decode(body)?),
            _ if op == fs::List::OP => FsCall::List(decode(body)?),
            _ if op == fs::Stat::OP => FsCall::Stat(decode(body)?),
            _ if op == fs::SetLen::OP => FsCall::SetLen(decode(body)?),
            _ if op == fs::Sync::OP => FsCall::Sync(decode(body)?),
            _ if op == fs::Create::OP => FsCall::Create(decode(body)?),
            _ if op == fs::Remove::OP => FsCall::Remove(decode(body)?),
            _ if op == fs::Rename::OP => FsCall::Rename(decode(body)?),
            _ if op == fs::Read::OP => FsCall::Read(decode(body)?),
            _ if op == fs::Mkdir::OP => FsCall::Mkdir(decode(body)?),
            _ if op == fs::Reserve::OP => FsCall::Reserve(decode(body)?),
            _ => return Err(CodecError::Invalid),
        })
    }
}

/// A kernel CSpace holding the echo endpoint, a copy given to `pinger`
/// (badged), and an Inspect capability for `echo`.
pub fn sample_graph() -> (Snapshot, Vec<CapRow>) {
    let limits = Limits {
        max_cspaces: 4,
        max_cspace_slots: 8,
        max_objects: 8,
        max_caps: 16,
    };
    let mut caps = CapSystem::new(limits).expect("limits are valid");
    let echo_space = caps.create_cspace(TaskId(1), 4).expect("room");
    let pinger_space = caps.create_cspace(TaskId(2), 4).expect("room");
    let endpoint = caps
        .create_object(echo_space, Object::Endpoint { task: TaskId(1) })
        .expect("room");
    caps.mint(
        echo_space,
        endpoint,
        pinger_space,
        Rights::WRITE | Rights::GRANT,
        Badge::new(7),
    )
    .expect("mint");
    caps.create_object(echo_space, Object::Inspect)
        .expect("room");
    let mut snapshot = caps.snapshot();
    snapshot.name_task(TaskId(1), "echo");
    snapshot.name_task(TaskId(2), "pinger");
    let rows = snapshot
        .caps
        .iter()
        .map(|node| CapRow {
            task: snapshot
                .task_of(node.at.cspace)
                .map_or(0, |task| task.task.0),
            slot: node.at.cap,
            rights: node.cap.rights,
            badge: node.cap.badge,
            object: snapshot
                .objects
                .iter()
                .find(|object| object.id == node.cap.object)
                .map_or(Object::Timer, |object| object.object),
        })
        .collect();
    (snapshot, rows)
}

pub fn sample_tasks() -> Vec<TaskRow> {
    vec![
        TaskRow {
            id: 1,
            name: "echo".to_string(),
            state: TaskStatus::Idle,
            mailbox_depth: 0,
            mailbox_high_water: 3,
            handled: 1024,
            time_ns: 51_200,
        },
        TaskRow {
            id: 2,
            name: "pinger".to_string(),
            state: TaskStatus::Queued,
            mailbox_depth: 1,
            mailbox_high_water: 1,
            handled: 1025,
            time_ns: 80_000,
        },
    ]
}

pub fn sample_memory() -> MemReport {
    MemReport {
        frames_total: 32_768,
        frames_free: 30_000,
        heap_total_bytes: 4_194_304,
        heap_used_bytes: 65_536,
        regions: vec![
            RegionRow {
                base: 0x40_0000,
                len: 0x2000,
            },
            RegionRow {
                base: 0xffff_8000_0000_0000,
                len: 0x10_0000,
            },
        ],
    }
}

pub fn sample_stats() -> Stats {
    Stats {
        tasks: 2,
        tasks_alive: 2,
        messages_handled: 2049,
        messages_handed_off: 2000,
        handler_time_ns: 131_200,
        budget_overruns: 0,
        malformed: 1,
        handler_errors: 0,
        cspaces: 3,
        objects: 4,
        capabilities: 5,
    }
}

impl System for FakeSystem {
    fn tasks(&mut self) -> Result<Vec<TaskRow>, String> {
        self.answer("tasks".to_string(), sample_tasks())
    }

    fn caps(&mut self, task: Option<&TaskRef>) -> Result<Vec<CapRow>, String> {
        let rows = match task {
            None => self.caps.clone(),
            Some(task) => {
                let id = Self::task_id(task)?;
                self.caps
                    .iter()
                    .filter(|row| row.task == id)
                    .copied()
                    .collect()
            }
        };
        let request = match task {
            Some(task) => alloc::format!("caps {task}"),
            None => "caps".to_string(),
        };
        self.answer(request, rows)
    }

    fn graph(&mut self) -> Result<Snapshot, String> {
        let snapshot = self.snapshot.clone();
        self.answer("graph".to_string(), snapshot)
    }

    fn memory(&mut self) -> Result<MemReport, String> {
        self.answer("memory".to_string(), sample_memory())
    }

    fn call(&mut self, task: &TaskRef, request: &[u8]) -> Result<Call, String> {
        let peer = match task {
            TaskRef::Name(name) if name == "fs" => "fs".to_string(),
            task => match Self::task_id(task)? {
                1 => "echo".to_string(),
                _ => "pinger".to_string(),
            },
        };
        let summary = match (peer.as_str(), decode::<TextCommand<'_>>(request)) {
            ("fs", _) => alloc::format!("fs {:?}", FsCall::decode(request)),
            (_, Ok(command)) => alloc::format!("send {task} {}", command.line),
            (_, Err(_)) => alloc::format!("send {task} (not text)"),
        };
        self.answer(summary, ())?;
        let token = CallToken(self.issue());
        match peer.as_str() {
            "fs" => {
                let request = FsCall::decode(request).map_err(|e| e.to_string())?;
                self.fs(token, request);
            }
            "echo" => {
                let line = decode::<TextCommand<'_>>(request).map_err(|e| e.to_string())?;
                let mut buffer = [0u8; MAX_PAYLOAD];
                let answer = TextAnswer { text: line.line };
                let payload = encode(&answer, &mut buffer).unwrap().to_vec();
                let caps = Vec::new();
                self.answers
                    .push_back((token, Answer::Reply { payload, caps }));
            }
            // pinger never answers.
            _ => {}
        }
        Ok(Call { token, peer })
    }

    fn read_region(&mut self, region: CapRef, read: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let file = self.file_of(region, false)?;
        read(&self.files[file].pages);
        Ok(())
    }

    fn write_region(
        &mut self,
        region: CapRef,
        write: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), String> {
        let file = self.file_of(region, true)?;
        write(&mut self.files[file].pages);
        Ok(())
    }

    fn rights(&mut self, cap: CapRef) -> Result<Rights, String> {
        let (_, _, writable) = self
            .regions
            .iter()
            .find(|(held, _, _)| *held == cap)
            .ok_or("invalid or stale capability")?;
        let read = Rights::READ.union(Rights::GRANT);
        Ok(if *writable {
            read.union(Rights::WRITE)
        } else {
            read
        })
    }

    fn drop_cap(&mut self, cap: CapRef) {
        self.regions.retain(|(held, _, _)| *held != cap);
    }

    fn revoke(&mut self, task: &TaskRef, slot: SlotRef) -> Result<usize, String> {
        Self::task_id(task)?;
        self.answer(alloc::format!("revoke {task} {slot}"), 1)
    }

    fn kill(&mut self, task: &TaskRef) -> Result<(), String> {
        Self::task_id(task)?;
        self.answer(alloc::format!("kill {task}"), ())
    }

    fn stats(&mut self) -> Result<Stats, String> {
        self.answer("stats".to_string(), sample_stats())
    }

    fn bench(&mut self) -> Result<BenchReport, String> {
        let report = BenchReport {
            round_trips: 10_000,
            tsc_ticks: 4_213_345,
        };
        self.answer("bench".to_string(), report)
    }

    fn uptime_ns(&mut self) -> Result<u64, String> {
        self.answer("uptime".to_string(), 3_723_456_789_012)
    }

    fn shutdown(&mut self) -> Result<(), String> {
        self.answer("shutdown".to_string(), ())
    }
}
