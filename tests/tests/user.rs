//! Ring 3: programs in their own protection domains, reached only through
//! system calls. `test=user` runs a raw program (no runtime) written to
//! the system-call ABI: it must be able to log, every hostile system call
//! it makes must come back as the right error, and reading kernel memory
//! must stop it (and only it) with one line naming the fault, the address
//! and its symbol.

use mealy_tests::boot;

#[test]
fn a_raw_ring3_program_logs_is_refused_and_is_stopped_alone() {
    let run = boot(&["--cmdline", "test=user"], b"");
    assert_eq!(run.code, Some(0), "the kernel outlives the program\n{run}");
    run.assert_stdout_has("ring 3: syscall entry ready; SMEP on, SMAP on");
    run.assert_stdout_has("[ring3] hello from ring 3\n");
    run.assert_stdout_has("[ring3] hostile syscalls: ok\n");
    let report =
        run.line_starting("[ring3] stopped: page fault (#PF) reading 0xffffffff80000000 at 0x");
    assert!(report.contains("(_start+0x"), "names the symbol: {report}");
    assert!(
        !run.stdout.contains("read kernel:"),
        "the read never completed\n{run}"
    );
    run.assert_stdout_has("user: ring3 is Some(Faulted)");
}
