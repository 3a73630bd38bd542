//! Booting Mealy in QEMU: q35, OVMF as pflash with a fresh copy of its
//! variable store per run, the isa-debug-exit device for a status, and the
//! guest's serial either on the terminal (interactive) or proxied through
//! [`SerialFilter`] (piped: scripts and tests).
//!
//! The proxy is why piped input is safe: it is held until the guest prints
//! its prompt, so the firmware, which also reads the serial port, cannot eat
//! it. It also ends runs that cannot go anywhere: a loader error, a timeout.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mealy_image::disk::EspFile;

use crate::build::workspace_root;
use crate::esp::write_esp_dir;
use crate::serial_filter::{self, SerialFilter};
use crate::setup::Machine;

/// What the guest writes to isa-debug-exit (`kernel/src/arch/x86_64/qemu.rs`)
/// comes back as QEMU's exit status `(value << 1) | 1`.
const GUEST_SUCCESS: i32 = (0x10 << 1) | 1;
const GUEST_FAILURE: i32 = (0x11 << 1) | 1;
/// xtask's status when it had to stop QEMU itself after `--timeout`.
const TIMED_OUT: u8 = 124;

pub enum BootMedium {
    /// An ESP directory, booted as it is.
    EspDir(PathBuf),
    /// ESP files for this run only, written to a private directory so
    /// runs in parallel never share one.
    PrivateEsp(Vec<EspFile>),
    /// A disk image from `cargo xtask image`.
    Disk(PathBuf),
}

pub struct RunOptions {
    pub medium: BootMedium,
    pub headless: bool,
    /// Wait for gdb; the kernel ELF it should load.
    pub gdb: Option<PathBuf>,
    pub smp: u32,
    pub memory: String,
    pub icount: bool,
    pub timeout: Option<Duration>,
    /// A Unix socket to serve QMP on.
    pub qmp: Option<PathBuf>,
    /// A raw image attached as a virtio-blk PCI device (`data_disk`).
    pub data: Option<PathBuf>,
}

/// The run's scratch directory, removed when the run ends.
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Boots and returns xtask's exit status: 0 when the guest reported success
/// or powered off, 1 when it reported failure or the loader failed, 124 on
/// timeout.
pub fn run(machine: &Machine, options: RunOptions) -> Result<u8> {
    let run_dir = RunDir(workspace_root().join(format!("target/runs/{}", std::process::id())));
    std::fs::create_dir_all(&run_dir.0)
        .with_context(|| format!("cannot create {}", run_dir.0.display()))?;
    let vars = run_dir.0.join("OVMF_VARS.fd");
    std::fs::copy(&machine.ovmf_vars, &vars)
        .with_context(|| format!("cannot copy {}", machine.ovmf_vars.display()))?;

    let drive = match &options.medium {
        BootMedium::EspDir(dir) => format!("format=raw,file=fat:rw:{}", dir.display()),
        BootMedium::PrivateEsp(files) => {
            let dir = run_dir.0.join("esp");
            write_esp_dir(files, &dir)?;
            format!("format=raw,file=fat:rw:{}", dir.display())
        }
        BootMedium::Disk(image) => format!("format=raw,snapshot=on,file={}", image.display()),
    };

    let interactive = std::io::stdin().is_terminal();
    let mut command = Command::new(&machine.qemu);
    command
        .args(["-machine", "q35", "-cpu", "max"])
        .args(["-m", &options.memory])
        .args(["-smp", &options.smp.to_string()])
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={}",
            machine.ovmf_code.display()
        ))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=1,file={}",
            vars.display()
        ))
        .args(["-drive", &drive])
        .args(
            options
                .data
                .iter()
                .flat_map(|disk| crate::data_disk::qemu_args(disk)),
        )
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        // No network card: Mealy has no driver for one, and without it the
        // firmware does not spend minutes trying to boot from the network.
        .args(["-nic", "none"])
        .arg("-no-reboot");
    if let Some(socket) = &options.qmp {
        command
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()));
    }
    if options.icount {
        command.args(["-icount", "shift=0"]);
    }
    let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    if options.headless || !has_display {
        command.args(["-display", "none"]);
    }
    if let Some(kernel) = &options.gdb {
        command.args(["-S", "-gdb", "tcp::1234"]);
        eprintln!(
            "xtask: QEMU waits for gdb on localhost:1234. Attach with:\n  \
             gdb {} -ex 'target remote :1234'",
            kernel.display()
        );
    }

    if interactive {
        // A person at a terminal: QEMU owns it (raw mode, Ctrl-A x quits).
        command.args(["-serial", "mon:stdio"]);
        eprintln!("xtask: the guest's serial is this terminal; quit with Ctrl-A x");
        let mut child = command.spawn().context("cannot start QEMU")?;
        let status = wait_with_timeout(&mut child, options.timeout)?;
        return Ok(status.map_or(TIMED_OUT, |status| map_status(status.code())));
    }

    command
        .args(["-serial", "stdio", "-monitor", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command.spawn().context("cannot start QEMU")?;
    proxy(&mut child, options.timeout)
}

/// What the helper threads tell the proxy loop.
enum Message {
    Serial(Vec<u8>),
    SerialClosed,
    Input(Vec<u8>),
}

fn proxy(child: &mut Child, timeout: Option<Duration>) -> Result<u8> {
    let (sender, receiver) = mpsc::channel();
    let serial = child.stdout.take().context("QEMU has no stdout pipe")?;
    spawn_reader(
        serial,
        sender.clone(),
        Message::Serial,
        Some(Message::SerialClosed),
    );
    spawn_reader(std::io::stdin(), sender, Message::Input, None);
    let mut guest_input = child.stdin.take();
    let result = proxy_loop(child, &receiver, &mut guest_input, timeout);
    if result.is_err() || child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

fn proxy_loop(
    child: &mut Child,
    receiver: &Receiver<Message>,
    guest_input: &mut Option<ChildStdin>,
    timeout: Option<Duration>,
) -> Result<u8> {
    let started = Instant::now();
    let mut filter = SerialFilter::new();
    let mut held_input: Vec<u8> = Vec::new();
    let mut ready = false;
    let mut stdout = std::io::stdout();
    loop {
        match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(Message::Serial(chunk)) => {
                let mut shown = Vec::new();
                for event in filter.feed(&chunk, &mut shown) {
                    match event {
                        serial_filter::Event::Ready => ready = true,
                        serial_filter::Event::LoaderFailed => {
                            let _ = stdout.write_all(&shown);
                            let _ = stdout.flush();
                            eprintln!("xtask: the loader failed; stopping QEMU");
                            let _ = child.kill();
                            let _ = child.wait();
                            return Ok(1);
                        }
                        serial_filter::Event::FirmwareGaveUp => {
                            eprintln!("xtask: the firmware found nothing to boot; stopping QEMU");
                            report_silent_loader(&filter);
                            let _ = child.kill();
                            let _ = child.wait();
                            return Ok(1);
                        }
                    }
                }
                let _ = stdout.write_all(&shown);
                let _ = stdout.flush();
            }
            Ok(Message::Input(bytes)) => held_input.extend_from_slice(&bytes),
            Ok(Message::SerialClosed) | Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("cannot wait for QEMU")?;
                return Ok(finish(&filter, status.code()));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if ready && !held_input.is_empty() {
            if let Some(input) = guest_input.as_mut() {
                let _ = input.write_all(&held_input).and_then(|()| input.flush());
            }
            held_input.clear();
        }
        if let Some(limit) = timeout.filter(|limit| started.elapsed() > *limit) {
            eprintln!(
                "xtask: no result after {} s; stopping QEMU",
                limit.as_secs()
            );
            report_silent_loader(&filter);
            return Ok(TIMED_OUT);
        }
    }
}

fn finish(filter: &SerialFilter, code: Option<i32>) -> u8 {
    report_silent_loader(filter);
    map_status(code)
}

fn report_silent_loader(filter: &SerialFilter) {
    if !filter.loader_started() {
        eprintln!(
            "xtask: the Mealy loader never ran; the firmware said:\n{}",
            filter.firmware_output()
        );
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    mut source: R,
    sender: Sender<Message>,
    wrap: fn(Vec<u8>) -> Message,
    on_close: Option<Message>,
) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            match source.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.send(wrap(buffer[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
        if let Some(message) = on_close {
            let _ = sender.send(message);
        }
    });
}

/// QEMU's exit status, or `None` if it ran past `timeout` and was killed.
fn wait_with_timeout(
    child: &mut Child,
    timeout: Option<Duration>,
) -> Result<Option<std::process::ExitStatus>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for QEMU")? {
            return Ok(Some(status));
        }
        if timeout.is_some_and(|limit| started.elapsed() > limit) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// QEMU's exit status as xtask's.
fn map_status(code: Option<i32>) -> u8 {
    match code {
        Some(GUEST_SUCCESS) | Some(0) => 0,
        Some(GUEST_FAILURE) => 1,
        Some(other) => {
            eprintln!("xtask: QEMU exited with status {other}");
            2
        }
        None => {
            eprintln!("xtask: QEMU was killed by a signal");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_statuses_map_to_xtask_statuses() {
        assert_eq!(map_status(Some(33)), 0);
        assert_eq!(map_status(Some(0)), 0);
        assert_eq!(map_status(Some(35)), 1);
        assert_eq!(map_status(Some(1)), 2);
        assert_eq!(map_status(None), 2);
    }
}
