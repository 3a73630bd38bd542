//! The fs service through `FakeContext`, request by request: what each
//! answers, what it does to the tree and to the capabilities the fs
//! holds, and every error. The kernel's own tests
//! (`kernel/tests/fs_service.rs`) keep what needs real tasks: Regions
//! used and revoked across address spaces.
//!
//! - this file: the rig (an fs over a sample image, and typed calls);
//! - `files.rs`: what each request does when it succeeds;
//! - `refusals.rs`: mounting, errors, limits, malformed input;
//! - `model.rs`: random requests against a map of paths to bytes;
//! - `disk.rs`: mounting the data disk through a fake block driver;
//! - `sync.rs`: `Sync` committing to that disk, `Usage`, persisted files.

mod disk;
mod files;
mod model;
mod refusals;
mod sync;

extern crate std;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use mealy_protocol::fs::{
    self as proto, Create, FsError, Kind, List, Mkdir, Open, Opened, READ_CHUNK, Read, Remove,
    Rename, Reserve, SetLen, Stat, Sync,
};
use mealy_protocol::testing::{FakeContext, FakeObject, Operation};
use mealy_protocol::{Call, CallError, CapRef, Context, Grant, HandleError, IpcError, Rights};

use super::{
    CREATE_CAPACITY, Fs, IMAGE_GRANT, LIMITS_GRANT, LIMITS_LEN, Limits, MAX_CAPACITY, Mount,
};
use crate::format::{BuildOptions, Node, build};
use crate::tree::{File, Pages};

/// `hello.txt` and `etc/motd`, one spare page behind each.
pub(crate) fn sample_image() -> Vec<u8> {
    let mut etc = alloc::collections::BTreeMap::new();
    etc.insert("motd".to_string(), Node::File(b"welcome\n".to_vec()));
    let mut root = alloc::collections::BTreeMap::new();
    root.insert(
        "hello.txt".to_string(),
        Node::File(b"Hello, Mealy!\n".to_vec()),
    );
    root.insert("etc".to_string(), Node::Directory(etc));
    build(&Node::Directory(root), BuildOptions::default()).unwrap()
}

/// An fs started over an image, and the test playing its caller.
struct Rig {
    cx: FakeContext,
    fs: Fs,
    image: CapRef,
}

/// What `Stat` said, owned.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Stated {
    name: String,
    kind: Kind,
    size: u64,
    capacity: u64,
    dirty: bool,
}

fn rig_with(image: &[u8], rights: Rights, limits: Limits) -> Rig {
    let mut cx = FakeContext::new();
    let image = cx.region_with(image, rights);
    let mut fs = Fs::with_limits(limits);
    let grant = Grant {
        name: IMAGE_GRANT,
        cap: image,
    };
    cx.start(&mut fs, &[grant]).unwrap();
    Rig { cx, fs, image }
}

fn rig() -> Rig {
    rig_with(&sample_image(), Rights::all(), Limits::DEFAULT)
}

impl Rig {
    /// Calls the fs; the Reply capability its answer went through.
    fn call<C: Call>(&mut self, request: &C) -> CapRef {
        let (msg, reply) = self.cx.call_request(request);
        self.cx.deliver(&mut self.fs, &msg).unwrap();
        reply
    }

    /// Success, or the fs's error.
    fn result<C: Call<Error = FsError>>(&mut self, request: &C) -> Result<(), FsError> {
        let reply = self.call(request);
        match self.cx.answer::<C>(reply) {
            Some(Ok(_)) => Ok(()),
            Some(Err(CallError::Service(error))) => Err(error),
            Some(Err(other)) => panic!("{other:?}"),
            None => panic!("no answer"),
        }
    }

    /// The answer and the Region that came with it.
    fn open(&mut self, request: Open<'_>) -> Result<(Opened, FakeObject), FsError> {
        let reply = self.call(&request);
        let opened = match self.cx.answer::<Open>(reply) {
            Some(Ok(opened)) => opened,
            Some(Err(CallError::Service(error))) => return Err(error),
            other => panic!("{other:?}"),
        };
        let caps = &self.cx.reply_to(reply).unwrap().caps;
        assert_eq!(caps.len(), 1, "one Region with the answer");
        Ok((opened, caps[0].clone()))
    }

    fn stat(&mut self, path: &str) -> Result<Stated, FsError> {
        let reply = self.call(&Stat { path });
        match self.cx.answer::<Stat>(reply) {
            Some(Ok(entry)) => Ok(Stated {
                name: entry.name.to_string(),
                kind: entry.kind,
                size: entry.size,
                capacity: entry.capacity,
                dirty: entry.dirty,
            }),
            Some(Err(CallError::Service(error))) => Err(error),
            other => panic!("{other:?}"),
        }
    }

    /// The names listed, and the listing's total.
    fn list(&mut self, path: &str) -> Result<(Vec<String>, u32), FsError> {
        let reply = self.call(&List { path });
        match self.cx.answer::<List>(reply) {
            Some(Ok(listing)) => {
                let names: Vec<String> = proto::entries(listing.entries)
                    .map(|entry| entry.unwrap().name.to_string())
                    .collect();
                assert_eq!(names.len() as u32, listing.shown);
                Ok((names, listing.total))
            }
            Some(Err(CallError::Service(error))) => Err(error),
            other => panic!("{other:?}"),
        }
    }

    fn names(&mut self, path: &str) -> Vec<String> {
        self.list(path).unwrap().0
    }

    fn read(&mut self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, FsError> {
        let reply = self.call(&Read { path, offset, len });
        match self.cx.answer::<Read>(reply) {
            Some(Ok(data)) => Ok(data.bytes.to_vec()),
            Some(Err(CallError::Service(error))) => Err(error),
            other => panic!("{other:?}"),
        }
    }

    fn read_all(&mut self, path: &str) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let chunk = self.read(path, all.len() as u64, READ_CHUNK).unwrap();
            if chunk.is_empty() {
                return all;
            }
            all.extend(chunk);
        }
    }

    /// Writes `bytes` at `at` through a Region the fs handed out, as its
    /// holder would.
    fn write(&mut self, region: &FakeObject, at: usize, bytes: &[u8]) {
        let cap = self.cx.insert(region.clone(), Rights::READ | Rights::WRITE);
        self.cx.region_mut(cap).unwrap()[at..at + bytes.len()].copy_from_slice(bytes);
        self.cx.drop_cap(cap).unwrap();
    }

    /// The fs's record of the file at `path`.
    fn file(&self, path: &str) -> File {
        let id = self.fs.tree.lookup(path).unwrap();
        match self.fs.tree.get(id).map(|node| &node.body) {
            Some(crate::tree::Body::File(file)) => *file,
            other => panic!("{other:?}"),
        }
    }

    /// The backing memory of the fs's image.
    fn image_backing(&self) -> usize {
        match self.cx.object(self.image) {
            Some(FakeObject::Region { backing, .. }) => *backing,
            other => panic!("{other:?}"),
        }
    }
}

fn backing_of(region: &FakeObject) -> usize {
    match region {
        FakeObject::Region { backing, .. } => *backing,
        other => panic!("{other:?}"),
    }
}
