//! The fs service's files-as-memory requests on the host, through the real
//! scheduler and capability system (`HostPlatform`): a client task of its
//! own (not the shell's) calls the fs and keeps the answers, so each test
//! checks what the fs said and what the Regions it handed out allow in
//! another task: their rights, their addresses, and their revocation. What
//! the fs decides on its own (errors, the tree, its limits) is tested in
//! its crate, through `FakeContext`.

mod common;

use std::cell::RefCell;

use mealy_caps::Rights;
use mealy_protocol::fs::{
    self, Create, FsError, List, Mkdir, Open, READ_CHUNK, Read, Remove, Rename, Reserve, SetLen,
    Stat,
};
use mealy_protocol::{
    Call, CallError, CallToken, CapRef, Context, Envelope, HandleError, Incoming, IpcError,
    MAX_PAYLOAD, MessageKind, Pending, StateMachine,
};

use mealy_kernel::sched::{
    HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
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
    TaskSpec::new("fs", make_fs).caps(&[grant(mealy_fs::IMAGE_GRANT).boot_module("fs")]),
    TaskSpec::new("client", make_client)
        .caps(&[grant("fs").endpoint_to("fs").rights(Rights::WRITE)]),
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

/// The answer to one call of `C`, as the client task got it.
struct Answered<C> {
    pending: Pending<C>,
    envelope: Envelope,
    payload: Vec<u8>,
    caps: Vec<CapRef>,
}

impl<C: Call> Answered<C> {
    /// The answer, decoded by the call's `Pending`.
    fn answer(&self) -> Result<C::Reply<'_>, CallError<C::Error>> {
        let token = self.pending.token();
        let msg = Incoming {
            kind: MessageKind::Reply { token },
            envelope: &self.envelope,
            payload: &self.payload,
        };
        self.pending.answer(&msg).expect("the answer to this call")
    }
}

/// The fs's own error, or a panic for any other failure.
fn service<E: core::fmt::Debug>(error: CallError<E>) -> E {
    match error {
        CallError::Service(error) => error,
        other => panic!("{other:?}"),
    }
}

impl Rig {
    fn call<C: Call>(&mut self, request: &C) -> Answered<C::Marker> {
        let endpoint = self.endpoint;
        let pending = self
            .sched
            .act_as(self.client, |cx| {
                let mut outbox = [0u8; MAX_PAYLOAD];
                mealy_protocol::call(cx, endpoint, &mut outbox, request, &[])
            })
            .unwrap()
            .unwrap();
        self.sched.run_until_idle(1_000);
        let (payload, caps) = ANSWERS.with(|answers| {
            let mut answers = answers.borrow_mut();
            let at = answers
                .iter()
                .position(|(t, _)| *t == pending.token())
                .expect("no answer");
            answers.remove(at).1
        });
        Answered {
            pending,
            envelope: Envelope::plain(payload.len() as u16),
            payload,
            caps,
        }
    }

    /// Success, or the fs's error.
    fn done<C: Call<Error = FsError>>(&mut self, request: &C) -> Result<(), FsError> {
        self.call(request).answer().map(|_| ()).map_err(service)
    }

    fn open(&mut self, request: Open<'_>) -> Result<(CapRef, u64, u64), FsError> {
        let answered = self.call(&request);
        let opened = answered.answer().map_err(service)?;
        Ok((answered.caps[0], opened.size, opened.capacity))
    }

    fn read(&mut self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, FsError> {
        let answered = self.call(&Read { path, offset, len });
        let data = answered.answer().map_err(service)?;
        Ok(data.bytes.to_vec())
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

    /// The names in a directory, and whether each is one.
    fn names(&mut self, path: &str) -> Result<Vec<(String, bool)>, FsError> {
        let answered = self.call(&List { path });
        let listing = answered.answer().map_err(service)?;
        Ok(fs::entries(listing.entries)
            .map(|e| e.unwrap())
            .map(|e| (e.name.to_string(), e.kind == fs::Kind::Directory))
            .collect())
    }

    fn stat(&mut self, path: &str) -> Result<(u64, u64, bool), FsError> {
        let answered = self.call(&Stat { path });
        let entry = answered.answer().map_err(service)?;
        Ok((entry.size, entry.capacity, entry.dirty))
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
fn rename_keeps_an_open_region_and_the_old_name_is_gone() {
    let mut rig = boot();
    let (region, _, _) = rig
        .open(Open {
            path: "hello.txt",
            write: true,
        })
        .unwrap();
    rig.done(&Rename {
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
    let (region, _, _) = rig
        .open(Open {
            path: "etc/motd",
            write: true,
        })
        .unwrap();
    assert!(rig.region_bytes(region).is_ok());
    assert_eq!(rig.done(&Remove { path: "etc" }), Err(FsError::NotEmpty));
    rig.done(&Remove { path: "etc/motd" }).unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    assert_eq!(rig.stat("etc/motd"), Err(FsError::NotFound));
    // An image file opened only read-only loses its Region too.
    let (shown, _, _) = rig
        .open(Open {
            path: "hello.txt",
            write: false,
        })
        .unwrap();
    rig.done(&Remove { path: "hello.txt" }).unwrap();
    assert_eq!(rig.region_bytes(shown), Err(IpcError::InvalidCap));
    rig.done(&Remove { path: "etc" }).unwrap();
    assert_eq!(rig.names("").unwrap(), []);
    // The name can be used again.
    rig.done(&Create { path: "etc" }).unwrap();
    assert_eq!(rig.stat("etc").map(|s| s.0), Ok(0));
}

#[test]
fn a_read_only_open_has_no_write_and_the_first_write_revokes_it() {
    let mut rig = boot();
    let (region, size, _) = rig
        .open(Open {
            path: "hello.txt",
            write: false,
        })
        .unwrap();
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
    let (writable, _, _) = rig
        .open(Open {
            path: "hello.txt",
            write: true,
        })
        .unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    let (copy_at, copied) = rig.region_bytes(writable).unwrap();
    assert_ne!(copy_at, at);
    assert_eq!(&copied[..14], b"Hello, Mealy!\n");
    // A later read-only open shares the copy, still without WRITE.
    let (again, _, _) = rig
        .open(Open {
            path: "hello.txt",
            write: false,
        })
        .unwrap();
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
    rig.done(&Create { path: "log" }).unwrap();
    let (region, _, capacity) = rig
        .open(Open {
            path: "log",
            write: true,
        })
        .unwrap();
    let (at, _) = rig.region_bytes(region).unwrap();
    rig.done(&SetLen {
        path: "log",
        len: capacity,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region).unwrap().0, at, "same pointer");
    assert_eq!(
        rig.done(&SetLen {
            path: "log",
            len: capacity + 1
        }),
        Err(FsError::NoSpace { capacity })
    );
    // Shrinking, then growing, shows zeros where the bytes were cut.
    rig.write_region(region, 0, b"abcdef").unwrap();
    rig.done(&SetLen {
        path: "log",
        len: 2,
    })
    .unwrap();
    rig.done(&SetLen {
        path: "log",
        len: 6,
    })
    .unwrap();
    assert_eq!(rig.read_all("log").unwrap(), b"ab\0\0\0\0");
    // Reserve moves it (revoking the old Region) only when it must.
    rig.done(&Reserve {
        path: "log",
        capacity: 4096,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region).unwrap().0, at);
    rig.done(&Reserve {
        path: "log",
        capacity: 1 << 20,
    })
    .unwrap();
    assert_eq!(rig.region_bytes(region), Err(IpcError::InvalidCap));
    assert_eq!(rig.stat("log"), Ok((6, 1 << 20, true)));
    assert_eq!(rig.read_all("log").unwrap(), b"ab\0\0\0\0");
    assert_eq!(
        rig.done(&Reserve {
            path: "log",
            capacity: u64::MAX
        }),
        Err(FsError::NoSpace {
            capacity: mealy_fs::MAX_CAPACITY
        })
    );
}

#[test]
fn the_entry_limit_is_an_error_not_growth() {
    let mut rig = boot();
    let mut created = 0;
    let refused = loop {
        let path = std::format!("d{created}");
        match rig.done(&Mkdir { path: &path }) {
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
        rig.done(&Remove {
            path: &std::format!("d{files}"),
        })
        .unwrap();
        match rig.done(&Create {
            path: &std::format!("f{files}"),
        }) {
            Ok(()) => files += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(full, FsError::Full);
    assert!(files <= mealy_fs::Limits::DEFAULT.held_caps, "{files}");
}
