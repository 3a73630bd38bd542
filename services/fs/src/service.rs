//! The fs service: owns the file-system image (a Region the task list
//! grants as `image`) and answers `mealy_protocol::fs` requests.
//!
//! At start it validates the whole image once ([`Image::parse`]) and keeps
//! only the [`Layout`]; each request rebuilds the view over the Region's
//! bytes without re-validating (the accessors stay bounds-checked). A
//! missing or corrupt image is one `error:` log line at mount, and every
//! request is then answered with `FsError::NotMounted`: nothing crashes.
//!
//! `Open` is zero copy: the reply carries a Region capability derived
//! (`Context::subregion`) for the file's extent of the image, READ and
//! GRANT, plus WRITE when asked and the image is writable. The capability
//! is a child of the fs's own image capability in the derivation tree, so
//! revoking the image (or the kernel's original) takes every open file
//! away. Writes land in the image's pages directly; `SetLen` records the
//! size in the inode table and `Sync` re-seals the metadata checksum. The
//! image lives in RAM in this phase, so nothing is written to a disk:
//! `Sync` only makes the in-memory image a valid image again.

use mealy_protocol::fs::{Entry, FsError, Kind as WireKind, Reply, Request};
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, MessageKind, Outbox, Rights,
    StateMachine, decode, encode,
};

use crate::format::{self, CHECKSUM_AT, FormatError, Image, Inode, Kind, Layout, PathError};

/// The name of the grant that holds the image.
pub const IMAGE_GRANT: &str = "image";

/// Room for a listing's entries in one reply (the rest of the payload is
/// the reply's own framing).
const LISTING_ROOM: usize = MAX_PAYLOAD - 32;

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
    /// Sizes changed since the last sync.
    dirty: bool,
    outbox: Outbox<MAX_PAYLOAD>,
    listing: [u8; LISTING_ROOM],
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

impl Fs {
    pub const fn new() -> Self {
        Self {
            image: None,
            mount: Mount::NoImage,
            writable: false,
            dirty: false,
            outbox: Outbox::new(),
            listing: [0; LISTING_ROOM],
        }
    }

    pub fn mount(&self) -> Mount {
        self.mount
    }

    /// The mounted image's layout, or `NotMounted`.
    fn layout(&self) -> Result<(CapRef, Layout), FsError> {
        match (self.image, self.mount) {
            (Some(image), Mount::Mounted(layout)) => Ok((image, layout)),
            _ => Err(FsError::NotMounted),
        }
    }

    fn answer(
        &mut self,
        cx: &mut dyn Context,
        request: Request<'_>,
        reply: CapRef,
    ) -> Result<(), HandleError> {
        let result = match request {
            Request::Open { path, write } => return self.open(cx, path, write, reply),
            Request::List { path } => return self.list(cx, path, reply),
            Request::Stat { path } => self.stat(cx, path, reply),
            Request::SetLen { path, len } => self.set_len(cx, path, len),
            Request::Sync => self.sync(cx),
        };
        match result {
            Ok(true) => Ok(()),
            Ok(false) => self.send(cx, reply, &Reply::Done, &[]),
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

    fn fail(
        &mut self,
        cx: &mut dyn Context,
        reply: CapRef,
        error: FsError,
    ) -> Result<(), HandleError> {
        self.send(cx, reply, &Reply::Error(error), &[])
    }

    fn open(
        &mut self,
        cx: &mut dyn Context,
        path: &str,
        write: bool,
        reply: CapRef,
    ) -> Result<(), HandleError> {
        let found = self.layout().and_then(|(image, layout)| {
            let bytes = cx.region(image).map_err(|_| FsError::NotMounted)?;
            let view = Image::trusted(bytes, layout);
            let inode = view.lookup(path).map_err(path_error)?;
            if inode.kind == Kind::Directory {
                return Err(FsError::IsADirectory);
            }
            if inode.count != 1 {
                return Err(FsError::Fragmented);
            }
            let (offset, capacity) = view.extent(inode.first).ok_or(FsError::NotMounted)?;
            Ok((image, inode.size, offset, capacity))
        });
        let (image, size, offset, capacity) = match found {
            Ok(found) => found,
            Err(error) => return self.fail(cx, reply, error),
        };
        if write && !self.writable {
            return self.fail(cx, reply, FsError::ReadOnly);
        }
        let mut rights = Rights::READ | Rights::GRANT;
        if write {
            rights |= Rights::WRITE;
        }
        let file = match cx.subregion(image, offset, capacity, rights) {
            Ok(file) => file,
            Err(_) => return self.fail(cx, reply, FsError::Kernel),
        };
        let sent = self.send(cx, reply, &Reply::Opened { size, capacity }, &[file]);
        if sent.is_err() {
            // Not moved: do not keep a capability nobody asked for.
            let _ = cx.drop_cap(file);
        }
        sent
    }

    fn list(&mut self, cx: &mut dyn Context, path: &str, reply: CapRef) -> Result<(), HandleError> {
        let (image, layout) = match self.layout() {
            Ok(found) => found,
            Err(error) => return self.fail(cx, reply, error),
        };
        let listed = {
            let bytes = cx.region(image).map_err(|_| FsError::NotMounted);
            bytes.and_then(|bytes| {
                let view = Image::trusted(bytes, layout);
                let dir = view.lookup(path).map_err(path_error)?;
                if dir.kind != Kind::Directory {
                    return Err(FsError::NotADirectory);
                }
                let mut used = 0;
                let mut shown = 0;
                for child in view.children(&dir) {
                    let entry = entry(&view, &child);
                    match encode(&entry, &mut self.listing[used..]) {
                        Ok(written) => used += written.len(),
                        Err(_) => break,
                    }
                    shown += 1;
                }
                Ok((dir.count, shown, used))
            })
        };
        match listed {
            Ok((total, shown, used)) => {
                let message = Reply::Listing {
                    total,
                    shown,
                    entries: &self.listing[..used],
                };
                let bytes = self.outbox.encode(&message)?;
                cx.reply(reply, bytes, &[])?;
                Ok(())
            }
            Err(error) => self.fail(cx, reply, error),
        }
    }

    /// Answers itself (`Ok(true)`) with the entry.
    fn stat(&mut self, cx: &mut dyn Context, path: &str, reply: CapRef) -> Result<bool, FsError> {
        let (image, layout) = self.layout()?;
        let bytes = cx.region(image).map_err(|_| FsError::NotMounted)?;
        let view = Image::trusted(bytes, layout);
        let inode = view.lookup(path).map_err(path_error)?;
        let message = Reply::Stat(entry(&view, &inode));
        let encoded = self.outbox.encode(&message).map_err(|_| FsError::Kernel)?;
        cx.reply(reply, encoded, &[]).map_err(|_| FsError::Kernel)?;
        Ok(true)
    }

    fn set_len(&mut self, cx: &mut dyn Context, path: &str, len: u64) -> Result<bool, FsError> {
        let (image, layout) = self.layout()?;
        if !self.writable {
            return Err(FsError::ReadOnly);
        }
        let bytes = cx.region_mut(image).map_err(|_| FsError::ReadOnly)?;
        let view = Image::trusted(bytes, layout);
        let inode = view.lookup(path).map_err(path_error)?;
        if inode.kind == Kind::Directory {
            return Err(FsError::IsADirectory);
        }
        let capacity = capacity(&view, &inode);
        if len > capacity {
            return Err(FsError::NoSpace { capacity });
        }
        let at = view.size_field(inode.index).ok_or(FsError::NotMounted)?;
        let field = bytes.get_mut(at..at + 8).ok_or(FsError::NotMounted)?;
        field.copy_from_slice(&len.to_le_bytes());
        self.dirty = true;
        Ok(false)
    }

    fn sync(&mut self, cx: &mut dyn Context) -> Result<bool, FsError> {
        let (image, layout) = self.layout()?;
        if !self.writable {
            return Err(FsError::ReadOnly);
        }
        if !self.dirty {
            return Ok(false);
        }
        let bytes = cx.region_mut(image).map_err(|_| FsError::ReadOnly)?;
        let meta = bytes
            .get(..layout.meta_len as usize)
            .ok_or(FsError::NotMounted)?;
        let sum = format::checksum(meta);
        let field = bytes
            .get_mut(CHECKSUM_AT..CHECKSUM_AT + 4)
            .ok_or(FsError::NotMounted)?;
        field.copy_from_slice(&sum.to_le_bytes());
        self.dirty = false;
        Ok(false)
    }
}

fn path_error(error: PathError) -> FsError {
    match error {
        PathError::NotFound => FsError::NotFound,
        PathError::NotADirectory => FsError::NotADirectory,
        PathError::BadPath => FsError::BadPath,
    }
}

fn capacity(view: &Image<'_>, inode: &Inode<'_>) -> u64 {
    if inode.kind == Kind::Directory {
        return 0;
    }
    (inode.first..inode.first.saturating_add(inode.count))
        .filter_map(|extent| view.extent(extent))
        .map(|(_, len)| len)
        .fold(0u64, u64::saturating_add)
}

fn entry<'a>(view: &Image<'a>, inode: &Inode<'a>) -> Entry<'a> {
    match inode.kind {
        Kind::Directory => Entry {
            name: inode.name,
            kind: WireKind::Directory,
            size: u64::from(inode.count),
            capacity: 0,
        },
        Kind::File => Entry {
            name: inode.name,
            kind: WireKind::File,
            size: inode.size,
            capacity: capacity(view, inode),
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
            Ok(bytes) => Image::parse(bytes).map(|view| (view.layout(), bytes.len())),
            Err(error) => {
                cx.log(format_args!("error: cannot read the image region: {error}"));
                return Ok(());
            }
        };
        let elapsed = cx.now_ns().saturating_sub(started);
        match parsed {
            Ok((layout, len)) => {
                self.mount = Mount::Mounted(layout);
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
