//! The fs's requests, one handler each: the fs's side of the
//! `mealy_protocol::fs` interface (`fs::Server`). Every handler checks
//! the mount first (`NotMounted`) and, for a change, that the image is
//! writable (`ReadOnly`); errors are the `FsError` the caller gets.
//!
//! - `Open`, `List` and `Read` answer themselves: `Open`'s answer moves the
//!   file's Region, `List`'s and `Read`'s borrow the fs's staging buffer.
//!   An `Open` that came by `send` hands out nothing: there is no one to
//!   give the Region to, and the fs would keep it.
//! - `Stat` answers an `Entry` whose name is the path's last component
//!   (the node's name, since lookup follows names), so it borrows the
//!   request, not the tree.
//! - The changes (`SetLen`, `Sync`, `Create`, `Remove`, `Rename`, `Mkdir`,
//!   `Reserve`) answer `Done`. `Create` and `Mkdir` refuse a taken name
//!   (`Exists`) and a full tree (`TooManyEntries`) before they change
//!   anything; `Rename` only changes the tree, so open Regions stay valid.
//!
//! **Sync.** Each file carries a dirty bit (shown by `Stat` and `List`),
//! set when it is created, opened writable, resized or moved; writes
//! through a Region are invisible to the fs, so a writable open counts as
//! a change. With a data disk, `Sync` commits the tree as the disk's next
//! generation and answers once that is durable (`disk_sync.rs`); a sync
//! that comes while one runs waits for the next commit. Without one it
//! only clears every bit and says nothing reached a disk. `Stat` says a
//! file is persisted when the fs has a disk and the file is clean.

use alloc::collections::BTreeMap;

use mealy_protocol::fs::{
    self, Create, Data, DiskSpace, Done, Entry, FsError, Kind as WireKind, List, Listing, Mkdir,
    Open, Opened, READ_CHUNK, Read, Remove, Rename, Reserve, SetLen, Space, Stat, Sync, Synced,
    Usage,
};
use mealy_protocol::{Answer, Context, MAX_PAYLOAD, Rights, encode};

use super::{CREATE_CAPACITY, Fs};
use crate::format::MAX_DEPTH;
use crate::tree::{Body, File, Node, NodeId, ROOT};

/// Room for a listing's entries in one answer (the rest of the payload is
/// the answer's own framing).
const LISTING_ROOM: usize = MAX_PAYLOAD - 32;

impl Fs {
    /// The file at `path`, or why not.
    fn file(&self, path: &str) -> Result<(NodeId, File), FsError> {
        self.mounted()?;
        let id = self.tree.lookup(path)?;
        match self.tree.get(id).map(|node| &node.body) {
            Some(Body::File(file)) => Ok((id, *file)),
            Some(Body::Directory { .. }) => Err(FsError::IsADirectory),
            None => Err(FsError::NotFound),
        }
    }

    /// The directory and name for a new entry at `path`, if it is free
    /// and the tree has room.
    fn new_entry<'p>(&self, path: &'p str) -> Result<(NodeId, &'p str), FsError> {
        self.writable()?;
        let (parent, name) = self.tree.parent_of(path)?;
        if self.tree.has_child(parent, name) {
            return Err(FsError::Exists);
        }
        if self.tree.len() >= self.max_entries {
            return Err(FsError::TooManyEntries);
        }
        Ok((parent, name))
    }

    /// Gives file `id` a private copy of at least `capacity` bytes (see
    /// `backing.rs`), returning it as it is now.
    fn make_private(
        &mut self,
        cx: &mut dyn Context,
        id: NodeId,
        capacity: u64,
    ) -> Result<File, FsError> {
        let file = self.tree.file_mut(id).ok_or(FsError::NotFound)?;
        self.backing.make_private(cx, file, capacity)?;
        Ok(*file)
    }
}

impl fs::Server for Fs {
    fn open(
        &mut self,
        cx: &mut dyn Context,
        request: Open<'_>,
        answer: Answer<Open<'static>>,
    ) -> Result<(), FsError> {
        if answer.reply_cap().is_none() {
            return Ok(());
        }
        let (id, file) = self.file(request.path)?;
        let mut rights = Rights::READ | Rights::GRANT;
        if request.write {
            self.writable()?;
            self.make_private(cx, id, file.capacity)?;
            rights |= Rights::WRITE;
        }
        let file = self.tree.file_mut(id).ok_or(FsError::NotFound)?;
        let parent = self.backing.parent_cap(cx, file)?;
        let region = cx.mint(parent, rights, None).map_err(|_| FsError::Kernel)?;
        let opened = Opened {
            size: file.size,
            capacity: file.capacity,
        };
        if answer
            .send(cx, self.outbox.space(), &opened, &[region])
            .is_err()
        {
            // Not moved: do not keep a capability nobody asked for.
            let _ = cx.drop_cap(region);
            return Err(FsError::Kernel);
        }
        Ok(())
    }

    fn list(
        &mut self,
        cx: &mut dyn Context,
        request: List<'_>,
        answer: Answer<List<'static>>,
    ) -> Result<(), FsError> {
        self.mounted()?;
        let id = self.tree.lookup(request.path)?;
        let Some(Node {
            body: Body::Directory { children },
            ..
        }) = self.tree.get(id)
        else {
            return Err(FsError::NotADirectory);
        };
        let on_disk = self.disk.is_some();
        let room = &mut self.staging[..LISTING_ROOM];
        let mut used = 0;
        let mut shown = 0u32;
        for &child in children.values() {
            let Some(node) = self.tree.get(child) else {
                continue;
            };
            match encode(&entry(&node.name, node, on_disk), &mut room[used..]) {
                Ok(written) => used += written.len(),
                Err(_) => break,
            }
            shown += 1;
        }
        let listing = Listing {
            total: u32::try_from(children.len()).unwrap_or(u32::MAX),
            shown,
            entries: &self.staging[..used],
        };
        answer
            .send(cx, self.outbox.space(), &listing, &[])
            .map_err(|_| FsError::Kernel)
    }

    fn stat<'a>(&mut self, _: &mut dyn Context, request: Stat<'a>) -> Result<Entry<'a>, FsError> {
        self.mounted()?;
        let id = self.tree.lookup(request.path)?;
        let node = self.tree.get(id).ok_or(FsError::NotFound)?;
        let name = request.path.split('/').rfind(|c| !c.is_empty());
        Ok(entry(name.unwrap_or(""), node, self.disk.is_some()))
    }

    fn set_len(&mut self, cx: &mut dyn Context, request: SetLen<'_>) -> Result<Done, FsError> {
        let (id, file) = self.file(request.path)?;
        self.writable()?;
        if request.len > file.capacity {
            return Err(FsError::NoSpace {
                capacity: file.capacity,
            });
        }
        let file = self.make_private(cx, id, file.capacity)?;
        if request.len < file.size {
            self.backing.cut(cx, file, request.len)?;
        }
        if let Some(file) = self.tree.file_mut(id) {
            file.size = request.len;
        }
        Ok(Done)
    }

    fn sync(&mut self, cx: &mut dyn Context, _: Sync, answer: Answer<Sync>) -> Result<(), FsError> {
        self.writable()?;
        match self.disk.as_mut() {
            Some(disk) if disk.committing() => disk.queue(answer),
            Some(_) => self.start_commit(cx, alloc::vec![answer]),
            None => {
                let (mut files, mut bytes) = (0u32, 0u64);
                for file in self.tree.files_mut().filter(|file| file.dirty) {
                    file.dirty = false;
                    files = files.saturating_add(1);
                    bytes = bytes.saturating_add(file.size);
                }
                let synced = Synced {
                    files,
                    bytes,
                    generation: None,
                };
                answer
                    .send(cx, self.outbox.space(), &synced, &[])
                    .map_err(|_| FsError::Kernel)?;
            }
        }
        Ok(())
    }

    fn usage(&mut self, _: &mut dyn Context, _: Usage) -> Result<Space, FsError> {
        self.mounted()?;
        let (mut files, mut file_bytes) = (0u32, 0u64);
        for file in self.tree.files() {
            files = files.saturating_add(1);
            file_bytes = file_bytes.saturating_add(file.size);
        }
        let disk = self.disk.as_ref().map(|disk| {
            let blocks = disk.committed.block_count;
            DiskSpace {
                block_size: crate::disk::BLOCK as u32,
                blocks,
                used: blocks.saturating_sub(disk.committed.used.free()),
                generation: disk.committed.generation,
                read_only: disk.read_only,
            }
        });
        Ok(Space {
            files,
            file_bytes,
            disk,
        })
    }

    fn create(&mut self, cx: &mut dyn Context, request: Create<'_>) -> Result<Done, FsError> {
        let (parent, name) = self.new_entry(request.path)?;
        let file = self.backing.new_file(cx, CREATE_CAPACITY)?;
        if self.tree.insert(parent, name, Body::File(file)).is_none() {
            self.backing.release(cx, file);
            return Err(FsError::TooManyEntries);
        }
        self.namespace_changed(None);
        Ok(Done)
    }

    fn remove(&mut self, cx: &mut dyn Context, request: Remove<'_>) -> Result<Done, FsError> {
        self.writable()?;
        let id = self.tree.lookup(request.path)?;
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
            self.backing.release(cx, file);
        }
        self.namespace_changed(Some(id));
        Ok(Done)
    }

    fn rename(&mut self, _: &mut dyn Context, request: Rename<'_>) -> Result<Done, FsError> {
        self.writable()?;
        let id = self.tree.lookup(request.from)?;
        if id == ROOT {
            return Err(FsError::BadPath);
        }
        let (parent, name) = self.tree.parent_of(request.to)?;
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
        self.namespace_changed(None);
        Ok(Done)
    }

    fn read(
        &mut self,
        cx: &mut dyn Context,
        request: Read<'_>,
        answer: Answer<Read<'static>>,
    ) -> Result<(), FsError> {
        let (_, file) = self.file(request.path)?;
        let left = file.size.saturating_sub(request.offset);
        let n = u64::from(request.len.min(READ_CHUNK)).min(left) as usize;
        if n > 0 {
            let bytes = self.backing.bytes(&*cx, file, request.offset, n)?;
            self.staging[..n].copy_from_slice(bytes);
        }
        let data = Data {
            bytes: &self.staging[..n],
        };
        answer
            .send(cx, self.outbox.space(), &data, &[])
            .map_err(|_| FsError::Kernel)
    }

    fn mkdir(&mut self, _: &mut dyn Context, request: Mkdir<'_>) -> Result<Done, FsError> {
        let (parent, name) = self.new_entry(request.path)?;
        let body = Body::Directory {
            children: BTreeMap::new(),
        };
        self.tree
            .insert(parent, name, body)
            .ok_or(FsError::TooManyEntries)?;
        self.namespace_changed(None);
        Ok(Done)
    }

    fn reserve(&mut self, cx: &mut dyn Context, request: Reserve<'_>) -> Result<Done, FsError> {
        let (id, file) = self.file(request.path)?;
        self.writable()?;
        if request.capacity > file.capacity {
            self.make_private(cx, id, request.capacity)?;
        }
        Ok(Done)
    }
}

/// What `Stat` and `List` show of `node`, under `name`; `on_disk`: the
/// fs serves a data disk, so a clean file is persisted.
fn entry<'n>(name: &'n str, node: &Node, on_disk: bool) -> Entry<'n> {
    match &node.body {
        Body::Directory { children } => Entry {
            name,
            kind: WireKind::Directory,
            size: children.len() as u64,
            capacity: 0,
            dirty: false,
            persisted: false,
        },
        Body::File(file) => Entry {
            name,
            kind: WireKind::File,
            size: file.size,
            capacity: file.capacity,
            dirty: file.dirty,
            persisted: on_disk && !file.dirty,
        },
    }
}
