//! Booting the kernel in QEMU: the banner, a kernel panic, a bad command
//! line, and serial input piped in before the guest was ready.

use mealy_tests::{ScratchEsp, boot};

#[test]
fn banner_reports_what_the_loader_answered() {
    let esp = ScratchEsp::new("test=boot quiet");
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_eq!(run.code, Some(0), "test=boot exits with success\n{run}");

    run.assert_stdout_has("mealy-loader: Mealy loader ");
    assert!(run.line_starting("Mealy ").len() > "Mealy ".len());
    assert!(
        run.line_starting("bootloader: mealy-loader ")
            .ends_with(", base revision 3"),
        "{run}"
    );
    run.assert_stdout_has("\nfirmware: UEFI x86_64\n");
    run.assert_stdout_has("\nhhdm: 0xffff800000000000\n");

    let memory = run.line_starting("memory: ");
    let usable_mib: u64 = memory["memory: ".len()..]
        .split(' ')
        .next()
        .and_then(|mib| mib.parse().ok())
        .unwrap_or_else(|| panic!("memory line has a MiB count: {memory}"));
    assert!(
        (150..256).contains(&usable_mib),
        "a 256 MiB guest has most of it usable: {memory}"
    );
    for kind in [
        "usable ",
        "bootloader-reclaimable ",
        "executable-and-modules ",
    ] {
        assert!(
            memory.contains(kind),
            "memory map has {kind}entries: {memory}"
        );
    }

    let framebuffer = run.line_starting("framebuffer: ");
    assert!(framebuffer.contains(" 32 bpp pitch "), "{framebuffer}");

    let symbols = std::fs::metadata(esp.path().join("boot/mealy.sym"))
        .expect("the ESP has the symbol module")
        .len();
    run.assert_stdout_has(&format!(
        "\nmodule: /boot/mealy.sym {symbols} bytes cmdline \"symbols\"\n"
    ));
    assert!(run.line_starting("rsdp: 0x").len() > "rsdp: 0x".len());
    assert!(
        run.line_starting("executable: /boot/mealy-kernel at 0xffffffff80000000 (physical 0x")
            .ends_with(')')
    );
    run.assert_stdout_has("\ncmdline: \"test=boot quiet\"\n");
    run.assert_stdout_has("\nentry: entry-point request\n");
    let interrupts = run.line_starting("interrupts: ");
    assert!(
        interrupts.contains(" I/O APIC, first at 0xfec00000 with GSI 0..23; 16 ISA IRQs routed"),
        "{interrupts}"
    );
    run.assert_stdout_has("\npoweroff: ACPI S5 through PM1a_CNT at port 0x");
    let ticks = run.line_starting("boot: ");
    assert!(
        ticks.ends_with(" TSC ticks from kernel entry to banner"),
        "{ticks}"
    );
}

#[test]
fn kernel_panic_fails_the_run_and_prints_its_location() {
    let run = boot(&["--cmdline", "test=panic"], b"");
    assert_eq!(run.code, Some(1), "a panic is a failure status\n{run}");
    run.assert_stdout_has("KERNEL PANIC at kernel/src/scenarios/mod.rs:");
    run.assert_stdout_has(": deliberate panic (test=panic)");
}

#[test]
fn unknown_test_scenario_is_one_clear_error() {
    let run = boot(&["--cmdline", "test=nonsense"], b"");
    assert_eq!(run.code, Some(1), "{run}");
    run.assert_stdout_has(
        "cmdline: unknown test scenario `nonsense` \
         (known: boot panic echo page-fault divide-error invalid-opcode timer exhaust shutdown ipc ping bench user churn disk soak)",
    );
}

#[test]
fn input_piped_before_the_guest_is_ready_is_held_not_lost() {
    // Written at once, seconds before OVMF has even started: without the
    // proxy holding it, the firmware's console would read it first.
    let run = boot(&["--cmdline", "test=echo"], b"hello from the host\n");
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("mealy> ");
    run.assert_stdout_has("\necho: hello from the host\n");
    // It came by interrupt: COM1's IRQ 4 routed through the I/O APIC.
    let irq = run
        .stdout
        .lines()
        .find(|line| line.contains(" interrupts on ISA IRQ 4 (GSI "))
        .unwrap_or_else(|| panic!("no interrupt count\n{run}"));
    assert!(!irq.starts_with("echo: 0 "), "{irq}");
}
