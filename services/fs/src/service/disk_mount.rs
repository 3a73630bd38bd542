//! Mounting the data disk by messages: [`DiskMount`] runs the disk
//! format's [`Mounting`] machine over the `block` interface, one
//! asynchronous call at a time, so the fs never waits inside a handler.
//! It asks the driver for the disk's size (`Info`), then for every block
//! range `Mounting` wants it sends one `block::Read` per block, up to
//! [`IN_FLIGHT`] at once, each into its own one-page buffer Region the fs
//! allocates (one read at a time took seconds for a 1 MiB disk in a
//! debug build under emulation), gathers the range, and supplies it. Each answer is a message the fs passes to [`DiskMount::on_message`].
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
    files: BTreeMap<u32, Vec<u8>>,
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
            outbox,
        })
    }

    /// Passes one message to the mount: `None` if it is no answer the
    /// mount waits for (the caller handles it), else what it did.
    pub fn on_message(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Option<Progress> {
        let progress = if let Some(pending) = self.info {
            let answer = pending.answer(msg)?;
            self.info = None;
            self.geometry(cx, answer.map_err(DiskMountError::Block))
        } else {
            let (at, answer) = self
                .reads
                .iter()
                .enumerate()
                .find_map(|(at, read)| Some((at, read.pending.answer(msg)?)))?;
            let read = self.reads.swap_remove(at);
            self.block_read(cx, read, answer.map(|_| ()).map_err(DiskMountError::Block))
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
