//! The file system through the shell, in QEMU: the image packed from
//! `image/root/` boots as a module, the fs mounts it, and `ls`, `cat`,
//! `write`, `append`, `stat` and `hexdump` work on it; a file grows without
//! its address moving; a corrupt image is one clear error line at mount and
//! every file command then fails with one error line.

use mealy_tests::{ScratchEsp, boot, workspace_root};

/// The guest's output without the kernel's own log lines, which go to
/// COM1 directly and can land in the middle of a line of shell output (a
/// handler over its budget under emulation, ARCHITECTURE.md).
fn shell_text(stdout: &str) -> String {
    let mut text = String::new();
    let mut rest = stdout;
    while let Some(at) = rest.find("[kernel] ") {
        text.push_str(&rest[..at]);
        rest = rest[at..].split_once('\n').map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    text
}

#[track_caller]
fn assert_has(text: &str, expected: &str, run: &mealy_tests::Run) {
    assert!(
        text.contains(expected),
        "expected {expected:?} on the guest's output\n{run}"
    );
}

fn host_file(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join("image/root").join(path))
        .expect("a sample file in image/root")
}

#[test]
fn ls_cat_write_and_a_bad_path_through_the_shell() {
    let run = boot(
        &[],
        b"ls\nls etc\ncat hello.txt\nwrite hello.txt written in the guest\ncat hello.txt\nls docs\ncat docs/big.txt\ncat nope.txt\nls hello.txt\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    let text = shell_text(&run.stdout);
    assert_has(&text, "[fs] mounted ", &run);
    // `bin` holds the user programs xtask packs; how many varies.
    assert_has(&text, "mealy> ls\nTYPE  SIZE        NAME\ndir   ", &run);
    assert_has(
        &text,
        " bin\ndir   1           docs\ndir   1           etc\nfile  14          hello.txt\n",
        &run,
    );
    let motd = host_file("etc/motd");
    assert_has(
        &text,
        &format!(
            "mealy> ls etc\nTYPE  SIZE        NAME\nfile  {:<11} motd\n",
            motd.len()
        ),
        &run,
    );
    // Byte for byte what the host file holds.
    assert_has(
        &text,
        &format!("mealy> cat hello.txt\n{}mealy> ", host_file("hello.txt")),
        &run,
    );
    assert_has(
        &text,
        "mealy> write hello.txt written in the guest\nwrote 20 bytes to hello.txt\n",
        &run,
    );
    assert_has(
        &text,
        "mealy> cat hello.txt\nwritten in the guest\nmealy> ",
        &run,
    );
    // A file of more than one page, byte for byte over the serial line.
    let big = host_file("docs/big.txt");
    assert!(big.len() > 4096);
    assert_has(
        &text,
        &format!(
            "mealy> ls docs\nTYPE  SIZE        NAME\nfile  {:<11} big.txt\n",
            big.len()
        ),
        &run,
    );
    assert_has(
        &text,
        &format!("mealy> cat docs/big.txt\n{big}mealy> "),
        &run,
    );
    assert_has(
        &text,
        "mealy> cat nope.txt\nerror: cat: no such file or directory\n",
        &run,
    );
    assert_has(
        &text,
        "mealy> ls hello.txt\nerror: ls: not a directory\n",
        &run,
    );
}

#[test]
fn a_corrupt_image_is_a_clear_mount_error_and_the_system_keeps_running() {
    let esp = ScratchEsp::new("");
    let image = esp.path().join("boot/mealy.fs");
    let mut bytes = std::fs::read(&image).expect("the ESP holds the fs image");
    // A byte of the inode table: the checksum no longer matches.
    bytes[70] ^= 0x5a;
    std::fs::write(&image, &bytes).unwrap();
    let esp_path = esp.path_str();
    // No data disk: the fs would mount that instead of the image.
    let run = boot(
        &["--esp", &esp_path, "--no-data"],
        b"cat hello.txt\nls\nps\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    let text = shell_text(&run.stdout);
    let mount = run.line_starting("[fs] error: corrupt file-system image: checksum mismatch");
    assert!(mount.ends_with("; every request will fail"), "{mount}");
    assert_has(
        &text,
        "mealy> cat hello.txt\nerror: cat: no file system mounted (see the boot log)\n",
        &run,
    );
    assert_has(
        &text,
        "mealy> ls\nerror: ls: no file system mounted (see the boot log)\n",
        &run,
    );
    let fs = run.line_starting("2    fs ");
    assert!(fs.contains(" idle "), "{fs}");
}

#[test]
fn xtask_packs_another_directory_with_fs_root() {
    let scratch = workspace_root().join("target/test-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let root = tempfile::tempdir_in(&scratch).unwrap();
    std::fs::write(root.path().join("only.txt"), "from another root\n").unwrap();
    let dir = root.path().to_str().unwrap();
    let run = boot(
        &["--fs-root", dir, "--cmdline", ""],
        b"ls\ncat only.txt\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    run.assert_stdout_has("mealy> ls\nTYPE  SIZE        NAME\ndir   ");
    run.assert_stdout_has(" bin\nfile  18          only.txt\n");
    run.assert_stdout_has("mealy> cat only.txt\nfrom another root\nmealy> ");
}

/// The `address:` and `size:` lines of the `stat` output after `mealy>
/// stat <path>`'s `nth` appearance.
fn stat_of(text: &str, path: &str, nth: usize) -> (String, u64) {
    let marker = format!("mealy> stat {path}\n");
    let output = text
        .split(&marker)
        .nth(nth + 1)
        .and_then(|rest| rest.split("mealy> ").next())
        .unwrap_or_else(|| panic!("no stat {path} number {nth} in\n{text}"));
    let field = |name: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {output}"))
            .to_string()
    };
    (field("address:"), field("size:").parse().expect("a size"))
}

#[test]
fn stat_hexdump_append_and_growth_that_keeps_the_address() {
    let mut input =
        String::from("stat hello.txt\nhexdump etc/motd\nwrite hello.txt start\nstat hello.txt\n");
    // Past the first page of the file, one line at a time.
    let piece = "x".repeat(200);
    for _ in 0..25 {
        input.push_str(&format!("append hello.txt {piece}\n"));
    }
    input.push_str("stat hello.txt\nshutdown\n");
    let run = boot(&[], input.as_bytes());
    assert_eq!(run.code, Some(0), "{run}");
    let text = shell_text(&run.stdout);
    // The sample file as the image holds it: its Region is read-only.
    assert_has(
        &text,
        "mealy> stat hello.txt\npath:     hello.txt\ntype:     file\nsize:     14\n",
        &run,
    );
    assert_has(&text, "rights:   r---g-\n", &run);
    // hexdump shows the host file's bytes.
    let motd = std::fs::read(workspace_root().join("image/root/etc/motd")).unwrap();
    let first: Vec<String> = motd.iter().take(8).map(|b| format!("{b:02x}")).collect();
    assert_has(
        &text,
        &format!("mealy> hexdump etc/motd\n00000000  {}", first.join(" ")),
        &run,
    );
    assert_has(&text, &format!("\n{:08x}\nmealy> ", motd.len()), &run);
    assert_has(&text, "mealy> append hello.txt xxx", &run);
    let (written_at, written) = stat_of(&text, "hello.txt", 1);
    let (grown_at, grown) = stat_of(&text, "hello.txt", 2);
    assert_eq!(written, 5);
    assert_eq!(grown, 5 + 25 * 200);
    assert!(grown > 4096, "it grew past a page");
    assert_eq!(grown_at, written_at, "growth keeps the address\n{run}");
    assert_has(
        &text,
        &format!("appended 200 bytes to hello.txt ({grown} bytes now)\n"),
        &run,
    );
}

#[test]
fn a_read_only_image_capability_refuses_every_write_with_an_error() {
    let run = boot(
        &["--cmdline", "fs=ro"],
        b"write hello.txt changed\nappend hello.txt more\ncat hello.txt\nstat hello.txt\nshutdown\n",
    );
    assert_eq!(run.code, Some(0), "{run}");
    let text = shell_text(&run.stdout);
    let mount = run.line_starting("[fs] mounted ");
    assert!(mount.contains("read-only"), "{mount}");
    assert_has(
        &text,
        "mealy> write hello.txt changed\nerror: write: read-only file system\n",
        &run,
    );
    assert_has(
        &text,
        "mealy> append hello.txt more\nerror: append: read-only file system\n",
        &run,
    );
    // Nothing changed, and the file's Region has no WRITE.
    assert_has(
        &text,
        &format!("mealy> cat hello.txt\n{}mealy> ", host_file("hello.txt")),
        &run,
    );
    assert_has(&text, "rights:   r---g-\n", &run);
}
