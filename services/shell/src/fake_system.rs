//! A fixed, in-memory [`System`] for tests: two tasks (`echo` 1 and
//! `pinger` 2), a few capabilities with one derivation, and a switch that
//! makes every request fail. It records what it was asked.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mealy_caps::{CapSystem, Limits, Object, Snapshot, TaskId};
use mealy_protocol::{Badge, Rights};

use crate::command::{SlotRef, TaskRef};
use crate::system::{
    BenchReport, CapRow, FileRow, Listing, MemReport, RegionRow, Stats, System, TaskRow, TaskStatus,
};

#[derive(Debug, Default)]
pub struct FakeSystem {
    /// Every request, as `name args`.
    pub requests: Vec<String>,
    /// Makes every request fail with this reason.
    pub failure: Option<String>,
    pub snapshot: Snapshot,
    pub caps: Vec<CapRow>,
    /// A flat file system: path and contents.
    pub files: Vec<(String, Vec<u8>)>,
}

impl FakeSystem {
    pub fn new() -> Self {
        let (snapshot, caps) = sample_graph();
        Self {
            requests: Vec::new(),
            failure: None,
            snapshot,
            caps,
            files: vec![("hello.txt".to_string(), b"Hello, Mealy!\n".to_vec())],
        }
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

    fn send(&mut self, task: &TaskRef, text: &str) -> Result<Option<String>, String> {
        let id = Self::task_id(task)?;
        // echo answers with the text; pinger answers nothing.
        let answer = (id == 1).then(|| String::from(text));
        self.answer(alloc::format!("send {task} {text}"), answer)
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

    fn list(&mut self, path: &str) -> Result<Listing, String> {
        if !path.is_empty() && path != "/" {
            return Err("not a directory".to_string());
        }
        let entries = self
            .files
            .iter()
            .map(|(name, bytes)| FileRow {
                name: name.clone(),
                directory: false,
                size: bytes.len() as u64,
            })
            .collect();
        self.answer(
            alloc::format!("ls {path}"),
            Listing {
                entries,
                not_shown: 0,
            },
        )
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.answer(alloc::format!("cat {path}"), ())?;
        let found = self.files.iter().find(|(name, _)| name == path);
        let bytes = found
            .map(|(_, bytes)| bytes.clone())
            .ok_or("no such file or directory")?;
        Ok(bytes)
    }

    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<u64, String> {
        self.answer(alloc::format!("write {path}"), ())?;
        let file = self.files.iter_mut().find(|(name, _)| name == path);
        let file = file.ok_or("no such file or directory")?;
        file.1 = bytes.to_vec();
        Ok(bytes.len() as u64)
    }
}
