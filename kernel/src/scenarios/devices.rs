//! Scenarios for the devices the kernel drives itself before any task
//! exists: COM1's interrupt through the I/O APIC (`test=echo`), the local
//! APIC timer against the TSC (`test=timer`), ACPI power-off
//! (`test=shutdown`).

use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::arch::x86_64::{acpi, apic, clock, interrupts, ioapic, serial};
use crate::println;

// `test=echo` prints the shell's prompt too: xtask holds input piped into
// `cargo xtask qemu --headless` until it sees it, so the firmware does not
// eat it (`xtask/src/serial_filter.rs`, `READY_PROMPT`).
use mealy_protocol::terminal::PROMPT;

/// The `test=echo` scenario: route COM1's IRQ 4 through the I/O APIC,
/// print the prompt, and sleep until interrupts have delivered one line;
/// echo it. Proves ISA routing and that input piped in early was held.
pub(super) fn echo_one_line() -> ! {
    let route = match ioapic::unmask_isa(serial::IRQ) {
        Ok(route) => route,
        Err(error) => {
            println!("echo: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    interrupts::enable();
    let mut line = [0u8; 256];
    let mut len = 0;
    serial::write_fmt(format_args!("{PROMPT}"));
    loop {
        let byte = interrupts::wait_for(serial::try_read_byte);
        match byte {
            b'\r' | b'\n' => break,
            _ if len < line.len() => {
                line[len] = byte;
                len += 1;
            }
            _ => {}
        }
    }
    match core::str::from_utf8(&line[..len]) {
        Ok(text) => println!("\necho: {text}"),
        Err(_) => println!("\necho: <not UTF-8>"),
    }
    println!(
        "echo: {} interrupts on ISA IRQ {} (GSI {}, vector {:#x})",
        interrupts::isa_count(serial::IRQ),
        serial::IRQ,
        route.gsi,
        route.vector
    );
    qemu::exit(ExitStatus::Success)
}

/// The `test=timer` scenario: 50 ticks at 100 Hz should take 500 ms of the
/// monotonic clock, and a 20 ms one-shot should fire after 20 ms. Both
/// clocks are QEMU's virtual clock, so a busy host slows both alike; the
/// tolerance is for interrupt latency, not for load.
pub(super) fn check_timer() -> ! {
    const RATE_HZ: u64 = 100;
    const TICKS: u64 = 50;
    const ONESHOT_NANOS: u64 = 20_000_000;
    interrupts::enable();

    let programmed = apic::start_periodic(RATE_HZ);
    let first = interrupts::timer_ticks();
    interrupts::wait_for(|| (interrupts::timer_ticks() != first).then_some(()));
    let start = clock::now_nanos();
    let from = interrupts::timer_ticks();
    interrupts::wait_for(|| (interrupts::timer_ticks() >= from + TICKS).then_some(()));
    let elapsed = clock::now_nanos() - start;
    apic::stop_timer();
    let expected = TICKS * 1_000_000_000 / programmed.max(1);
    println!(
        "timer: {TICKS} ticks at {programmed} Hz took {} us (expected {} us)",
        elapsed / 1000,
        expected / 1000
    );
    let periodic_ok = elapsed.abs_diff(expected) <= expected / 10;

    let before = interrupts::timer_ticks();
    let start = clock::now_nanos();
    apic::arm_oneshot(ONESHOT_NANOS);
    interrupts::wait_for(|| (interrupts::timer_ticks() != before).then_some(()));
    let fired_after = clock::now_nanos() - start;
    println!(
        "timer: one-shot of {} us fired after {} us",
        ONESHOT_NANOS / 1000,
        fired_after / 1000
    );
    let oneshot_ok = (ONESHOT_NANOS * 9 / 10..=ONESHOT_NANOS * 3).contains(&fired_after);

    if periodic_ok && oneshot_ok {
        println!("timer: ok");
        qemu::exit(ExitStatus::Success)
    }
    println!("timer: out of tolerance");
    qemu::exit(ExitStatus::Failure)
}

/// The `test=shutdown` scenario: power off through ACPI. QEMU then exits
/// with status 0; if the machine stays on, that is a failure.
pub(super) fn shut_down() -> ! {
    println!("shutdown: powering off");
    let error = acpi::shutdown();
    println!("shutdown: {error}");
    qemu::exit(ExitStatus::Failure)
}
