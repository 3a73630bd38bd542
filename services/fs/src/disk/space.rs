//! The block map: one bit per block, set when the generation it describes
//! references the block (the superblock slots, its metadata, its files'
//! extents). Free space is exactly the clear bits: there is no free list
//! on disk to get out of step, since mount rebuilds the map from the
//! catalog it validated (and finds overlaps doing so).
//!
//! A commit allocates from a copy of the committed generation's map, so it
//! never hands out a block the committed generation still needs, even one
//! a change in the same commit stops using. Allocation is first fit, a
//! contiguous run if there is one, else the free runs in order: a simple
//! policy, linear in the disk's size, fine for a data disk of some MiB.

use alloc::vec;
use alloc::vec::Vec;

use super::catalog::Extent;

/// Which blocks of a disk of `len` blocks are in use.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlockMap {
    bits: Vec<u64>,
    len: u64,
}

impl BlockMap {
    /// A map of `len` blocks, all free.
    pub fn new(len: u64) -> Self {
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(usize::MAX);
        BlockMap {
            bits: vec![0; words],
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_used(&self, block: u64) -> bool {
        block >= self.len || self.bits[(block / 64) as usize] & (1 << (block % 64)) != 0
    }

    fn set(&mut self, block: u64) {
        self.bits[(block / 64) as usize] |= 1 << (block % 64);
    }

    /// Marks `blocks` blocks from `block` used. `Err(b)` names the first
    /// block that is past the end or already used (nothing after it is
    /// marked).
    pub fn mark(&mut self, block: u64, blocks: u64) -> Result<(), u64> {
        let end = block.checked_add(blocks).ok_or(block)?;
        for at in block..end {
            if self.is_used(at) {
                return Err(at);
            }
            self.set(at);
        }
        Ok(())
    }

    /// Marks every block `other` uses (a map of the same disk).
    pub fn include(&mut self, other: &BlockMap) {
        for (word, theirs) in self.bits.iter_mut().zip(&other.bits) {
            *word |= theirs;
        }
    }

    /// Blocks not in use.
    pub fn free(&self) -> u64 {
        let used: u64 = self.bits.iter().map(|w| u64::from(w.count_ones())).sum();
        self.len - used
    }

    /// The first free run of at least `blocks` blocks, marked used.
    pub fn allocate_run(&mut self, blocks: u64) -> Option<u64> {
        let mut start = 0;
        let mut run = 0;
        for at in 0..self.len {
            if self.is_used(at) {
                run = 0;
                start = at + 1;
                continue;
            }
            run += 1;
            if run == blocks {
                self.mark(start, blocks).ok()?;
                return Some(start);
            }
        }
        None
    }

    /// `blocks` free blocks, marked used: one run if one is long enough,
    /// else the free runs from the start of the disk. `None` (and nothing
    /// marked) if fewer are free.
    pub fn allocate(&mut self, blocks: u64) -> Option<Vec<Extent>> {
        if blocks == 0 {
            return Some(Vec::new());
        }
        if self.free() < blocks {
            return None;
        }
        if let Some(block) = self.allocate_run(blocks) {
            return Some(vec![Extent { block, blocks }]);
        }
        let mut extents: Vec<Extent> = Vec::new();
        let mut wanted = blocks;
        let mut at = 0;
        while wanted > 0 && at < self.len {
            if self.is_used(at) {
                at += 1;
                continue;
            }
            let start = at;
            while at < self.len && !self.is_used(at) && at - start < wanted {
                at += 1;
            }
            let taken = at - start;
            self.mark(start, taken).ok()?;
            extents.push(Extent {
                block: start,
                blocks: taken,
            });
            wanted -= taken;
        }
        Some(extents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_refuse_overlap_and_the_end() {
        let mut map = BlockMap::new(10);
        assert_eq!(map.mark(2, 3), Ok(()));
        assert_eq!(map.mark(4, 2), Err(4));
        assert_eq!(map.mark(9, 2), Err(10));
        assert_eq!(map.mark(u64::MAX, 2), Err(u64::MAX));
        assert_eq!(map.free(), 10 - 3 - 1);
    }

    #[test]
    fn allocation_prefers_one_run_then_gathers() {
        let mut map = BlockMap::new(12);
        map.mark(0, 2).unwrap();
        map.mark(4, 1).unwrap();
        // Free: 2..4, 5..12.
        assert_eq!(
            map.allocate(3),
            Some(vec![Extent {
                block: 5,
                blocks: 3
            }])
        );
        // Free: 2..4, 8..12: no run of 5.
        assert_eq!(
            map.allocate(5),
            Some(vec![
                Extent {
                    block: 2,
                    blocks: 2
                },
                Extent {
                    block: 8,
                    blocks: 3
                }
            ])
        );
        assert_eq!(map.allocate(2), None);
        assert_eq!(map.free(), 1);
    }
}
