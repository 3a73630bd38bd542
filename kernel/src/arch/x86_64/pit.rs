//! The legacy 8254 PIT, used only as a known-rate reference to calibrate
//! the local APIC timer and the TSC at boot (channel 2, polled, no IRQ).

use ::x86_64::instructions::port::Port;

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;
/// The longest wait one countdown can measure (65535 PIT ticks).
pub const MAX_WAIT_MICROS: u64 = 54_000;

const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// Port B of the keyboard controller: bit 0 gates channel 2, bit 1 drives
/// the speaker, bit 5 reads channel 2's output.
const PORT_B: u16 = 0x61;

/// Busy-waits `micros` (at most [`MAX_WAIT_MICROS`]) on PIT channel 2,
/// calling `sample` once right after the countdown starts and once when it
/// ends. Returns both samples, so the caller can count what its own clock
/// did in exactly that window.
pub fn measure<T>(micros: u64, mut sample: impl FnMut() -> T) -> (T, T) {
    let count = (PIT_HZ * micros.min(MAX_WAIT_MICROS) / 1_000_000) as u16;
    let mut port_b = Port::<u8>::new(PORT_B);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: these are the PIT's and port B's fixed I/O ports; only this
    // boot-time calibration uses channel 2, with the speaker kept off.
    unsafe {
        let gate_on_speaker_off = (port_b.read() & !0b10) | 0b01;
        port_b.write(gate_on_speaker_off);
        // Channel 2, low byte then high byte, mode 0 (out goes high at zero).
        command.write(0b1011_0000);
        data.write(count as u8);
        let start = sample();
        data.write((count >> 8) as u8);
        while port_b.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        (start, sample())
    }
}
