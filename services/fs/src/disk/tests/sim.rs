//! The simulated disk of the crash harness. [`RecordingDisk`] runs a
//! workload and records every write and flush in order; [`crash_images`]
//! then rebuilds what the medium could hold if power were cut after any
//! prefix of those operations: everything before the last flush, plus a
//! subset of the writes issued since (the device may reorder them or lose
//! them), and possibly one write torn at a 512-byte sector boundary (a
//! prefix of its sectors landed).
//!
//! Up to 8 pending writes, every subset of them is tried. Past that,
//! every subset is too many, so a crash point gets a fixed family: none,
//! all, every prefix, all but one, only one, each thinned out evenly past
//! a bound. Either way each pending write is also torn at several sector
//! counts (after the ones issued before it). The proptest in `crash.rs`
//! adds random subsets and tears.

use alloc::vec::Vec;

use crate::disk::{BLOCK, BlockDevice, IoError, MemoryDisk, SECTOR};

/// One operation as the device saw it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Op {
    Write { block: u64, data: Vec<u8> },
    Flush,
}

/// A disk that lands every write at once (for reads) and logs them.
pub struct RecordingDisk {
    pub disk: MemoryDisk,
    pub ops: Vec<Op>,
}

impl RecordingDisk {
    pub fn new(bytes: Vec<u8>) -> Self {
        RecordingDisk {
            disk: MemoryDisk { bytes },
            ops: Vec::new(),
        }
    }
}

impl BlockDevice for RecordingDisk {
    fn block_count(&self) -> u64 {
        self.disk.block_count()
    }

    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), IoError> {
        self.disk.read(block, out)
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError> {
        self.disk.write(block, data)?;
        self.ops.push(Op::Write {
            block,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.ops.push(Op::Flush);
        Ok(())
    }
}

/// The most variants of one family tried at one crash point.
const FAMILY_BOUND: usize = 6;
/// Up to this many pending writes, every subset of them is tried.
const EXHAUSTIVE_UP_TO: usize = 8;

/// `count` indices spread evenly over `0..len` (all of them if few).
fn spread(len: usize, count: usize) -> Vec<usize> {
    if len <= count {
        return (0..len).collect();
    }
    let mut out: Vec<usize> = (0..count).map(|i| i * (len - 1) / (count - 1)).collect();
    out.dedup();
    out
}

/// Lands `write` on `image`, only its first `sectors` sectors if given.
pub fn land(image: &mut [u8], block: u64, data: &[u8], sectors: Option<usize>) {
    let start = block as usize * BLOCK;
    let len = sectors.map_or(data.len(), |s| (s * SECTOR).min(data.len()));
    image[start..start + len].copy_from_slice(&data[..len]);
}

/// What is durable after `ops[..crash]`: the image with every write
/// before the last flush landed, and the writes issued since.
pub fn durable_and_pending<'o>(
    initial: &[u8],
    ops: &'o [Op],
    crash: usize,
) -> (Vec<u8>, Vec<(u64, &'o [u8])>) {
    let mut image = initial.to_vec();
    let mut pending: Vec<(u64, &[u8])> = Vec::new();
    for op in &ops[..crash] {
        match op {
            Op::Write { block, data } => pending.push((*block, data)),
            Op::Flush => {
                for (block, data) in pending.drain(..) {
                    land(&mut image, block, data, None);
                }
            }
        }
    }
    (image, pending)
}

/// The images a power cut after `ops[..crash]` may leave.
pub fn crash_images(initial: &[u8], ops: &[Op], crash: usize) -> Vec<Vec<u8>> {
    let (durable, pending) = durable_and_pending(initial, ops, crash);
    let with = |chosen: &dyn Fn(usize) -> bool, torn: Option<(usize, usize)>| {
        let mut image = durable.clone();
        for (index, &(block, data)) in pending.iter().enumerate() {
            if let Some((at, sectors)) = torn
                && at == index
            {
                land(&mut image, block, data, Some(sectors));
            } else if chosen(index) {
                land(&mut image, block, data, None);
            }
        }
        image
    };
    let n = pending.len();
    let mut images = alloc::vec![with(&|_| false, None)];
    if n == 0 {
        return images;
    }
    if n <= EXHAUSTIVE_UP_TO {
        // Every subset of the pending writes (none was pushed above).
        for mask in 1u32..(1 << n) {
            images.push(with(&|i| mask & (1 << i) != 0, None));
        }
    } else {
        images.push(with(&|_| true, None));
        for cut in spread(n, FAMILY_BOUND) {
            images.push(with(&|i| i < cut, None));
            images.push(with(&|i| i != cut, None));
            images.push(with(&|i| i == cut, None));
        }
    }
    for at in spread(n, FAMILY_BOUND) {
        let sectors = pending[at].1.len() / SECTOR;
        for torn in spread(sectors.saturating_sub(1), 4) {
            // `torn + 1` sectors of `at` landed, after all before it.
            images.push(with(&|i| i < at, Some((at, torn + 1))));
        }
    }
    images
}
