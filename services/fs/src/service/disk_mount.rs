//! Mounting the data disk by messages: [`DiskMount`] runs the disk
//! format's [`Mounting`] machine over the `block` interface, one
//! asynchronous call at a time, so the fs never waits inside a handler.
//! It asks the driver for the disk's size (`Info`), then for every block
//! range `Mounting` wants it sends one `block::Read` per block into a
//! one-page buffer Region the fs allocates, gathers the range, and
//! supplies it. Each answer is a message the fs passes to [`DiskMount::on_message`].
//!
//! The bytes of `ReadFor::File` reads are kept, by catalog entry, as they
//! come (and dropped if the machine moves on to an older generation), so
//! that when the mount succeeds the caller can copy each file into a
//! Region of its own without reading the disk twice. The price is that the
//! files pass through the fs's heap once, at mount.
//!
//! Every failure (the driver refuses, a call fails, the disk does not
//! mount) ends the mount with a [`DiskMountError`]: the disk is then not
//! trusted at all, never half mounted.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::block::{self, BLOCK_SIZE, BlockError, Geometry, Info};
use mealy_protocol::{CallError, CapRef, Context, Incoming, IpcError, Outbox, Pending};

use crate::disk::{MountError, MountStep, Mounted, Mounting, Read, ReadFor};

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
            DiskMountError::Mount(error) => write!(f, "{error:?}"),
            DiskMountError::Adopt(error) => write!(f, "cannot hold its files: {error}"),
        }
    }
}

/// A disk that mounted: the generation, and each file's bytes by catalog
/// index (catalog order, directories counted).
#[derive(Debug)]
pub struct MountedDisk {
    pub mounted: Mounted,
    pub files: BTreeMap<u32, Vec<u8>>,
}

/// What a message did to the mount.
#[derive(Debug)]
pub enum Progress {
    /// Not an answer for the mount, or it wants more: keep waiting.
    Waiting,
    Done(Result<MountedDisk, DiskMountError>),
}

enum Call {
    Info(Pending<Info>),
    Read(Pending<block::Read>),
}

/// A mount in progress (see the module).
pub struct DiskMount {
    disk: CapRef,
    buffer: CapRef,
    call: Call,
    mounting: Option<Mounting>,
    /// The range being gathered, and its bytes so far.
    range: Option<Read>,
    gathered: Vec<u8>,
    files: BTreeMap<u32, Vec<u8>>,
    outbox: Outbox<64>,
}

impl fmt::Debug for DiskMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskMount")
            .field("range", &self.range)
            .field("gathered", &self.gathered.len())
            .finish_non_exhaustive()
    }
}

impl DiskMount {
    /// Starts mounting the disk behind `disk`: allocates the buffer and
    /// asks the driver for the disk's size.
    pub fn start(cx: &mut dyn Context, disk: CapRef) -> Result<DiskMount, DiskMountError> {
        let buffer = cx.alloc_region(BLOCK_SIZE).map_err(DiskMountError::Ipc)?;
        let mut outbox = Outbox::new();
        let info = mealy_protocol::call(cx, disk, outbox.space(), &Info, &[])
            .map_err(DiskMountError::Ipc)?;
        Ok(DiskMount {
            disk,
            buffer,
            call: Call::Info(info),
            mounting: None,
            range: None,
            gathered: Vec::new(),
            files: BTreeMap::new(),
            outbox,
        })
    }

    /// Passes one message to the mount: an answer it waits for moves it
    /// on; anything else is `Waiting` and left to the caller.
    pub fn on_message(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Option<Progress> {
        let progress = match self.call {
            Call::Info(pending) => {
                let answer = pending.answer(msg)?;
                self.geometry(cx, answer.map_err(DiskMountError::Block))
            }
            Call::Read(pending) => {
                let answer = pending.answer(msg)?;
                self.block_read(cx, answer.map(|_| ()).map_err(DiskMountError::Block))
            }
        };
        Some(match progress {
            Ok(None) => Progress::Waiting,
            Ok(Some(done)) => Progress::Done(Ok(done)),
            Err(error) => Progress::Done(Err(error)),
        })
    }

    fn geometry(
        &mut self,
        cx: &mut dyn Context,
        answer: Result<Geometry, DiskMountError>,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        let geometry = answer?;
        if geometry.block_size as usize != BLOCK_SIZE {
            return Err(DiskMountError::BlockSize {
                block_size: geometry.block_size,
            });
        }
        let (mounting, step) = Mounting::start(geometry.blocks);
        self.mounting = Some(mounting);
        self.follow(cx, step)
    }

    fn block_read(
        &mut self,
        cx: &mut dyn Context,
        answer: Result<(), DiskMountError>,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        answer?;
        let bytes = cx.region(self.buffer).map_err(DiskMountError::Ipc)?;
        let block = bytes
            .get(..BLOCK_SIZE)
            .ok_or(DiskMountError::Ipc(IpcError::InvalidCap))?;
        self.gathered.extend_from_slice(block);
        let Some(range) = self.range else {
            return Ok(None);
        };
        if (self.gathered.len() / BLOCK_SIZE) < range.blocks as usize {
            return self.read_next(cx).map(|()| None);
        }
        if let ReadFor::File { entry, offset } = range.what {
            let file = self.files.entry(entry).or_default();
            if file.len() as u64 != offset {
                file.truncate(offset as usize);
            }
            file.extend_from_slice(&self.gathered);
        }
        let Some(mounting) = self.mounting.as_mut() else {
            return Ok(None);
        };
        let step = mounting.supply(&self.gathered);
        self.follow(cx, step)
    }

    /// Acts on what `Mounting` wants next.
    fn follow(
        &mut self,
        cx: &mut dyn Context,
        step: MountStep,
    ) -> Result<Option<MountedDisk>, DiskMountError> {
        match step {
            MountStep::Read(read) => {
                if matches!(read.what, ReadFor::Superblocks | ReadFor::Catalog { .. }) {
                    // A new candidate: what was kept belongs to another.
                    self.files.clear();
                }
                self.range = Some(read);
                self.gathered.clear();
                self.read_next(cx).map(|()| None)
            }
            MountStep::Done(Ok(mounted)) => {
                self.range = None;
                let mut files = core::mem::take(&mut self.files);
                // Whole blocks were kept: cut each file to its size.
                for (index, (_, entry)) in mounted.committed.catalog.entries().enumerate() {
                    if let (Ok(index), crate::disk::Entry::File(file)) =
                        (u32::try_from(index), entry)
                    {
                        let bytes = files.entry(index).or_default();
                        bytes.truncate(usize::try_from(file.size).unwrap_or(usize::MAX));
                    }
                }
                Ok(Some(MountedDisk { mounted, files }))
            }
            MountStep::Done(Err(error)) => Err(DiskMountError::Mount(error)),
        }
    }

    /// Sends the read of the next block of the range being gathered.
    fn read_next(&mut self, cx: &mut dyn Context) -> Result<(), DiskMountError> {
        let range = self
            .range
            .ok_or(DiskMountError::Ipc(IpcError::InvalidCap))?;
        let block = range.block + (self.gathered.len() / BLOCK_SIZE) as u64;
        let lent = cx.copy(self.buffer).map_err(DiskMountError::Ipc)?;
        let pending = mealy_protocol::call(
            cx,
            self.disk,
            self.outbox.space(),
            &block::Read { block },
            &[lent],
        )
        .map_err(DiskMountError::Ipc)?;
        self.call = Call::Read(pending);
        Ok(())
    }
}
