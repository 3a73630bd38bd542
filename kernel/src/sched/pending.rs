//! Interrupts waiting to be delivered: one bit per line, set from the trap
//! handler, drained by the dispatch loop.
//!
//! This is the only scheduler state an interrupt handler touches, and it is
//! nothing but atomics in a `static`: posting is one `fetch_or`, with no
//! lock, no allocation and no reference to the scheduler, so it is safe with
//! interrupts off and cannot deadlock against the code it interrupted. The
//! dispatch loop turns each set bit into an `Interrupt` message for the task
//! holding that line's Irq capability. A line stays masked until its task
//! calls `irq_ack`, so it fires at most once between deliveries and one bit
//! per line loses nothing: the "preallocated slot" for each line is its bit.
//!
//! A summary word with one bit per word of lines makes the dispatch loop's
//! check, done before every message, one load instead of four. A post sets
//! the line's bit, then the summary's; taking clears the summary, then the
//! words it names. A post that lands in between is at worst seen one
//! dispatch later (its summary bit is still set), never lost.

use core::sync::atomic::{AtomicU64, Ordering};

const WORDS: usize = 4;

/// Not an interrupt: a handler spawned or killed a task, and the
/// scheduler has state machines to take in or drop before the next
/// dispatch (`Scheduler::settle_lifecycle`). Posting it here keeps that
/// check off the dispatch path: the board is looked at anyway.
pub const LIFECYCLE_LINE: u8 = 255;

/// Interrupt lines 0..=255 with a delivery pending.
#[derive(Debug)]
pub struct PendingInterrupts {
    lines: [AtomicU64; WORDS],
    /// Bit `n` set: word `n` of `lines` may have a line pending.
    summary: AtomicU64,
}

impl PendingInterrupts {
    /// Nothing pending. `const`, so boot can put it in a `static`.
    pub const fn new() -> Self {
        Self {
            lines: [const { AtomicU64::new(0) }; WORDS],
            summary: AtomicU64::new(0),
        }
    }

    /// Marks `line` as fired. Safe to call from a trap handler with
    /// interrupts off: two atomic ORs, no allocation, no lock.
    #[inline]
    pub fn post(&self, line: u8) {
        let (index, bit) = (usize::from(line) / 64, line % 64);
        if let Some(word) = self.lines.get(index) {
            word.fetch_or(1 << bit, Ordering::Release);
            self.summary.fetch_or(1 << index, Ordering::Release);
        }
    }

    /// Whether any line is pending (the idle hook checks this with
    /// interrupts off before halting).
    #[inline]
    pub fn any(&self) -> bool {
        self.summary.load(Ordering::Relaxed) != 0
    }

    /// Takes every pending line, clearing them, lowest first.
    pub(crate) fn take_each(&self, mut deliver: impl FnMut(u8)) {
        let words = self.summary.swap(0, Ordering::Acquire);
        for (index, word) in self.lines.iter().enumerate() {
            if words & (1 << index) == 0 {
                continue;
            }
            let mut bits = word.swap(0, Ordering::Acquire);
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                deliver((index as u32 * 64 + bit) as u8);
            }
        }
    }
}

impl Default for PendingInterrupts {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn posts_are_taken_once_in_line_order() {
        let pending = PendingInterrupts::new();
        assert!(!pending.any());
        for line in [200, 1, 64, 1] {
            pending.post(line);
        }
        assert!(pending.any());
        let mut seen = Vec::new();
        pending.take_each(|line| seen.push(line));
        assert_eq!(seen, [1, 64, 200]);
        assert!(!pending.any());
        let mut again = Vec::new();
        pending.take_each(|line| again.push(line));
        assert!(again.is_empty());
        pending.post(255);
        assert!(pending.any());
        pending.take_each(|line| again.push(line));
        assert_eq!(again, [255]);
    }
}
