//! Mounting the data disk: the fs talks to a fake block driver that
//! answers `Info` and every `Read` from an in-memory disk, one message
//! each, as virtio-blk would (several reads are in flight at once). A disk that mounts replaces the boot image;
//! one that does not (corrupt, or the driver fails) is one error line
//! and the boot image is served instead.

use super::super::DISK_GRANT;
use super::*;
use crate::disk::{Change, format_image};
use mealy_protocol::CallFailure;
use mealy_protocol::block::{self, BlockError, Done, Geometry, Info};

pub(super) const BLOCKS: u64 = 64;

/// A disk holding `hello.txt` (two blocks and a bit), `etc/motd` and an
/// empty `docs/empty`.
pub(super) fn sample_disk() -> Vec<u8> {
    let hello: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    format_image(
        BLOCKS,
        &[
            Change::Write {
                path: "hello.txt",
                data: &hello,
            },
            Change::Mkdir { path: "etc" },
            Change::Write {
                path: "etc/motd",
                data: b"from the disk\n",
            },
            Change::Mkdir { path: "docs" },
            Change::Write {
                path: "docs/empty",
                data: b"",
            },
        ],
    )
    .unwrap()
}

/// An fs granted the sample image and an endpoint to the fake driver.
pub(super) fn disk_rig() -> Rig {
    let mut cx = FakeContext::new();
    let image = cx.region_with(&sample_image(), Rights::all());
    let disk = cx.endpoint("virtio-blk");
    let mut fs = Fs::new();
    let grants = [
        Grant {
            name: IMAGE_GRANT,
            cap: image,
        },
        Grant {
            name: DISK_GRANT,
            cap: disk,
        },
    ];
    cx.start(&mut fs, &grants).unwrap();
    Rig { cx, fs, image }
}

/// A LEB128 varint (postcard's integers).
pub(super) fn varint(bytes: &[u8]) -> u64 {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

impl Rig {
    /// Plays the block driver over `disk` until the fs stops calling it:
    /// how many calls it answered.
    fn serve_disk(&mut self, disk: &[u8]) -> usize {
        let mut answered = 0;
        while let Some(call) = self.cx.calls.get(answered).cloned() {
            answered += 1;
            assert_eq!(call.to, "virtio-blk");
            let answer = match call.payload.first() {
                Some(0) => self.cx.answer_call::<Info>(
                    call.token,
                    &Geometry {
                        blocks: disk.len() as u64 / 4096,
                        block_size: 4096,
                        read_only: false,
                    },
                ),
                Some(1) => {
                    let block = varint(&call.payload[1..]) as usize;
                    let lent = self.cx.insert(call.caps[0].clone(), Rights::all());
                    let bytes = &disk[block * 4096..(block + 1) * 4096];
                    self.cx.region_mut(lent).unwrap()[..4096].copy_from_slice(bytes);
                    self.cx.drop_cap(lent).unwrap();
                    self.cx.answer_call::<block::Read>(call.token, &Done)
                }
                other => panic!("unexpected block call {other:?}"),
            };
            self.cx.deliver(&mut self.fs, &answer).unwrap();
        }
        answered
    }
}

#[test]
fn a_disk_that_mounts_is_served_with_its_files_in_private_regions() {
    let disk = sample_disk();
    let mut rig = disk_rig();
    assert_eq!(rig.fs.mount(), Mount::MountingDisk);
    // A request while the mount runs waits for it: held, answered after.
    let early = rig.call(&Stat { path: "etc/motd" });
    assert!(rig.cx.answer::<Stat>(early).is_none());

    let calls = rig.serve_disk(&disk);
    match rig.cx.answer::<Stat>(early) {
        Some(Ok(entry)) => assert_eq!(entry.size, 14),
        other => panic!("{other:?}"),
    }
    assert!(calls > 5, "{calls}");
    assert_eq!(
        rig.fs.mount(),
        Mount::Disk {
            generation: 1,
            files: 3
        }
    );
    assert!(
        rig.cx
            .logs
            .iter()
            .any(|line| line.starts_with("mounted disk: 3 files, generation 1, read-write in ")),
        "{:?}",
        rig.cx.logs
    );
    let hello: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(rig.read_all("hello.txt"), hello);
    assert_eq!(rig.read_all("etc/motd"), b"from the disk\n");
    assert_eq!(rig.read_all("docs/empty"), b"");
    assert_eq!(rig.names(""), ["docs", "etc", "hello.txt"]);
    let stated = rig.stat("hello.txt").unwrap();
    assert_eq!((stated.size, stated.dirty), (9000, false));
    assert!(matches!(rig.file("hello.txt").pages, Pages::Private { .. }));
    // It takes changes like any private file.
    rig.result(&Create { path: "new.txt" }).unwrap();
    assert!(rig.stat("new.txt").unwrap().dirty);
}

#[test]
fn a_corrupt_disk_is_one_error_line_and_the_boot_image_is_served() {
    let mut disk = sample_disk();
    disk[..2 * 4096].fill(0); // both superblock slots gone
    let mut rig = disk_rig();
    rig.serve_disk(&disk);
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    let errors: Vec<_> = rig
        .cx
        .logs
        .iter()
        .filter(|line| line.starts_with("error: the disk did not mount"))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", rig.cx.logs);
    assert!(errors[0].ends_with("serving the boot image"), "{errors:?}");
    assert_eq!(rig.read_all("hello.txt"), b"Hello, Mealy!\n");
}

#[test]
fn a_damaged_file_refuses_the_whole_disk() {
    let mut disk = sample_disk();
    // Every block past the metadata is file data: flip a byte in each.
    let mut rig = disk_rig();
    for block in 3..BLOCKS as usize {
        disk[block * 4096 + 7] ^= 0x5a;
    }
    rig.serve_disk(&disk);
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    assert_eq!(rig.read_all("etc/motd"), b"welcome\n");
}

#[test]
fn a_failing_driver_falls_back_to_the_boot_image() {
    let mut rig = disk_rig();
    let token = rig.cx.calls[0].token;
    let failed = rig
        .cx
        .answer_call_error::<Info>(token, BlockError::NotReady);
    rig.cx.deliver(&mut rig.fs, &failed).unwrap();
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    assert!(rig.cx.logs.iter().any(|l| l.contains("the block driver")));

    let mut rig = disk_rig();
    let disk = sample_disk();
    // The driver dies after the size: the first read fails.
    let token = rig.cx.calls[0].token;
    let geometry = rig.cx.answer_call::<Info>(
        token,
        &Geometry {
            blocks: disk.len() as u64 / 4096,
            block_size: 4096,
            read_only: false,
        },
    );
    rig.cx.deliver(&mut rig.fs, &geometry).unwrap();
    let token = rig.cx.calls[1].token;
    let died = rig.cx.fail_call(token, CallFailure::PeerDied);
    rig.cx.deliver(&mut rig.fs, &died).unwrap();
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    assert_eq!(rig.read_all("hello.txt"), b"Hello, Mealy!\n");
}

#[test]
fn requests_past_the_held_limit_get_not_mounted_and_the_rest_wait() {
    let mut rig = disk_rig();
    let held: Vec<CapRef> = (0..super::super::MAX_HELD)
        .map(|_| rig.call(&Stat { path: "hello.txt" }))
        .collect();
    assert_eq!(rig.stat("hello.txt"), Err(FsError::NotMounted));
    rig.serve_disk(&sample_disk());
    for reply in held {
        match rig.cx.answer::<Stat>(reply) {
            Some(Ok(entry)) => assert_eq!(entry.size, 9000),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn without_a_disk_grant_the_boot_image_mounts_as_before() {
    let rig = rig();
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    assert!(rig.cx.calls.is_empty());
}
