//! What the shell's tests need beyond `FakeContext`: a [`Rig`] that runs
//! the real [`ContextSystem`] over a `FakeContext` and plays the rest of
//! the system, as the shell's task sees it.
//!
//! - The kernel: inspect answers for a fixed system (tasks `echo` 1,
//!   `pinger` 2, `fs` 3; the shell is task 4), Task capabilities for
//!   `kill`, `revoke` (one capability deleted) and `shutdown`; programs
//!   `run` starts, with ids from 5 on ([`FakeKernel`], `fake_kernel.rs`).
//! - The peers, answering the shell's calls (`FakeContext::calls`) when
//!   the test asks ([`Rig::next_answer`]): `echo` answers a text command
//!   with its text; `pinger` never answers (for timeouts); `fs` is
//!   [`FakeFs`] (`fake_fs.rs`).

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::{CapSystem, Limits, Object, Snapshot, TaskId};
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::testing::{FakeContext, Message, SentCall};
use mealy_protocol::text::{TextAnswer, TextCommand};
use mealy_protocol::{Badge, CallFailure, CallToken, CapRef, Grant, Rights, decode};

use crate::context_system::{ContextSystem, INSPECT};
use crate::fake_fs::FakeFs;
use crate::fake_kernel::FakeKernel;
use crate::programs::Programs;
use crate::system::{Answer, BenchReport, MemReport, RegionRow, Stats, TaskRow, TaskStatus};

/// The shell's endpoints, as the boot list gives them: it may pass them
/// on to programs it runs.
const PASSABLE: Rights = Rights::WRITE.union(Rights::DERIVE).union(Rights::GRANT);

/// The shell's own task id in the rig.
pub const SHELL: TaskId = TaskId(4);

/// The shell's task over a `FakeContext`, with the capabilities the task
/// list gives it, and the peers it calls.
#[derive(Debug)]
pub struct Rig {
    pub cx: FakeKernel,
    grants: Vec<Grant>,
    /// The shell task's programs, kept across steps as the task keeps them.
    pub programs: Programs,
    pub fs: FakeFs,
    /// How many of `cx.calls` the peers have seen.
    seen: usize,
}

impl Rig {
    pub fn new() -> Self {
        let mut cx = FakeContext::new().with_task_id(SHELL);
        cx.now_ns = 3_723_456_789_012;
        let grants = [
            (INSPECT, cx.inspector()),
            ("echo", cx.endpoint_with("echo", PASSABLE)),
            ("pinger", cx.endpoint_with("pinger", PASSABLE)),
            ("fs", cx.endpoint_with("fs", PASSABLE)),
            ("task:echo", cx.task("echo")),
            ("task:pinger", cx.task("pinger")),
            ("task:kernel", cx.task("kernel")),
        ]
        .map(|(name, cap)| Grant { name, cap })
        .to_vec();
        cx.answer_inspect(Query::Tasks, Report::Tasks(all_tasks()));
        cx.answer_inspect(Query::Graph, Report::Graph(sample_graph()));
        cx.answer_inspect(Query::Memory, Report::Memory(sample_memory()));
        cx.answer_inspect(Query::Stats, Report::Stats(sample_stats()));
        cx.answer_inspect(Query::Bench, Report::Bench(sample_bench()));
        cx.revoke_in_answering(1);
        let fs = FakeFs::new(&mut cx, &[("hello.txt", b"Hello, Mealy!\n")]);
        Self {
            cx: FakeKernel::new(cx),
            grants,
            programs: Programs::new(),
            fs,
            seen: 0,
        }
    }

    /// Puts a program file at `path` (its bytes are not looked at: the
    /// fake kernel's spawn takes any Region it can read).
    pub fn add_program(&mut self, path: &str) {
        self.fs.put(&mut self.cx, path, b"\x7fELF a program");
    }

    /// The shell's [`System`](crate::System) for one step. The capability
    /// graph it reads shows the Regions the shell holds now.
    pub fn system(&mut self) -> ContextSystem<'_> {
        self.cx.show_regions(&self.fs.given);
        ContextSystem {
            cx: &mut self.cx,
            grants: &self.grants,
            programs: &mut self.programs,
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
            if let Some(answer) = Answer::of(&message.incoming()) {
                return Some(answer);
            }
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

/// The sample graph, and when the shell holds capabilities (`held`: its
/// names for them, their rights and what they name), the shell's CSpace
/// with them.
pub fn graph_holding(held: &[(CapRef, Rights, Object)]) -> Snapshot {
    if held.is_empty() {
        return sample_graph();
    }
    let mut caps = sample_system();
    let Ok(shell) = caps.create_cspace(SHELL, held.len() as u32) else {
        return sample_graph();
    };
    for &(_, _, object) in held {
        let _ = caps.create_object(shell, object);
    }
    let mut snapshot = caps.snapshot();
    let nodes = snapshot
        .caps
        .iter_mut()
        .filter(|node| node.at.cspace == shell);
    for (node, &(cap, rights, _)) in nodes.zip(held) {
        node.at.cap = cap;
        node.cap.rights = rights;
    }
    named(snapshot)
}

pub fn sample_tasks() -> Vec<TaskRow> {
    vec![
        TaskRow {
            id: 1,
            ring: 0,
            name: "echo".to_string(),
            state: TaskStatus::Idle,
            mailbox_depth: 0,
            mailbox_high_water: 3,
            handled: 1024,
            time_ns: 51_200,
            restarts: 0,
            last_fault: None,
        },
        TaskRow {
            id: 2,
            ring: 0,
            name: "pinger".to_string(),
            state: TaskStatus::Queued,
            mailbox_depth: 1,
            mailbox_high_water: 1,
            handled: 1025,
            time_ns: 80_000,
            restarts: 0,
            last_fault: None,
        },
    ]
}

/// The sample tasks and the fs: the whole boot list but the shell.
pub fn all_tasks() -> Vec<TaskRow> {
    let mut tasks = sample_tasks();
    tasks.push(fs_task());
    tasks
}

fn fs_task() -> TaskRow {
    TaskRow {
        id: 3,
        ring: 0,
        name: "fs".to_string(),
        state: TaskStatus::Idle,
        mailbox_depth: 0,
        mailbox_high_water: 1,
        handled: 12,
        time_ns: 9_000,
        restarts: 0,
        last_fault: None,
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
