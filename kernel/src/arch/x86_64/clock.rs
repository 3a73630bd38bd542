//! The monotonic clock: nanoseconds since boot, from the TSC, whose rate is
//! calibrated against the PIT once at boot (in the same window as the APIC
//! timer, see `apic::calibrate_with`). QEMU's TSC is invariant, and
//! with `-icount` it counts guest instructions, which keeps in-guest
//! measurements repeatable.
//!
//! Reading the clock is on the dispatch path (once per message, for the
//! handler budget), so calibration turns the rate into a 32.32 fixed-point
//! nanoseconds-per-tick factor and a read is `rdtsc`, one 64x64 multiply
//! and a shift; dividing by the rate on every read was a call to the
//! 128-bit division routine, a good part of the guest's round trip. The
//! factor's rounding error is below 2^-32 relative for any TSC slower
//! than 4 GHz, far under the PIT calibration's own 0.01 %.

use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, pit};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick, 32.32 fixed point; 0 before calibration.
static NS_PER_TICK: AtomicU64 = AtomicU64::new(0);

/// How long the boot-time calibration window is. 10 ms is 11931 PIT
/// ticks: a resolution of 0.01 %.
pub const CALIBRATION_MICROS: u64 = 10_000;

/// Sets the TSC's rate from two samples taken `micros` apart (by the PIT);
/// time 0 is the first sample. Returns the rate in Hz.
pub fn set_calibration(samples: (u64, u64), micros: u64) -> u64 {
    let hz = samples.1.wrapping_sub(samples.0) * 1_000_000 / micros.max(1);
    let hz = hz.max(1);
    let factor = (1_000_000_000u128 << 32) / u128::from(hz);
    TSC_HZ.store(hz, Ordering::Relaxed);
    TSC_AT_BOOT.store(samples.0, Ordering::Relaxed);
    NS_PER_TICK.store(u64::try_from(factor).unwrap_or(u64::MAX), Ordering::Relaxed);
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
#[inline]
pub fn now_nanos() -> u64 {
    let factor = NS_PER_TICK.load(Ordering::Relaxed);
    if factor == 0 {
        return 0;
    }
    let ticks = cpu::rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    ((u128::from(ticks) * u128::from(factor)) >> 32) as u64
}
