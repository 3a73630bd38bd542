//! The hooks the scheduler needs from the machine: a clock, a way to idle,
//! a log sink, interrupt re-arming and region memory. The bare-metal kernel
//! implements [`Platform`] over the TSC, `hlt`, the serial console, the
//! APIC and `mem::Region`; [`HostPlatform`] implements it for host tests
//! and benchmarks.
//!
//! A trait with a generic parameter on the scheduler, not `dyn`, so the
//! clock read on every dispatch inlines.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt::{self, Write};

use mealy_protocol::IpcError;
use mealy_protocol::inspect::{BenchReport, MemReport};

use super::pending::PendingInterrupts;

/// What the scheduler asks of the machine it runs on.
pub trait Platform {
    /// Monotonic nanoseconds since boot.
    fn now_ns(&self) -> u64;

    /// Nothing is runnable: wait for an interrupt. Must not sleep if
    /// `pending.any()` (bare metal: `cli`, check, then `sti; hlt`, so an
    /// interrupt between the check and the halt still wakes it). The
    /// earliest timer deadline, if any, is `next_deadline_ns`.
    fn idle(&mut self, pending: &PendingInterrupts, next_deadline_ns: Option<u64>);

    /// One log line from `source` (a task's name, or "kernel").
    fn log(&mut self, source: &str, line: fmt::Arguments<'_>);

    /// Unmask interrupt `line` after its task handled it.
    fn irq_ack(&mut self, line: u8) {
        let _ = line;
    }

    /// Reads I/O port `port`. The caller has checked the task's Device
    /// capability covers it.
    fn port_read(&mut self, port: u16) -> u8 {
        let _ = port;
        0xff
    }

    /// Writes `value` to I/O port `port`, checked like `port_read`.
    fn port_write(&mut self, port: u16, value: u8) {
        let _ = (port, value);
    }

    /// Whether the machine can power itself off (a task stopping the
    /// kernel asks for that).
    fn can_power_off(&self) -> bool {
        true
    }

    /// Frames, heap and live regions, for `inspect`; `None` where the
    /// platform has no memory manager.
    fn memory_report(&self) -> Option<MemReport> {
        None
    }

    /// Runs the in-kernel IPC benchmark, for `inspect`.
    fn run_benchmark(&mut self) -> Result<BenchReport, IpcError> {
        Err(IpcError::Unsupported)
    }

    /// The framebuffer's memory as a region: its (base, length). Its
    /// bytes are reached through `region_bytes(_mut)` like any region's;
    /// it is never freed.
    fn framebuffer_region(&mut self) -> Result<(u64, u64), IpcError> {
        Err(IpcError::Unsupported)
    }

    /// A fresh zeroed region of at least `len` bytes: its (base, length).
    fn allocate_region(&mut self, len: u64) -> Result<(u64, u64), IpcError> {
        let _ = len;
        Err(IpcError::Unsupported)
    }

    /// The region's last capability is gone: release it.
    fn free_region(&mut self, base: u64, len: u64) {
        let _ = (base, len);
    }

    /// The region's bytes, if this platform backs it.
    fn region_bytes(&self, base: u64, len: u64) -> Option<&[u8]> {
        let _ = (base, len);
        None
    }

    /// The region's bytes, writable.
    fn region_bytes_mut(&mut self, base: u64, len: u64) -> Option<&mut [u8]> {
        let _ = (base, len);
        None
    }
}

/// Where [`HostPlatform`] reads the time from.
#[derive(Clone, Copy, Debug)]
pub enum HostClock {
    /// A clock the test sets and that advances by `step_ns` on every read,
    /// so budget checks are deterministic.
    Manual { step_ns: u64 },
    /// A real clock (a benchmark passes one built on `std::time::Instant`).
    Source(fn() -> u64),
}

/// A host implementation of [`Platform`]: manual or real clock, a log that
/// keeps its lines, a region "allocator" over heap vectors at fake
/// addresses, an interrupt-acknowledge record, and simulated I/O ports
/// (scripted reads, recorded writes) for driver tests.
#[derive(Debug)]
pub struct HostPlatform {
    clock: HostClock,
    manual_now: Cell<u64>,
    /// Every log line, `"source: text"`.
    pub log_lines: Vec<String>,
    /// Keep log lines (a benchmark turns this off).
    pub keep_log: bool,
    /// Lines passed to `irq_ack`, in order.
    pub acked_irqs: Vec<u8>,
    /// How many times the scheduler idled.
    pub idle_calls: u64,
    /// What each port's reads return, oldest first; an empty or unknown
    /// port reads as `port_default`.
    pub port_input: BTreeMap<u16, VecDeque<u8>>,
    /// What an unscripted port read returns (per port, else 0xff).
    pub port_default: BTreeMap<u16, u8>,
    /// Every port write, `(port, value)`, in order.
    pub port_writes: Vec<(u16, u8)>,
    /// The size of a simulated framebuffer, if it has one.
    pub framebuffer_len: Option<u64>,
    regions: Vec<(u64, Vec<u8>)>,
    next_region_base: u64,
}

impl HostPlatform {
    pub fn new(clock: HostClock) -> Self {
        Self {
            clock,
            manual_now: Cell::new(0),
            log_lines: Vec::new(),
            keep_log: true,
            acked_irqs: Vec::new(),
            idle_calls: 0,
            port_input: BTreeMap::new(),
            port_default: BTreeMap::new(),
            port_writes: Vec::new(),
            framebuffer_len: None,
            regions: Vec::new(),
            next_region_base: 0x1000_0000,
        }
    }

    /// A manual clock that advances 1 ns per read.
    pub fn manual() -> Self {
        Self::new(HostClock::Manual { step_ns: 1 })
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, ns: u64) {
        self.manual_now.set(self.manual_now.get() + ns);
    }

    /// Sets how far the manual clock moves on each read.
    pub fn set_step(&mut self, step_ns: u64) {
        self.clock = HostClock::Manual { step_ns };
    }

    /// Whether any kept log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log_lines.iter().any(|line| line.contains(text))
    }
}

impl Platform for HostPlatform {
    #[inline]
    fn now_ns(&self) -> u64 {
        match self.clock {
            HostClock::Manual { step_ns } => {
                let now = self.manual_now.get();
                self.manual_now.set(now + step_ns);
                now
            }
            HostClock::Source(read) => read(),
        }
    }

    fn idle(&mut self, _pending: &PendingInterrupts, next_deadline_ns: Option<u64>) {
        self.idle_calls += 1;
        // Nothing can interrupt a host test: jump to the next deadline.
        if let (HostClock::Manual { .. }, Some(deadline)) = (self.clock, next_deadline_ns) {
            self.manual_now.set(self.manual_now.get().max(deadline));
        }
    }

    fn log(&mut self, source: &str, line: fmt::Arguments<'_>) {
        if self.keep_log {
            let mut text = String::new();
            let _ = write!(text, "{source}: {line}");
            self.log_lines.push(text);
        }
    }

    fn irq_ack(&mut self, line: u8) {
        self.acked_irqs.push(line);
    }

    fn framebuffer_region(&mut self) -> Result<(u64, u64), IpcError> {
        let len = self.framebuffer_len.ok_or(IpcError::Unsupported)?;
        self.allocate_region(len)
    }

    fn port_read(&mut self, port: u16) -> u8 {
        self.port_input
            .get_mut(&port)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.port_default.get(&port).copied())
            .unwrap_or(0xff)
    }

    fn port_write(&mut self, port: u16, value: u8) {
        self.port_writes.push((port, value));
    }

    fn allocate_region(&mut self, len: u64) -> Result<(u64, u64), IpcError> {
        const PAGE: u64 = 4096;
        let len = len.max(1).div_ceil(PAGE) * PAGE;
        let bytes = usize::try_from(len).map_err(|_| IpcError::OutOfResources)?;
        let base = self.next_region_base;
        // A guard page between regions, as the real allocator leaves.
        self.next_region_base += len + PAGE;
        self.regions.push((base, vec![0; bytes]));
        Ok((base, len))
    }

    fn free_region(&mut self, base: u64, _len: u64) {
        self.regions.retain(|(start, _)| *start != base);
    }

    fn region_bytes(&self, base: u64, len: u64) -> Option<&[u8]> {
        let (_, bytes) = self.regions.iter().find(|(start, _)| *start == base)?;
        bytes.get(..usize::try_from(len).ok()?)
    }

    fn region_bytes_mut(&mut self, base: u64, len: u64) -> Option<&mut [u8]> {
        let (_, bytes) = self.regions.iter_mut().find(|(start, _)| *start == base)?;
        bytes.get_mut(..usize::try_from(len).ok()?)
    }
}
