//! The disk check: a kernel-side task for `test=disk` that uses the
//! virtio-blk driver as any client would, through its `block` endpoint
//! and a Region: it reads block [`BLOCK`], says what an earlier boot left
//! there, writes the next boot's mark, flushes, reads it back and checks
//! it. Booted twice on one data file, the second run finds the first's
//! mark: the write reached the disk. Portable, host-tested.

use core::sync::atomic::{AtomicU8, Ordering};

use mealy_protocol::block::{self, BLOCK_SIZE, Flush, Read, Write};
use mealy_protocol::{
    CallError, CapRef, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, Outbox, Pending,
    StateMachine,
};

pub const NAME: &str = "disk-check";
/// The grants it expects: the driver's endpoint and a one-block Region.
pub const GRANT_DISK: &str = "disk";
pub const GRANT_BUFFER: &str = "buffer";

/// The block it uses (not 0, which a file system will want).
pub const BLOCK: u64 = 1;
/// What a mark starts with; the boot number follows in decimal.
const MARK: &[u8] = b"mealy disk check, boot ";

/// How the check ended: [`RUNNING`], [`PASSED`] or [`FAILED`].
pub static OUTCOME: AtomicU8 = AtomicU8::new(RUNNING);
pub const RUNNING: u8 = 0;
pub const PASSED: u8 = 1;
pub const FAILED: u8 = 2;

#[derive(Clone, Copy, Debug)]
enum Step {
    ReadBefore(Pending<Read>),
    Write(Pending<Write>),
    Flush(Pending<Flush>),
    ReadBack(Pending<Read>),
    Over,
}

pub struct DiskCheck {
    disk: Option<CapRef>,
    buffer: Option<CapRef>,
    step: Step,
    /// The boot number this run writes.
    boot: u64,
    /// When the first request went out (`now_ns`).
    started_ns: u64,
    outbox: Outbox<MAX_PAYLOAD>,
}

impl Default for DiskCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// The boot number a block's mark names, if it holds one.
fn mark_of(block: &[u8]) -> Option<u64> {
    let rest = block.strip_prefix(MARK)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    core::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

impl DiskCheck {
    pub fn new() -> Self {
        Self {
            disk: None,
            buffer: None,
            step: Step::Over,
            boot: 0,
            started_ns: 0,
            outbox: Outbox::new(),
        }
    }

    fn fail(&mut self, cx: &mut dyn Context, what: core::fmt::Arguments<'_>) {
        cx.log(format_args!("disk: FAILED: {what}"));
        self.step = Step::Over;
        OUTCOME.store(FAILED, Ordering::Relaxed);
    }

    /// A copy of the buffer for one request (the driver drops it).
    fn lend(&self, cx: &mut dyn Context) -> Result<(CapRef, CapRef), mealy_protocol::IpcError> {
        let (Some(disk), Some(buffer)) = (self.disk, self.buffer) else {
            return Err(mealy_protocol::IpcError::InvalidCap);
        };
        Ok((disk, cx.copy(buffer)?))
    }

    fn read(&mut self, cx: &mut dyn Context) -> Result<Pending<Read>, mealy_protocol::IpcError> {
        let (disk, lent) = self.lend(cx)?;
        mealy_protocol::call(
            cx,
            disk,
            self.outbox.space(),
            &Read { block: BLOCK },
            &[lent],
        )
    }

    fn step(&mut self, cx: &mut dyn Context, msg: &Incoming<'_>) -> Result<(), StepError> {
        match self.step {
            Step::ReadBefore(pending) => {
                let Some(answer) = pending.answer(msg) else {
                    return Ok(());
                };
                answer.map_err(StepError::Call)?;
                let buffer = self.buffer.ok_or(StepError::NoBuffer)?;
                let bytes = cx.region_mut(buffer).map_err(StepError::Ipc)?;
                let before = mark_of(&bytes[..BLOCK_SIZE]);
                match before {
                    Some(boot) => cx.log(format_args!("disk: block {BLOCK} holds boot {boot}")),
                    None => cx.log(format_args!("disk: block {BLOCK} holds no mark")),
                }
                self.boot = before.unwrap_or(0) + 1;
                let bytes = cx.region_mut(buffer).map_err(StepError::Ipc)?;
                bytes[..BLOCK_SIZE].fill(0);
                bytes[..MARK.len()].copy_from_slice(MARK);
                let mut digits = [0u8; 20];
                let text = fmt_decimal(self.boot, &mut digits);
                bytes[MARK.len()..MARK.len() + text.len()].copy_from_slice(text);
                let (disk, lent) = self.lend(cx).map_err(StepError::Ipc)?;
                let write = Write { block: BLOCK };
                self.step = Step::Write(
                    mealy_protocol::call(cx, disk, self.outbox.space(), &write, &[lent])
                        .map_err(StepError::Ipc)?,
                );
            }
            Step::Write(pending) => {
                let Some(answer) = pending.answer(msg) else {
                    return Ok(());
                };
                answer.map_err(StepError::Call)?;
                let disk = self.disk.ok_or(StepError::NoBuffer)?;
                self.step = Step::Flush(
                    mealy_protocol::call(cx, disk, self.outbox.space(), &Flush, &[])
                        .map_err(StepError::Ipc)?,
                );
            }
            Step::Flush(pending) => {
                let Some(answer) = pending.answer(msg) else {
                    return Ok(());
                };
                answer.map_err(StepError::Call)?;
                let buffer = self.buffer.ok_or(StepError::NoBuffer)?;
                cx.region_mut(buffer).map_err(StepError::Ipc)?.fill(0);
                self.step = Step::ReadBack(self.read(cx).map_err(StepError::Ipc)?);
            }
            Step::ReadBack(pending) => {
                let Some(answer) = pending.answer(msg) else {
                    return Ok(());
                };
                answer.map_err(StepError::Call)?;
                let buffer = self.buffer.ok_or(StepError::NoBuffer)?;
                let found = mark_of(&cx.region(buffer).map_err(StepError::Ipc)?[..BLOCK_SIZE]);
                if found != Some(self.boot) {
                    return Err(StepError::Mismatch(found));
                }
                cx.log(format_args!(
                    "disk: wrote, flushed and read back boot {} ({} ns for the four requests)",
                    self.boot,
                    cx.now_ns().saturating_sub(self.started_ns)
                ));
                self.step = Step::Over;
                OUTCOME.store(PASSED, Ordering::Relaxed);
            }
            Step::Over => {}
        }
        Ok(())
    }
}

/// Why a step failed.
#[derive(Debug)]
enum StepError {
    Call(CallError<block::BlockError>),
    Ipc(mealy_protocol::IpcError),
    NoBuffer,
    Mismatch(Option<u64>),
}

impl core::fmt::Display for StepError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StepError::Call(error) => write!(f, "the driver answered: {error}"),
            StepError::Ipc(error) => write!(f, "{error}"),
            StepError::NoBuffer => f.write_str("no disk or buffer capability"),
            StepError::Mismatch(found) => write!(f, "read back {found:?}, not what was written"),
        }
    }
}

/// `n` in decimal, in `buffer`.
fn fmt_decimal(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buffer[at..];
        }
    }
}

impl StateMachine for DiskCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.disk = grants.get(GRANT_DISK);
        self.buffer = grants.get(GRANT_BUFFER);
        self.started_ns = cx.now_ns();
        match self.read(cx) {
            Ok(pending) => self.step = Step::ReadBefore(pending),
            Err(error) => self.fail(cx, format_args!("cannot call the driver: {error}")),
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        if let Err(error) = self.step(cx, &msg) {
            self.fail(cx, format_args!("{error}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::block::Done;
    use mealy_protocol::testing::FakeContext;

    #[test]
    fn marks_read_and_write_in_decimal() {
        let mut digits = [0; 20];
        assert_eq!(fmt_decimal(0, &mut digits), b"0");
        assert_eq!(fmt_decimal(1207, &mut digits), b"1207");
        let mut block = [0u8; 64];
        block[..MARK.len()].copy_from_slice(MARK);
        block[MARK.len()..MARK.len() + 2].copy_from_slice(b"42");
        assert_eq!(mark_of(&block), Some(42));
        assert_eq!(mark_of(&[0; 64]), None);
    }

    #[test]
    fn reads_writes_flushes_and_checks() {
        let mut cx = FakeContext::new();
        let disk = cx.endpoint("virtio-blk");
        let buffer = cx.region_with(&[], mealy_protocol::Rights::all());
        let mut check = DiskCheck::new();
        let grants = [
            mealy_protocol::Grant {
                name: GRANT_DISK,
                cap: disk,
            },
            mealy_protocol::Grant {
                name: GRANT_BUFFER,
                cap: buffer,
            },
        ];
        cx.start(&mut check, &grants).unwrap();
        // The driver's answers, in order; the read fills the lent Region
        // the way the driver would (the same memory as `buffer`).
        let token = cx.calls.last().unwrap().token;
        let done = cx.answer_call::<Read>(token, &Done);
        cx.deliver(&mut check, &done).unwrap();
        assert!(cx.logs.iter().any(|line| line.contains("holds no mark")));
        let token = cx.calls.last().unwrap().token;
        assert_eq!(cx.calls.last().unwrap().payload, [2, BLOCK as u8]);
        let done = cx.answer_call::<Write>(token, &Done);
        cx.deliver(&mut check, &done).unwrap();
        let token = cx.calls.last().unwrap().token;
        let done = cx.answer_call::<Flush>(token, &Done);
        cx.deliver(&mut check, &done).unwrap();
        // The read back: the driver would have put the mark there.
        let bytes = cx.region_mut(buffer).unwrap();
        bytes[..MARK.len()].copy_from_slice(MARK);
        bytes[MARK.len()] = b'1';
        let token = cx.calls.last().unwrap().token;
        let done = cx.answer_call::<Read>(token, &Done);
        cx.deliver(&mut check, &done).unwrap();
        assert!(
            cx.logs.iter().any(|line| line.contains("read back boot 1")),
            "{:?}",
            cx.logs
        );
    }
}
