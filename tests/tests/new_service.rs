//! `cargo xtask new-service NAME` in a copy of this checkout: the new
//! service must build, pass its own unit tests, boot and answer a ping
//! with no edits at all.

use mealy_tests::{
    QEMU_TIMEOUT_SECS, cargo_in, cargo_xtask_in, copy_of_checkout, seeded_target_dir,
};

#[test]
fn a_new_service_builds_boots_and_answers_a_ping_with_no_edits() {
    let copy = copy_of_checkout();
    // Starts from this checkout's build, so the copy compiles only what
    // the new service changes.
    let target = seeded_target_dir("new-service-test");

    let made = cargo_xtask_in(copy.path(), &target, &["new-service", "hello-world"]);
    assert_eq!(made.code, Some(0), "{made}");
    assert!(
        copy.path()
            .join("services/hello-world/src/lib.rs")
            .is_file()
    );
    // The scaffold's unit tests, through `FakeContext`, pass as made.
    let tested = cargo_in(copy.path(), &target, &["test", "-p", "mealy-hello-world"]);
    assert_eq!(tested.code, Some(0), "{tested}");
    tested.assert_stdout_has("test result: ok. 2 passed");

    let timeout = QEMU_TIMEOUT_SECS.to_string();
    let run = cargo_xtask_in(
        copy.path(),
        &target,
        &[
            "qemu",
            "--headless",
            "--timeout",
            &timeout,
            "--cmdline",
            "test=ping",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("\n[probe] ping: hello-world answered pong ");
    run.assert_stdout_has(" from hello-world\n");
    run.assert_stdout_has("\n[probe] ping: done\n");

    let again = cargo_xtask_in(copy.path(), &target, &["new-service", "hello-world"]);
    assert_eq!(again.code, Some(1), "{again}");
    assert!(again.stderr.contains("already exists"), "{again}");
    let bad = cargo_xtask_in(copy.path(), &target, &["new-service", "Hello_World"]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(bad.stderr.contains("is not a service name"), "{bad}");
}
