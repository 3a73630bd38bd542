//! The monotonic clock: nanoseconds since boot, from the TSC, whose rate is
//! calibrated against the PIT once at boot. QEMU's TSC is invariant, and
//! with `-icount` it counts guest instructions, which keeps in-guest
//! measurements repeatable.

use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, pit};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// Measures the TSC's rate over a PIT window. Returns it in Hz.
pub fn calibrate() -> u64 {
    const WINDOW_MICROS: u64 = 20_000;
    let (start, end) = pit::measure(WINDOW_MICROS, cpu::rdtsc);
    let hz = end.wrapping_sub(start) * 1_000_000 / WINDOW_MICROS;
    TSC_HZ.store(hz.max(1), Ordering::Relaxed);
    TSC_AT_BOOT.store(start, Ordering::Relaxed);
    hz
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since calibration; 0 before it.
pub fn now_nanos() -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz == 0 {
        return 0;
    }
    let ticks = cpu::rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}
