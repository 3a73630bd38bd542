//! The run queue: the Queued tasks, each exactly once, in the order they
//! became ready.
//!
//! A fixed ring of task ids sized for every task the scheduler may
//! ever hold, reserved once, so making a task ready never allocates and
//! never fails. Written out rather than a `VecDeque` so that the push on
//! every send inlines into the IPC path; the ring's size is a power of two
//! so a position wraps with a mask instead of a compare and branch.

use alloc::vec::Vec;

use mealy_caps::TaskId;

/// A bounded FIFO of task ids.
#[derive(Debug)]
pub(crate) struct RunQueue {
    ring: Vec<TaskId>,
    /// `ring.len() - 1`; `ring.len()` is a power of two.
    mask: usize,
    /// Where the oldest queued task is (wraps with `mask`).
    head: usize,
    len: usize,
    /// How many tasks it must hold (the ring may be larger).
    capacity: usize,
}

impl RunQueue {
    /// Room for `capacity` (at least 1) tasks; `None` if the heap cannot
    /// hold it.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        let capacity = capacity.max(1);
        let size = capacity.checked_next_power_of_two()?;
        let mut ring = Vec::new();
        ring.try_reserve_exact(size).ok()?;
        ring.resize(size, TaskId(0));
        Some(Self {
            ring,
            mask: size - 1,
            head: 0,
            len: 0,
            capacity,
        })
    }

    /// Appends task `id`. A task is queued at most once and the ring holds
    /// every task, so it is never full; if it were, the push is refused
    /// (returns `false`) rather than overwriting a queued task.
    #[inline]
    pub(crate) fn push_back(&mut self, id: TaskId) -> bool {
        if self.len >= self.capacity {
            return false;
        }
        let at = (self.head + self.len) & self.mask;
        if let Some(slot) = self.ring.get_mut(at) {
            *slot = id;
            self.len += 1;
            return true;
        }
        false
    }

    /// The oldest queued task, removed.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<TaskId> {
        if self.len == 0 {
            return None;
        }
        let id = *self.ring.get(self.head)?;
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        Some(id)
    }

    /// Keeps only the tasks for which `keep` holds, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(TaskId) -> bool) {
        for _ in 0..self.len {
            if let Some(id) = self.pop_front()
                && keep(id)
            {
                self.push_back(id);
            }
        }
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
