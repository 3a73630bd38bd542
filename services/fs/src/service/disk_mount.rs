//! Mounting the data disk by messages: [`DiskMount`] runs the disk
//! format's [`Mounting`] machine over the `block` interface, one
//! asynchronous call at a time, so the fs never waits inside a handler.
//! It asks the driver for the disk's size (`Info`), then for every block
//! range `Mounting` wants it sends one `block::Read` per block, up to
//! [`IN_FLIGHT`] at once, each into its own one-page buffer Region the fs
//! allocates (one read at a time took seconds for a 1 MiB disk in a
//! debug build under emulation), gathers the range, and supplies it. Each answer is a message the fs passes to [`DiskMount::on_message`].
//!
//! The bytes of `ReadFor::File` reads go, range by range as they come,
//! into a Region the fs allocates for the file (a private copy, as a
//! changed file gets; released again if the machine moves on to an older
//! generation), so the disk is read once and the copying is spread over
//! the reads' answers: no handler turn copies more than one range (at
//! most [`MAX_READ_BLOCKS`](crate::disk::MAX_READ_BLOCKS) blocks). Copying
//! every file in the one turn the mount ended took 60 to 90 ms in a debug
//! build under emulation, over the scheduler's 50 ms budget. A file's
//! bytes are trusted only once the whole generation verified: until then
//! nobody can see the Regions.
//!
//! Every failure (the driver refuses, a call fails, the disk does not
//! mount) ends the mount with a [`DiskMountError`]: the disk is then not
//! trusted at all, never half mounted.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::block::{self, BLOCK_SIZE, BlockError, Geometry, Info};
use mealy_protocol::{CallError, CapRef, Context, Incoming, IpcError, Outbox, Pending};

use super::backing::Backing;
use crate::disk::{MountError, MountStep, Mounted, Mounting, Read, ReadFor};
use crate::format::PAGE;
use crate::tree::{File, Pages};

/// Reads the mount keeps in flight: half the driver's eight, so other
/// clients still get a slot.
pub const IN_FLIGHT: usize = 4;

/// The name of the grant that holds the block driver's endpoint.
pub const DISK_GRANT: &str = "disk";

/// Why the disk did not mount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DiskMountError {
    /// A call to the driver could not be sent, or the buffer not made.
    Ipc(IpcError),
    /// The driver answered an error, or the call failed.
    Block(CallError<BlockError>),
    /// The disk's blocks are not the format's size.
    BlockSize { block_size: u32 },
    /// The disk's contents did not mount.
    Mount(MountError),
    /// It mounted, but the fs could not hold it (Regions, entries).
    Adopt(mealy_protocol::fs::FsError),
}

impl fmt::Display for DiskMountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskMountError::Ipc(error) => write!(f, "cannot call the block driver: {error}"),
            DiskMountError::Block(error) => write!(f, "the block driver: {error}"),
            DiskMountError::BlockSize { block_size } => {
                write!(f, "blocks of {block_size} bytes, not {BLOCK_SIZE}")
            }
            DiskMountError::Mount(error) => write!(f, "{error}"),
            DiskMountError::Adopt(error) => write!(f, "cannot hold its files: {error}"),
        }
    }
}

/// A disk that mounted: the generation, each non-empty file's private
/// copy by catalog index (catalog order, directories counted; its `size`
/// is the catalog's), and what the fs needs to write to the disk later.
#[derive(Debug)]
pub struct MountedDisk {
    pub mounted: Mounted,
    pub files: BTreeMap<u32, File>,
    pub endpoint: CapRef,
    pub buffers: [CapRef; IN_FLIGHT],
    pub read_only: bool,
    /// `cx.now_ns()` when the mount started (the start line says how long
    /// it took; under `--icount` that is guest instructions).
    pub started_ns: u64,
}

/// The room a file of `size` bytes read from the disk gets: its pages
/// plus one spare page, as the image builder leaves.
pub fn disk_file_capacity(size: u64) -> u64 {
    size.div_ceil(PAGE)
        .saturating_mul(PAGE)
        .saturating_add(PAGE)
}

/// What a message did to the mount.
#[derive(Debug)]
pub enum Progress {
    /// Not an answer for the mount, or it wants more: keep waiting.
    Waiting,
    Done(Result<MountedDisk, DiskMountError>),
}

/// A read in flight: its call, the buffer it was lent, and which block
/// of the range it is.
#[derive(Clone, Copy)]
struct InFlight {
    pending: Pending<block::Read>,
    buffer: usize,
    index: u64,
}

/// A mount in progress (see the module).
pub struct DiskMount {
    disk: CapRef,
    buffers: [CapRef; IN_FLIGHT],
    info: Option<Pending<Info>>,
    reads: Vec<InFlight>,
    mounting: Option<Mounting>,
    /// The range being gathered, its bytes (the whole range, filled as
    /// answers come, in any order), the next block to ask for and how
    /// many have come.
    range: Option<Read>,
    gathered: Vec<u8>,
    next: u64,
    arrived: u64,
    files: BTreeMap<u32, File>,
    read_only: bool,
    started_ns: u64,
    outbox: Outbox<64>,
}

impl fmt::Debug for DiskMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskMount")
            .field("range", &self.range)
            .field("arrived", &self.arrived)
            .finish_non_exhaustive()
    }
}

impl DiskMount {
    /// Starts mounting the disk behind `disk`: allocates the buffers and
    /// asks the driver for the disk's size.
    pub fn start(cx: &mut dyn Context, disk: CapRef) -> Result<DiskMount, DiskMountError> {
        let mut buffers = [disk; IN_FLIGHT];
        for buffer in &mut buffers {
            *buffer = cx.alloc_region(BLOCK_SIZE).map_err(DiskMountError::Ipc)?;
        }
        let mut outbox = Outbox::new();
        let info = mealy_protocol::call(cx, disk, outbox.space(), &Info, &[])
            .map_err(DiskMountError::Ipc)?;
        Ok(DiskMount {
            disk,
            buffers,
            info: Some(info),
            reads: Vec::new(),
            mounting: None,
            range: None,
            gathered: Vec::new(),
            next: 0,
            arrived: 0,
            files: BTreeMap::new(),
            read_only: false,
            started_ns: cx.now_ns(),
            outbox,
        })
    }

    /// Passes one message to the mount: `None` if it is no answer the
    /// mount waits for (the caller handles it), else what it did. Files'
    /// copies are made through `backing`; a mount that fails releases
    /// them, and the buffers, before it says so.
    pub fn on_message(
        &mut self,
        cx: &mut dyn Context,
        backing: &mut Backing,
        msg: &Incoming<'_>,
    ) -> Option<Progress> {
        let progress = if let Some(pending) = self.info {
            let answer = pending.answer(msg)?;
            self.info = None;
            self.geometry(cx, backing, answer.map_err(DiskMountError::Block))
        } else {
            let (at, answer) = self
                .reads
                .iter()
                .enumerate()
                .find_map(|(at, read)| Some((at, read.pending.answer(msg)?)))?;
            let read = self.reads.swap_remove(at);
            let answer = answer.map(|_| ()).map_err(DiskMountError::Block);
            self.block_read(cx, backing, read, answer)
        };
        Some(match progress {
            Ok(None) => Progress::Waiting,
            Ok(Some(done)) => Progress::Done(Ok(done)),
            Err(error) => {
                self.release(cx, backing);
                Progress::Done(Err(error))
            }
        })
    }

    /// Gives back every file copy made so far and the read buffers.
    fn release(&mut self, cx: &mut dyn Context, backing: &mut Backing) {
        self.release_files(cx, backing);
        for buffer in self.buffers {
            let _ = cx.drop_cap(buffer);
        }
    }

    fn release_files(&mut self, cx: &mut dyn Context, backing: &mut Backing) {
        for (_, file) in core::mem::take(&mut self.files) {
            backing.release(cx, file);
        }
    }

    /// Copies the range just gathered, the bytes of catalog entry `entry`
    /// from `offset`, into the file's private copy (made on its first
    /// range, sized from the catalog being checked).
    fn keep_file_bytes(
        &mut self,
        cx: &mut dyn Context,
        backing: &mut Backing,
        entry: u32,
        offset: u64,
    ) -> Result<(), DiskMountError> {
        let invalid = DiskMountError::Ipc(IpcError::InvalidCap);
        let size = self
            .mounting
            .as_ref()
            .and_then(Mounting::reading_file)
            .filter(|(index, _)| *index == entry)
            .map(|(_, file)| file.size)
            .ok_or(invalid)?;
        let file = match self.files.get(&entry) {
            Some(file) => *file,
            None => {
                let mut file = backing
                    .new_file(cx, disk_file_capacity(size))
                    .map_err(DiskMountError::Adopt)?;
                file.size = size;
                file.dirty = false;
                self.files.insert(entry, file);
                file
            }
        };
        let Pages::Private { region } = file.pages else {
            return Err(invalid);
        };
        // Only the file's bytes: the tail of its last block stays zero
        // in the copy whatever the disk holds there.
        let take = usize::try_from(size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(self.gathered.len());
        let at = usize::try_from(offset).map_err(|_| invalid)?;
        let room = cx.region_mut(region).map_err(DiskMountError::Ipc)?;
        room.get_mut(at..at.saturating_add(take))
            .ok_or(invalid)?
            .copy_from_slice(&self.gathered[..take]);
        Ok(())
    }

    fn geometry(
        &mut self,
        cx: &mut dyn Context,
        backing: &mut Backing,
        answer: Result<Geometry, DiskMountError>,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        let geometry = answer?;
        if geometry.block_size as usize != BLOCK_SIZE {
            return Err(DiskMountError::BlockSize {
                block_size: geometry.block_size,
            });
        }
        self.read_only = geometry.read_only;
        let (mounting, step) = Mounting::start(geometry.blocks);
        self.mounting = Some(mounting);
        self.follow(cx, backing, step)
    }

    fn block_read(
        &mut self,
        cx: &mut dyn Context,
        backing: &mut Backing,
        read: InFlight,
        answer: Result<(), DiskMountError>,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        answer?;
        let invalid = DiskMountError::Ipc(IpcError::InvalidCap);
        let buffer = *self.buffers.get(read.buffer).ok_or(invalid)?;
        let bytes = cx.region(buffer).map_err(DiskMountError::Ipc)?;
        let block = bytes.get(..BLOCK_SIZE).ok_or(invalid)?;
        let at = read.index as usize * BLOCK_SIZE;
        self.gathered
            .get_mut(at..at + BLOCK_SIZE)
            .ok_or(invalid)?
            .copy_from_slice(block);
        self.arrived += 1;
        let range = self.range.ok_or(invalid)?;
        if self.arrived < range.blocks {
            if self.next < range.blocks {
                self.send_read(cx, read.buffer)?;
            }
            return Ok(None);
        }
        if let ReadFor::File { entry, offset } = range.what {
            self.keep_file_bytes(cx, backing, entry, offset)?;
        }
        let Some(mounting) = self.mounting.as_mut() else {
            return Ok(None);
        };
        let step = mounting.supply(&self.gathered);
        self.follow(cx, backing, step)
    }
    /// Acts on what `Mounting` wants next.
    fn follow(
        &mut self,
        cx: &mut dyn Context,
        backing: &mut Backing,
        step: MountStep,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        match step {
            MountStep::Read(read) => {
                if matches!(read.what, ReadFor::Superblocks | ReadFor::Catalog { .. }) {
                    // A new candidate: what was kept belongs to another.
                    self.release_files(cx, backing);
                }
                self.range = Some(read);
                self.gathered.clear();
                self.gathered.resize(read.blocks as usize * BLOCK_SIZE, 0);
                self.next = 0;
                self.arrived = 0;
                for buffer in 0..IN_FLIGHT.min(read.blocks as usize) {
                    self.send_read(cx, buffer)?;
                }
                Ok(None)
            }
            MountStep::Done(Ok(mounted)) => {
                self.range = None;
                Ok(Some(MountedDisk {
                    mounted,
                    files: core::mem::take(&mut self.files),
                    endpoint: self.disk,
                    buffers: self.buffers,
                    read_only: self.read_only,
                    started_ns: self.started_ns,
                }))
            }
            MountStep::Done(Err(error)) => Err(DiskMountError::Mount(error)),
        }
    }

    /// Sends the read of the next block of the range being gathered,
    /// into buffer `buffer`.
    fn send_read(&mut self, cx: &mut dyn Context, buffer: usize) -> Result<(), DiskMountError> {
        let invalid = DiskMountError::Ipc(IpcError::InvalidCap);
        let range = self.range.ok_or(invalid)?;
        let index = self.next;
        let lent = cx
            .copy(*self.buffers.get(buffer).ok_or(invalid)?)
            .map_err(DiskMountError::Ipc)?;
        let pending = mealy_protocol::call(
            cx,
            self.disk,
            self.outbox.space(),
            &block::Read {
                block: range.block + index,
            },
            &[lent],
        )
        .map_err(DiskMountError::Ipc)?;
        self.next += 1;
        self.reads.push(InFlight {
            pending,
            buffer,
            index,
        });
        Ok(())
    }
}
