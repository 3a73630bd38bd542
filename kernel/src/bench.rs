//! The in-guest IPC measurement: fresh echo and pinger tasks make
//! [`IPC_ROUNDS`] round trips (32-byte postcard payloads, capability
//! checks, one-shot replies), dispatched until idle, timed by a clock the
//! caller gives. It is product code: the shell's `bench` runs it through
//! `Platform::run_benchmark` (`arch/x86_64/platform.rs`), and the `test=ipc`
//! and `test=bench` scenarios print it for `cargo xtask bench`. Under QEMU's
//! `-icount shift=0` the TSC counts guest instructions, so the cost is
//! exact and repeatable.
//!
//! Portable over any [`Platform`], so it is host-tested here; the host's
//! own IPC benchmark (criterion, against pipes and channels) is
//! `kernel/benches/ipc.rs`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::CapError;
use mealy_pinger::Pinger;

use crate::sched::{PendingInterrupts, Platform, SchedConfig, Scheduler, SpawnError};
use crate::tasks;

/// Round trips one measurement makes.
pub const IPC_ROUNDS: u32 = 1000;

/// What [`measure_ipc`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcMeasurement {
    /// Messages dispatched, both tasks together.
    pub handled: usize,
    /// Clock ticks from the first dispatch to idle.
    pub ticks: u64,
    /// Calls echo answered: [`IPC_ROUNDS`] unless something failed.
    pub echoed: u64,
}

impl IpcMeasurement {
    /// Whether echo answered every call, which makes the time one of
    /// [`IPC_ROUNDS`] round trips.
    pub fn answered_all(&self) -> bool {
        self.echoed == u64::from(IPC_ROUNDS)
    }

    /// The mean cost of one round trip, in clock ticks.
    pub fn ticks_per_round_trip(&self) -> u64 {
        self.ticks / u64::from(IPC_ROUNDS)
    }
}

/// Why a measurement could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchError {
    /// The scheduler's tables could not be made.
    Scheduler(CapError),
    /// Echo and the pinger could not be spawned.
    Spawn(SpawnError),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Scheduler(error) => write!(f, "the scheduler could not be built: {error}"),
            BenchError::Spawn(error) => write!(f, "the task list could not be spawned: {error}"),
        }
    }
}

/// Echo and a pinger making [`IPC_ROUNDS`] calls to it, alone on a
/// scheduler of their own over `platform` (the boot list's drivers own
/// devices), with no handler budget, dispatched until idle; the time is
/// what `clock` counts meanwhile.
pub fn measure_ipc<P: Platform>(
    platform: P,
    pending: &'static PendingInterrupts,
    clock: fn() -> u64,
) -> Result<IpcMeasurement, BenchError> {
    let config = SchedConfig {
        budget_ns: u64::MAX,
        ..SchedConfig::default()
    };
    let mut scheduler = Scheduler::new(platform, pending, config).map_err(BenchError::Scheduler)?;
    let pair: Vec<_> = tasks::TASKS
        .iter()
        .filter(|spec| matches!(spec.name, "echo" | "pinger"))
        .copied()
        .collect();
    scheduler
        .spawn_all_with(&pair, |spec| {
            if spec.name == "pinger" {
                Box::new(Pinger::new(IPC_ROUNDS, tasks::PINGER_PAYLOAD))
            } else {
                (spec.factory)()
            }
        })
        .map_err(BenchError::Spawn)?;
    let start = clock();
    let handled = scheduler.run_until_idle(usize::MAX);
    let ticks = clock().wrapping_sub(start);
    let echoed = scheduler
        .task_by_name("echo")
        .and_then(|id| scheduler.task_info(id))
        .map_or(0, |info| info.counters.handled);
    Ok(IpcMeasurement {
        handled,
        ticks,
        echoed,
    })
}

#[cfg(test)]
mod tests {
    use core::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::sched::HostPlatform;

    static PENDING: PendingInterrupts = PendingInterrupts::new();

    /// A clock that moves one tick per read.
    fn counter() -> u64 {
        static NOW: AtomicU64 = AtomicU64::new(0);
        NOW.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn every_call_is_answered_and_each_round_trip_is_two_dispatches() {
        let measured = measure_ipc(HostPlatform::manual(), &PENDING, counter).unwrap();
        assert!(measured.answered_all(), "{measured:?}");
        assert_eq!(measured.echoed, u64::from(IPC_ROUNDS));
        // The call to echo and its reply to the pinger; the pinger's start
        // makes the first call outside dispatch.
        assert_eq!(measured.handled, 2 * IPC_ROUNDS as usize);
        assert!(measured.ticks >= 1, "{measured:?}");
    }
}
