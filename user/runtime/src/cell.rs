//! [`UpcallCell`]: the runtime's one piece of mutable static state (the
//! state machine and the pending reply), lent to one upcall at a time.
//!
//! A program has one thread and the kernel enters it once per message,
//! never while a handler runs, so one `&mut` at a time is the natural
//! rule. The cell checks it anyway: a second borrow while one is live
//! (which only a runtime bug could cause) gets `None`, never an alias.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

pub struct UpcallCell<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with`, which the `busy` flag
// makes exclusive.
unsafe impl<T> Sync for UpcallCell<T> {}

impl<T> UpcallCell<T> {
    pub const fn new(value: T) -> Self {
        Self {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value, or returns `None` if it is lent already.
    /// If `f` panics the cell stays lent: the panic ends the task.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `busy` was false and is now true, so no other `&mut`
        // to the value exists until it is cleared below.
        let result = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_once_at_a_time() {
        let cell = UpcallCell::new(1);
        assert_eq!(cell.with(|v| *v + 1), Some(2));
        assert_eq!(cell.with(|_| cell.with(|_| ())), Some(None));
        assert_eq!(cell.with(|v| *v), Some(1));
    }
}
