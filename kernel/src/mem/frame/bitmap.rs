//! A fixed-size bit array over memory the frame allocator carved out of the
//! physical memory it manages.
//!
//! It is a raw pointer and a length rather than a slice because the storage
//! lives in physical memory reached through the HHDM (or, on the host, a
//! test buffer) and is owned by the [`FrameAllocator`](super::FrameAllocator)
//! that made it; no Rust lifetime describes that. Every access is
//! bounds-checked: an index past the end reads as clear and writes nothing,
//! so a bug in the caller cannot turn into a stray write.

/// Bits per storage word.
const WORD_BITS: u64 = 64;

pub(super) struct Bitmap {
    words: *mut u64,
    bits: u64,
}

impl Bitmap {
    /// Words of storage needed for `bits` bits.
    pub(super) const fn words_for(bits: u64) -> u64 {
        bits.div_ceil(WORD_BITS)
    }

    /// A bitmap over `words_for(bits)` zeroed words at `words`.
    ///
    /// # Safety
    /// `words` must point to `words_for(bits)` writable, zeroed `u64`s that
    /// nothing else reads or writes for as long as the bitmap lives.
    pub(super) unsafe fn new(words: *mut u64, bits: u64) -> Self {
        Self { words, bits }
    }

    fn word(&self, index: u64) -> u64 {
        if index >= Self::words_for(self.bits) {
            return 0;
        }
        // SAFETY: `index` is within the `words_for(bits)` words that `new`'s
        // contract makes ours; unaligned access keeps us correct whatever
        // alignment the physical-memory window gives.
        unsafe { self.words.add(index as usize).read_unaligned() }
    }

    fn set_word(&mut self, index: u64, value: u64) {
        if index >= Self::words_for(self.bits) {
            return;
        }
        // SAFETY: as in `word`; `&mut self` makes this the only access.
        unsafe { self.words.add(index as usize).write_unaligned(value) }
    }

    pub(super) fn get(&self, bit: u64) -> bool {
        bit < self.bits && self.word(bit / WORD_BITS) & (1 << (bit % WORD_BITS)) != 0
    }

    pub(super) fn set(&mut self, bit: u64) {
        if bit < self.bits {
            let word = self.word(bit / WORD_BITS);
            self.set_word(bit / WORD_BITS, word | 1 << (bit % WORD_BITS));
        }
    }

    pub(super) fn clear(&mut self, bit: u64) {
        if bit < self.bits {
            let word = self.word(bit / WORD_BITS);
            self.set_word(bit / WORD_BITS, word & !(1 << (bit % WORD_BITS)));
        }
    }

    /// Applies `update(word, mask)` to every word touched by `start..end`,
    /// where `mask` selects the bits of the range in that word.
    fn update_range(&mut self, start: u64, end: u64, update: impl Fn(u64, u64) -> u64) {
        let end = end.min(self.bits);
        let mut bit = start;
        while bit < end {
            let offset = bit % WORD_BITS;
            let count = (WORD_BITS - offset).min(end - bit);
            let mask = mask(count) << offset;
            let index = bit / WORD_BITS;
            let word = self.word(index);
            self.set_word(index, update(word, mask));
            bit += count;
        }
    }

    pub(super) fn set_range(&mut self, start: u64, end: u64) {
        self.update_range(start, end, |word, mask| word | mask);
    }

    pub(super) fn clear_range(&mut self, start: u64, end: u64) {
        self.update_range(start, end, |word, mask| word & !mask);
    }

    /// The first set bit in `start..end`, or `end`.
    pub(super) fn next_set(&self, start: u64, end: u64) -> u64 {
        self.scan(start, end, |word| word).unwrap_or(end)
    }

    /// The first clear bit in `start..end`, or `end`. Bits past the
    /// bitmap read as clear.
    pub(super) fn next_clear(&self, start: u64, end: u64) -> u64 {
        let limit = end.min(self.bits);
        self.scan(start, end, |word| !word)
            .unwrap_or(start.max(limit).min(end))
    }

    /// The first bit in `start..end` that is set in `select(word)`, if
    /// one is within the bitmap. Word at a time, so scanning a large range
    /// costs bits / 64 steps.
    fn scan(&self, start: u64, end: u64, select: impl Fn(u64) -> u64) -> Option<u64> {
        let limit = end.min(self.bits);
        let mut bit = start;
        while bit < limit {
            let offset = bit % WORD_BITS;
            let candidates = select(self.word(bit / WORD_BITS)) >> offset;
            if candidates != 0 {
                let found = bit + u64::from(candidates.trailing_zeros());
                return Some(found.min(end));
            }
            bit += WORD_BITS - offset;
        }
        None
    }
}

/// The low `count` bits set (`count` <= 64).
fn mask(count: u64) -> u64 {
    if count >= WORD_BITS {
        u64::MAX
    } else {
        (1 << count) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_bitmap(bits: u64, test: impl FnOnce(&mut Bitmap)) {
        let mut storage = vec![0u64; Bitmap::words_for(bits) as usize];
        // SAFETY: the vector outlives the bitmap and is only used through it.
        let mut bitmap = unsafe { Bitmap::new(storage.as_mut_ptr(), bits) };
        test(&mut bitmap);
    }

    #[test]
    fn ranges_cross_word_boundaries() {
        with_bitmap(200, |bitmap| {
            bitmap.set_range(60, 130);
            assert!(!bitmap.get(59));
            assert!((60..130).all(|bit| bitmap.get(bit)));
            assert!(!bitmap.get(130));
            assert_eq!(bitmap.next_set(0, 200), 60);
            assert_eq!(bitmap.next_clear(60, 200), 130);
            bitmap.clear_range(64, 128);
            assert_eq!(bitmap.next_clear(60, 200), 64);
            assert_eq!(bitmap.next_set(64, 200), 128);
        });
    }

    #[test]
    fn out_of_range_reads_clear_and_writes_nothing() {
        with_bitmap(10, |bitmap| {
            bitmap.set(10);
            bitmap.set_range(5, 100);
            assert!(!bitmap.get(10));
            assert_eq!(bitmap.next_set(0, 100), 5);
            assert_eq!(bitmap.next_clear(5, 100), 10);
            assert_eq!(bitmap.next_set(20, 30), 30);
        });
    }
}
