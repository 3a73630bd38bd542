//! The kernel core in QEMU: the APIC timer against the monotonic clock,
//! running out of frames and heap, and powering off through ACPI.

use mealy_tests::boot;

#[test]
fn timer_ticks_at_the_configured_rate() {
    let run = boot(&["--cmdline", "test=timer"], b"");
    assert_eq!(
        run.code,
        Some(0),
        "the kernel found the timer in tolerance\n{run}"
    );
    let timer = run.line_starting("timer: ");
    assert!(
        timer.contains("APIC timer at ") && timer.contains("(calibrated against the PIT)"),
        "the banner reports the calibrated timer: {timer}"
    );
    // "timer: 50 ticks at 100 Hz took 500477 us (expected 500000 us)"
    let ticks = run.line_starting("timer: 50 ticks at ");
    let numbers: Vec<u64> = ticks
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let [_, hz, took, expected] = numbers[..] else {
        panic!("unexpected tick line: {ticks}");
    };
    assert!((90..=110).contains(&hz), "{ticks}");
    assert!(
        took.abs_diff(expected) <= expected / 10,
        "within 10%: {ticks}"
    );
    run.assert_stdout_has("\ntimer: one-shot of 20000 us fired after ");
    run.assert_stdout_has("\ntimer: ok\n");
}

#[test]
fn exhausting_frames_and_heap_is_an_error_not_a_panic() {
    let run = boot(&["--cmdline", "test=exhaust"], b"");
    assert_eq!(run.code, Some(0), "{run}");
    let frames = run.line_starting("frames: ");
    assert!(
        frames.contains(" free, "),
        "the banner reports frames: {frames}"
    );
    run.line_starting("heap: ");
    // Bootloader memory was given back before, and every frame (including
    // those) was then written: the kernel no longer used any of it.
    let reclaimed = run.line_starting("[INFO  mealy_kernel::boot] memory: page tables (");
    assert!(
        reclaimed.contains(" copied) and stack are the kernel's; reclaimed ")
            && !reclaimed.contains("reclaimed 0 KiB"),
        "{reclaimed}"
    );
    run.assert_stdout_has("\nexhaust: frames ran out after ");
    run.assert_stdout_has(
        ": out of physical frames: no free run of 1 frame(s) (0 free in total)\n",
    );
    let counts = run.line_starting("exhaust: frames free before ");
    let words: Vec<&str> = counts.split(' ').collect();
    assert_eq!(words[4], words[6], "every frame came back: {counts}");
    run.assert_stdout_has("\nexhaust: heap refused after ");
    run.assert_stdout_has("kernel heap out of memory: 1048576 bytes (align 1) requested, heap is ");
    run.assert_stdout_has("a 4 KiB allocation succeeds\n");
    run.assert_stdout_has("\nexhaust: ok, the kernel is still running\n");
    assert!(!run.stdout.contains("KERNEL PANIC"), "{run}");
}

#[test]
fn shutdown_powers_off_through_acpi() {
    let run = boot(&["--cmdline", "test=shutdown"], b"");
    // QEMU exits 0 on ACPI power-off; the kernel would report failure (1)
    // through the debug-exit device if the machine stayed on.
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("\nshutdown: powering off\n");
    assert!(!run.stdout.contains("did not power off"), "{run}");
}

#[test]
fn tasks_exchange_messages_in_the_guest() {
    let run = boot(&["--cmdline", "test=ipc"], b"");
    assert_eq!(run.code, Some(0), "echo answered every call\n{run}");
    run.assert_stdout_has("\n[pinger] 1000 round trips, 0 mismatches, ");
    let cost = run.line_starting("ipc: 1000 round trips, 2000 messages dispatched in ");
    assert!(cost.ends_with(" per round trip"), "{cost}");
}

#[test]
fn the_guest_benchmark_reports_its_numbers() {
    let run = boot(&["--cmdline", "test=bench"], b"");
    assert_eq!(run.code, Some(0), "{run}");
    let region = run.line_starting("bench: region map+unmap of 16 pages: ");
    assert!(region.ends_with(" per page)"), "{region}");
    let ipc = run.line_starting("bench: ipc round trip: ");
    assert!(ipc.ends_with(" TSC ticks (mean of 1000)"), "{ipc}");
    // Access to a file, small and large, apart from reading its bytes.
    for size in ["4 KiB", "1 MiB"] {
        run.assert_stdout_has(&format!(
            " guest instructions to get access to a {size} file ("
        ));
    }
    run.line_starting("fs-read-mapped: ");
    run.line_starting("fs-read-copied: ");
    // The data disk (every test boot has one): mounted, written, synced,
    // and what the benchmark made removed again.
    let mount = run.line_starting("fs-mount: ");
    assert!(
        mount.contains(" guest instructions to mount the data disk"),
        "{mount}"
    );
    let write = run.line_starting("fs-write-sync: ");
    assert!(write.contains(" to a new file and Sync ("), "{write}");
    let create = run.line_starting("fs-create-sync: ");
    assert!(create.contains(" files of 1 KiB and Sync ("), "{create}");
    assert!(!run.stdout.contains("error:"), "{run}");
}
