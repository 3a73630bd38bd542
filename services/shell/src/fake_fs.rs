//! The `fs` peer of the shell's tests: a flat file system served through
//! the real `mealy_protocol::fs` interface (`fs::Server`), each file a
//! 4096-byte Region whose pages the shell's reads and writes reach.
//!
//! It shares the shell's `FakeContext` (one capability table for both
//! sides): a Region it hands out is minted there from the file's own and
//! stays there, and [`FakeFs::serve`] lists it with the answer, as the
//! kernel's transfer would. Removing a file revokes what was minted. The
//! call reaches it as a call with a Reply capability in that table too,
//! so its answers are also in `FakeContext::replies`.
//!
//! It plays a data disk when [`FakeFs::disk`] is set: a file changed by
//! `SetLen`, `Create` or `Rename` is dirty until `Sync`, which answers
//! what it "wrote" and bumps the generation (or fails with
//! [`FakeFs::sync_error`]); a clean file is persisted.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mealy_protocol::fs::{
    self, DiskSpace, Done, Entry, FsError, Kind, Listing, Opened, Space, Synced,
};
use mealy_protocol::interface::Answer as FsAnswer;
use mealy_protocol::testing::{FakeContext, Message, SentCall};
use mealy_protocol::{CallFailure, CapRef, Context, MAX_PAYLOAD, Outbox, Outgoing, Rights, encode};

/// Every fake file's capacity: one page.
pub const CAPACITY: usize = 4096;

/// A fake file: its pages, a Region capability of the fs's own (every
/// right; what it hands out is minted from it), and its size.
#[derive(Clone, Debug)]
struct FakeFile {
    name: String,
    pages: CapRef,
    size: usize,
    dirty: bool,
}

/// The fs peer; see the module docs.
#[derive(Debug)]
pub struct FakeFs {
    files: Vec<FakeFile>,
    /// Every Region handed to the shell.
    pub given: Vec<CapRef>,
    /// The Region the answer being made carries.
    handing: Option<CapRef>,
    /// The data disk it plays, if any (`None`: in RAM only).
    pub disk: Option<DiskSpace>,
    /// What the next `Sync` fails with, if set.
    pub sync_error: Option<FsError>,
    outbox: Outbox<MAX_PAYLOAD>,
}

impl FakeFs {
    pub fn new(cx: &mut FakeContext, files: &[(&str, &[u8])]) -> Self {
        let mut fs = Self {
            files: Vec::new(),
            given: Vec::new(),
            handing: None,
            disk: None,
            sync_error: None,
            outbox: Outbox::default(),
        };
        for (name, contents) in files {
            fs.add(cx, name, contents);
        }
        fs
    }

    fn add(&mut self, cx: &mut FakeContext, name: &str, contents: &[u8]) {
        let mut pages = vec![0u8; CAPACITY];
        pages[..contents.len()].copy_from_slice(contents);
        self.files.push(FakeFile {
            name: name.to_string(),
            pages: cx.region_with(&pages, Rights::all()),
            size: contents.len(),
            dirty: false,
        });
    }

    /// Makes `name` hold `contents` (at most [`CAPACITY`] bytes).
    pub fn put(&mut self, cx: &mut FakeContext, name: &str, contents: &[u8]) {
        let Some(file) = self.files.iter_mut().find(|file| file.name == name) else {
            return self.add(cx, name, contents);
        };
        if let Ok(pages) = cx.region_mut(file.pages) {
            pages.fill(0);
            pages[..contents.len()].copy_from_slice(contents);
        }
        file.size = contents.len();
    }

    /// The pages of `name`.
    pub fn pages<'c>(&self, cx: &'c FakeContext, name: &str) -> &'c [u8] {
        self.find(name)
            .and_then(|index| cx.region(self.files[index].pages).ok())
            .unwrap_or_default()
    }

    /// The contents of `name`: its pages up to its size.
    pub fn contents<'c>(&self, cx: &'c FakeContext, name: &str) -> &'c [u8] {
        let size = self.find(name).map_or(0, |index| self.files[index].size);
        &self.pages(cx, name)[..size]
    }

    /// The answer to the shell's `call` of the fs.
    pub fn serve(&mut self, cx: &mut FakeContext, call: &SentCall) -> Message {
        let (request, reply) = cx.call_with_payload(&call.payload);
        if fs::serve(self, cx, &request.incoming()).is_err() {
            return cx.fail_call(call.token, CallFailure::Malformed);
        }
        let answer = cx
            .reply_to(reply)
            .map(|sent| sent.payload.clone())
            .unwrap_or_default();
        let caps: Vec<CapRef> = self.handing.take().into_iter().collect();
        cx.answer_call_bytes(call.token, &answer).with_caps(&caps)
    }

    fn find(&self, path: &str) -> Option<usize> {
        let name = path.trim_start_matches('/');
        self.files.iter().position(|file| file.name == name)
    }

    fn found(&self, path: &str) -> Result<usize, FsError> {
        self.find(path).ok_or(FsError::NotFound)
    }

    /// The entry of `file`, under `name`.
    fn entry<'n>(&self, name: &'n str, file: &FakeFile) -> Entry<'n> {
        Entry {
            name,
            kind: Kind::File,
            size: file.size as u64,
            capacity: CAPACITY as u64,
            dirty: file.dirty,
            persisted: self.disk.is_some() && !file.dirty,
        }
    }
}

fn is_root(path: &str) -> bool {
    path.trim_start_matches('/').is_empty()
}

fn no_space() -> FsError {
    FsError::NoSpace {
        capacity: CAPACITY as u64,
    }
}

impl Outgoing for FakeFs {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl fs::Server for FakeFs {
    fn open<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Open<'a>,
        answer: FsAnswer<fs::Open<'static>>,
    ) -> Result<(), FsError> {
        let file = &self.files[self.found(request.path)?];
        let mut rights = Rights::READ | Rights::GRANT;
        if request.write {
            rights |= Rights::WRITE;
        }
        let opened = Opened {
            size: file.size as u64,
            capacity: CAPACITY as u64,
        };
        let region = cx
            .mint(file.pages, rights, None)
            .map_err(|_| FsError::Kernel)?;
        self.given.push(region);
        self.handing = Some(region);
        let _ = answer.send(cx, self.outbox.space(), &opened, &[]);
        Ok(())
    }

    fn list<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::List<'a>,
        answer: FsAnswer<fs::List<'static>>,
    ) -> Result<(), FsError> {
        if !is_root(request.path) {
            return Err(FsError::NotADirectory);
        }
        let mut area = [0u8; 1024];
        let mut used = 0;
        for file in &self.files {
            used += encode(&self.entry(&file.name, file), &mut area[used..])
                .map_err(|_| no_space())?
                .len();
        }
        let count = self.files.len() as u32;
        let listing = Listing {
            total: count,
            shown: count,
            entries: &area[..used],
        };
        let _ = answer.send(cx, self.outbox.space(), &listing, &[]);
        Ok(())
    }

    fn stat<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Stat<'a>,
    ) -> Result<Entry<'a>, FsError> {
        if is_root(request.path) {
            return Ok(Entry {
                name: "",
                kind: Kind::Directory,
                size: self.files.len() as u64,
                capacity: 0,
                dirty: false,
                persisted: false,
            });
        }
        let file = &self.files[self.found(request.path)?];
        let name = request.path.trim_start_matches('/');
        Ok(self.entry(name, file))
    }

    fn set_len<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::SetLen<'a>,
    ) -> Result<Done, FsError> {
        let index = self.found(request.path)?;
        if request.len as usize > CAPACITY {
            return Err(no_space());
        }
        self.files[index].size = request.len as usize;
        self.files[index].dirty = true;
        Ok(Done)
    }

    fn sync(
        &mut self,
        cx: &mut dyn Context,
        _: fs::Sync,
        answer: FsAnswer<fs::Sync>,
    ) -> Result<(), FsError> {
        if let Some(error) = self.sync_error {
            return Err(error);
        }
        let (mut files, mut bytes) = (0, 0);
        for file in self.files.iter_mut().filter(|file| file.dirty) {
            file.dirty = false;
            files += 1;
            bytes += file.size as u64;
        }
        let generation = self.disk.as_mut().map(|disk| {
            disk.generation += 1;
            disk.used += bytes.div_ceil(4096) + 1;
            disk.generation
        });
        let synced = Synced {
            files,
            bytes,
            generation,
        };
        let _ = answer.send(cx, self.outbox.space(), &synced, &[]);
        Ok(())
    }

    fn usage(&mut self, _: &mut dyn Context, _: fs::Usage) -> Result<Space, FsError> {
        Ok(Space {
            files: self.files.len() as u32,
            file_bytes: self.files.iter().map(|file| file.size as u64).sum(),
            disk: self.disk,
        })
    }

    fn create<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Create<'a>,
    ) -> Result<Done, FsError> {
        if self.find(request.path).is_some() {
            return Err(FsError::Exists);
        }
        let pages = cx.alloc_region(CAPACITY).map_err(|_| no_space())?;
        self.files.push(FakeFile {
            name: request.path.trim_start_matches('/').to_string(),
            pages,
            size: 0,
            dirty: true,
        });
        Ok(Done)
    }

    fn remove<'a>(
        &mut self,
        cx: &mut dyn Context,
        request: fs::Remove<'a>,
    ) -> Result<Done, FsError> {
        let file = self.files.remove(self.found(request.path)?);
        // Its Regions go with it.
        let _ = cx.revoke(file.pages);
        let _ = cx.drop_cap(file.pages);
        Ok(Done)
    }

    fn rename<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Rename<'a>,
    ) -> Result<Done, FsError> {
        if self.find(request.to).is_some() {
            return Err(FsError::Exists);
        }
        let index = self.found(request.from)?;
        self.files[index].name = request.to.trim_start_matches('/').to_string();
        self.files[index].dirty = true;
        Ok(Done)
    }

    /// The shell maps files (`Open`); it never asks for copies.
    fn read<'a>(
        &mut self,
        _: &mut dyn Context,
        _: fs::Read<'a>,
        _: FsAnswer<fs::Read<'static>>,
    ) -> Result<(), FsError> {
        Err(FsError::Kernel)
    }

    // A flat file system: no directories to make.
    fn mkdir<'a>(&mut self, _: &mut dyn Context, request: fs::Mkdir<'a>) -> Result<Done, FsError> {
        match self.find(request.path) {
            Some(_) => Err(FsError::Exists),
            None => Err(FsError::BadPath),
        }
    }

    fn reserve<'a>(
        &mut self,
        _: &mut dyn Context,
        request: fs::Reserve<'a>,
    ) -> Result<Done, FsError> {
        self.found(request.path)?;
        if request.capacity as usize > CAPACITY {
            return Err(no_space());
        }
        Ok(Done)
    }
}
