//! The monotonic clock: nanoseconds since boot, from the TSC, whose rate is
//! calibrated against the PIT once at boot (in the same window as the APIC
//! timer, see `apic::calibrate_with`). QEMU's TSC is invariant, and
//! with `-icount` it counts guest instructions, which keeps in-guest
//! measurements repeatable.

use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, pit};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// How long the boot-time calibration window is. 10 ms is 11931 PIT
/// ticks: a resolution of 0.01 %.
pub const CALIBRATION_MICROS: u64 = 10_000;

/// Sets the TSC's rate from two samples taken `micros` apart (by the PIT);
/// time 0 is the first sample. Returns the rate in Hz.
pub fn set_calibration(samples: (u64, u64), micros: u64) -> u64 {
    let hz = samples.1.wrapping_sub(samples.0) * 1_000_000 / micros.max(1);
    TSC_HZ.store(hz.max(1), Ordering::Relaxed);
    TSC_AT_BOOT.store(samples.0, Ordering::Relaxed);
    hz
}

/// Calibrates the TSC alone, when the APIC timer is not available.
pub fn calibrate() -> u64 {
    let samples = pit::measure(CALIBRATION_MICROS, cpu::rdtsc);
    set_calibration(samples, CALIBRATION_MICROS)
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
