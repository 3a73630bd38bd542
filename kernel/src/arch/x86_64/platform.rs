//! The scheduler's [`Platform`] on this machine: the TSC clock, `hlt` when
//! idle (woken by any interrupt, or by a one-shot APIC deadline for the
//! next timer), the serial console as the log, I/O APIC lines re-armed on
//! `irq_ack`, and region memory from `mem::Region`.
//!
//! A Region object may be a sub-range of a backing region
//! (`share_region`, the fs's open files): each backing region counts the
//! objects over it and is unmapped when the last goes. Boot modules (the
//! file-system image) are copied once into a region of their own by
//! [`MachinePlatform::add_boot_module`]: a copy rather than mapping the
//! loader's frames, so every Region, the image included, comes from the
//! one address-space allocator and owns its frames; the module's original
//! pages (executable-and-modules memory) are simply left alone.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::IpcError;
use mealy_protocol::inspect::{BenchReport, MemReport, RegionRow};
use mealy_protocol::mmio::Width;

use super::memory::KernelMemory;
use super::user::ArchCpu;
use super::{apic, clock, interrupts, ioapic, serial};
use crate::bench;
use crate::mem::{Owner, PAGE_SIZE, Permissions, Region};
use crate::program::{LoadError, UserTask};
use crate::sched::{PendingInterrupts, Platform};
use alloc::boxed::Box;
use mealy_caps::TaskId;
use mealy_protocol::StateMachine;

/// The CPU every ring-3 program runs on (one core today).
static ARCH_CPU: ArchCpu = ArchCpu;

pub struct MachinePlatform {
    memory: Option<&'static KernelMemory>,
    /// Regions handed to tasks, by base address, with how many Region
    /// objects are over each.
    regions: BTreeMap<u64, (Region<'static>, u32)>,
    /// Boot modules copied into regions: (command line, base).
    modules: Vec<(&'static str, u64)>,
    /// The framebuffer, mapped in the lower half: (base, length).
    framebuffer: Option<(u64, u64)>,
    /// Tasks' log lines are dropped (a benchmark's private tasks, whose
    /// chatter would land in the middle of the shell's session).
    quiet: bool,
    /// The bases of the regions that are DMA memory (`allocate_dma`).
    dma: Vec<u64>,
}

impl MachinePlatform {
    pub fn new(memory: Option<&'static KernelMemory>) -> Self {
        Self {
            memory,
            regions: BTreeMap::new(),
            modules: Vec::new(),
            framebuffer: None,
            quiet: false,
            dma: Vec::new(),
        }
    }

    /// A platform whose tasks' log lines go nowhere.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Offers the framebuffer mapped at `base` (`len` bytes, mapped for
    /// good) as the `framebuffer_region`.
    pub fn with_framebuffer(mut self, base: u64, len: u64) -> Self {
        self.framebuffer = Some((base, len));
        self
    }

    /// Copies a boot module into a region of its own, for
    /// `CapSource::BootModule { cmdline }`. Returns the region's length.
    pub fn add_boot_module(
        &mut self,
        cmdline: &'static str,
        bytes: &[u8],
    ) -> Result<u64, IpcError> {
        let (base, len) = self.allocate_region(bytes.len() as u64)?;
        let copy = self
            .region_bytes_mut(base, len)
            .ok_or(IpcError::OutOfResources)?;
        copy[..bytes.len()].copy_from_slice(bytes);
        if let Some((_, objects)) = self.regions.get_mut(&base) {
            // Kept by the module list, not by an object, until a task asks.
            *objects = 0;
        }
        self.modules.push((cmdline, base));
        Ok(len)
    }

    /// The backing region that contains `base .. base + len`.
    fn containing(&self, base: u64, len: u64) -> Option<(&Region<'static>, u32)> {
        let end = base.checked_add(len)?;
        let (_, (region, objects)) = self.regions.range(..=base).next_back()?;
        let region_end = region.base().as_u64() + region.len_bytes();
        (end <= region_end).then_some((region, *objects))
    }

    fn containing_base(&self, base: u64, len: u64) -> Option<u64> {
        self.containing(base, len)
            .map(|(region, _)| region.base().as_u64())
    }

    /// Whether `base .. base + len` lies in memory this platform backs:
    /// inside a region, or the framebuffer.
    fn backs(&self, base: u64, len: u64) -> bool {
        self.containing(base, len).is_some()
            || self
                .framebuffer
                .is_some_and(|(start, size)| start == base && len <= size)
    }
}

impl MachinePlatform {
    /// A load's outcome as `Platform::load_program` reports it, with one
    /// line saying why a file did not load.
    fn loaded(
        &mut self,
        name: &'static str,
        loaded: Result<UserTask<'static>, LoadError>,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        match loaded {
            Ok(task) => Ok(Box::new(task)),
            Err(LoadError::Elf(error)) => {
                self.log("kernel", format_args!("{name}: not a program: {error}"));
                Err(IpcError::Malformed)
            }
            Err(error) => {
                self.log("kernel", format_args!("{name}: cannot load: {error}"));
                Err(IpcError::OutOfResources)
            }
        }
    }
}

/// Loads the ELF `file` as the program of task `owner`.
fn load_elf(
    name: &'static str,
    file: &[u8],
    memory: &'static KernelMemory,
    owner: TaskId,
) -> Result<UserTask<'static>, LoadError> {
    UserTask::load(
        name,
        file,
        memory,
        memory,
        &ARCH_CPU,
        Owner(u64::from(owner.0)),
    )
}

impl Platform for MachinePlatform {
    fn now_ns(&self) -> u64 {
        clock::now_nanos()
    }

    fn idle(&mut self, pending: &PendingInterrupts, next_deadline_ns: Option<u64>) {
        ::x86_64::instructions::interrupts::disable();
        // Keystrokes the kernel read itself for a `test=` scenario are
        // not messages, so they are a reason to wake too.
        if pending.any() || serial::has_input() {
            interrupts::enable();
            return;
        }
        if let Some(deadline) = next_deadline_ns {
            let now = clock::now_nanos();
            if deadline <= now {
                interrupts::enable();
                return;
            }
            apic::arm_oneshot(deadline - now);
        }
        // `sti` takes effect after the next instruction, so an interrupt
        // that arrived since the check above still ends this `hlt`.
        ::x86_64::instructions::interrupts::enable_and_hlt();
    }

    fn log(&mut self, source: &str, line: fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        serial::write_fmt(format_args!("[{source}] {line}\n"));
    }

    fn irq_ack(&mut self, line: u8) {
        // An MSI is never masked: nothing to re-arm.
        if super::msi::is_msi_line(line) {
            return;
        }
        if let Err(error) = ioapic::unmask_isa(line) {
            log::warn!("irq_ack({line}): {error}");
        }
    }

    fn can_power_off(&self) -> bool {
        super::acpi::can_power_off()
    }

    fn memory_report(&self) -> Option<MemReport> {
        let memory = self.memory?;
        let frames = memory.frame_stats();
        let heap = super::memory::heap_stats().mapped_bytes as u64;
        Some(MemReport {
            frames_total: frames.total,
            frames_free: frames.free,
            // The heap reports what it has mapped; all of it is counted as
            // in use, since talc does not expose its free bytes.
            heap_total_bytes: heap,
            heap_used_bytes: heap,
            regions: memory
                .live_ranges()
                .into_iter()
                .map(|range| RegionRow {
                    base: range.start().as_u64(),
                    len: range.len_bytes(),
                })
                .collect(),
        })
    }

    fn run_benchmark(&mut self) -> Result<BenchReport, IpcError> {
        // Tasks of its own on a platform of its own over the same memory,
        // quiet: the shell's last output is still on its way.
        let platform = MachinePlatform::new(self.memory).quiet();
        let measured = bench::measure_ipc(platform, &interrupts::PENDING, super::cpu::rdtsc)
            .map_err(|error| {
                log::warn!("bench: {error}");
                IpcError::OutOfResources
            })?;
        if !measured.answered_all() {
            log::warn!(
                "bench: echo answered {} of {} calls",
                measured.echoed,
                bench::IPC_ROUNDS
            );
            return Err(IpcError::OutOfResources);
        }
        Ok(BenchReport {
            round_trips: u64::from(bench::IPC_ROUNDS),
            tsc_ticks: measured.ticks,
        })
    }

    fn port_read(&mut self, port: u16) -> u8 {
        // SAFETY: the scheduler only calls this for a port inside a Device
        // capability's range, and the task list grants each device's ports
        // to one driver task, which the kernel's own drivers do not touch.
        unsafe { ::x86_64::instructions::port::Port::<u8>::new(port).read() }
    }

    fn port_write(&mut self, port: u16, value: u8) {
        // SAFETY: as in `port_read`.
        unsafe { ::x86_64::instructions::port::Port::<u8>::new(port).write(value) }
    }

    fn allocate_region(&mut self, len: u64) -> Result<(u64, u64), IpcError> {
        let memory = self.memory.ok_or(IpcError::OutOfResources)?;
        let pages = len.max(1).div_ceil(PAGE_SIZE);
        let region = Region::new_mapped(memory, pages, 1, Owner(0), Permissions::KERNEL_DATA)
            .map_err(|_| IpcError::OutOfResources)?;
        let base = region.base().as_u64();
        let length = region.len_bytes();
        self.regions.insert(base, (region, 1));
        Ok((base, length))
    }

    fn free_region(&mut self, base: u64, len: u64) {
        let Some(backing) = self.containing_base(base, len.max(1)) else {
            return;
        };
        let kept = self.modules.iter().any(|(_, at)| *at == backing);
        if let Some((_, objects)) = self.regions.get_mut(&backing) {
            *objects = objects.saturating_sub(1);
            if *objects == 0 && !kept {
                // Dropping the region unmaps it and returns its frames.
                self.regions.remove(&backing);
                self.dma.retain(|base| *base != backing);
            }
        }
    }

    fn share_region(&mut self, base: u64, len: u64) -> bool {
        let Some(backing) = self.containing_base(base, len) else {
            return false;
        };
        match self.regions.get_mut(&backing) {
            Some((_, objects)) => {
                *objects += 1;
                true
            }
            None => false,
        }
    }

    fn boot_module(&mut self, cmdline: &str) -> Option<(u64, u64)> {
        let &(_, base) = self.modules.iter().find(|(name, _)| *name == cmdline)?;
        let (region, objects) = self.regions.get_mut(&base)?;
        *objects += 1;
        Some((base, region.len_bytes()))
    }

    fn framebuffer_region(&mut self) -> Result<(u64, u64), IpcError> {
        self.framebuffer.ok_or(IpcError::Unsupported)
    }

    fn region_bytes(&self, base: u64, len: u64) -> Option<&[u8]> {
        self.backs(base, len).then(|| {
            // SAFETY: a region is mapped (new_mapped) for its whole length,
            // readable, and lives while it is in `self.regions`, which the
            // returned borrow of `self` outlives; the framebuffer is mapped
            // for good at boot (`with_framebuffer`).
            unsafe { core::slice::from_raw_parts(base as *const u8, len as usize) }
        })
    }

    fn region_bytes_mut(&mut self, base: u64, len: u64) -> Option<&mut [u8]> {
        self.backs(base, len).then(|| {
            // SAFETY: as in `region_bytes`, and both are writable; the
            // `&mut self` borrow makes this the only view.
            unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len as usize) }
        })
    }

    fn load_program(
        &mut self,
        name: &'static str,
        base: u64,
        len: u64,
        owner: TaskId,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let memory = self.memory.ok_or(IpcError::Unsupported)?;
        let file = self.region_bytes(base, len).ok_or(IpcError::InvalidCap)?;
        let loaded = load_elf(name, file, memory, owner);
        self.loaded(name, loaded)
    }

    fn load_program_file(
        &mut self,
        name: &'static str,
        file: &'static [u8],
        owner: TaskId,
        budget_ns: u64,
    ) -> Result<Box<dyn StateMachine>, IpcError> {
        let memory = self.memory.ok_or(IpcError::Unsupported)?;
        // A boot program's file: it gets its boot quota and budget again.
        let quota = crate::program::boot_files::region_quota(name);
        let budget = crate::program::task::program_budget(Some(budget_ns));
        let loaded = load_elf(name, file, memory, owner)
            .map(|task| task.with_region_quota(quota).with_budget(budget));
        self.loaded(name, loaded)
    }

    fn mmio_read(&mut self, phys: u64, width: Width) -> Option<u64> {
        let at = super::pci::mmio_address(phys, width.bytes())?;
        // SAFETY: `at` maps `phys` in a BAR window `pci` mapped uncached
        // for good; the access is aligned (the caller checked `Width::fits`
        // against a range whose base is the BAR's, page-aligned) and of
        // the register's own width.
        let value = unsafe {
            match width {
                Width::U8 => u64::from((at as *const u8).read_volatile()),
                Width::U16 => u64::from((at as *const u16).read_volatile()),
                Width::U32 => u64::from((at as *const u32).read_volatile()),
                Width::U64 => (at as *const u64).read_volatile(),
            }
        };
        Some(value)
    }

    fn mmio_write(&mut self, phys: u64, width: Width, value: u64) -> bool {
        let Some(at) = super::pci::mmio_address(phys, width.bytes()) else {
            return false;
        };
        // What the driver wrote to DMA memory before this (a queue entry)
        // is visible to the device before the register write that tells
        // it to look.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: as in `mmio_read`; the caller checked `value` fits.
        unsafe {
            match width {
                Width::U8 => (at as *mut u8).write_volatile(value as u8),
                Width::U16 => (at as *mut u16).write_volatile(value as u16),
                Width::U32 => (at as *mut u32).write_volatile(value as u32),
                Width::U64 => (at as *mut u64).write_volatile(value),
            }
        }
        true
    }

    fn allocate_dma(&mut self, len: u64) -> Result<(u64, u64), IpcError> {
        let (base, len) = self.allocate_region(len)?;
        self.dma.push(base);
        Ok((base, len))
    }

    fn region_phys(&self, base: u64, len: u64, offset: u64) -> Option<u64> {
        let backing = self.containing_base(base, len)?;
        if !self.dma.contains(&backing) || offset >= len {
            return None;
        }
        super::paging::translate(base.checked_add(offset)?)
    }
}
