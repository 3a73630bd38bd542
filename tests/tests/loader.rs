//! The loader facing a bad boot medium, and the disk image booting on its
//! own. Every bad medium must end the run quickly with one clear line, not
//! hang at the firmware.

use mealy_tests::{QEMU_TIMEOUT_SECS, Run, ScratchEsp, boot, xtask};

fn assert_loader_error(run: &Run, expected: &str) {
    assert_eq!(run.code, Some(1), "a loader error fails the run\n{run}");
    let line = run.line_starting("mealy-loader: error: ");
    assert!(
        line.contains(expected),
        "expected {expected:?} in {line:?}\n{run}"
    );
    assert!(
        run.elapsed.as_secs() < QEMU_TIMEOUT_SECS,
        "the run ended by itself, not by timeout\n{run}"
    );
}

#[test]
fn missing_kernel_is_named() {
    let esp = ScratchEsp::new("test=boot");
    std::fs::remove_file(esp.path().join("boot/mealy-kernel")).unwrap();
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_loader_error(&run, "boot():/boot/mealy-kernel: ");
    assert_loader_error(&run, "not found");
}

#[test]
fn kernel_that_is_not_an_elf_is_named() {
    let esp = ScratchEsp::new("test=boot");
    std::fs::write(esp.path().join("boot/mealy-kernel"), b"just some text\n").unwrap();
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_loader_error(&run, "boot():/boot/mealy-kernel: ");
    assert_loader_error(&run, "ELF");
}

#[test]
fn missing_config_is_named() {
    let esp = ScratchEsp::new("test=boot");
    std::fs::remove_file(esp.path().join("limine.conf")).unwrap();
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_loader_error(&run, "limine.conf");
    assert_loader_error(&run, "not found");
}

#[test]
fn missing_module_is_named() {
    let esp = ScratchEsp::new("test=boot");
    std::fs::remove_file(esp.path().join("boot/mealy.sym")).unwrap();
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_loader_error(&run, "boot():/boot/mealy.sym: ");
}

#[test]
fn esp_without_a_loader_ends_the_run() {
    let esp = ScratchEsp::new("test=boot");
    std::fs::remove_dir_all(esp.path().join("EFI")).unwrap();
    let run = boot(&["--esp", &esp.path_str()], b"");
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.stderr.contains("the firmware found nothing to boot"),
        "{run}"
    );
}

#[test]
fn disk_image_boots_to_the_banner() {
    let esp = ScratchEsp::new("test=boot");
    let image = esp.sibling("mealy.img");
    let made = xtask(
        &[
            "image",
            "--cmdline",
            "test=boot",
            "--out",
            image.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(made.code, Some(0), "{made}");
    let run = boot(&["--disk", image.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("\nbootloader: mealy-loader ");
    run.assert_stdout_has("\ncmdline: \"test=boot\"\n");
}
