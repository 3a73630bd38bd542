//! The fs service: owns the file-system image (a Region the task list
//! grants as `image`) and answers `mealy_protocol::fs` requests.
//!
//! At start it validates the whole image once ([`Image::parse`]) and
//! builds its mutable view of the namespace from it (`tree.rs`): the
//! image's layout is canonical and cannot change in place, so the image
//! stays exactly as booted and the tree is the truth while the fs runs. A
//! missing or corrupt image is one `error:` log line at mount, and every
//! request is then answered with `FsError::NotMounted`: nothing crashes.
//!
//! **Where a file's bytes are (the write policy: a private copy on the
//! first write).** A file nobody has changed is its extent of the image:
//! a read-only `Open` is zero copy, a Region minted from the fs's own
//! read-only subregion over that extent (`Pages::Image`). The first
//! change — a writable `Open`, `SetLen`, or a `Reserve` past its room —
//! copies the file into a Region the fs allocates (`cx.alloc_region`) and
//! owns (`Pages::Private`), as large as the file's capacity, and revokes
//! every Region handed out for the image pages, so nobody keeps reading a
//! stale version without noticing (their next `cx.region` fails; open
//! again). From then on every `Open`, read-only or not, is minted from the
//! private Region. `Create` makes a file private from the start, with
//! [`CREATE_CAPACITY`] of room. The image pages themselves are never
//! written.
//!
//! **Growth.** `SetLen` keeps the address: it never moves a file, and past
//! the capacity it is `NoSpace`. A private copy keeps the capacity the
//! image gave the file (size plus the builder's reserved pages); `Reserve`
//! asks for more, moving the file to a larger private Region (and revoking
//! its Regions) only when it must. `alloc_region` commits frames for the
//! whole capacity up front: there is no lazier way without a new kernel
//! operation, which is why capacity is asked for rather than reserved
//! generously behind every file.
//!
//! **Remove** revokes every Region derived for the file and drops the
//! fs's own capability, which frees a private copy's memory. **Rename**
//! only changes the tree, so open Regions stay valid.
//!
//! **Sync.** Each file carries a dirty bit (shown by `Stat` and `List`),
//! set when it is created, opened writable, resized or moved; writes
//! through a Region are invisible to the fs, so a writable open counts as
//! a change. `Sync` clears every bit and answers `Done`. In this phase
//! there is no disk, so nothing is written back: durability arrives with
//! the disk driver, which will write the dirty files here.
//!
//! **Bounds.** [`Limits`] caps the entries (creates past it are
//! `TooManyEntries`), the bytes of private copies, and the capabilities
//! the fs holds for files (one per private file or ever-opened image
//! file; its CSpace is finite): past either, `Full`. No input can make it
//! panic or grow without bound.

use mealy_protocol::fs::{Entry, FsError, Kind as WireKind, READ_CHUNK, Reply, Request};
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, MessageKind, Outbox, Rights,
    StateMachine, decode, encode,
};

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::format::{FormatError, Image, Layout, MAX_DEPTH, PAGE};
use crate::tree::{Body, File, Node, NodeId, Pages, ROOT, Tree};

/// The name of the grant that holds the image.
pub const IMAGE_GRANT: &str = "image";

/// The room a `Create`d file gets: its private Region's length.
pub const CREATE_CAPACITY: u64 = 64 * 1024;

/// The most room one file may have (`Reserve` past it is `NoSpace`).
pub const MAX_CAPACITY: u64 = 16 * 1024 * 1024;

/// Room for a listing's entries in one reply (the rest of the payload is
/// the reply's own framing).
const LISTING_ROOM: usize = MAX_PAYLOAD - 32;

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

/// Whether the image mounted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mount {
    /// No `image` grant (no boot module).
    NoImage,
    /// The image failed validation.
    Corrupt(FormatError),
    Mounted(Layout),
}

/// The fs service's state.
#[derive(Debug)]
pub struct Fs {
    image: Option<CapRef>,
    mount: Mount,
    writable: bool,
    tree: Tree,
    limits: Limits,
    /// Capacity of every private copy, summed.
    private_bytes: u64,
    /// Capabilities held in `Pages` (handles and private Regions).
    held_caps: usize,
    outbox: Outbox<MAX_PAYLOAD>,
    listing: [u8; LISTING_ROOM],
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

/// What a request handler did: answered itself, or wants `Done`.
enum Answered {
    Already,
    Done,
}

impl Fs {
    pub const fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    pub const fn with_limits(limits: Limits) -> Self {
        Self {
            image: None,
            mount: Mount::NoImage,
            writable: false,
            tree: Tree::new(),
            limits,
            private_bytes: 0,
            held_caps: 0,
            outbox: Outbox::new(),
            listing: [0; LISTING_ROOM],
        }
    }

    pub fn mount(&self) -> Mount {
        self.mount
    }

    /// The image capability, or `NotMounted`.
    fn image(&self) -> Result<CapRef, FsError> {
        match (self.image, self.mount) {
            (Some(image), Mount::Mounted(_)) => Ok(image),
            _ => Err(FsError::NotMounted),
        }
    }

    fn writable(&self) -> Result<(), FsError> {
        self.image()?;
        if self.writable {
            Ok(())
        } else {
            Err(FsError::ReadOnly)
        }
    }

    fn answer(
        &mut self,
        cx: &mut dyn Context,
        request: Request<'_>,
        reply: CapRef,
    ) -> Result<(), HandleError> {
        let result = match request {
            Request::Open { path, write } => self.open(cx, path, write, reply),
            Request::List { path } => self.list(cx, path, reply),
            Request::Stat { path } => self.stat(cx, path, reply),
            Request::SetLen { path, len } => self.set_len(cx, path, len),
            Request::Sync => self.sync(),
            Request::Create { path } => self.create(cx, path),
            Request::Mkdir { path } => self.mkdir(path),
            Request::Remove { path } => self.remove(cx, path),
            Request::Rename { from, to } => self.rename(from, to),
            Request::Read { path, offset, len } => self.read(cx, path, offset, len, reply),
            Request::Reserve { path, capacity } => self.reserve(cx, path, capacity),
        };
        match result {
            Ok(Answered::Already) => Ok(()),
            Ok(Answered::Done) => self.send(cx, reply, &Reply::Done, &[]),
            Err(error) => self.send(cx, reply, &Reply::Error(error), &[]),
        }
    }

    fn send(
        &mut self,
        cx: &mut dyn Context,
        reply: CapRef,
        message: &Reply<'_>,
        caps: &[CapRef],
    ) -> Result<(), HandleError> {
        let bytes = self.outbox.encode(message)?;
        cx.reply(reply, bytes, caps)?;
        Ok(())
    }

    /// The file at `path`, or why not.
    fn file(&self, path: &str) -> Result<(NodeId, File), FsError> {
        self.image()?;
        let id = self.tree.lookup(path)?;
        match self.tree.get(id).map(|node| &node.body) {
            Some(Body::File(file)) => Ok((id, *file)),
            Some(Body::Directory { .. }) => Err(FsError::IsADirectory),
            None => Err(FsError::NotFound),
        }
    }

    fn open(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        write: bool,
        reply: CapRef,
    ) -> Result<Answered, FsError> {
        let (id, mut file) = self.file(path)?;
        let mut rights = Rights::READ | Rights::GRANT;
        if write {
            self.writable()?;
            file = self.make_private(cx, id, file.capacity)?;
            rights |= Rights::WRITE;
        }
        let parent = self.parent_cap(cx, id, file)?;
        let region = cx.mint(parent, rights, None).map_err(|_| FsError::Kernel)?;
        let message = Reply::Opened {
            size: file.size,
            capacity: file.capacity,
        };
        let sent = self
            .outbox
            .encode(&message)
            .map_err(|_| FsError::Kernel)
            .and_then(|bytes| {
                cx.reply(reply, bytes, &[region])
                    .map_err(|_| FsError::Kernel)
            });
        if sent.is_err() {
            // Not moved: do not keep a capability nobody asked for.
            let _ = cx.drop_cap(region);
        }
        sent.map(|()| Answered::Already)
    }

    /// The fs's capability every Region of file `id` is minted from: the
    /// private Region, or the image handle (derived on first use).
    fn parent_cap(
        &mut self,
        cx: &mut dyn Context,
        id: NodeId,
        file: File,
    ) -> Result<CapRef, FsError> {
        match file.pages {
            Pages::Private { region } => Ok(region),
            Pages::Image {
                handle: Some(handle),
                ..
            } => Ok(handle),
            Pages::Image {
                extent: None,
                handle: None,
            } => Err(FsError::Fragmented),
            Pages::Image {
                extent: Some((offset, len)),
                handle: None,
            } => {
                if self.held_caps >= self.limits.held_caps {
                    return Err(FsError::Full);
                }
                let image = self.image()?;
                let rights = Rights::READ | Rights::GRANT | Rights::DERIVE;
                let handle = cx
                    .subregion(image, offset, len, rights)
                    .map_err(|_| FsError::Kernel)?;
                self.held_caps += 1;
                if let Some(file) = self.tree.file_mut(id) {
                    file.pages = Pages::Image {
                        extent: Some((offset, len)),
                        handle: Some(handle),
                    };
                }
                Ok(handle)
            }
        }
    }

    /// Gives file `id` a private Region of at least `capacity` bytes (its
    /// current one if that is large enough), copying its bytes and
    /// revoking every Region handed out for the old pages. Marks it dirty.
    fn make_private(
        &mut self,
        cx: &mut dyn Context,
        id: NodeId,
        capacity: u64,
    ) -> Result<File, FsError> {
        let (_, file) = self.file_by_id(id)?;
        if let Pages::Private { .. } = file.pages
            && capacity <= file.capacity
        {
            return self.mark_dirty(id);
        }
        if let Pages::Image { extent: None, .. } = file.pages {
            return Err(FsError::Fragmented);
        }
        let capacity = capacity.max(file.capacity).max(PAGE);
        let capacity = capacity
            .checked_next_multiple_of(PAGE)
            .filter(|&c| c <= MAX_CAPACITY)
            .ok_or(FsError::NoSpace {
                capacity: MAX_CAPACITY,
            })?;
        let region = self.alloc_private(cx, capacity, Some(file))?;
        if let Err(error) = self.copy_bytes(cx, file, region) {
            self.free_private(cx, region, capacity);
            return Err(error);
        }
        self.release(cx, file);
        let moved = File {
            size: file.size,
            capacity,
            dirty: true,
            pages: Pages::Private { region },
        };
        if let Some(slot) = self.tree.file_mut(id) {
            *slot = moved;
        }
        Ok(moved)
    }

    fn file_by_id(&self, id: NodeId) -> Result<(NodeId, File), FsError> {
        match self.tree.get(id).map(|node| &node.body) {
            Some(Body::File(file)) => Ok((id, *file)),
            _ => Err(FsError::NotFound),
        }
    }

    fn mark_dirty(&mut self, id: NodeId) -> Result<File, FsError> {
        let file = self.tree.file_mut(id).ok_or(FsError::NotFound)?;
        file.dirty = true;
        Ok(*file)
    }

    /// A fresh private Region of `capacity` bytes, within the limits
    /// (counting what the file's old `replacing` pages free).
    fn alloc_private(
        &mut self,
        cx: &mut dyn Context,
        capacity: u64,
        replacing: Option<File>,
    ) -> Result<CapRef, FsError> {
        let (freed_bytes, freed_caps) = match replacing.map(|file| (file.pages, file.capacity)) {
            Some((Pages::Private { .. }, capacity)) => (capacity, 1),
            Some((Pages::Image { handle, .. }, _)) => (0, usize::from(handle.is_some())),
            None => (0, 0),
        };
        let bytes = self.private_bytes.saturating_sub(freed_bytes);
        if bytes.saturating_add(capacity) > self.limits.private_bytes
            || self.held_caps.saturating_sub(freed_caps) >= self.limits.held_caps
        {
            return Err(FsError::Full);
        }
        let len = usize::try_from(capacity).map_err(|_| FsError::Full)?;
        let region = cx.alloc_region(len).map_err(|_| FsError::Full)?;
        self.private_bytes += capacity;
        self.held_caps += 1;
        Ok(region)
    }

    /// Drops a private Region the fs made and no file uses.
    fn free_private(&mut self, cx: &mut dyn Context, region: CapRef, capacity: u64) {
        let _ = cx.revoke(region);
        let _ = cx.drop_cap(region);
        self.private_bytes = self.private_bytes.saturating_sub(capacity);
        self.held_caps = self.held_caps.saturating_sub(1);
    }

    /// Revokes every Region handed out for `file`'s pages and drops the
    /// fs's own capability to them (freeing a private copy).
    fn release(&mut self, cx: &mut dyn Context, file: File) {
        match file.pages {
            Pages::Private { region } => self.free_private(cx, region, file.capacity),
            Pages::Image {
                handle: Some(handle),
                ..
            } => {
                let _ = cx.revoke(handle);
                let _ = cx.drop_cap(handle);
                self.held_caps = self.held_caps.saturating_sub(1);
            }
            Pages::Image { handle: None, .. } => {}
        }
    }

    /// Copies `file`'s first `size` bytes into `to` (a fresh Region at
    /// least `file.capacity` long), a bounded chunk at a time: the source
    /// and the destination cannot be borrowed from `cx` at once.
    fn copy_bytes(&mut self, cx: &mut dyn Context, file: File, to: CapRef) -> Result<(), FsError> {
        let size = usize::try_from(file.size).map_err(|_| FsError::Full)?;
        let mut chunk: Vec<u8> = Vec::new();
        let mut done = 0;
        while done < size {
            let n = (size - done).min(16 * 1024);
            chunk.clear();
            chunk.extend_from_slice(self.bytes(&*cx, file, done as u64, n)?);
            let target = cx.region_mut(to).map_err(|_| FsError::Kernel)?;
            target
                .get_mut(done..done + n)
                .ok_or(FsError::Kernel)?
                .copy_from_slice(&chunk);
            done += n;
        }
        Ok(())
    }

    /// `len` bytes of `file` from `offset` (the caller keeps them within
    /// the size).
    fn bytes<'c>(
        &self,
        cx: &'c dyn Context,
        file: File,
        offset: u64,
        len: usize,
    ) -> Result<&'c [u8], FsError> {
        let (cap, base) = match file.pages {
            Pages::Private { region } => (region, 0),
            Pages::Image {
                extent: Some((at, _)),
                ..
            } => (self.image()?, at),
            Pages::Image { extent: None, .. } => return Err(FsError::Fragmented),
        };
        let bytes = cx.region(cap).map_err(|_| FsError::NotMounted)?;
        let start = base
            .checked_add(offset)
            .and_then(|start| usize::try_from(start).ok())
            .ok_or(FsError::NotMounted)?;
        bytes
            .get(start..start.saturating_add(len))
            .ok_or(FsError::NotMounted)
    }

    fn read(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        offset: u64,
        len: u32,
        reply: CapRef,
    ) -> Result<Answered, FsError> {
        let (_, file) = self.file(path)?;
        let left = file.size.saturating_sub(offset);
        let n = u64::from(len.min(READ_CHUNK)).min(left) as usize;
        let bytes = if n == 0 {
            &[][..]
        } else {
            self.bytes(&*cx, file, offset, n)?
        };
        let encoded = self
            .outbox
            .encode(&Reply::Data { bytes })
            .map_err(|_| FsError::Kernel)?;
        cx.reply(reply, encoded, &[]).map_err(|_| FsError::Kernel)?;
        Ok(Answered::Already)
    }

    fn list(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        reply: CapRef,
    ) -> Result<Answered, FsError> {
        self.image()?;
        let id = self.tree.lookup(path)?;
        let Some(Node {
            body: Body::Directory { children },
            ..
        }) = self.tree.get(id)
        else {
            return Err(FsError::NotADirectory);
        };
        let mut used = 0;
        let mut shown = 0u32;
        for &child in children.values() {
            let Some(node) = self.tree.get(child) else {
                continue;
            };
            match encode(&entry(node), &mut self.listing[used..]) {
                Ok(written) => used += written.len(),
                Err(_) => break,
            }
            shown += 1;
        }
        let total = u32::try_from(children.len()).unwrap_or(u32::MAX);
        let message = Reply::Listing {
            total,
            shown,
            entries: &self.listing[..used],
        };
        let bytes = self.outbox.encode(&message).map_err(|_| FsError::Kernel)?;
        cx.reply(reply, bytes, &[]).map_err(|_| FsError::Kernel)?;
        Ok(Answered::Already)
    }

    fn stat(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        reply: CapRef,
    ) -> Result<Answered, FsError> {
        self.image()?;
        let id = self.tree.lookup(path)?;
        let node = self.tree.get(id).ok_or(FsError::NotFound)?;
        let encoded = self
            .outbox
            .encode(&Reply::Stat(entry(node)))
            .map_err(|_| FsError::Kernel)?;
        cx.reply(reply, encoded, &[]).map_err(|_| FsError::Kernel)?;
        Ok(Answered::Already)
    }

    fn set_len(&mut self, cx: &mut dyn Context, path: &str, len: u64) -> Result<Answered, FsError> {
        let (id, file) = self.file(path)?;
        self.writable()?;
        if len > file.capacity {
            return Err(FsError::NoSpace {
                capacity: file.capacity,
            });
        }
        let file = self.make_private(cx, id, file.capacity)?;
        if len < file.size
            && let Pages::Private { region } = file.pages
        {
            // Growing again later shows zeros, not the cut-off bytes.
            let bytes = cx.region_mut(region).map_err(|_| FsError::Kernel)?;
            let (from, to) = (len as usize, file.size as usize);
            if let Some(tail) = bytes.get_mut(from..to) {
                tail.fill(0);
            }
        }
        if let Some(file) = self.tree.file_mut(id) {
            file.size = len;
        }
        Ok(Answered::Done)
    }

    fn reserve(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        capacity: u64,
    ) -> Result<Answered, FsError> {
        let (id, file) = self.file(path)?;
        self.writable()?;
        if capacity > file.capacity {
            self.make_private(cx, id, capacity)?;
        }
        Ok(Answered::Done)
    }

    fn sync(&mut self) -> Result<Answered, FsError> {
        self.writable()?;
        for file in self.tree.files_mut() {
            file.dirty = false;
        }
        Ok(Answered::Done)
    }

    /// The directory and name for a new entry at `path`, if it is free
    /// and the tree has room.
    fn new_entry<'p>(&self, path: &'p str) -> Result<(NodeId, &'p str), FsError> {
        self.writable()?;
        let (parent, name) = self.tree.parent_of(path)?;
        if self.tree.has_child(parent, name) {
            return Err(FsError::Exists);
        }
        if self.tree.len() >= self.limits.entries {
            return Err(FsError::TooManyEntries);
        }
        Ok((parent, name))
    }

    fn create(&mut self, cx: &mut dyn Context, path: &str) -> Result<Answered, FsError> {
        let (parent, name) = self.new_entry(path)?;
        let region = self.alloc_private(cx, CREATE_CAPACITY, None)?;
        let file = File {
            size: 0,
            capacity: CREATE_CAPACITY,
            dirty: true,
            pages: Pages::Private { region },
        };
        if self.tree.insert(parent, name, Body::File(file)).is_none() {
            self.free_private(cx, region, CREATE_CAPACITY);
            return Err(FsError::TooManyEntries);
        }
        Ok(Answered::Done)
    }

    fn mkdir(&mut self, path: &str) -> Result<Answered, FsError> {
        let (parent, name) = self.new_entry(path)?;
        let body = Body::Directory {
            children: BTreeMap::new(),
        };
        self.tree
            .insert(parent, name, body)
            .ok_or(FsError::TooManyEntries)?;
        Ok(Answered::Done)
    }

    fn remove(&mut self, cx: &mut dyn Context, path: &str) -> Result<Answered, FsError> {
        self.writable()?;
        let id = self.tree.lookup(path)?;
        if id == ROOT {
            return Err(FsError::BadPath);
        }
        if let Some(Node {
            body: Body::Directory { children },
            ..
        }) = self.tree.get(id)
            && !children.is_empty()
        {
            return Err(FsError::NotEmpty);
        }
        if let Some(Node {
            body: Body::File(file),
            ..
        }) = self.tree.remove(id)
        {
            self.release(cx, file);
        }
        Ok(Answered::Done)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<Answered, FsError> {
        self.writable()?;
        let id = self.tree.lookup(from)?;
        if id == ROOT {
            return Err(FsError::BadPath);
        }
        let (parent, name) = self.tree.parent_of(to)?;
        if self.tree.has_child(parent, name) {
            return Err(FsError::Exists);
        }
        if self.tree.within(parent, id) {
            return Err(FsError::IntoItself);
        }
        if self.tree.depth(parent) + 1 + self.tree.height(id) > MAX_DEPTH {
            return Err(FsError::BadPath);
        }
        self.tree
            .rename(id, parent, name)
            .ok_or(FsError::NotFound)?;
        Ok(Answered::Done)
    }
}

fn entry(node: &Node) -> Entry<'_> {
    match &node.body {
        Body::Directory { children } => Entry {
            name: &node.name,
            kind: WireKind::Directory,
            size: children.len() as u64,
            capacity: 0,
            dirty: false,
        },
        Body::File(file) => Entry {
            name: &node.name,
            kind: WireKind::File,
            size: file.size,
            capacity: file.capacity,
            dirty: file.dirty,
        },
    }
}

impl StateMachine for Fs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let Some(image) = grants.get(IMAGE_GRANT) else {
            cx.log(format_args!(
                "error: no file-system image (boot module `fs`); every request will fail"
            ));
            return Ok(());
        };
        self.image = Some(image);
        let started = cx.now_ns();
        let parsed = match cx.region(image) {
            Ok(bytes) => Image::parse(bytes).map(|view| {
                let tree = Tree::from_image(&view);
                (view.layout(), bytes.len(), tree)
            }),
            Err(error) => {
                cx.log(format_args!("error: cannot read the image region: {error}"));
                return Ok(());
            }
        };
        let elapsed = cx.now_ns().saturating_sub(started);
        match parsed {
            Ok((layout, len, Some(tree))) => {
                self.mount = Mount::Mounted(layout);
                self.tree = tree;
                self.writable = cx.region_mut(image).is_ok();
                cx.log(format_args!(
                    "mounted {len} bytes, {} inodes, {} extents, {} in {elapsed} ns",
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
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if msg.kind != MessageKind::Request {
            return Ok(());
        }
        let request: Request<'_> = decode(msg.payload)?;
        let Some(reply) = msg.reply() else {
            return Ok(());
        };
        self.answer(cx, request, reply)
    }
}
