//! The run queue: the Queued tasks, each exactly once, in the order they
//! became ready.
//!
//! A fixed ring of task indices sized for every task the scheduler may
//! ever hold, reserved once, so making a task ready never allocates and
//! never fails. Written out rather than a `VecDeque` so that the push on
//! every send inlines into the IPC path.

use alloc::vec::Vec;

/// A bounded FIFO of task indices.
#[derive(Debug)]
pub(crate) struct RunQueue {
    ring: Vec<u32>,
    head: usize,
    len: usize,
}

impl RunQueue {
    /// Room for `capacity` (at least 1) tasks; `None` if the heap cannot
    /// hold it.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        let capacity = capacity.max(1);
        let mut ring = Vec::new();
        ring.try_reserve_exact(capacity).ok()?;
        ring.resize(capacity, 0);
        Some(Self {
            ring,
            head: 0,
            len: 0,
        })
    }

    /// Appends `index`. A task is queued at most once and the ring holds
    /// every task, so it is never full; if it were, the push is refused
    /// (returns `false`) rather than overwriting a queued task.
    #[inline]
    pub(crate) fn push_back(&mut self, index: u32) -> bool {
        let capacity = self.ring.len();
        if self.len >= capacity {
            return false;
        }
        let mut at = self.head + self.len;
        if at >= capacity {
            at -= capacity;
        }
        if let Some(slot) = self.ring.get_mut(at) {
            *slot = index;
            self.len += 1;
            return true;
        }
        false
    }

    /// The oldest queued task, removed.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let index = *self.ring.get(self.head)?;
        self.head += 1;
        if self.head >= self.ring.len() {
            self.head = 0;
        }
        self.len -= 1;
        Some(index)
    }

    /// Keeps only the tasks for which `keep` holds, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        for _ in 0..self.len {
            if let Some(index) = self.pop_front()
                && keep(index)
            {
                self.push_back(index);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
