//! The local APIC: its timer (periodic tick and one-shot deadlines), the
//! end-of-interrupt, and the spurious and error vectors.
//!
//! x2APIC (registers as MSRs) when the CPU has it, which needs no mapping;
//! otherwise xAPIC through its MMIO page, which the caller maps. The timer's
//! rate is calibrated against the PIT at boot, since nothing reports it.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use ::x86_64::registers::model_specific::Msr;

use super::pit;

pub const TIMER_VECTOR: u8 = 32;
pub const ERROR_VECTOR: u8 = 0xfe;
pub const SPURIOUS_VECTOR: u8 = 0xff;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
const X2APIC_ENABLE: u64 = 1 << 10;

/// Register offsets in the xAPIC page; the x2APIC MSR is 0x800 + offset/16.
const ID: u32 = 0x20;
const EOI: u32 = 0xb0;
const SPURIOUS: u32 = 0xf0;
const ERROR_STATUS: u32 = 0x280;
const LVT_TIMER: u32 = 0x320;
const LVT_ERROR: u32 = 0x370;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3e0;

const SOFTWARE_ENABLE: u32 = 1 << 8;
const MASKED: u32 = 1 << 16;
const PERIODIC: u32 = 1 << 17;
/// Divide the bus clock by 16 (encoding 0b0011).
const DIVIDE_BY_16: u32 = 0b0011;

const MODE_NONE: u8 = 0;
const MODE_X2APIC: u8 = 1;
const MODE_XAPIC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);
/// Timer ticks (after the divider) per second, from calibration.
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApicError {
    /// No x2APIC and no mapped xAPIC page was given.
    NoAccess,
    /// Calibration counted no timer ticks.
    CalibrationFailed,
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicError::NoAccess => {
                f.write_str("the CPU has no x2APIC and the xAPIC page is not mapped")
            }
            ApicError::CalibrationFailed => f.write_str("the APIC timer did not count"),
        }
    }
}

/// Where this core's xAPIC registers are (physical), from IA32_APIC_BASE.
pub fn xapic_physical_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no
    // side effects.
    unsafe { Msr::new(IA32_APIC_BASE).read() & 0x000f_ffff_ffff_f000 }
}

/// The xAPIC register page is 4 KiB.
pub const XAPIC_BYTES: u64 = 4096;

pub fn has_x2apic() -> bool {
    // CPUID leaf 1, ECX bit 21.
    core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0
}

fn read(register: u32) -> u32 {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is on, so 0x800 + register/16 is an APIC MSR.
        MODE_X2APIC => unsafe { Msr::new(0x800 + register / 16).read() as u32 },
        MODE_XAPIC => {
            let base = XAPIC_BASE.load(Ordering::Relaxed);
            // SAFETY: `base` is the mapped, uncached xAPIC page (`init`'s
            // caller promised) and `register` is one of its offsets.
            unsafe { ((base + register as u64) as *const u32).read_volatile() }
        }
        _ => 0,
    }
}

fn write(register: u32, value: u32) {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: as in `read`.
        MODE_X2APIC => unsafe { Msr::new(0x800 + register / 16).write(value as u64) },
        MODE_XAPIC => {
            let base = XAPIC_BASE.load(Ordering::Relaxed);
            // SAFETY: as in `read`.
            unsafe { ((base + register as u64) as *mut u32).write_volatile(value) }
        }
        _ => {}
    }
}

/// Enables this core's local APIC (x2APIC if present, else xAPIC at
/// `xapic_page`, the virtual address of its mapped MMIO page) and routes
/// the error and spurious vectors. The timer stays stopped until
/// [`calibrate_with`] has measured its rate.
pub fn init(xapic_page: Option<u64>) -> Result<(), ApicError> {
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting the enable
    // bits (and x2APIC mode when CPUID reports it) is the documented way
    // to turn the local APIC on.
    unsafe {
        let base = base_msr.read();
        if has_x2apic() {
            base_msr.write(base | APIC_GLOBAL_ENABLE | X2APIC_ENABLE);
            MODE.store(MODE_X2APIC, Ordering::Relaxed);
        } else {
            let page = xapic_page.ok_or(ApicError::NoAccess)?;
            base_msr.write(base | APIC_GLOBAL_ENABLE);
            XAPIC_BASE.store(page, Ordering::Relaxed);
            MODE.store(MODE_XAPIC, Ordering::Relaxed);
        }
    }
    write(SPURIOUS, SOFTWARE_ENABLE | SPURIOUS_VECTOR as u32);
    write(LVT_ERROR, ERROR_VECTOR as u32);
    write(LVT_TIMER, MASKED);
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    Ok(())
}

/// Measures the timer's rate over one PIT window, sampling `other` (the
/// TSC) at the same instants so both clocks share the window. Returns the
/// timer's rate in Hz and `other`'s two samples.
pub fn calibrate_with(
    window_micros: u64,
    mut other: impl FnMut() -> u64,
) -> Result<(u64, (u64, u64)), ApicError> {
    write(TIMER_INITIAL, u32::MAX);
    let ((timer_start, other_start), (timer_end, other_end)) =
        pit::measure(window_micros, || (read(TIMER_CURRENT), other()));
    write(TIMER_INITIAL, 0);
    let counted = u64::from(timer_start.saturating_sub(timer_end));
    if counted == 0 {
        return Err(ApicError::CalibrationFailed);
    }
    let hz = counted * 1_000_000 / window_micros;
    TIMER_HZ.store(hz, Ordering::Relaxed);
    LAST_ONESHOT_NS.store(u64::MAX, Ordering::Relaxed);
    Ok((hz, (other_start, other_end)))
}

pub fn is_x2apic() -> bool {
    MODE.load(Ordering::Relaxed) == MODE_X2APIC
}

pub fn id() -> u32 {
    let raw = read(ID);
    if is_x2apic() { raw } else { raw >> 24 }
}

/// Starts the periodic tick at `hz` interrupts per second on
/// [`TIMER_VECTOR`]. Returns the rate actually programmed.
pub fn start_periodic(hz: u64) -> u64 {
    let timer_hz = TIMER_HZ.load(Ordering::Relaxed);
    let initial = (timer_hz / hz.max(1)).clamp(1, u32::MAX as u64);
    write(LVT_TIMER, PERIODIC | TIMER_VECTOR as u32);
    write(TIMER_INITIAL, initial as u32);
    timer_hz / initial
}

/// Arms a single interrupt on [`TIMER_VECTOR`] after `nanos`, replacing
/// the periodic tick. Delays past the counter's range are clamped to it.
pub fn arm_oneshot(nanos: u64) {
    // Every ring-3 upcall arms the same budget: remember the last
    // conversion rather than divide 128-bit numbers each time.
    let ticks = if LAST_ONESHOT_NS.load(Ordering::Relaxed) == nanos {
        LAST_ONESHOT_TICKS.load(Ordering::Relaxed)
    } else {
        let timer_hz = TIMER_HZ.load(Ordering::Relaxed) as u128;
        let ticks = (timer_hz * nanos as u128 / 1_000_000_000).clamp(1, u32::MAX as u128) as u64;
        LAST_ONESHOT_TICKS.store(ticks, Ordering::Relaxed);
        LAST_ONESHOT_NS.store(nanos, Ordering::Relaxed);
        ticks
    };
    write(LVT_TIMER, TIMER_VECTOR as u32);
    write(TIMER_INITIAL, ticks as u32);
}

/// The last `arm_oneshot` delay and its count. One core runs tasks, so
/// one core arms; calibration forgets them.
static LAST_ONESHOT_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static LAST_ONESHOT_TICKS: AtomicU64 = AtomicU64::new(0);

pub fn stop_timer() {
    write(LVT_TIMER, MASKED);
    write(TIMER_INITIAL, 0);
}

pub fn end_of_interrupt() {
    write(EOI, 0);
}

/// Reads and clears the error status (writing first latches it).
pub fn take_error_status() -> u32 {
    write(ERROR_STATUS, 0);
    read(ERROR_STATUS)
}
