//! What the shell's tests need beyond `FakeContext`: a [`Rig`] that runs
//! the real [`ContextSystem`] over a `FakeContext` and plays the rest of
//! the system, as the shell's task sees it.
//!
//! - The kernel: inspect answers for a fixed system (tasks `echo` 1,
//!   `pinger` 2, `fs` 3; the shell is task 4), Task capabilities for
//!   `kill`, `revoke` (one capability deleted) and `shutdown`.
//! - The peers, answering the shell's calls (`FakeContext::calls`) when
//!   the test asks ([`Rig::next_answer`]): `echo` answers a text command
//!   with its text; `pinger` never answers (for timeouts); `fs`
//!   ([`FakeFs`]) serves `mealy_protocol::fs` over a flat set of files,
//!   each a 4096-byte Region whose pages a read or write of the shell
//!   reaches.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::{CapSystem, Limits, Object, Snapshot, TaskId};
use mealy_protocol::fs::{self, Data, Done, Entry, FsError, Kind, Listing, Opened};
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::interface::Answer as FsAnswer;
use mealy_protocol::testing::{FakeContext, Message, SentCall};
use mealy_protocol::text::{TextAnswer, TextCommand};
use mealy_protocol::{
    Badge, CallFailure, CallToken, CapRef, Context, Grant, MAX_PAYLOAD, MessageKind, Outbox,
    Outgoing, Rights, decode, encode,
};

use crate::context_system::{ContextSystem, INSPECT};
use crate::system::{Answer, BenchReport, MemReport, RegionRow, Stats, TaskRow, TaskStatus};

/// Every fake file's capacity: one page.
pub const CAPACITY: usize = 4096;

/// The shell's own task id in the rig.
pub const SHELL: TaskId = TaskId(4);

/// The shell's task over a `FakeContext`, with the capabilities the task
/// list gives it, and the peers it calls.
#[derive(Debug)]
pub struct Rig {
    pub cx: FakeContext,
    grants: Vec<Grant>,
    pub fs: FakeFs,
    /// How many of `cx.calls` the peers have seen.
    seen: usize,
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

impl Rig {
    pub fn new() -> Self {
        let mut cx = FakeContext::new().with_task_id(SHELL);
        cx.now_ns = 3_723_456_789_012;
        let grants = vec![
            Grant {
                name: INSPECT,
                cap: cx.inspector(),
            },
            Grant {
                name: "echo",
                cap: cx.endpoint("echo"),
            },
            Grant {
                name: "pinger",
                cap: cx.endpoint("pinger"),
            },
            Grant {
                name: "fs",
                cap: cx.endpoint("fs"),
            },
            Grant {
                name: "task:echo",
                cap: cx.task("echo"),
            },
            Grant {
                name: "task:pinger",
                cap: cx.task("pinger"),
            },
            Grant {
                name: "task:kernel",
                cap: cx.task("kernel"),
            },
        ];
        let mut tasks = sample_tasks();
        tasks.push(fs_task());
        cx.answer_inspect(Query::Tasks, Report::Tasks(tasks));
        cx.answer_inspect(Query::Graph, Report::Graph(sample_graph()));
        cx.answer_inspect(Query::Memory, Report::Memory(sample_memory()));
        cx.answer_inspect(Query::Stats, Report::Stats(sample_stats()));
        cx.answer_inspect(Query::Bench, Report::Bench(sample_bench()));
        cx.revoke_in_answering(1);
        let fs = FakeFs::new(&mut cx, &[("hello.txt", b"Hello, Mealy!\n")]);
        Self {
            cx,
            grants,
            fs,
            seen: 0,
        }
    }

    /// The shell's [`System`](crate::System) for one step. The capability
    /// graph it reads shows the Regions the shell holds now.
    pub fn system(&mut self) -> ContextSystem<'_> {
        let held: Vec<(CapRef, Rights)> = self
            .fs
            .given
            .iter()
            .filter_map(|&cap| Some((cap, self.cx.rights(cap)?)))
            .collect();
        self.cx
            .answer_inspect(Query::Graph, Report::Graph(graph_holding(&held)));
        ContextSystem {
            cx: &mut self.cx,
            grants: &self.grants,
        }
    }

    /// The next answer a peer gives to one of the shell's calls, oldest
    /// call first, as the shell's task would take it from its message;
    /// `None` when every call so far is answered or never will be.
    pub fn next_answer(&mut self) -> Option<(CallToken, Answer)> {
        while let Some(call) = self.cx.calls.get(self.seen).cloned() {
            self.seen += 1;
            let message = match call.to {
                "echo" => echo(&self.cx, &call),
                "fs" => self.fs.serve(&mut self.cx, &call),
                _ => continue,
            };
            let Message { kind, payload, .. } = &message;
            let answer = match *kind {
                MessageKind::Reply { .. } => Answer::Reply {
                    payload: payload.clone(),
                    caps: message.incoming().caps().to_vec(),
                },
                MessageKind::CallFailed { reason, .. } => Answer::Failed(reason),
                _ => continue,
            };
            return Some((call.token, answer));
        }
        None
    }

    /// The operation numbers of every call the shell made to the fs.
    pub fn fs_ops(&self) -> Vec<u32> {
        self.cx
            .calls
            .iter()
            .filter(|call| call.to == "fs")
            .filter_map(|call| mealy_protocol::interface::split_op(&call.payload).ok())
            .map(|(op, _)| op)
            .collect()
    }

    /// How many of the Regions the fs handed the shell it still holds.
    pub fn regions_held(&self) -> usize {
        self.fs
            .given
            .iter()
            .filter(|&&cap| self.cx.object(cap).is_some())
            .count()
    }
}

/// `echo`: answers a text command with its text.
fn echo(cx: &FakeContext, call: &SentCall) -> Message {
    match decode::<TextCommand<'_>>(&call.payload) {
        Ok(command) => {
            let answer = TextAnswer { text: command.line };
            cx.answer_call::<TextCommand<'_>>(call.token, &answer)
        }
        Err(_) => cx.fail_call(call.token, CallFailure::Malformed),
    }
}

/// A fake file: its pages, a Region capability of the fs's own (every
/// right; what it hands out is minted from it), and its size.
#[derive(Clone, Debug)]
pub struct FakeFile {
    pub name: String,
    pub pages: CapRef,
    pub size: usize,
}

/// The fs peer: a flat file system, served through the real interface.
/// It shares the shell's `FakeContext` (one table for both sides): a
/// Region it hands out is minted there and stays there, and
/// [`FakeFs::serve`] lists it with the answer, as the kernel's transfer
/// would.
#[derive(Debug)]
pub struct FakeFs {
    pub files: Vec<FakeFile>,
    /// Every Region handed to the shell.
    pub given: Vec<CapRef>,
    /// The Region the answer being made carries.
    handing: Option<CapRef>,
    outbox: Outbox<MAX_PAYLOAD>,
}

impl FakeFs {
    fn new(cx: &mut FakeContext, files: &[(&str, &[u8])]) -> Self {
        let mut fs = Self {
            files: Vec::new(),
            given: Vec::new(),
            handing: None,
            outbox: Outbox::default(),
        };
        for (name, contents) in files {
            fs.add(cx, name, contents);
        }
        fs
    }

    fn add(&mut self, cx: &mut FakeContext, name: &str, contents: &[u8]) {
        let mut pages = vec![0u8; CAPACITY];
        pages[..contents.len()].copy_from_slice(contents);
        self.files.push(FakeFile {
            name: name.to_string(),
            pages: cx.region_with(&pages, Rights::all()),
            size: contents.len(),
        });
    }

    /// Makes `name` hold `contents` (at most [`CAPACITY`] bytes).
    pub fn put(&mut self, cx: &mut FakeContext, name: &str, contents: &[u8]) {
        let Some(file) = self.files.iter_mut().find(|file| file.name == name) else {
            return self.add(cx, name, contents);
        };
        if let Ok(pages) = cx.region_mut(file.pages) {
            pages.fill(0);
            pages[..contents.len()].copy_from_slice(contents);
        }
        file.size = contents.len();
    }

    /// The pages of `name`.
    pub fn pages<'c>(&self, cx: &'c FakeContext, name: &str) -> &'c [u8] {
        self.find(name)
            .and_then(|index| cx.region(self.files[index].pages).ok())
            .unwrap_or_default()
    }

    /// The contents of `name`: its pages up to its size.
    pub fn contents<'c>(&self, cx: &'c FakeContext, name: &str) -> &'c [u8] {
        let size = self.find(name).map_or(0, |index| self.files[index].size);
        &self.pages(cx, name)[..size]
    }

    /// The answer to the shell's `call` of the fs.
    fn serve(&mut self, cx: &mut FakeContext, call: &SentCall) -> Message {
        let (request, reply) = cx.call_with_payload(&call.payload);
        if fs::serve(self, cx, &request.incoming()).is_err() {
            return cx.fail_call(call.token, CallFailure::Malformed);
        }
        let answer = cx
            .reply_to(reply)
            .map(|sent| sent.payload.clone())
            .unwrap_or_default();
        let caps: Vec<CapRef> = self.handing.take().into_iter().collect();
        cx.answer_call_bytes(call.token, &answer).with_caps(&caps)
    }

    fn find(&self, path: &str) -> Option<usize> {
        let name = path.trim_start_matches('/');
        self.files.iter().position(|file| file.name == name)
    }

    fn found(&self, path: &str) -> Result<usize, FsError> {
        self.find(path).ok_or(FsError::NotFound)
    }

    /// The entry of a file called `name`, `size` bytes long.
    fn entry(name: &str, size: usize) -> Entry<'_> {
        Entry {
            name,
            kind: Kind::File,
            size: size as u64,
            capacity: CAPACITY as u64,
            dirty: false,
        }
    }
}

fn is_root(path: &str) -> bool {
    path.trim_start_matches('/').is_empty()
}

fn no_space() -> FsError {
    FsError::NoSpace {
        capacity: CAPACITY as u64,
    }
}

impl Outgoing for FakeFs {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl fs::Server for FakeFs {
    fn open<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Open<'a>,
        answer: FsAnswer<fs::Open<'static>>,
    ) -> Result<(), FsError> {
        let file = &self.files[self.found(request.path)?];
        let mut rights = Rights::READ | Rights::GRANT;
        if request.write {
            rights |= Rights::WRITE;
        }
        let opened = Opened {
            size: file.size as u64,
            capacity: CAPACITY as u64,
        };
        let region = cx
            .mint(file.pages, rights, None)
            .map_err(|_| FsError::Kernel)?;
        self.given.push(region);
        self.handing = Some(region);
        let _ = answer.send(cx, self.outbox.space(), &opened, &[]);
        Ok(())
    }

    fn list<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::List<'a>,
        answer: FsAnswer<fs::List<'static>>,
    ) -> Result<(), FsError> {
        if !is_root(request.path) {
            return Err(FsError::NotADirectory);
        }
        let mut area = [0u8; 1024];
        let mut used = 0;
        for file in &self.files {
            used += encode(&Self::entry(&file.name, file.size), &mut area[used..])
                .map_err(|_| no_space())?
                .len();
        }
        let count = self.files.len() as u32;
        let listing = Listing {
            total: count,
            shown: count,
            entries: &area[..used],
        };
        let _ = answer.send(cx, self.outbox.space(), &listing, &[]);
        Ok(())
    }

    fn stat<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Stat<'a>,
    ) -> Result<Entry<'a>, FsError> {
        if is_root(request.path) {
            return Ok(Entry {
                name: "",
                kind: Kind::Directory,
                size: self.files.len() as u64,
                capacity: 0,
                dirty: false,
            });
        }
        let file = &self.files[self.found(request.path)?];
        let name = request.path.trim_start_matches('/');
        Ok(Self::entry(name, file.size))
    }

    fn set_len<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::SetLen<'a>,
    ) -> Result<Done, FsError> {
        let index = self.found(request.path)?;
        if request.len as usize > CAPACITY {
            return Err(no_space());
        }
        self.files[index].size = request.len as usize;
        Ok(Done)
    }

    fn sync<'a>(&mut self, _: &mut dyn Context, _: fs::Sync) -> Result<Done, FsError> {
        Ok(Done)
    }

    fn create<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Create<'a>,
    ) -> Result<Done, FsError> {
        if self.find(request.path).is_some() {
            return Err(FsError::Exists);
        }
        let pages = cx.alloc_region(CAPACITY).map_err(|_| no_space())?;
        self.files.push(FakeFile {
            name: request.path.trim_start_matches('/').to_string(),
            pages,
            size: 0,
        });
        Ok(Done)
    }

    fn remove<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Remove<'a>,
    ) -> Result<Done, FsError> {
        let file = self.files.remove(self.found(request.path)?);
        // Its Regions go with it.
        let _ = cx.revoke(file.pages);
        let _ = cx.drop_cap(file.pages);
        Ok(Done)
    }

    fn rename<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Rename<'a>,
    ) -> Result<Done, FsError> {
        if self.find(request.to).is_some() {
            return Err(FsError::Exists);
        }
        let index = self.found(request.from)?;
        self.files[index].name = request.to.trim_start_matches('/').to_string();
        Ok(Done)
    }

    fn read<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Read<'a>,
        answer: FsAnswer<fs::Read<'static>>,
    ) -> Result<(), FsError> {
        let file = &self.files[self.found(request.path)?];
        let pages = cx.region(file.pages).map_err(|_| FsError::Kernel)?;
        let contents = &pages[..file.size];
        let from = contents.len().min(request.offset as usize);
        let to = contents.len().min(from + request.len as usize);
        let bytes = contents[from..to].to_vec();
        let _ = answer.send(cx, self.outbox.space(), &Data { bytes: &bytes }, &[]);
        Ok(())
    }

    // A flat file system: no directories to make.
    fn mkdir<'a>(&mut self, _: &mut dyn Context, request: fs::Mkdir<'a>) -> Result<Done, FsError> {
        match self.find(request.path) {
            Some(_) => Err(FsError::Exists),
            None => Err(FsError::BadPath),
        }
    }

    fn reserve<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Reserve<'a>,
    ) -> Result<Done, FsError> {
        self.found(request.path)?;
        if request.capacity as usize > CAPACITY {
            return Err(no_space());
        }
        Ok(Done)
    }
}

/// The sample system's capabilities: a kernel CSpace holding the echo
/// endpoint, a copy given to `pinger` (badged), and an Inspect capability
/// for `echo`.
fn sample_system() -> CapSystem {
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
    caps
}

fn named(mut snapshot: Snapshot) -> Snapshot {
    snapshot.name_task(TaskId(1), "echo");
    snapshot.name_task(TaskId(2), "pinger");
    snapshot.name_task(SHELL, "shell");
    snapshot
}

/// The sample system's capability graph.
pub fn sample_graph() -> Snapshot {
    named(sample_system().snapshot())
}

/// The sample graph, and when the shell holds Regions (`held`: its names
/// for them, and their rights), the shell's CSpace with them.
fn graph_holding(held: &[(CapRef, Rights)]) -> Snapshot {
    if held.is_empty() {
        return sample_graph();
    }
    let mut caps = sample_system();
    let Ok(shell) = caps.create_cspace(SHELL, held.len() as u32) else {
        return sample_graph();
    };
    for _ in held {
        let region = Object::Region {
            base: 0,
            len: CAPACITY as u64,
        };
        let _ = caps.create_object(shell, region);
    }
    let mut snapshot = caps.snapshot();
    let nodes = snapshot
        .caps
        .iter_mut()
        .filter(|node| node.at.cspace == shell);
    for (node, &(cap, rights)) in nodes.zip(held) {
        node.at.cap = cap;
        node.cap.rights = rights;
    }
    named(snapshot)
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

fn fs_task() -> TaskRow {
    TaskRow {
        id: 3,
        name: "fs".to_string(),
        state: TaskStatus::Idle,
        mailbox_depth: 0,
        mailbox_high_water: 1,
        handled: 12,
        time_ns: 9_000,
    }
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

fn sample_bench() -> BenchReport {
    BenchReport {
        round_trips: 10_000,
        tsc_ticks: 4_213_345,
    }
}
