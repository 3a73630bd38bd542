//! CPU exceptions in the kernel: each one provoked through the command line
//! must end the run with a failure status and a report naming the
//! exception, its error code in words, the faulting instruction's symbol,
//! the registers and a symbolised backtrace.

use mealy_tests::{Run, boot};

fn fault(scenario: &str) -> Run {
    let run = boot(&["--cmdline", &format!("test={scenario}")], b"");
    assert_eq!(run.code, Some(1), "an exception is a failure status\n{run}");
    run
}

/// Checks the lines every report has; returns the backtrace's lines.
fn assert_common_report(run: &Run, provoking_function: &str) {
    let rip = run.line_starting("  rip: 0x");
    assert!(
        rip.contains(&format!(
            "mealy_kernel::arch::x86_64::fault::{provoking_function}+0x"
        )),
        "RIP is named by its symbol: {rip}\n{run}"
    );
    assert!(
        run.line_starting("  rsp: 0x")
            .contains("  cs: 0x8  ss: 0x10"),
        "{run}"
    );
    for register in ["rax: 0x", "r15: 0x", "rbp: 0x"] {
        run.assert_stdout_has(register);
    }
    run.assert_stdout_has("\n  backtrace:\n");
    let frames: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| *line != "  backtrace:")
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .collect();
    for caller in [
        "mealy_kernel::scenarios::run+0x",
        "mealy_kernel::boot::after_boot+0x",
    ] {
        assert!(
            frames.iter().any(|frame| frame.contains(caller)),
            "the backtrace names {caller}: {frames:#?}\n{run}"
        );
    }
    assert!(
        frames
            .last()
            .is_some_and(|frame| frame.contains("mealy_kernel::arch::x86_64::cpu::switch_stack+0x")),
        "and ends at the bottom of the kernel stack: {frames:#?}\n{run}"
    );
    run.assert_stdout_has("\nhalted.\n");
}

#[test]
fn page_fault_report() {
    let run = fault("page-fault");
    run.assert_stdout_has("\nEXCEPTION: page fault (#PF, vector 14)\n");
    run.assert_stdout_has("\n  error code: 0x2 (not present, write, kernel)\n");
    // "page-fault: region 0x...0x... mapped; writing past its end"
    let mapped = run.line_starting("page-fault: region ");
    let range = mapped["page-fault: region ".len()..]
        .split(' ')
        .next()
        .expect("the line names the range");
    let (_, end) = range.split_once("..").expect("start..end");
    let end = u64::from_str_radix(end.trim_start_matches("0x"), 16).expect("hex end");
    run.assert_stdout_has(&format!(
        "\n  cr2: {end:#018x} (guard page of region {range})\n"
    ));
    assert_common_report(&run, "provoke_page_fault");
}

#[test]
fn divide_error_report() {
    let run = fault("divide-error");
    run.assert_stdout_has("\nEXCEPTION: divide error (#DE, vector 0)\n");
    assert!(
        !run.stdout.contains("error code:"),
        "#DE has no error code\n{run}"
    );
    assert_common_report(&run, "provoke_divide_error");
}

#[test]
fn invalid_opcode_report() {
    let run = fault("invalid-opcode");
    run.assert_stdout_has("\nEXCEPTION: invalid opcode (#UD, vector 6)\n");
    assert_common_report(&run, "provoke_invalid_opcode");
}
