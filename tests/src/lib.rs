//! Host-side integration tests: they boot Mealy in QEMU through
//! `cargo xtask` and assert on what the guest prints and how the run ends.
//! They use only the built artifacts and xtask, never the kernel's code.
//!
//! Under `cargo xtask test`, `MEALY_XTASK` names the xtask binary that
//! already built everything, and the boots skip building. Run directly
//! (`cargo test -p mealy-tests`), they go through `cargo xtask`, which
//! builds first.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// xtask stops QEMU after this long; software emulation on a busy 2-core
/// machine boots in well under 30 s.
pub const QEMU_TIMEOUT_SECS: u64 = 120;
/// And this harness stops xtask if it somehow outlives its own timeout.
const WATCHDOG: Duration = Duration::from_secs(QEMU_TIMEOUT_SECS + 60);
/// Runs in another checkout build it from scratch first: minutes on a busy
/// machine, so they get a longer leash (QEMU itself still has its timeout).
const BUILD_WATCHDOG: Duration = Duration::from_secs(30 * 60);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// How one run of xtask ended.
#[derive(Debug)]
pub struct Run {
    /// xtask's exit code (`None`: killed by the watchdog).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Removes the scheduler's budget reports (`[kernel] <task>: handler ran
/// <n> ns, over the <m> ns budget`). The kernel writes them to the serial
/// line the moment a handler overruns, which on a loaded machine can be in
/// the middle of the shell's output; they say how fast the emulation ran,
/// not what the guest did.
pub fn without_budget_reports(text: &str) -> String {
    const START: &str = "[kernel] ";
    const END: &str = " ns budget\n";
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(START) {
        let after = &rest[start..];
        let line_end = after.find('\n').map_or(after.len(), |end| end + 1);
        let line = &after[..line_end];
        kept.push_str(&rest[..start]);
        if !(line.ends_with(END) && line.contains(": handler ran ")) {
            kept.push_str(line);
        }
        rest = &after[line_end..];
    }
    kept.push_str(rest);
    kept
}

impl Run {
    /// Panics with the whole output unless `text` is on stdout (budget
    /// reports aside: [`without_budget_reports`]).
    pub fn assert_stdout_has(&self, text: &str) {
        assert!(
            without_budget_reports(&self.stdout).contains(text),
            "expected {text:?} on the guest's output\n{self}"
        );
    }

    /// The stdout line that starts with `prefix` (budget reports aside),
    /// or a panic with the output.
    pub fn line_starting(&self, prefix: &str) -> String {
        without_budget_reports(&self.stdout)
            .lines()
            .find(|line| line.starts_with(prefix))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}\n{self}"))
    }

    /// What the shell printed for the first `command` typed, up to the
    /// next prompt, or a panic with the output.
    pub fn shell_output(&self, command: &str) -> String {
        self.stdout
            .split(&format!("mealy> {command}\n"))
            .nth(1)
            .and_then(|rest| rest.split("mealy> ").next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no output of {command:?}\n{self}"))
    }
}

/// The fields of task `name`'s row in the `ps` table `table` (`ID NAME
/// STATE MBOX HIGH HANDLED TIME_NS RING RESTARTS LAST_FAULT`), or `None`
/// if no row names it.
pub fn find_ps_row(table: &str, name: &str) -> Option<Vec<String>> {
    table
        .lines()
        .find(|row| row.split_whitespace().nth(1) == Some(name))
        .map(|row| row.split_whitespace().map(str::to_string).collect())
}

/// [`find_ps_row`], or a panic with the table.
pub fn ps_row(table: &str, name: &str) -> Vec<String> {
    find_ps_row(table, name).unwrap_or_else(|| panic!("no row for {name}\n{table}"))
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit code {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

pub mod live;

fn xtask_command() -> (Command, bool) {
    match std::env::var_os("MEALY_XTASK") {
        Some(binary) => (Command::new(binary), true),
        None => {
            let mut command =
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            command.arg("xtask");
            (command, false)
        }
    }
}

/// Runs `cargo xtask ARGS` with `stdin` piped in, under the watchdog.
pub fn xtask(args: &[&str], stdin: &[u8]) -> Run {
    let (mut command, _) = xtask_command();
    run(command.args(args), stdin)
}

/// Boots headless with a timeout; `args` choose the medium and cmdline.
/// Under `cargo xtask test` a cmdline boot reuses the built artifacts.
pub fn boot(args: &[&str], stdin: &[u8]) -> Run {
    run(&mut boot_command(args), stdin)
}

/// `cargo xtask qemu --headless --timeout ... ARGS`, skipping the build
/// under `cargo xtask test` for a cmdline boot.
fn boot_command(args: &[&str]) -> Command {
    let (mut command, prebuilt) = xtask_command();
    let timeout = QEMU_TIMEOUT_SECS.to_string();
    command.args(["qemu", "--headless", "--timeout", &timeout]);
    if prebuilt && args.contains(&"--cmdline") {
        command.arg("--no-build");
    }
    command.args(args);
    command
}

/// The environment variable xtask takes the data disk's path from.
pub const DATA_ENV: &str = "MEALY_DATA";

/// [`boot`] with the data disk `data` (if missing, xtask creates it
/// holding a file system with the boot image's files), which a test may
/// boot again to see what the last run left.
pub fn boot_with_data(args: &[&str], stdin: &[u8], data: &Path) -> Run {
    run(boot_command(args).env(DATA_ENV, data), stdin)
}

/// Runs `cargo xtask ARGS` in another checkout `dir` (its own xtask, built
/// there), with the build going to `target_dir`.
pub fn cargo_xtask_in(dir: &Path, target_dir: &Path, args: &[&str]) -> Run {
    let mut xtask_args = vec!["xtask"];
    xtask_args.extend_from_slice(args);
    cargo_in(dir, target_dir, &xtask_args)
}

/// Runs `cargo ARGS` in another checkout `dir`, with the build going to
/// `target_dir`.
pub fn cargo_in(dir: &Path, target_dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("MEALY_XTASK");
    run_in(&mut command, dir, b"", BUILD_WATCHDOG)
}

/// The build directories a checkout's `cargo xtask test` leaves: the
/// host's, the kernel's, the loader's and the programs'.
const BUILD_DIRS: [&str; 4] = [
    "debug",
    "x86_64-unknown-none",
    "x86_64-unknown-uefi",
    "programs",
];

/// A target directory `target/NAME` for a build in a [`copy_of_checkout`],
/// seeded (once; it is kept between runs) with hard links to what this
/// checkout's build compiled of its dependencies from the registry, so
/// the copy compiles only the workspace's own crates. Those are left out
/// on purpose: their sources are elsewhere in the copy, and some hold
/// their own directory (`env!("CARGO_MANIFEST_DIR")`), so the copy must
/// build its own. A registry crate's outputs are never written again by
/// the copy (they are fresh), so a file both share keeps its contents.
pub fn seeded_target_dir(name: &str) -> PathBuf {
    let target = workspace_root().join("target");
    let seeded = target.join(name);
    for dir in BUILD_DIRS {
        let (from, to) = (target.join(dir), seeded.join(dir));
        if from.is_dir() && !to.exists() {
            link_dependencies(&from, &to).expect("the build can be linked into the copy's target");
        }
    }
    seeded
}

/// Whether a cargo unit directory or file name belongs to this
/// workspace's own crates.
fn is_workspace_unit(name: &str) -> bool {
    name.starts_with("mealy") || name.starts_with("xtask")
}

/// Links the registry dependencies' outputs under `from` (a target
/// directory, or a part of one) into `to`. A profile directory (one with
/// `.fingerprint`) keeps only the units not of this workspace; the
/// outputs of those are found by the hash in their names. Incremental
/// caches and the files cargo copies up to the profile's top are left out.
fn link_dependencies(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let fingerprints = from.join(".fingerprint");
    if !fingerprints.is_dir() {
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                link_dependencies(&entry.path(), &to.join(entry.file_name()))?;
            }
        }
        return Ok(());
    }
    let mut own_hashes = Vec::new();
    for entry in std::fs::read_dir(&fingerprints)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_workspace_unit(&name)
            && let Some((_, hash)) = name.rsplit_once('-')
        {
            own_hashes.push(hash.to_owned());
        }
    }
    for part in [".fingerprint", "deps", "build"] {
        let (from, to) = (from.join(part), to.join(part));
        if !from.is_dir() {
            continue;
        }
        std::fs::create_dir_all(&to)?;
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_workspace_unit(&name)
                || own_hashes.iter().any(|hash| name.contains(hash.as_str()))
            {
                continue;
            }
            link_tree(&entry.path(), &to.join(&name))?;
        }
    }
    Ok(())
}

/// Hard-links `from` (a file, or a directory and everything in it) to `to`.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let kind = std::fs::symlink_metadata(from)?.file_type();
    if kind.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else {
        std::fs::hard_link(from, to)?;
    }
    Ok(())
}

/// A copy of this checkout's files (tracked, and untracked but not
/// ignored) in a scratch directory, for tests that change the tree.
pub fn copy_of_checkout() -> tempfile::TempDir {
    let scratch = workspace_root().join("target/test-scratch");
    std::fs::create_dir_all(&scratch).expect("target/test-scratch can be created");
    let copy = tempfile::tempdir_in(&scratch).expect("a scratch directory");
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("git lists the checkout's files");
    assert!(listed.status.success(), "git ls-files failed");
    for path in listed
        .stdout
        .split(|byte| *byte == 0)
        .filter(|p| !p.is_empty())
    {
        let path = Path::new(std::str::from_utf8(path).expect("UTF-8 paths"));
        let from = workspace_root().join(path);
        if !from.is_file() {
            continue; // listed but deleted in the working tree
        }
        let to = copy.path().join(path);
        std::fs::create_dir_all(to.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::copy(&from, &to).expect("copy a file");
    }
    copy
}

fn run(command: &mut Command, stdin: &[u8]) -> Run {
    run_in(command, &workspace_root(), stdin, WATCHDOG)
}

/// Runs `command` in `dir` under `watchdog`. Unless the caller chose a
/// data disk (`MEALY_DATA`, see [`boot_with_data`]), every run gets one of
/// its own in a scratch directory removed afterwards: QEMU locks a disk
/// image per process, so two boots at once cannot share one.
fn run_in(command: &mut Command, dir: &Path, stdin: &[u8], watchdog: Duration) -> Run {
    let started = Instant::now();
    let _private_data = if command
        .get_envs()
        .any(|(name, _)| name == std::ffi::OsStr::new(DATA_ENV))
    {
        None
    } else {
        let scratch = workspace_root().join("target/test-scratch");
        std::fs::create_dir_all(&scratch).expect("target/test-scratch can be created");
        let data = tempfile::tempdir_in(&scratch).expect("a scratch directory");
        command.env(DATA_ENV, data.path().join("data.img"));
        Some(data)
    };
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin).expect("stdin accepts the input");
    drop(input);
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    let code = loop {
        if let Some(status) = child.try_wait().expect("xtask can be waited for") {
            break status.code();
        }
        if started.elapsed() > watchdog {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        code,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn read_in_background(
    mut source: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A fresh ESP directory assembled by `cargo xtask esp`, for tests that
/// boot it as it is or break it first. Removed when dropped.
pub struct ScratchEsp {
    dir: tempfile::TempDir,
}

impl ScratchEsp {
    pub fn new(cmdline: &str) -> ScratchEsp {
        let scratch = workspace_root().join("target/test-scratch");
        std::fs::create_dir_all(&scratch).expect("target/test-scratch can be created");
        let dir = tempfile::tempdir_in(&scratch).expect("a scratch directory");
        let out = dir.path().join("esp");
        let run = xtask(
            &[
                "esp",
                "--cmdline",
                cmdline,
                "--out",
                out.to_str().expect("UTF-8 path"),
            ],
            b"",
        );
        assert_eq!(run.code, Some(0), "cargo xtask esp failed\n{run}");
        ScratchEsp { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("esp")
    }

    pub fn path_str(&self) -> String {
        self.path().to_str().expect("UTF-8 path").to_string()
    }

    /// A path next to the ESP, for files the test makes (a disk image).
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::without_budget_reports;

    #[test]
    fn budget_reports_are_cut_out_wherever_they_land() {
        let text = "mealy> bench[kernel] echo: handler ran 5 ns, over the 1 ns budget\n\nROUND\n\
                    [kernel] pinger: handler ran 7 ns, over the 1 ns budget\nok\n";
        assert_eq!(without_budget_reports(text), "mealy> bench\nROUND\nok\n");
        // Anything else the kernel says stays.
        let other = "[kernel] echo: malformed message: payload ends early\nmealy> \n";
        assert_eq!(without_budget_reports(other), other);
        let both =
            "[kernel] echo: malformed\nx[kernel] echo: handler ran 5 ns, over the 1 ns budget\ny";
        assert_eq!(without_budget_reports(both), "[kernel] echo: malformed\nxy");
    }
}
