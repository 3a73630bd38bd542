//! A boot the test talks to while it runs: serial output collected as it
//! arrives, and QEMU's machine protocol (QMP) on a Unix socket for what a
//! person does at the machine itself (press keys, look at the screen).
//!
//! The QEMU process belongs to the xtask child, which has its own
//! `--timeout`; dropping a [`LiveRun`] kills that child and waits for it,
//! so no run outlives its test.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{QEMU_TIMEOUT_SECS, xtask_command};

/// A headless boot with a QMP socket.
pub struct LiveRun {
    child: Child,
    /// Kept open: the guest's serial input stays connected but silent.
    _stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
    qmp: Option<Qmp>,
    socket: PathBuf,
    _scratch: tempfile::TempDir,
}

impl LiveRun {
    /// Boots headless, with QMP on a socket in a scratch directory.
    pub fn boot() -> LiveRun {
        Self::boot_with(&[])
    }

    /// [`LiveRun::boot`] with the data disk `data` (see
    /// [`crate::boot_with_data`]); `None`: xtask's default.
    pub fn boot_with_data(data: Option<&Path>) -> LiveRun {
        match data {
            Some(data) => Self::boot_with(&["--data", data.to_str().expect("a UTF-8 path")]),
            None => Self::boot(),
        }
    }

    /// [`LiveRun::boot`] with more `cargo xtask qemu` arguments (such as
    /// `--data PATH`). Without `--data` (or `--no-data`) the run gets a
    /// fresh data disk of its own in its scratch directory.
    pub fn boot_with(args: &[&str]) -> LiveRun {
        let scratch = tempfile::tempdir_in(crate::workspace_root().join("target"))
            .expect("a scratch directory");
        let socket = scratch.path().join("qmp.sock");
        let (mut command, prebuilt) = xtask_command();
        let timeout = QEMU_TIMEOUT_SECS.to_string();
        command
            .args(["qemu", "--headless", "--timeout", &timeout, "--qmp"])
            .arg(&socket);
        // Under `cargo xtask test` everything is built already.
        if prebuilt {
            command.arg("--no-build");
        }
        // A data disk of its own unless the test chose one: QEMU locks a
        // disk image per process, so runs at once cannot share xtask's.
        if !args
            .iter()
            .any(|arg| ["--data", "--no-data", "--fresh-data"].contains(arg))
        {
            command.arg("--data").arg(scratch.path().join("data.img"));
        }
        let mut child = command
            .args(args)
            .current_dir(crate::workspace_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("xtask starts");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let output = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read) = stdout.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&chunk[..read]).into_owned();
                sink.lock().expect("the output lock").push_str(&text);
            }
        });
        LiveRun {
            child,
            _stdin: stdin,
            output,
            qmp: None,
            socket,
            _scratch: scratch,
        }
    }

    /// Everything the guest printed so far.
    pub fn output(&self) -> String {
        self.output.lock().expect("the output lock").clone()
    }

    /// Waits until the output holds `text` `count` times; panics with the
    /// output after `limit`.
    pub fn wait_for(&mut self, text: &str, count: usize, limit: Duration) {
        let started = Instant::now();
        loop {
            let output = self.output();
            if output.matches(text).count() >= count {
                return;
            }
            if started.elapsed() > limit {
                panic!("no {count}x {text:?} after {limit:?}; output:\n{output}");
            }
            if let Some(status) = self.child.try_wait().expect("xtask can be waited for") {
                panic!("the run ended ({status}) before {text:?}; output:\n{output}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one QMP command; returns its answer line.
    pub fn qmp(&mut self, command: &str) -> String {
        if self.qmp.is_none() {
            self.qmp = Some(Qmp::connect(&self.socket));
        }
        self.qmp.as_mut().expect("connected").execute(command)
    }

    /// Types `text` on the PS/2 keyboard (lower-case letters, digits,
    /// space and `\n`).
    pub fn type_keys(&mut self, text: &str) {
        for key in text.chars() {
            let code = match key {
                '\n' => "ret".to_string(),
                ' ' => "spc".to_string(),
                key if key.is_ascii_lowercase() || key.is_ascii_digit() => key.to_string(),
                other => panic!("no key for {other:?}"),
            };
            let answer = self.qmp(&format!(
                r#"{{"execute":"send-key","arguments":{{"keys":[{{"type":"qcode","data":"{code}"}}]}}}}"#
            ));
            assert!(answer.contains("\"return\""), "send-key {code}: {answer}");
        }
    }

    /// Saves the screen as a PPM file and returns (width, height, RGB).
    pub fn screen(&mut self, path: &Path) -> (usize, usize, Vec<u8>) {
        let answer = self.qmp(&format!(
            r#"{{"execute":"screendump","arguments":{{"filename":"{}"}}}}"#,
            path.display()
        ));
        assert!(answer.contains("\"return\""), "screendump: {answer}");
        parse_ppm(&std::fs::read(path).expect("the screendump file"))
    }

    /// Sends `line` and a newline to the guest's serial port (the shell).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self._stdin.as_mut().expect("stdin is piped");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("the guest's serial takes input");
    }

    /// Cuts the power: SIGKILL to the QEMU process xtask started, so
    /// nothing is flushed or shut down. Waits for xtask to see it go.
    pub fn power_cut(&mut self) {
        let xtask = self.child.id();
        let started = Instant::now();
        let qemu = loop {
            if let Some(pid) = child_of(xtask) {
                break pid;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no QEMU under xtask {xtask}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let pid = rustix::process::Pid::from_raw(qemu as i32).expect("a real pid");
        rustix::process::kill_process(pid, rustix::process::Signal::KILL)
            .expect("QEMU can be killed");
        let _ = self.wait(Duration::from_secs(30));
        assert!(
            matches!(self.child.try_wait(), Ok(Some(_))),
            "xtask did not end after its QEMU was killed"
        );
    }

    /// Waits for the run to end; its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("xtask can be waited for") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Ask QEMU itself to stop: killing xtask alone would leave its
            // QEMU running. Then make sure of xtask.
            if let Some(qmp) = self.qmp.as_mut() {
                let _ = qmp.writer.write_all(b"{\"execute\":\"quit\"}\n");
            }
            if self.wait(Duration::from_secs(10)).is_none()
                && let Some(qemu) = child_of(self.child.id())
                && let Some(pid) = rustix::process::Pid::from_raw(qemu as i32)
            {
                // No QMP (the test failed before using it) or no answer:
                // xtask's own watchdog dies with xtask, so stop QEMU here.
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A QMP connection after the capabilities handshake.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(socket: &Path) -> Qmp {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if started.elapsed() > Duration::from_secs(60) => {
                    panic!("no QMP socket at {}: {error}", socket.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let writer = stream.try_clone().expect("a second handle");
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.line();
        assert!(greeting.contains("QMP"), "QMP greeting: {greeting}");
        let answer = qmp.execute(r#"{"execute":"qmp_capabilities"}"#);
        assert!(answer.contains("\"return\""), "qmp_capabilities: {answer}");
        qmp
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a QMP line");
        line
    }

    /// Sends `command` and returns the answer, skipping events.
    fn execute(&mut self, command: &str) -> String {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .expect("QMP takes the command");
        loop {
            let line = self.line();
            if line.is_empty() || !line.contains("\"event\"") {
                return line;
            }
        }
    }
}

/// A binary PPM (P6, maxval 255): width, height, RGB bytes.
fn parse_ppm(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut fields = Vec::new();
    let mut at = 2;
    assert_eq!(&bytes[..2], b"P6", "a binary PPM");
    while fields.len() < 3 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let field = std::str::from_utf8(&bytes[start..at]).expect("an ASCII header");
        fields.push(field.parse::<usize>().expect("a number"));
    }
    let (width, height) = (fields[0], fields[1]);
    let pixels = bytes[at + 1..].to_vec();
    assert_eq!(pixels.len(), width * height * 3, "the PPM's size");
    (width, height, pixels)
}

/// The QEMU process whose parent is `parent` (from `/proc`; xtask also
/// runs cargo before it boots).
fn child_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the name may hold spaces, so
        // split after its closing parenthesis.
        let Some((name, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let is_qemu = name
            .split_once('(')
            .is_some_and(|(_, comm)| comm.starts_with("qemu"));
        let ppid = after.split_whitespace().nth(1)?.parse::<u32>().ok()?;
        if ppid == parent && is_qemu {
            return Some(pid);
        }
    }
    None
}
