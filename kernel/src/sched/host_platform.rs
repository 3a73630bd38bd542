//! A host implementation of [`Platform`] for tests and benchmarks: a
//! manual or real clock, a log that keeps its lines, regions backed by heap
//! vectors at fake addresses, and simulated I/O ports. Test scaffolding:
//! compiled only under `cfg(test)` or the `testing` feature (which the
//! kernel's own dev-dependency turns on for its integration tests and
//! benchmarks).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt::{self, Write};

use mealy_protocol::{IpcError, StateMachine};

use super::pending::PendingInterrupts;
use super::platform::Platform;

/// Where [`HostPlatform`] reads the time from.
#[derive(Clone, Copy, Debug)]
pub enum HostClock {
    /// A clock the test sets and that advances by `step_ns` on every read,
    /// so budget checks are deterministic.
    Manual { step_ns: u64 },
    /// A real clock (a benchmark passes one built on `std::time::Instant`).
    Source(fn() -> u64),
}

/// Builds a program's state machine from its file (`load_program`).
pub type ProgramLoader = fn(&[u8]) -> Result<Box<dyn StateMachine>, IpcError>;

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
    /// What `load_program` builds from a file's bytes (`None`:
    /// `Unsupported`, as for a platform without ring 3).
    pub program_loader: Option<ProgramLoader>,
    /// The handler budget of each boot program loaded again, in order.
    pub program_budgets: Vec<u64>,
    regions: Vec<HostRegion>,
    next_region_base: u64,
    modules: Vec<(&'static str, u64)>,
}

/// A heap vector standing in for a region, with the count of Region
/// objects over it.
#[derive(Debug)]
struct HostRegion {
    base: u64,
    bytes: Vec<u8>,
    objects: u32,
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
            program_loader: None,
            program_budgets: Vec::new(),
            regions: Vec::new(),
            next_region_base: 0x1000_0000,
            modules: Vec::new(),
        }
    }

    /// Makes `bytes` the boot module with command line `cmdline`, in a
    /// region of its own (what the bare-metal boot does with a module).
    pub fn add_boot_module(&mut self, cmdline: &'static str, bytes: &[u8]) {
        if let Ok((base, _)) = self.allocate_region(bytes.len() as u64) {
            if let Some(region) = self.regions.iter_mut().find(|r| r.base == base) {
                region.bytes[..bytes.len()].copy_from_slice(bytes);
                // Held by the module list until a task asks for it.
                region.objects = 0;
            }
            self.modules.push((cmdline, base));
        }
    }

    /// How many Region objects are over the region at `base` (`None` once
    /// it is freed).
    pub fn region_objects(&self, base: u64) -> Option<u32> {
        self.regions
            .iter()
            .find(|r| r.base == base)
            .map(|r| r.objects)
    }

    fn containing(&self, base: u64, len: u64) -> Option<usize> {
        let end = base.checked_add(len)?;
        self.regions
            .iter()
            .position(|r| r.base <= base && end <= r.base + r.bytes.len() as u64)
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

    fn load_program(
        &mut self,
        _name: &'static str,
        base: u64,
        len: u64,
        _owner: mealy_caps::TaskId,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let loader = self.program_loader.ok_or(IpcError::Unsupported)?;
        let file = self.region_bytes(base, len).ok_or(IpcError::InvalidCap)?;
        loader(file)
    }

    fn load_program_file(
        &mut self,
        _name: &'static str,
        file: &'static [u8],
        _owner: mealy_caps::TaskId,
        budget_ns: u64,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let loader = self.program_loader.ok_or(IpcError::Unsupported)?;
        self.program_budgets.push(budget_ns);
        loader(file)
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
        self.regions.push(HostRegion {
            base,
            bytes: vec![0; bytes],
            objects: 1,
        });
        Ok((base, len))
    }

    fn free_region(&mut self, base: u64, len: u64) {
        let Some(index) = self.containing(base, len.max(1)) else {
            return;
        };
        let region = &mut self.regions[index];
        region.objects = region.objects.saturating_sub(1);
        if region.objects == 0 && !self.modules.iter().any(|(_, at)| *at == region.base) {
            self.regions.remove(index);
        }
    }

    fn share_region(&mut self, base: u64, len: u64) -> bool {
        match self.containing(base, len) {
            Some(index) => {
                self.regions[index].objects += 1;
                true
            }
            None => false,
        }
    }

    fn boot_module(&mut self, cmdline: &str) -> Option<(u64, u64)> {
        let &(_, base) = self.modules.iter().find(|(name, _)| *name == cmdline)?;
        let region = self.regions.iter_mut().find(|r| r.base == base)?;
        region.objects += 1;
        Some((base, region.bytes.len() as u64))
    }

    fn region_bytes(&self, base: u64, len: u64) -> Option<&[u8]> {
        let region = &self.regions[self.containing(base, len)?];
        let start = usize::try_from(base - region.base).ok()?;
        region.bytes.get(start..start + usize::try_from(len).ok()?)
    }

    fn region_bytes_mut(&mut self, base: u64, len: u64) -> Option<&mut [u8]> {
        let index = self.containing(base, len)?;
        let region = &mut self.regions[index];
        let start = usize::try_from(base - region.base).ok()?;
        region
            .bytes
            .get_mut(start..start + usize::try_from(len).ok()?)
    }
}
