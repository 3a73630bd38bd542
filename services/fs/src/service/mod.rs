//! The fs service: owns the file-system image (a Region the task list
//! grants as `image`) and serves the `mealy_protocol::fs` interface.
//!
//! At start it validates the whole image once ([`Image::parse`]) and
//! builds its mutable view of the namespace from it (`tree.rs`): the
//! image's layout is canonical and cannot change in place, so the image
//! stays exactly as booted and the tree is the truth while the fs runs. A
//! missing or corrupt image is one `error:` log line at mount, and every
//! request is then answered with `FsError::NotMounted`: nothing crashes.
//! A grant without WRITE mounts read-only: every change is `ReadOnly`.
//!
//! **The data disk.** When the boot list also grants an endpoint to the
//! block driver (`disk`), the fs mounts the disk instead
//! (`disk_mount.rs`): it starts the mount in `start` and each driver
//! answer is a message `handle` passes on, so no handler waits. While the
//! mount runs, client requests are held (up to [`MAX_HELD`], their Reply
//! capabilities kept) and answered when it ends, in order; past that,
//! `FsError::NotMounted`. Each file's bytes go, range by range as the
//! reads are answered, into a Region the fs allocates (a private copy, as
//! a changed file gets); when the mount ends the tree is built and the
//! start line says `mounted disk: N files, generation G, read-write`; a
//! disk that does not mount is one `error:` line, and the fs serves the
//! boot image instead, as if there were no disk: a disk is never half
//! trusted. `Sync` then commits the tree to the disk (`disk_sync.rs`).
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the state ([`Fs`], [`Limits`], [`Mount`]), mounting, `handle` |
//! | `disk_mount.rs` | mounting the data disk by `block` calls, one answer per message |
//! | `disk_sync.rs` | `Sync` on the disk: the tree as a `CommitPlan`, its steps as `block` calls |
//! | `backing.rs` | where a file's bytes live (image pages or a private copy), copying, revoking, the memory and capability bounds |
//! | `handlers.rs` | one handler per request of the interface (`fs::Server`) |
//! | `tests/` | the service through `FakeContext`, request by request; the disk through a fake driver |
//!
//! `handle` is `fs::serve`: the interface decodes the request, runs its
//! handler and sends the answer; a payload that is no fs request is
//! `HandleError::Malformed`, which the kernel answers for the fs.

mod backing;
mod disk_mount;
mod disk_sync;
mod handlers;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use mealy_protocol::fs::{self, FsError, READ_CHUNK};
use mealy_protocol::{
    CapRef, Context, Envelope, Grants, HandleError, Incoming, MAX_PAYLOAD, MessageKind, Outbox,
    Outgoing, StateMachine,
};

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::disk::Entry;
use crate::format::{FormatError, Image, Layout, PAGE};
use crate::tree::{Body, NodeId, ROOT, Tree};
use backing::Backing;
pub use disk_mount::{DISK_GRANT, DiskMountError};
use disk_mount::{DiskMount, MountedDisk, Progress};
use disk_sync::{Disk, Ended, Snapshot};

/// The name of the grant that holds the image.
pub const IMAGE_GRANT: &str = "image";

/// The name of the optional grant whose bytes are [`Limits`]
/// ([`Limits::encode`]): how a task list gives the fs other limits than
/// [`Limits::DEFAULT`], the same way in ring 0 and ring 3.
pub const LIMITS_GRANT: &str = "limits";

/// The room a `Create`d file gets: its private Region's length.
pub const CREATE_CAPACITY: u64 = 64 * 1024;

/// The most room one file may have (`Reserve` past it is `NoSpace`).
pub const MAX_CAPACITY: u64 = 16 * 1024 * 1024;

/// Requests held while the disk mounts; past them, `NotMounted`.
pub const MAX_HELD: usize = 32;

/// A request that came while the disk was mounting, answered when the
/// mount ends (its Reply capability stays in the fs's CSpace meanwhile).
#[derive(Debug)]
struct Held {
    kind: MessageKind,
    envelope: Envelope,
    payload: Vec<u8>,
}

/// How much the fs may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Entries in the tree, the root and the image's included. The image
    /// may hold more (it mounts anyway); then nothing can be created.
    pub entries: usize,
    /// Bytes of private copies, summed over their capacities.
    pub private_bytes: u64,
    /// Capabilities held for files (private Regions and image handles).
    pub held_caps: usize,
}

impl Limits {
    /// 4096 entries, 32 MiB of copies, 192 capabilities (the fs's CSpace
    /// has 256 slots by default).
    pub const DEFAULT: Limits = Limits {
        entries: 4096,
        private_bytes: 32 * 1024 * 1024,
        held_caps: 192,
    };
}

/// The tag an encoded [`Limits`] starts with (the layout's version).
pub const LIMITS_TAG: [u8; 4] = *b"fsl1";
/// Bytes of an encoded [`Limits`]: the tag, then `entries` (`u32`),
/// `private_bytes` (`u64`) and `held_caps` (`u32`), little-endian.
pub const LIMITS_LEN: usize = 20;

impl Limits {
    /// The bytes of a [`LIMITS_GRANT`].
    pub fn encode(&self) -> [u8; LIMITS_LEN] {
        let mut bytes = [0; LIMITS_LEN];
        bytes[..4].copy_from_slice(&LIMITS_TAG);
        let entries = u32::try_from(self.entries).unwrap_or(u32::MAX);
        bytes[4..8].copy_from_slice(&entries.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.private_bytes.to_le_bytes());
        let caps = u32::try_from(self.held_caps).unwrap_or(u32::MAX);
        bytes[16..20].copy_from_slice(&caps.to_le_bytes());
        bytes
    }

    /// The limits at the start of `bytes` (what follows is ignored), or
    /// `None` if they are too short or do not start with [`LIMITS_TAG`].
    pub fn decode(bytes: &[u8]) -> Option<Limits> {
        let head = bytes.get(..LIMITS_LEN)?;
        if head[..4] != LIMITS_TAG {
            return None;
        }
        let word = |range: core::ops::Range<usize>| {
            let mut word = [0u8; 8];
            word[..range.len()].copy_from_slice(&head[range]);
            u64::from_le_bytes(word)
        };
        Some(Limits {
            entries: usize::try_from(word(4..8)).ok()?,
            private_bytes: word(8..16),
            held_caps: usize::try_from(word(16..20)).ok()?,
        })
    }
}

/// Whether the image mounted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mount {
    /// No `image` grant (no boot module).
    NoImage,
    /// The image failed validation.
    Corrupt(FormatError),
    Mounted(Layout),
    /// The data disk is being mounted (requests wait: `MAX_HELD`).
    MountingDisk,
    /// The data disk mounted: its generation and how many files it holds.
    Disk {
        generation: u64,
        files: usize,
    },
}

/// The fs service's state.
#[derive(Debug)]
pub struct Fs {
    mount: Mount,
    writable: bool,
    tree: Tree,
    /// The most entries the tree may hold.
    max_entries: usize,
    backing: Backing,
    /// The data disk's mount, while it runs.
    mounting: Option<DiskMount>,
    /// The data disk, once mounted: what `Sync` commits to.
    disk: Option<Disk>,
    /// The boot image, served if the disk does not mount.
    fallback: Option<CapRef>,
    /// Requests that came while the disk was mounting.
    held: Vec<Held>,
    outbox: Outbox<MAX_PAYLOAD>,
    /// Bytes an answer borrows from the fs: a listing's entries or a
    /// read's data. They are put here before the answer is sent, since
    /// the answer goes through `cx`, which a Region's bytes borrow.
    staging: [u8; READ_CHUNK as usize],
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

impl Fs {
    pub const fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    pub const fn with_limits(limits: Limits) -> Self {
        Self {
            mount: Mount::NoImage,
            writable: false,
            tree: Tree::new(),
            max_entries: limits.entries,
            backing: Backing::new(limits),
            mounting: None,
            disk: None,
            fallback: None,
            held: Vec::new(),
            outbox: Outbox::new(),
            staging: [0; READ_CHUNK as usize],
        }
    }

    pub fn mount(&self) -> Mount {
        self.mount
    }

    /// `NotMounted` unless the image mounted.
    fn mounted(&self) -> Result<(), FsError> {
        match self.mount {
            Mount::Mounted(_) if self.backing.has_image() => Ok(()),
            Mount::Disk { .. } => Ok(()),
            _ => Err(FsError::NotMounted),
        }
    }

    /// `NotMounted` or `ReadOnly` unless the fs may change.
    fn writable(&self) -> Result<(), FsError> {
        self.mounted()?;
        if self.writable {
            Ok(())
        } else {
            Err(FsError::ReadOnly)
        }
    }
}

impl Outgoing for Fs {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl StateMachine for Fs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        if let Some(limits) = grants.get(LIMITS_GRANT) {
            match cx.region(limits).ok().and_then(Limits::decode) {
                // Nothing is held yet, so the limits can still change.
                Some(limits) => {
                    self.max_entries = limits.entries;
                    self.backing = Backing::new(limits);
                }
                None => cx.log(format_args!(
                    "error: the {LIMITS_GRANT:?} grant holds no limits; keeping the defaults"
                )),
            }
        }
        if let Some(disk) = grants.get(DISK_GRANT) {
            self.fallback = grants.get(IMAGE_GRANT);
            match DiskMount::start(cx, disk) {
                Ok(mount) => {
                    self.mounting = Some(mount);
                    self.mount = Mount::MountingDisk;
                    self.writable = true;
                    return Ok(());
                }
                Err(error) => cx.log(format_args!(
                    "error: the disk did not mount: {error}; serving the boot image"
                )),
            }
        }
        self.mount_image(cx, grants.get(IMAGE_GRANT));
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if let Some(mount) = self.mounting.as_mut() {
            return match mount.on_message(cx, &mut self.backing, &msg) {
                Some(Progress::Done(result)) => {
                    self.mounting = None;
                    self.disk_mounted(cx, result);
                    for held in core::mem::take(&mut self.held) {
                        let replayed = Incoming {
                            kind: held.kind,
                            envelope: &held.envelope,
                            payload: &held.payload,
                        };
                        if let Err(error) = fs::serve(self, cx, &replayed) {
                            cx.log(format_args!("a held request failed: {error:?}"));
                        }
                    }
                    Ok(())
                }
                Some(Progress::Waiting) => Ok(()),
                None if msg.kind == MessageKind::Request && self.held.len() < MAX_HELD => {
                    self.held.push(Held {
                        kind: msg.kind,
                        envelope: *msg.envelope,
                        payload: msg.payload.to_vec(),
                    });
                    Ok(())
                }
                None => fs::serve(self, cx, &msg),
            };
        }
        if let Some(disk) = self.disk.as_mut()
            && let Some(ended) = disk.on_message(cx, &msg)
        {
            if let Some(ended) = ended {
                self.commit_ended(cx, ended);
            }
            return Ok(());
        }
        if msg.kind != MessageKind::Request {
            // A late answer to an abandoned mount's read, or an answer to
            // no call of the fs's: nothing to do with it.
            return Ok(());
        }
        fs::serve(self, cx, &msg)
    }
}

impl Fs {
    /// Ends the disk's mount: adopts the disk, or serves the boot image.
    fn disk_mounted(&mut self, cx: &mut dyn Context, result: Result<MountedDisk, DiskMountError>) {
        let started = result.as_ref().map_or(0, |disk| disk.started_ns);
        let adopted = result.and_then(|disk| self.adopt(cx, disk).map_err(DiskMountError::Adopt));
        match adopted {
            Ok((generation, files)) => {
                self.mount = Mount::Disk { generation, files };
                let elapsed = cx.now_ns().saturating_sub(started);
                cx.log(format_args!(
                    "mounted disk: {files} files, generation {generation}, {} in {elapsed} ns",
                    if self.writable {
                        "read-write"
                    } else {
                        "read-only"
                    }
                ));
            }
            Err(error) => {
                cx.log(format_args!(
                    "error: the disk did not mount: {error}; serving the boot image"
                ));
                self.writable = false;
                self.mount_image(cx, self.fallback);
            }
        }
    }

    /// Puts a mounted disk's catalog into the tree, each file's bytes in
    /// the private Region the mount filled (an empty file gets one now),
    /// and keeps the disk for `Sync`: its generation and how many files.
    /// On an error the tree is left empty and every Region is released.
    fn adopt(&mut self, cx: &mut dyn Context, disk: MountedDisk) -> Result<(u64, usize), FsError> {
        let MountedDisk {
            mounted,
            mut files,
            endpoint,
            buffers,
            read_only,
            ..
        } = disk;
        let committed = mounted.committed;
        if let Some(rejected) = mounted.fell_back {
            cx.log(format_args!(
                "the disk's newest generation {} did not verify ({:?}); mounted the one before",
                rejected.generation, rejected.error
            ));
        }
        let mut tree = Tree::with_root();
        let mut entries = BTreeMap::new();
        let mut made = Vec::new();
        let mut result = Ok(());
        for (index, (path, entry)) in committed.catalog.entries().enumerate() {
            let step = (|| {
                let (parent, name) = tree.parent_of(path)?;
                let body = match entry {
                    Entry::Directory => Body::Directory {
                        children: Default::default(),
                    },
                    Entry::File(entry) => {
                        let index = u32::try_from(index).map_err(|_| FsError::TooManyEntries)?;
                        let file = match files.remove(&index) {
                            Some(file) => file,
                            // Only an empty file has no bytes to read;
                            // any other without them is not trusted.
                            None if entry.size == 0 => {
                                let mut file = self.backing.new_file(cx, PAGE)?;
                                file.dirty = false;
                                file
                            }
                            None => return Err(FsError::NotMounted),
                        };
                        made.push(file);
                        Body::File(file)
                    }
                };
                let id = tree
                    .insert(parent, name, body)
                    .ok_or(FsError::TooManyEntries)?;
                if let Entry::File(entry) = entry {
                    entries.insert(id, entry.clone());
                }
                Ok(())
            })();
            if let Err(error) = step {
                result = Err(error);
                break;
            }
        }
        if let Err(error) = result {
            for file in made.into_iter().chain(files.into_values()) {
                self.backing.release(cx, file);
            }
            for buffer in buffers {
                let _ = cx.drop_cap(buffer);
            }
            return Err(error);
        }
        let count = made.len();
        let generation = committed.generation;
        self.tree = tree;
        self.writable = !read_only;
        let mut disk = Disk::new(endpoint, buffers, committed, read_only);
        disk.entries = entries;
        self.disk = Some(disk);
        Ok((generation, count))
    }

    /// Lists the tree for a commit (see `disk_sync.rs`): directories,
    /// parents first; clean files kept; dirty ones (and any without a
    /// committed entry) written, their bytes copied now and their dirty
    /// bits cleared. `NotMounted` without a disk.
    fn snapshot(&mut self, cx: &mut dyn Context) -> Result<Snapshot, FsError> {
        let disk = self.disk.as_mut().ok_or(FsError::NotMounted)?;
        let mut snapshot = Snapshot::default();
        let mut stack: Vec<(NodeId, String)> = Vec::from([(ROOT, String::new())]);
        while let Some((id, path)) = stack.pop() {
            let Some(node) = self.tree.get(id) else {
                continue;
            };
            match &node.body {
                Body::Directory { children } => {
                    if id != ROOT {
                        snapshot.mkdir(path.clone());
                    }
                    for (name, &child) in children {
                        let child_path = if path.is_empty() {
                            name.clone()
                        } else {
                            alloc::format!("{path}/{name}")
                        };
                        stack.push((child, child_path));
                    }
                }
                Body::File(file) => match disk.entries.get(&id) {
                    Some(entry) if !file.dirty => snapshot.keep(path, entry.clone()),
                    _ => {
                        let size = usize::try_from(file.size).map_err(|_| FsError::Full)?;
                        let bytes = if size == 0 {
                            Vec::new()
                        } else {
                            self.backing.bytes(&*cx, *file, 0, size)?.to_vec()
                        };
                        snapshot.write(id, path, bytes);
                    }
                },
            }
        }
        for id in snapshot.written() {
            if let Some(file) = self.tree.file_mut(id) {
                file.dirty = false;
            }
        }
        disk.namespace_changed = false;
        Ok(snapshot)
    }

    /// Commits the tree for the `Sync`s `answers` (see `disk_sync.rs`);
    /// when nothing changed since the last commit they are answered at
    /// once.
    fn start_commit(
        &mut self,
        cx: &mut dyn Context,
        answers: Vec<mealy_protocol::Answer<fs::Sync>>,
    ) {
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        let dirty = self.tree.files().any(|file| file.dirty);
        if !dirty && !disk.namespace_changed {
            let synced = fs::Synced {
                files: 0,
                bytes: 0,
                generation: Some(disk.committed.generation),
            };
            disk.answer(cx, answers, synced);
            return;
        }
        let snapshot = match self.snapshot(cx) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                if let Some(disk) = self.disk.as_mut() {
                    disk.refuse(cx, answers, error);
                }
                return;
            }
        };
        let Some(disk) = self.disk.as_mut() else {
            return;
        };
        match disk.start(cx, snapshot, answers) {
            Ok(None) => {}
            Ok(Some(ended)) => self.commit_ended(cx, ended),
            Err((snapshot, answers, error)) => {
                self.unsynced(&snapshot);
                if let Some(disk) = self.disk.as_mut() {
                    disk.refuse(cx, answers, error);
                }
                cx.log(format_args!("error: sync: {error}"));
            }
        }
    }

    /// A commit ended: on success the start line's counts follow it; on
    /// a failure what it would have written is dirty again. Then the
    /// syncs that came meanwhile get a commit of their own.
    fn commit_ended(&mut self, cx: &mut dyn Context, ended: Ended) {
        match ended {
            Ended::Durable { generation, .. } => {
                let files = self.tree.files().count();
                self.mount = Mount::Disk { generation, files };
            }
            Ended::Failed { snapshot, error } => {
                self.unsynced(&snapshot);
                cx.log(format_args!("error: sync: {error}"));
            }
        }
        let queued = self
            .disk
            .as_mut()
            .map(Disk::take_queued)
            .unwrap_or_default();
        if !queued.is_empty() {
            self.start_commit(cx, queued);
        }
    }

    /// Marks what `snapshot` would have written dirty again (the commit
    /// did not land), and the namespace changed.
    fn unsynced(&mut self, snapshot: &Snapshot) {
        for id in snapshot.written() {
            if let Some(file) = self.tree.file_mut(id) {
                file.dirty = true;
            }
        }
        if let Some(disk) = self.disk.as_mut() {
            disk.namespace_changed = true;
        }
    }

    /// Notes a change to the namespace that no file's dirty bit shows
    /// (a directory made, or anything removed or moved), so the next
    /// sync commits it; a removed file's committed entry is forgotten.
    fn namespace_changed(&mut self, removed: Option<NodeId>) {
        if let Some(disk) = self.disk.as_mut() {
            disk.namespace_changed = true;
            if let Some(id) = removed {
                disk.entries.remove(&id);
            }
        }
    }

    /// Mounts the boot image `image` (the start line says how it went).
    fn mount_image(&mut self, cx: &mut dyn Context, image: Option<CapRef>) {
        self.mount = Mount::NoImage;
        let Some(image) = image else {
            cx.log(format_args!(
                "error: no file-system image (boot module `fs`); every request will fail"
            ));
            return;
        };
        let started = cx.now_ns();
        let parsed = match cx.region(image) {
            Ok(bytes) => Image::parse(bytes).map(|view| {
                let tree = Tree::from_image(&view);
                (view.layout(), bytes.len(), tree)
            }),
            Err(error) => {
                cx.log(format_args!("error: cannot read the image region: {error}"));
                return;
            }
        };
        let elapsed = cx.now_ns().saturating_sub(started);
        match parsed {
            Ok((layout, len, Some(tree))) => {
                self.mount = Mount::Mounted(layout);
                self.tree = tree;
                self.backing.set_image(image);
                self.writable = cx.region_mut(image).is_ok();
                cx.log(format_args!(
                    "mounted the boot image, in RAM only: {len} bytes, {} inodes, {} extents, {} in {elapsed} ns",
                    layout.inode_count,
                    layout.extent_count,
                    if self.writable {
                        "read-write"
                    } else {
                        "read-only"
                    },
                ));
            }
            Ok((_, _, None)) => {
                cx.log(format_args!(
                    "error: the image's tree could not be read; every request will fail"
                ));
            }
            Err(error) => {
                self.mount = Mount::Corrupt(error);
                cx.log(format_args!(
                    "error: corrupt file-system image: {error}; every request will fail"
                ));
            }
        }
    }
}
