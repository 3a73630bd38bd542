//! `Sync` on the data disk: the fs commits its tree through a fake block
//! driver that keeps the disk in memory and answers one request per
//! message, and what it wrote is then mounted by the disk format's own
//! `mount_image`, as the next boot would. Also: the order of the writes
//! and flushes, the answer only after the last flush, driver errors
//! reaching the caller (and a retry that then lands), `Usage`, and
//! `Stat`'s `persisted`.

use super::disk::{disk_rig, sample_disk, varint};
use super::*;
use crate::disk::{Entry, mount_image, read_file};
use mealy_protocol::CallFailure;
use mealy_protocol::block::{self, BlockError, Done, Flush, Geometry, Info};
use mealy_protocol::fs::{Space, Synced, Usage};

/// What the fake driver was asked, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Read(u64),
    Write(u64),
    Flush,
}

/// What the fake driver does with a request: answer it, or fail it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Serve,
    Refuse(BlockError),
    Die,
}

/// The fake block driver over an in-memory disk.
struct Driver {
    disk: Vec<u8>,
    ops: Vec<Op>,
    /// How many of the fs's calls it has answered.
    answered: usize,
    read_only: bool,
}

impl Driver {
    fn new(disk: Vec<u8>) -> Self {
        Self {
            disk,
            ops: Vec::new(),
            answered: 0,
            read_only: false,
        }
    }

    /// Answers the fs's next call, if there is one; `judge` decides.
    fn step(&mut self, rig: &mut Rig, judge: &mut dyn FnMut(Op) -> Verdict) -> bool {
        let Some(call) = rig.cx.calls.get(self.answered).cloned() else {
            return false;
        };
        self.answered += 1;
        assert_eq!(call.to, "virtio-blk");
        let block = || varint(&call.payload[1..]);
        let op = match call.payload.first() {
            Some(0) => None,
            Some(1) => Some(Op::Read(block())),
            Some(2) => Some(Op::Write(block())),
            Some(3) => Some(Op::Flush),
            other => panic!("unexpected block call {other:?}"),
        };
        let verdict = op.map_or(Verdict::Serve, &mut *judge);
        let answer = match (op, verdict) {
            (_, Verdict::Die) => rig.cx.fail_call(call.token, CallFailure::PeerDied),
            (Some(Op::Write(_)), Verdict::Refuse(error)) => {
                rig.cx.answer_call_error::<block::Write>(call.token, error)
            }
            (Some(Op::Flush), Verdict::Refuse(error)) => {
                rig.cx.answer_call_error::<Flush>(call.token, error)
            }
            (Some(Op::Read(_)), Verdict::Refuse(error)) => {
                rig.cx.answer_call_error::<block::Read>(call.token, error)
            }
            (None, _) => rig.cx.answer_call::<Info>(
                call.token,
                &Geometry {
                    blocks: self.disk.len() as u64 / 4096,
                    block_size: 4096,
                    read_only: self.read_only,
                },
            ),
            (Some(op), Verdict::Serve) => {
                self.ops.push(op);
                if op == Op::Flush {
                    assert!(call.caps.is_empty(), "a flush carries no Region");
                    let answer = rig.cx.answer_call::<Flush>(call.token, &Done);
                    rig.cx.deliver(&mut rig.fs, &answer).unwrap();
                    return true;
                }
                let lent = rig.cx.insert(call.caps[0].clone(), Rights::all());
                match op {
                    Op::Read(block) => {
                        let at = block as usize * 4096;
                        let bytes = &self.disk[at..at + 4096];
                        rig.cx.region_mut(lent).unwrap()[..4096].copy_from_slice(bytes);
                    }
                    Op::Write(block) => {
                        let at = block as usize * 4096;
                        let bytes = &rig.cx.region(lent).unwrap()[..4096];
                        self.disk[at..at + 4096].copy_from_slice(bytes);
                    }
                    Op::Flush => {}
                }
                rig.cx.drop_cap(lent).unwrap();
                match op {
                    Op::Read(_) => rig.cx.answer_call::<block::Read>(call.token, &Done),
                    Op::Write(_) => rig.cx.answer_call::<block::Write>(call.token, &Done),
                    Op::Flush => rig.cx.answer_call::<Flush>(call.token, &Done),
                }
            }
        };
        rig.cx.deliver(&mut rig.fs, &answer).unwrap();
        true
    }

    /// Answers every call the fs makes until it stops making them.
    fn serve(&mut self, rig: &mut Rig) {
        while self.step(rig, &mut |_| Verdict::Serve) {}
    }
}

/// A mounted disk fs and its driver.
fn mounted() -> (Rig, Driver) {
    let mut rig = disk_rig();
    let mut driver = Driver::new(sample_disk());
    driver.serve(&mut rig);
    assert!(
        matches!(rig.fs.mount(), Mount::Disk { .. }),
        "{:?}",
        rig.cx.logs
    );
    driver.ops.clear();
    (rig, driver)
}

/// Writes `text` as the whole of `path` (made if missing), as the shell's
/// `write` does: open writable, write the pages, set the length.
fn write_file(rig: &mut Rig, path: &str, text: &[u8]) {
    if rig.stat(path) == Err(FsError::NotFound) {
        rig.result(&Create { path }).unwrap();
    }
    let (_, region) = rig.open(Open { path, write: true }).unwrap();
    rig.write(&region, 0, text);
    rig.result(&SetLen {
        path,
        len: text.len() as u64,
    })
    .unwrap();
}

fn synced(rig: &Rig, reply: CapRef) -> Option<Result<Synced, CallError<FsError>>> {
    rig.cx.answer::<Sync>(reply)
}

#[test]
fn a_sync_writes_the_tree_to_the_disk_and_answers_once_it_is_durable() {
    let (mut rig, mut driver) = mounted();
    write_file(&mut rig, "hello.txt", b"changed in RAM");
    write_file(&mut rig, "etc/new", b"a new file\n");
    rig.result(&Mkdir { path: "made" }).unwrap();
    rig.result(&Remove { path: "docs/empty" }).unwrap();
    assert!(rig.stat("hello.txt").unwrap().dirty);

    let reply = rig.call(&Sync);
    // Answered only after the last flush, which follows the superblock.
    let mut answered_after = None;
    while driver.step(&mut rig, &mut |_| Verdict::Serve) {
        if answered_after.is_none() && synced(&rig, reply).is_some() {
            answered_after = Some(driver.ops.len());
        }
    }
    let ops = &driver.ops;
    assert_eq!(answered_after, Some(ops.len()), "{ops:?}");
    let n = ops.len();
    assert_eq!(ops[n - 1], Op::Flush);
    assert_eq!(ops[n - 2], Op::Write(0), "generation 2 goes into slot 0");
    assert_eq!(ops[n - 3], Op::Flush);
    assert!(
        ops[..n - 3]
            .iter()
            .all(|op| matches!(op, Op::Write(b) if *b >= 2))
    );
    // The committed generation's blocks were not written.
    let before = mount_image(&sample_disk()).unwrap().committed;
    for op in &ops[..n - 3] {
        let Op::Write(block) = op else { continue };
        assert!(!before.used.is_used(*block), "block {block} was in use");
    }
    assert_eq!(
        synced(&rig, reply),
        Some(Ok(Synced {
            files: 2,
            bytes: 14 + 11,
            generation: Some(2),
        }))
    );
    assert!(!rig.stat("hello.txt").unwrap().dirty);
    assert_eq!(
        rig.fs.mount(),
        Mount::Disk {
            generation: 2,
            files: 3
        }
    );

    // What the next boot finds.
    let mounted = mount_image(&driver.disk).unwrap();
    assert_eq!(mounted.committed.generation, 2);
    assert_eq!(mounted.fell_back, None);
    let catalog = &mounted.committed.catalog;
    let file = |path: &str| match catalog.get(path) {
        Some(Entry::File(file)) => read_file(&driver.disk, file).unwrap(),
        other => panic!("{path}: {other:?}"),
    };
    assert_eq!(file("hello.txt"), b"changed in RAM");
    assert_eq!(file("etc/new"), b"a new file\n");
    assert_eq!(file("etc/motd"), b"from the disk\n", "kept, not rewritten");
    assert_eq!(catalog.get("made"), Some(&Entry::Directory));
    assert_eq!(catalog.get("docs/empty"), None);
    assert_eq!(catalog.get("docs"), Some(&Entry::Directory));
}

#[test]
fn a_second_sync_writes_only_what_changed_and_one_with_no_change_writes_nothing() {
    let (mut rig, mut driver) = mounted();
    write_file(&mut rig, "a", b"first");
    rig.call(&Sync);
    driver.serve(&mut rig);
    driver.ops.clear();
    rig.result(&Rename {
        from: "a",
        to: "etc/a",
    })
    .unwrap();
    let reply = rig.call(&Sync);
    driver.serve(&mut rig);
    // A move rewrites the catalog, not the file: one block of catalog,
    // the superblock, two flushes.
    let writes = driver
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Write(_)))
        .count();
    assert_eq!(writes, 2, "{:?}", driver.ops);
    assert_eq!(
        synced(&rig, reply),
        Some(Ok(Synced {
            files: 0,
            bytes: 0,
            generation: Some(3),
        }))
    );
    let calls = rig.cx.calls.len();
    let reply = rig.call(&Sync);
    assert_eq!(rig.cx.calls.len(), calls, "nothing to write, no I/O");
    assert_eq!(
        synced(&rig, reply),
        Some(Ok(Synced {
            files: 0,
            bytes: 0,
            generation: Some(3),
        }))
    );
    let mounted = mount_image(&driver.disk).unwrap();
    match mounted.committed.catalog.get("etc/a") {
        Some(Entry::File(file)) => assert_eq!(read_file(&driver.disk, file).unwrap(), b"first"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_driver_error_reaches_the_sync_caller_and_a_retry_lands() {
    let (mut rig, mut driver) = mounted();
    write_file(&mut rig, "hello.txt", b"retried");
    let reply = rig.call(&Sync);
    let mut writes = 0;
    while driver.step(&mut rig, &mut |op| match op {
        Op::Write(_) => {
            writes += 1;
            if writes == 2 {
                Verdict::Refuse(BlockError::Device)
            } else {
                Verdict::Serve
            }
        }
        _ => Verdict::Serve,
    }) {}
    assert_eq!(
        synced(&rig, reply),
        Some(Err(CallError::Service(FsError::Disk(BlockError::Device))))
    );
    assert!(rig.stat("hello.txt").unwrap().dirty, "still to be written");
    assert!(
        rig.cx
            .logs
            .iter()
            .any(|l| l.starts_with("error: sync: the disk failed"))
    );
    // The disk still mounts the generation before.
    assert_eq!(mount_image(&driver.disk).unwrap().committed.generation, 1);

    let reply = rig.call(&Sync);
    driver.serve(&mut rig);
    match synced(&rig, reply) {
        Some(Ok(synced)) => assert_eq!((synced.files, synced.generation), (1, Some(2))),
        other => panic!("{other:?}"),
    }
    let mounted = mount_image(&driver.disk).unwrap();
    match mounted.committed.catalog.get("hello.txt") {
        Some(Entry::File(file)) => {
            assert_eq!(read_file(&driver.disk, file).unwrap(), b"retried");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_driver_that_dies_or_a_failed_flush_is_an_error_never_a_panic() {
    for verdict in [Verdict::Die, Verdict::Refuse(BlockError::Busy)] {
        let (mut rig, mut driver) = mounted();
        write_file(&mut rig, "x", b"lost");
        let reply = rig.call(&Sync);
        while driver.step(&mut rig, &mut |op| match op {
            Op::Flush => verdict,
            _ => Verdict::Serve,
        }) {}
        let expected = match verdict {
            Verdict::Die => FsError::DiskGone,
            _ => FsError::Disk(BlockError::Busy),
        };
        assert_eq!(synced(&rig, reply), Some(Err(CallError::Service(expected))));
        assert_eq!(mount_image(&driver.disk).unwrap().committed.generation, 1);
        assert!(rig.stat("x").unwrap().dirty);
    }
}

#[test]
fn syncs_that_come_during_a_commit_get_the_next_one() {
    let (mut rig, mut driver) = mounted();
    write_file(&mut rig, "one", b"1");
    let first = rig.call(&Sync);
    // The first request is out; a change and a second sync meanwhile.
    assert!(driver.step(&mut rig, &mut |_| Verdict::Serve));
    write_file(&mut rig, "two", b"2");
    let second = rig.call(&Sync);
    driver.serve(&mut rig);
    match (synced(&rig, first), synced(&rig, second)) {
        (Some(Ok(a)), Some(Ok(b))) => {
            assert_eq!(a.generation, Some(2));
            assert_eq!((b.files, b.generation), (1, Some(3)));
        }
        other => panic!("{other:?}"),
    }
    let mounted = mount_image(&driver.disk).unwrap();
    assert!(mounted.committed.catalog.get("two").is_some());
    assert!(mounted.committed.catalog.get("one").is_some());
}

#[test]
fn usage_and_persisted_follow_the_disk() {
    let (mut rig, mut driver) = mounted();
    let reply = rig.call(&Usage);
    let Some(Ok(space)) = rig.cx.answer::<Usage>(reply) else {
        panic!("no usage");
    };
    let disk = space.disk.expect("a disk");
    assert_eq!(
        (disk.blocks, disk.block_size, disk.generation),
        (64, 4096, 1)
    );
    // Two slots, one catalog block, three blocks of hello.txt, one of motd.
    assert_eq!(disk.used, 7);
    assert_eq!((space.files, space.file_bytes), (3, 9000 + 14));

    let persisted = |rig: &mut Rig, path: &str| {
        let reply = rig.call(&Stat { path });
        match rig.cx.answer::<Stat>(reply) {
            Some(Ok(entry)) => entry.persisted,
            other => panic!("{other:?}"),
        }
    };
    assert!(persisted(&mut rig, "etc/motd"));
    write_file(&mut rig, "etc/motd", b"new");
    assert!(!persisted(&mut rig, "etc/motd"));
    rig.call(&Sync);
    driver.serve(&mut rig);
    assert!(persisted(&mut rig, "etc/motd"));

    // Without a disk nothing is persisted, and a sync says so.
    let mut rig = super::rig();
    assert!(!persisted(&mut rig, "hello.txt"));
    let reply = rig.call(&Usage);
    let Some(Ok(Space { disk: None, .. })) = rig.cx.answer::<Usage>(reply) else {
        panic!("a disk?");
    };
    let reply = rig.call(&Create { path: "n" });
    assert!(rig.cx.answer::<Create>(reply).is_some());
    let reply = rig.call(&Sync);
    assert_eq!(
        synced(&rig, reply),
        Some(Ok(Synced {
            files: 1,
            bytes: 0,
            generation: None
        }))
    );
}

#[test]
fn a_read_only_disk_mounts_read_only() {
    let mut rig = disk_rig();
    let mut driver = Driver::new(sample_disk());
    driver.read_only = true;
    driver.serve(&mut rig);
    assert!(matches!(rig.fs.mount(), Mount::Disk { .. }));
    assert!(
        rig.cx
            .logs
            .iter()
            .any(|l| l.starts_with("mounted disk: 3 files, generation 1, read-only in "))
    );
    assert_eq!(rig.result(&Create { path: "n" }), Err(FsError::ReadOnly));
    assert_eq!(rig.result(&Sync), Err(FsError::ReadOnly));
}

#[test]
fn file_copies_are_made_as_the_reads_come_and_none_outlive_a_refused_disk() {
    let mut rig = disk_rig();
    let mut driver = Driver::new(sample_disk());
    // Slots, catalog, then the first range of the first file.
    let mut steps = 0;
    while rig.fs.backing.held().1 == 0 {
        assert!(
            driver.step(&mut rig, &mut |_| Verdict::Serve),
            "no copy made"
        );
        steps += 1;
    }
    assert_eq!(rig.fs.mount(), Mount::MountingDisk, "before the mount ends");
    assert!(steps < driver.ops.len() + 2);

    // Every file block damaged: the copies made are given back.
    let mut disk = sample_disk();
    for block in 3..super::disk::BLOCKS as usize {
        disk[block * 4096 + 7] ^= 0x5a;
    }
    let mut rig = disk_rig();
    Driver::new(disk).serve(&mut rig);
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    assert_eq!(rig.fs.backing.held(), (0, 0), "nothing of the disk is kept");
}

#[test]
fn a_retry_started_while_a_failed_commits_writes_are_in_flight_lands() {
    let (mut rig, mut driver) = mounted();
    // Three blocks of file and a catalog block: four writes at once.
    let big: Vec<u8> = (0..3 * 4096u32).map(|i| (i % 253) as u8).collect();
    rig.result(&Create { path: "big" }).unwrap();
    let (_, region) = rig
        .open(Open {
            path: "big",
            write: true,
        })
        .unwrap();
    rig.write(&region, 0, &big);
    rig.result(&SetLen {
        path: "big",
        len: big.len() as u64,
    })
    .unwrap();
    let first = rig.call(&Sync);
    let sent = rig.cx.calls.len() - driver.answered;
    assert_eq!(sent, 4, "four writes in flight");
    // The first fails; three are still out when the retry starts.
    assert!(driver.step(&mut rig, &mut |_| Verdict::Refuse(BlockError::Device)));
    assert_eq!(
        synced(&rig, first),
        Some(Err(CallError::Service(FsError::Disk(BlockError::Device))))
    );
    let retry = rig.call(&Sync);
    driver.serve(&mut rig);
    match synced(&rig, retry) {
        Some(Ok(synced)) => assert_eq!((synced.files, synced.generation), (1, Some(2))),
        other => panic!("{other:?}"),
    }
    let mounted = mount_image(&driver.disk).unwrap();
    match mounted.committed.catalog.get("big") {
        Some(Entry::File(file)) => assert_eq!(read_file(&driver.disk, file).unwrap(), big),
        other => panic!("{other:?}"),
    }
}
