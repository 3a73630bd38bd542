//! Software timers: each armed Timer capability has one deadline; the
//! dispatch loop delivers a `Timeout` notice to the arming task once the
//! clock passes it.
//!
//! A plain vector scanned on expiry, with the earliest deadline cached so
//! the per-dispatch check is one comparison. Phase 1 has a handful of
//! timers; a heap or a wheel can replace the vector when that changes.

use alloc::vec::Vec;

use mealy_caps::{Badge, ObjectId, TaskId};
use mealy_protocol::IpcError;

#[derive(Clone, Copy, Debug)]
struct ArmedTimer {
    object: ObjectId,
    task: TaskId,
    badge: Option<Badge>,
    deadline_ns: u64,
}

/// Every armed timer.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    armed: Vec<ArmedTimer>,
    earliest_ns: Option<u64>,
}

impl TimerTable {
    /// Arms (or re-arms) `object` for `task`.
    pub(crate) fn arm(
        &mut self,
        object: ObjectId,
        task: TaskId,
        badge: Option<Badge>,
        deadline_ns: u64,
    ) -> Result<(), IpcError> {
        let timer = ArmedTimer {
            object,
            task,
            badge,
            deadline_ns,
        };
        if let Some(existing) = self.armed.iter_mut().find(|t| t.object == object) {
            *existing = timer;
        } else {
            self.armed
                .try_reserve(1)
                .map_err(|_| IpcError::OutOfResources)?;
            self.armed.push(timer);
        }
        self.recompute();
        Ok(())
    }

    /// Forgets the timer `object` (its last capability is gone).
    pub(crate) fn cancel_object(&mut self, object: ObjectId) {
        self.armed.retain(|t| t.object != object);
        self.recompute();
    }

    /// Forgets every timer armed by `task` (it died).
    pub(crate) fn cancel_task(&mut self, task: TaskId) {
        self.armed.retain(|t| t.task != task);
        self.recompute();
    }

    /// The earliest deadline, if any timer is armed.
    #[inline]
    pub(crate) fn earliest_ns(&self) -> Option<u64> {
        self.earliest_ns
    }

    /// Whether some timer expired by `now_ns`.
    #[inline]
    pub(crate) fn due(&self, now_ns: u64) -> bool {
        self.earliest_ns.is_some_and(|deadline| deadline <= now_ns)
    }

    /// Disarms one timer due by `now_ns` and returns (task, badge).
    /// Timers are one-shot.
    pub(crate) fn pop_due(&mut self, now_ns: u64) -> Option<(TaskId, Option<Badge>)> {
        let position = self.armed.iter().position(|t| t.deadline_ns <= now_ns)?;
        let timer = self.armed.swap_remove(position);
        self.recompute();
        Some((timer.task, timer.badge))
    }

    fn recompute(&mut self) {
        self.earliest_ns = self.armed.iter().map(|t| t.deadline_ns).min();
    }
}
