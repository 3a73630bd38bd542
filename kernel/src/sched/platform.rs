//! The hooks the scheduler needs from the machine: a clock, a way to idle,
//! a log sink, interrupt re-arming and region memory. The bare-metal kernel
//! implements [`Platform`] over the TSC, `hlt`, the serial console, the
//! APIC and `mem::Region` (`arch/x86_64/platform.rs`); host tests and
//! benchmarks use `HostPlatform` (`host_platform.rs`, behind `cfg(test)`
//! or the `testing` feature).
//!
//! A trait with a generic parameter on the scheduler, not `dyn`, so the
//! clock read on every dispatch inlines.

use alloc::boxed::Box;
use core::fmt;

use mealy_caps::TaskId;

use mealy_protocol::inspect::{BenchReport, MemReport};
use mealy_protocol::mmio::Width;
use mealy_protocol::{IpcError, StateMachine};

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

    /// The region's last capability is gone: release it. With shared
    /// regions (`share_region`), the memory goes once the last object over
    /// it does.
    fn free_region(&mut self, base: u64, len: u64) {
        let _ = (base, len);
    }

    /// A new Region object names `base .. base + len`, a sub-range of one
    /// this platform backs: count it, so the memory outlives every object
    /// over it. `false` if no backed region contains the range.
    fn share_region(&mut self, base: u64, len: u64) -> bool {
        let _ = (base, len);
        false
    }

    /// The region that holds the boot module with this command line (the
    /// file-system image: `fs`), counted as one more object over it.
    fn boot_module(&mut self, cmdline: &str) -> Option<(u64, u64)> {
        let _ = cmdline;
        None
    }

    /// The region's bytes (a whole region or a sub-range of one), if this
    /// platform backs it.
    fn region_bytes(&self, base: u64, len: u64) -> Option<&[u8]> {
        let _ = (base, len);
        None
    }

    /// The region's bytes, writable.
    fn region_bytes_mut(&mut self, base: u64, len: u64) -> Option<&mut [u8]> {
        let _ = (base, len);
        None
    }

    /// A ring-3 program's state machine, loaded from the ELF file in the
    /// region at `base` (`len` bytes) into a protection domain of its own,
    /// for the task `owner` is about to be (`Context::spawn`). A file that
    /// is not a loadable program is `Malformed` (the platform logs why).
    fn load_program(
        &mut self,
        name: &'static str,
        base: u64,
        len: u64,
        owner: TaskId,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let _ = (name, base, len, owner);
        Err(IpcError::Unsupported)
    }

    /// Like `load_program`, from a file's bytes the kernel holds for good
    /// (a boot program, restarted: `restart.rs`), with the handler budget
    /// `budget_ns` the task list gave it (the shell's is longer).
    fn load_program_file(
        &mut self,
        name: &'static str,
        file: &'static [u8],
        owner: TaskId,
        budget_ns: u64,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let _ = (name, file, owner, budget_ns);
        Err(IpcError::Unsupported)
    }

    // Device drivers (issue 17).

    /// Reads the device register of `width` at physical `phys`. The caller
    /// has checked a Device capability covers it; `None` where no mapped
    /// device memory holds it.
    fn mmio_read(&mut self, phys: u64, width: Width) -> Option<u64> {
        let _ = (phys, width);
        None
    }

    /// Writes `value` to the device register of `width` at `phys`,
    /// checked like `mmio_read`; `false` where nothing is mapped there.
    fn mmio_write(&mut self, phys: u64, width: Width, value: u64) -> bool {
        let _ = (phys, width, value);
        false
    }

    /// A fresh zeroed region of at least `len` bytes that devices may
    /// reach by DMA (`region_phys` answers for it): its (base, length).
    fn allocate_dma(&mut self, len: u64) -> Result<(u64, u64), IpcError> {
        let _ = len;
        Err(IpcError::Unsupported)
    }

    /// The physical address of byte `offset` of `base .. base + len`, if
    /// it lies in DMA memory this platform backs.
    fn region_phys(&self, base: u64, len: u64, offset: u64) -> Option<u64> {
        let _ = (base, len, offset);
        None
    }
}
