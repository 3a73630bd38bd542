//! The fs service's files-as-memory requests on the host, through the real
//! scheduler and capability system (`HostPlatform`): a client task of its
//! own (not the shell's) calls the fs and keeps the answers, so each test
//! checks what the fs said and what the Regions it handed out allow.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use mealy_caps::Rights;
use mealy_protocol::fs::{self as proto, FsError, READ_CHUNK, Reply, Request};
use mealy_protocol::{
    CallToken, CapRef, Context, HandleError, Incoming, IpcError, MAX_PAYLOAD, MessageKind,
    StateMachine, decode, encode,
};
use proptest::prelude::*;

use mealy_kernel::sched::{
    CapSource, CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec,
};

static PENDING: PendingInterrupts = PendingInterrupts::new();

/// An answer the client got: the payload and any capabilities.
type Answer = (Vec<u8>, Vec<CapRef>);

thread_local! {
    /// Answers by call, for the test running on this thread (handlers run
    /// on the thread that dispatches).
    static ANSWERS: RefCell<Vec<(CallToken, Answer)>> = const { RefCell::new(Vec::new()) };
}

struct Client;

impl StateMachine for Client {
    fn name(&self) -> &'static str {
        "client"
    }

    fn handle(&mut self, _cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if let MessageKind::Reply { token } = msg.kind {
            let answer = (msg.payload.to_vec(), msg.caps().to_vec());
            ANSWERS.with(|answers| answers.borrow_mut().push((token, answer)));
        }
        Ok(())
    }
}

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(mealy_fs::Fs::new())
}

fn make_client() -> Box<dyn StateMachine> {
    Box::new(Client)
}

static LIST: &[TaskSpec] = &[
    TaskSpec::new("fs", make_fs).caps(&[CapSpec::full(
        mealy_fs::IMAGE_GRANT,
        CapSource::BootModule { cmdline: "fs" },
    )]),
    TaskSpec::new("client", make_client).caps(&[CapSpec::endpoint("fs", "fs", Rights::WRITE, 0)]),
];

struct Rig {
    sched: Scheduler<HostPlatform>,
    client: mealy_caps::TaskId,
    endpoint: CapRef,
}

fn boot() -> Rig {
    let mut platform = HostPlatform::manual();
    platform.add_boot_module("fs", &common::fs_image());
    let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
    sched.spawn_all(LIST).unwrap();
    sched.run_until_idle(1_000);
    let client = sched.task_by_name("client").unwrap();
    let endpoint = sched.grants(client)[0].cap;
    Rig {
        sched,
        client,
        endpoint,
    }
}

impl Rig {
    fn call(&mut self, request: &Request<'_>) -> Answer {
        let mut buffer = [0u8; MAX_PAYLOAD];
        let payload = encode(request, &mut buffer).unwrap().to_vec();
        let endpoint = self.endpoint;
        let token = self
            .sched
            .act_as(self.client, |cx| cx.call(endpoint, &payload, &[]))
            .unwrap()
            .unwrap();
        self.sched.run_until_idle(1_000);
        ANSWERS.with(|answers| {
            let mut answers = answers.borrow_mut();
            let at = answers
                .iter()
                .position(|(t, _)| *t == token)
                .expect("no answer");
            answers.remove(at).1
        })
    }

    /// `Done`, or the error.
    fn done(&mut self, request: &Request<'_>) -> Result<(), FsError> {
        let (payload, _) = self.call(request);
        match decode::<Reply<'_>>(&payload).unwrap() {
            Reply::Done => Ok(()),
            Reply::Error(error) => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn open(&mut self, path: &str, write: bool) -> Result<(CapRef, u64, u64), FsError> {
        let (payload, caps) = self.call(&Request::Open { path, write });
        match decode::<Reply<'_>>(&payload).unwrap() {
            Reply::Opened { size, capacity } => Ok((caps[0], size, capacity)),
            Reply::Error(error) => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn read(&mut self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, FsError> {
        let (payload, _) = self.call(&Request::Read { path, offset, len });
        match decode::<Reply<'_>>(&payload).unwrap() {
            Reply::Data { bytes } => Ok(bytes.to_vec()),
            Reply::Error(error) => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The whole file, by `Read` calls.
    fn read_all(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let mut all = Vec::new();
        loop {
            let chunk = self.read(path, all.len() as u64, READ_CHUNK)?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend(chunk);
        }
    }

    fn names(&mut self, path: &str) -> Result<Vec<(String, bool)>, FsError> {
        let (payload, _) = self.call(&Request::List { path });
        match decode::<Reply<'_>>(&payload).unwrap() {
            Reply::Listing { entries, .. } => Ok(proto::entries(entries)
                .map(|e| e.unwrap())
                .map(|e| (e.name.to_string(), e.kind == proto::Kind::Directory))
                .collect()),
            Reply::Error(error) => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn stat(&mut self, path: &str) -> Result<(u64, u64, bool), FsError> {
        let (payload, _) = self.call(&Request::Stat { path });
        match decode::<Reply<'_>>(&payload).unwrap() {
            Reply::Stat(entry) => Ok((entry.size, entry.capacity, entry.dirty)),
            Reply::Error(error) => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn write_region(&mut self, region: CapRef, at: usize, bytes: &[u8]) -> Result<(), IpcError> {
        self.sched
            .act_as(self.client, |cx| {
                cx.region_mut(region)
                    .map(|pages| pages[at..at + bytes.len()].copy_from_slice(bytes))
            })
            .unwrap()
    }

    fn region_bytes(&mut self, region: CapRef) -> Result<(u64, Vec<u8>), IpcError> {
        self.sched
            .act_as(self.client, |cx| {
                cx.region(region)
                    .map(|pages| (pages.as_ptr() as u64, pages[..64].to_vec()))
            })
            .unwrap()
    }
}

#[test]
fn create_shows_in_the_listing_and_bytes_written_to_its_region_read_back() {
    let mut rig = boot();
    rig.done(&Request::Create { path: "notes" }).unwrap();
    assert_eq!(
        rig.names("").unwrap(),
        [
            ("etc".to_string(), true),
            ("hello.txt".to_string(), false),
            ("notes".to_string(), false)
        ]
    );
    assert_eq!(rig.stat("notes"), Ok((0, mealy_fs::CREATE_CAPACITY, true)));
    let (region, size, _) = rig.open("notes", true).unwrap();
    assert_eq!(size, 0);
    rig.write_region(region, 0, b"remember the milk").unwrap();
    rig.done(&Request::SetLen {
        path: "notes",
        len: 17,
    })
    .unwrap();
    assert_eq!(rig.read_all("notes").unwrap(), b"remember the milk");
    assert_eq!(rig.read("notes", 9, 3).unwrap(), b"the");
    // Past the end: fewer bytes, then none.
    assert_eq!(rig.read("notes", 13, 100).unwrap(), b"milk");
    assert_eq!(rig.read("notes", 17, 100).unwrap(), b"");
    assert_eq!(rig.read("notes", u64::MAX, u32::MAX).unwrap(), b"");
    rig.done(&Request::Sync).unwrap();
    assert_eq!(
        rig.stat("notes"),
        Ok((17, mealy_fs::CREATE_CAPACITY, false))
    );
    rig.done(&Request::Mkdir { path: "etc/more" }).unwrap();
    assert_eq!(rig.names("etc").unwrap()[0], ("more".to_string(), true));
}

#[test]
fn rename_keeps_an_open_region_and_the_old_name_is_gone() {
    let mut rig = boot();
    let (region, _, _) = rig.open("hello.txt", true).unwrap();
    rig.done(&Request::Rename {
        from: "hello.txt",
        to: "etc/greeting",
    })
    .unwrap();
    assert_eq!(rig.read("hello.txt", 0, 10), Err(FsError::NotFound));
    rig.write_region(region, 0, b"HELLO").unwrap();
    assert_eq!(rig.read_all("etc/greeting").unwrap(), b"HELLO, Mealy!\n");
    assert_eq!(
        rig.names("etc").unwrap(),
        [("greeting".to_string(), false), ("motd".to_string(), false)]
    );
}

#[test]
fn remove_revokes_the_open_region_and_frees_the_name() {
    let mut rig = boot();
    let (region, _, _) = rig.open("etc/motd", true).unwrap();
    assert!(rig.region_bytes(region).is_ok());
    assert_eq!(
        rig.done(&Request::Remove { path: "etc" }),
        Err(FsError::NotEmpty)
    );
    rig.done(&Request::Remove { path: "etc/motd" }).unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    assert_eq!(rig.stat("etc/motd"), Err(FsError::NotFound));
    // An image file opened only read-only loses its Region too.
    let (shown, _, _) = rig.open("hello.txt", false).unwrap();
    rig.done(&Request::Remove { path: "hello.txt" }).unwrap();
    assert_eq!(rig.region_bytes(shown), Err(IpcError::InvalidCap));
    rig.done(&Request::Remove { path: "etc" }).unwrap();
    assert_eq!(rig.names("").unwrap(), []);
    // The name can be used again.
    rig.done(&Request::Create { path: "etc" }).unwrap();
    assert_eq!(rig.stat("etc").map(|s| s.0), Ok(0));
}

#[test]
fn a_read_only_open_has_no_write_and_the_first_write_revokes_it() {
    let mut rig = boot();
    let (region, size, _) = rig.open("hello.txt", false).unwrap();
    assert_eq!(size, 14);
    let refused = rig.write_region(region, 0, b"x");
    assert!(
        matches!(refused, Err(IpcError::MissingRights { .. })),
        "{refused:?}"
    );
    let (_, before) = rig.region_bytes(region).unwrap();
    assert_eq!(&before[..14], b"Hello, Mealy!\n");
    // Zero copy: the Region lies inside the image module's pages.
    let (at, _) = rig.region_bytes(region).unwrap();
    let fs = rig.sched.task_by_name("fs").unwrap();
    let image = rig.sched.grants(fs)[0].cap;
    let (base, len) = rig
        .sched
        .act_as(fs, |cx| {
            cx.region(image)
                .map(|b| (b.as_ptr() as u64, b.len() as u64))
        })
        .unwrap()
        .unwrap();
    assert!((base..base + len).contains(&at), "{at:#x}");
    // The first writable open copies the file and revokes the stale view.
    let (writable, _, _) = rig.open("hello.txt", true).unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    let (copy_at, copied) = rig.region_bytes(writable).unwrap();
    assert_ne!(copy_at, at);
    assert_eq!(&copied[..14], b"Hello, Mealy!\n");
    // A later read-only open shares the copy, still without WRITE.
    let (again, _, _) = rig.open("hello.txt", false).unwrap();
    assert_eq!(rig.region_bytes(again).unwrap().0, copy_at);
    let refused = rig.write_region(again, 0, b"x");
    assert!(
        matches!(refused, Err(IpcError::MissingRights { .. })),
        "{refused:?}"
    );
}

#[test]
fn set_len_keeps_the_address_and_past_the_capacity_is_no_space() {
    let mut rig = boot();
    rig.done(&Request::Create { path: "log" }).unwrap();
    let (region, _, capacity) = rig.open("log", true).unwrap();
    let (at, _) = rig.region_bytes(region).unwrap();
    rig.done(&Request::SetLen {
        path: "log",
        len: capacity,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region).unwrap().0, at, "same pointer");
    assert_eq!(
        rig.done(&Request::SetLen {
            path: "log",
            len: capacity + 1
        }),
        Err(FsError::NoSpace { capacity })
    );
    // Shrinking, then growing, shows zeros where the bytes were cut.
    rig.write_region(region, 0, b"abcdef").unwrap();
    rig.done(&Request::SetLen {
        path: "log",
        len: 2,
    })
    .unwrap();
    rig.done(&Request::SetLen {
        path: "log",
        len: 6,
    })
    .unwrap();
    assert_eq!(rig.read_all("log").unwrap(), b"ab\0\0\0\0");
    // Reserve moves it (revoking the old Region) only when it must.
    rig.done(&Request::Reserve {
        path: "log",
        capacity: 4096,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region).unwrap().0, at);
    rig.done(&Request::Reserve {
        path: "log",
        capacity: 1 << 20,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    assert_eq!(rig.stat("log"), Ok((6, 1 << 20, true)));
    assert_eq!(rig.read_all("log").unwrap(), b"ab\0\0\0\0");
    assert_eq!(
        rig.done(&Request::Reserve {
            path: "log",
            capacity: u64::MAX
        }),
        Err(FsError::NoSpace {
            capacity: mealy_fs::MAX_CAPACITY
        })
    );
}

#[test]
fn bad_paths_taken_names_and_wrong_kinds_are_typed_errors() {
    let mut rig = boot();
    let long = "x".repeat(256);
    let deep = "d/".repeat(40);
    let cases: [(Request<'_>, FsError); 15] = [
        (Request::Create { path: "hello.txt" }, FsError::Exists),
        (Request::Mkdir { path: "etc" }, FsError::Exists),
        (Request::Create { path: "" }, FsError::BadPath),
        (Request::Create { path: "a/.." }, FsError::BadPath),
        (Request::Create { path: "etc/.." }, FsError::BadPath),
        (Request::Create { path: &long }, FsError::BadPath),
        (Request::Create { path: &deep }, FsError::BadPath),
        (Request::Create { path: "nope/x" }, FsError::NotFound),
        (
            Request::Create {
                path: "hello.txt/x",
            },
            FsError::NotADirectory,
        ),
        (Request::Remove { path: "/" }, FsError::BadPath),
        (Request::Remove { path: "nope" }, FsError::NotFound),
        (
            Request::Rename {
                from: "etc",
                to: "etc/inner",
            },
            FsError::IntoItself,
        ),
        (
            Request::Rename {
                from: "hello.txt",
                to: "etc/motd",
            },
            FsError::Exists,
        ),
        (
            Request::Read {
                path: "etc",
                offset: 0,
                len: 1,
            },
            FsError::IsADirectory,
        ),
        (
            Request::SetLen {
                path: "etc",
                len: 0,
            },
            FsError::IsADirectory,
        ),
    ];
    for (request, expected) in cases {
        let (payload, _) = rig.call(&request);
        assert_eq!(
            decode::<Reply<'_>>(&payload).unwrap(),
            Reply::Error(expected),
            "{request:?}"
        );
    }
    // Nothing changed.
    assert_eq!(rig.names("").unwrap().len(), 2);
    assert_eq!(FsError::Exists.to_string(), "file exists");
    assert_eq!(FsError::NotEmpty.to_string(), "directory not empty");
}

#[test]
fn the_entry_limit_is_an_error_not_growth() {
    let mut rig = boot();
    let mut created = 0;
    let refused = loop {
        let path = std::format!("d{created}");
        match rig.done(&Request::Mkdir { path: &path }) {
            Ok(()) => created += 1,
            Err(error) => break error,
        }
        assert!(created <= 5000, "no limit");
    };
    assert_eq!(refused, FsError::TooManyEntries);
    // The root and the image's three entries count too.
    assert_eq!(created + 4, mealy_fs::Limits::DEFAULT.entries);
    // Private copies are bounded by bytes and held capabilities.
    let mut files = 0;
    let full = loop {
        rig.done(&Request::Remove {
            path: &std::format!("d{files}"),
        })
        .unwrap();
        match rig.done(&Request::Create {
            path: &std::format!("f{files}"),
        }) {
            Ok(()) => files += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(full, FsError::Full);
    assert!(files <= mealy_fs::Limits::DEFAULT.held_caps, "{files}");
}

#[test]
fn the_read_benchmark_client_maps_and_copies_the_same_bytes() {
    static RESULT: mealy_fs::bench::BenchResult = mealy_fs::bench::BenchResult::new();
    fn ticks() -> u64 {
        static NOW: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
        NOW.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
    }
    fn make_bench() -> Box<dyn StateMachine> {
        Box::new(mealy_fs::bench::ReadBench::new(ticks, &RESULT))
    }
    static BENCH: &[TaskSpec] = &[
        TaskSpec::new("fs", make_fs).caps(&[CapSpec::full(
            mealy_fs::IMAGE_GRANT,
            CapSource::BootModule { cmdline: "fs" },
        )]),
        TaskSpec::new("fs-bench", make_bench).caps(&[CapSpec::endpoint(
            "fs",
            "fs",
            Rights::WRITE,
            0,
        )]),
    ];
    let mut platform = HostPlatform::manual();
    platform.add_boot_module("fs", &common::fs_image());
    let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
    sched.spawn_all(BENCH).unwrap();
    sched.run_until_idle(10_000);
    use core::sync::atomic::Ordering::Relaxed;
    assert!(
        !RESULT.failed.load(Relaxed),
        "{:?}",
        sched.platform().log_lines
    );
    assert!(RESULT.done.load(Relaxed));
    let expected = (0..mealy_fs::bench::BENCH_LEN)
        .map(|i| u64::from(mealy_fs::bench::pattern(i)))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(RESULT.map_sum.load(Relaxed), expected);
    assert_eq!(RESULT.copy_sum.load(Relaxed), expected);
    assert!(RESULT.copy_ticks.load(Relaxed) > 0);
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    Create(u8),
    Remove(u8),
    Rename(u8, u8),
    Write(u8, Vec<u8>),
    Read(u8, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6).prop_map(Op::Create),
        (0u8..6).prop_map(Op::Remove),
        (0u8..6, 0u8..6).prop_map(|(a, b)| Op::Rename(a, b)),
        (0u8..6, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(a, b)| Op::Write(a, b)),
        (0u8..6, 0u16..300).prop_map(|(a, o)| Op::Read(a, o)),
    ]
}

/// Names 0..3 are in the root, 4..5 in `etc` (which the image has).
fn name(index: u8) -> String {
    if index < 4 {
        std::format!("f{index}")
    } else {
        std::format!("etc/f{index}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_operations_match_a_map(ops in proptest::collection::vec(op(), 1..24)) {
        let mut rig = boot();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Create(a) => {
                    let got = rig.done(&Request::Create { path: &name(a) });
                    let want = if model.contains_key(&name(a)) { Err(FsError::Exists) } else { Ok(()) };
                    prop_assert_eq!(got, want);
                    model.entry(name(a)).or_default();
                }
                Op::Remove(a) => {
                    let got = rig.done(&Request::Remove { path: &name(a) });
                    let want = model.remove(&name(a)).map(|_| ()).ok_or(FsError::NotFound);
                    prop_assert_eq!(got, want);
                }
                Op::Rename(a, b) => {
                    let got = rig.done(&Request::Rename { from: &name(a), to: &name(b) });
                    let want = if !model.contains_key(&name(a)) {
                        Err(FsError::NotFound)
                    } else if model.contains_key(&name(b)) {
                        Err(FsError::Exists)
                    } else {
                        let bytes = model.remove(&name(a)).unwrap_or_default();
                        model.insert(name(b), bytes);
                        Ok(())
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Write(a, bytes) => {
                    let opened = rig.open(&name(a), true);
                    match model.get_mut(&name(a)) {
                        None => prop_assert_eq!(opened.map(|_| ()), Err(FsError::NotFound)),
                        Some(content) => {
                            let (region, _, _) = opened.unwrap();
                            rig.write_region(region, 0, &bytes).unwrap();
                            let len = bytes.len() as u64;
                            rig.done(&Request::SetLen { path: &name(a), len }).unwrap();
                            *content = bytes;
                            let client = rig.client;
                            rig.sched.act_as(client, |cx| cx.drop_cap(region)).unwrap().unwrap();
                        }
                    }
                }
                Op::Read(a, offset) => {
                    let got = rig.read(&name(a), u64::from(offset), 64);
                    let want = model
                        .get(&name(a))
                        .map(|c| c.iter().skip(usize::from(offset)).take(64).copied().collect())
                        .ok_or(FsError::NotFound);
                    prop_assert_eq!(got, want);
                }
            }
        }
        let mut listed: Vec<String> = rig
            .names("")
            .unwrap()
            .into_iter()
            .filter(|(n, _)| n.starts_with('f'))
            .map(|(n, _)| n)
            .collect();
        listed.extend(rig.names("etc").unwrap().into_iter().filter(|(n, _)| n.starts_with('f')).map(|(n, _)| std::format!("etc/{n}")));
        listed.sort();
        let want: Vec<String> = model.keys().cloned().collect();
        prop_assert_eq!(listed, want);
        for (path, content) in &model {
            prop_assert_eq!(&rig.read_all(path).unwrap(), content);
        }
    }
}
