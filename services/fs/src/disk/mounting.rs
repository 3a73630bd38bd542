//! Mount as a sequence of reads: [`Mounting`] asks for one block range at
//! a time ([`MountStep::Read`]) and decides from what it is given, so the
//! fs service can run it by messages to the block driver, one reply per
//! step, reading only the blocks the chosen generation references rather
//! than the whole disk. [`super::mount_image`] runs the same machine over
//! a byte slice, so there is one implementation of the mount rules.
//!
//! The order: both slots (blocks 0 and 1), then for each candidate
//! superblock, newest first, its catalog, then every file's extents in
//! catalog order, at most [`MAX_READ_BLOCKS`] per read. Each read says
//! what it is for ([`ReadFor`]); a service that wants the files in RAM can
//! keep the bytes of `ReadFor::File` reads as they come, and must drop
//! them if the machine moves on to an older candidate (a later read is
//! then `ReadFor::Catalog` again).

use alloc::vec::Vec;

use crc::Digest;

use super::catalog::{Catalog, Entry, FileEntry, MetaError};
use super::mount::{Committed, MountError, Mounted, Rejected};
use super::space::BlockMap;
use super::superblock::{Superblock, SuperblockError};
use super::{BLOCK, CRC32, MIN_BLOCKS, SLOTS};

/// The most blocks one read asks for (1 MiB), so a reply fits a bounded
/// buffer however large a file's extent is.
pub const MAX_READ_BLOCKS: u64 = 256;

/// What a read is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReadFor {
    /// Blocks 0 and 1.
    Superblocks,
    /// The catalog of generation `generation`.
    Catalog { generation: u64 },
    /// Bytes of a file, from byte `offset`: the catalog entry `entry`
    /// (catalog order, counting directories) of the generation whose
    /// catalog was read last.
    File { entry: u32, offset: u64 },
}

/// Read `blocks` blocks from `block`, and pass them to
/// [`Mounting::supply`] (exactly `blocks * BLOCK` bytes; fewer count as
/// the candidate being truncated).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Read {
    pub block: u64,
    pub blocks: u64,
    pub what: ReadFor,
}

/// What mount needs next.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MountStep {
    Read(Read),
    Done(Result<Mounted, MountError>),
}

/// A generation whose catalog validated, its files being checked.
struct Checking {
    superblock: Superblock,
    catalog: Catalog,
    used: BlockMap,
    /// (catalog index, file) of every file, in catalog order.
    files: Vec<(u32, FileEntry)>,
    file: usize,
    extent: usize,
    /// Blocks of the current extent already read.
    done_blocks: u64,
    /// Bytes of the current file already read.
    offset: u64,
    digest: Digest<'static, u32, crc::Table<16>>,
}

enum Stage {
    Slots,
    Catalog(Superblock),
    Files(alloc::boxed::Box<Checking>),
    Finished,
}

/// A mount in progress (see the module).
pub struct Mounting {
    disk_blocks: u64,
    /// Candidates not yet tried, oldest first (tried from the end).
    candidates: Vec<Superblock>,
    rejected: Vec<Rejected>,
    stage: Stage,
}

impl Mounting {
    /// Starts mounting a disk of `disk_blocks` blocks: the machine and
    /// its first step.
    pub fn start(disk_blocks: u64) -> (Mounting, MountStep) {
        let mut mounting = Mounting {
            disk_blocks,
            candidates: Vec::new(),
            rejected: Vec::new(),
            stage: Stage::Slots,
        };
        let step = if disk_blocks < MIN_BLOCKS {
            mounting.finish(Err(MountError::TooSmall {
                blocks: disk_blocks,
            }))
        } else {
            MountStep::Read(Read {
                block: 0,
                blocks: SLOTS,
                what: ReadFor::Superblocks,
            })
        };
        (mounting, step)
    }

    /// The bytes of the last [`MountStep::Read`]; the next step.
    pub fn supply(&mut self, bytes: &[u8]) -> MountStep {
        match core::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Slots => self.slots(bytes),
            Stage::Catalog(superblock) => match check_catalog(&superblock, bytes) {
                Ok((catalog, used)) => self.start_files(superblock, catalog, used),
                Err(error) => self.reject(superblock, error),
            },
            Stage::Files(mut checking) => {
                let read = checking_read(&checking);
                let wanted = read.map_or(0, |r| r.blocks as usize * BLOCK);
                let Some(chunk) = bytes.get(..wanted) else {
                    return self.reject(checking.superblock, MetaError::Truncated);
                };
                let file = &checking.files[checking.file].1;
                let take = (chunk.len() as u64).min(file.size - checking.offset) as usize;
                checking.digest.update(&chunk[..take]);
                checking.offset += take as u64;
                checking.done_blocks += read.map_or(0, |r| r.blocks);
                if checking.done_blocks >= file.extents[checking.extent].blocks {
                    checking.extent += 1;
                    checking.done_blocks = 0;
                }
                self.next_file_read(checking)
            }
            Stage::Finished => MountStep::Done(Err(MountError::NoReadPending)),
        }
    }

    /// While files are being checked: the file the pending
    /// `ReadFor::File` read belongs to (its catalog index and entry), so
    /// a service can size the memory for its bytes before they are
    /// checked. `None` in any other stage.
    pub fn reading_file(&self) -> Option<(u32, &FileEntry)> {
        match &self.stage {
            Stage::Files(checking) => checking
                .files
                .get(checking.file)
                .map(|(index, file)| (*index, file)),
            _ => None,
        }
    }

    fn finish(&mut self, result: Result<Mounted, MountError>) -> MountStep {
        self.stage = Stage::Finished;
        MountStep::Done(result)
    }

    fn slots(&mut self, bytes: &[u8]) -> MountStep {
        let slot = |index: u64| {
            let at = index as usize * BLOCK;
            let block = bytes.get(at..at + BLOCK).unwrap_or(&[]);
            Superblock::decode(block, index, self.disk_blocks)
        };
        let (slot0, slot1) = (slot(0), slot(1));
        if let (Err(slot0), Err(slot1)) = (slot0, slot1) {
            return self.finish(Err(MountError::NoSuperblock { slot0, slot1 }));
        }
        self.candidates = [slot0, slot1].into_iter().flatten().collect();
        self.candidates.sort_by_key(|s| s.generation);
        self.next_candidate()
    }

    fn next_candidate(&mut self) -> MountStep {
        let Some(superblock) = self.candidates.pop() else {
            let result = match self.rejected.first() {
                Some(&newest) => MountError::Corrupt {
                    newest,
                    older: self.rejected.get(1).copied(),
                },
                // Only reached if no candidate was ever found, which
                // `slots` rules out; refuse rather than panic.
                None => MountError::NoSuperblock {
                    slot0: SuperblockError::BadMagic,
                    slot1: SuperblockError::BadMagic,
                },
            };
            return self.finish(Err(result));
        };
        let (block, blocks) = superblock.meta_extent();
        self.stage = Stage::Catalog(superblock);
        MountStep::Read(Read {
            block,
            blocks,
            what: ReadFor::Catalog {
                generation: superblock.generation,
            },
        })
    }

    fn reject(&mut self, superblock: Superblock, error: MetaError) -> MountStep {
        self.rejected.push(Rejected {
            generation: superblock.generation,
            error,
        });
        self.next_candidate()
    }

    fn start_files(
        &mut self,
        superblock: Superblock,
        catalog: Catalog,
        used: BlockMap,
    ) -> MountStep {
        let files = catalog
            .entries()
            .enumerate()
            .filter_map(|(index, (_, entry))| match entry {
                Entry::File(file) => Some((index as u32, file.clone())),
                Entry::Directory => None,
            })
            .collect();
        let checking = Checking {
            superblock,
            catalog,
            used,
            files,
            file: 0,
            extent: 0,
            done_blocks: 0,
            offset: 0,
            digest: CRC32.digest(),
        };
        self.next_file_read(alloc::boxed::Box::new(checking))
    }

    /// The next read of the current file, or its checksum checked and on
    /// to the next file, or the generation mounted.
    fn next_file_read(&mut self, mut checking: alloc::boxed::Box<Checking>) -> MountStep {
        loop {
            if let Some(read) = checking_read(&checking) {
                self.stage = Stage::Files(checking);
                return MountStep::Read(read);
            }
            let Some((entry, file)) = checking.files.get(checking.file) else {
                let checking = *checking;
                let committed = Committed {
                    generation: checking.superblock.generation,
                    block_count: checking.superblock.block_count,
                    catalog: checking.catalog,
                    used: checking.used,
                };
                let fell_back = self.rejected.first().copied();
                return self.finish(Ok(Mounted {
                    committed,
                    fell_back,
                }));
            };
            let digest = core::mem::replace(&mut checking.digest, CRC32.digest());
            if digest.finalize() != file.data_crc {
                let error = MetaError::DataChecksum { entry: *entry };
                return self.reject(checking.superblock, error);
            }
            checking.file += 1;
            checking.extent = 0;
            checking.done_blocks = 0;
            checking.offset = 0;
        }
    }
}

/// The read the current file still needs, if any.
fn checking_read(checking: &Checking) -> Option<Read> {
    let (entry, file) = checking.files.get(checking.file)?;
    let extent = file.extents.get(checking.extent)?;
    Some(Read {
        block: extent.block + checking.done_blocks,
        blocks: (extent.blocks - checking.done_blocks).min(MAX_READ_BLOCKS),
        what: ReadFor::File {
            entry: *entry,
            offset: checking.offset,
        },
    })
}

/// Checks a candidate's catalog bytes against its superblock and decodes
/// it, with the block map of everything it references.
fn check_catalog(superblock: &Superblock, bytes: &[u8]) -> Result<(Catalog, BlockMap), MetaError> {
    let meta = bytes
        .get(..superblock.meta_len as usize)
        .ok_or(MetaError::Truncated)?;
    let computed = CRC32.checksum(meta);
    if computed != superblock.meta_checksum {
        return Err(MetaError::Checksum {
            stored: superblock.meta_checksum,
            computed,
        });
    }
    let (meta_block, meta_blocks) = superblock.meta_extent();
    let mut used = BlockMap::new(superblock.block_count);
    used.mark(0, SLOTS).map_err(|_| MetaError::Truncated)?;
    used.mark(meta_block, meta_blocks)
        .map_err(|_| MetaError::Truncated)?;
    let catalog = Catalog::decode(meta, &mut used)?;
    Ok((catalog, used))
}
