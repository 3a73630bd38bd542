//! The terminal a person at the machine uses: the PS/2 keyboard and the
//! framebuffer console, driven through QEMU's machine protocol (keys
//! pressed with `send-key`, the screen read with `screendump`).

use std::time::Duration;

use mealy_tests::live::LiveRun;

const STEP: Duration = Duration::from_secs(90);

/// Pixels brighter than the background.
fn lit(pixels: &[u8]) -> usize {
    pixels
        .chunks(3)
        .filter(|pixel| pixel.iter().any(|channel| *channel > 0x40))
        .count()
}

#[test]
fn keys_typed_on_the_keyboard_run_at_the_shell_and_fbcon_draws_its_output() {
    let mut run = LiveRun::boot();
    run.wait_for("mealy> ", 1, STEP);
    let scratch = tempfile::tempdir_in(mealy_tests::workspace_root().join("target"))
        .expect("a scratch directory");
    let (width, height, before) = run.screen(&scratch.path().join("before.ppm"));
    assert!(width >= 640 && height >= 400, "{width}x{height}");
    assert!(
        lit(&before) > 0,
        "the greeting and prompt are on the screen"
    );

    // Typed on the PS/2 keyboard: keyboard driver, console, shell.
    run.type_keys("ps\n");
    run.wait_for("ID   NAME", 1, STEP);
    run.wait_for("mealy> ", 2, STEP);
    let output = run.output();
    assert!(
        output.contains("mealy> ps\n"),
        "the shell echoes the keys:\n{output}"
    );
    assert!(output.contains(" keyboard "), "{output}");

    // The same output, drawn by fbcon: the table is many more lit pixels.
    let (_, _, after) = run.screen(&scratch.path().join("after.ppm"));
    assert!(
        lit(&after) > lit(&before) * 2,
        "ps drew on the screen: {} lit pixels before, {} after",
        lit(&before),
        lit(&after)
    );

    run.type_keys("shutdown\n");
    assert_eq!(
        run.wait(STEP),
        Some(0),
        "shutdown from the keyboard:\n{}",
        run.output()
    );
}
