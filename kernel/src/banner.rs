//! The boot banner: what the loader answered (bootloader, firmware, memory
//! map, framebuffer, modules, command line, how the kernel was entered) and
//! what bring-up found (the timer and TSC, the frame allocator, the heap,
//! interrupt routing, power-off, and the time from entry to the banner),
//! printed once on serial so a person (and the boot tests) can see what the
//! machine is.
//!
//! `boot.rs` (`print_banner`) gathers a [`BootSummary`] from the Limine
//! responses and the results of the bring-up steps; this module only
//! formats it, so the format is tested on the host. The first line is
//! `Mealy <version>`; every other line starts with a stable prefix
//! (`bootloader:`, `memory:`, `timer:`, ...) that tests and scripts match
//! on. What is missing prints as `none`, with the reason when there is one.

use core::fmt;

use crate::mem::FrameStats;

/// Limine memory-map entry types, by their protocol number, with the name
/// the banner prints.
pub const MEMORY_TYPE_NAMES: [&str; 8] = [
    "usable",
    "reserved",
    "acpi-reclaimable",
    "acpi-nvs",
    "bad",
    "bootloader-reclaimable",
    "executable-and-modules",
    "framebuffer",
];

/// Usable memory and entry counts by type, summed over the memory map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemorySummary {
    pub usable_bytes: u64,
    pub entries: usize,
    /// Entries per type, indexed like [`MEMORY_TYPE_NAMES`].
    pub by_type: [usize; MEMORY_TYPE_NAMES.len()],
    /// Entries whose type this kernel does not know.
    pub unknown: usize,
}

impl MemorySummary {
    /// Counts one memory-map entry of the given Limine type.
    pub fn add(&mut self, entry_type: u64, length: u64) {
        self.entries += 1;
        match self.by_type.get_mut(entry_type as usize) {
            Some(count) => *count += 1,
            None => self.unknown += 1,
        }
        if entry_type == 0 {
            self.usable_bytes += length;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramebufferSummary {
    pub width: u64,
    pub height: u64,
    pub bpp: u16,
    pub pitch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleSummary<'a> {
    pub path: &'a str,
    pub size: u64,
    pub cmdline: &'a str,
}

/// The local APIC timer as calibrated at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerSummary {
    /// "x2APIC" or "xAPIC".
    pub apic: &'static str,
    /// The timer's count rate after its divider.
    pub timer_hz: u64,
    /// The TSC's rate, the monotonic clock's source.
    pub tsc_hz: u64,
}

impl fmt::Display for TimerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} timer at {} kHz, TSC at {} MHz (calibrated against the PIT)",
            self.apic,
            self.timer_hz / 1000,
            self.tsc_hz / 1_000_000
        )
    }
}

/// The I/O APICs and how ISA interrupts reach them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutingSummary {
    pub io_apics: usize,
    pub first_address: u64,
    pub first_gsi_base: u32,
    pub first_lines: u32,
    pub isa_routed: u8,
    pub isa_overrides: usize,
}

impl fmt::Display for RoutingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} I/O APIC, first at {:#x} with GSI {}..{}; {} ISA IRQs routed, {} MADT overrides",
            self.io_apics,
            self.first_address,
            self.first_gsi_base,
            self.first_gsi_base + self.first_lines.saturating_sub(1),
            self.isa_routed,
            self.isa_overrides
        )
    }
}

/// How the kernel powers the machine off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOffSummary {
    pub pm1a_port: u16,
    pub sleep_type: u8,
}

impl fmt::Display for PowerOffSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACPI S5 through PM1a_CNT at port {:#x} (SLP_TYPa {})",
            self.pm1a_port, self.sleep_type
        )
    }
}

/// How control reached the kernel: the protocol lets a kernel name its entry
/// in a request instead of the ELF header, and the banner says which one the
/// loader honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPath {
    ElfEntry,
    EntryPointRequest,
}

/// Everything the banner shows. Fields the bootloader did not answer are
/// `None` and print as `none`.
#[derive(Clone, Copy, Debug)]
pub struct BootSummary<'a> {
    pub version: &'a str,
    pub bootloader: Option<(&'a str, &'a str)>,
    pub base_revision: Option<u64>,
    pub firmware: Option<&'a str>,
    pub hhdm_offset: Option<u64>,
    pub memory: Option<MemorySummary>,
    pub framebuffer: Option<FramebufferSummary>,
    /// The modules, as many as the caller kept, and how many there were.
    pub modules: &'a [ModuleSummary<'a>],
    pub module_count: usize,
    pub rsdp: Option<u64>,
    pub executable_path: Option<&'a str>,
    /// (virtual base, physical base) of the kernel image.
    pub executable_address: Option<(u64, u64)>,
    pub cmdline: &'a str,
    pub entry: EntryPath,
    /// `Err` holds why the timer is unavailable.
    pub timer: Result<TimerSummary, &'a str>,
    /// The frame allocator after boot, or why there is none.
    pub frames: Result<FrameStats, &'a str>,
    /// Heap bytes mapped now, and the most it may grow to.
    pub heap: Option<(usize, u64)>,
    pub interrupts: Result<RoutingSummary, &'a str>,
    pub poweroff: Result<PowerOffSummary, &'a str>,
    pub entry_to_banner_ticks: u64,
}

struct OrNone<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("none"),
        }
    }
}

struct Hex(u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for MemorySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} MiB usable in {} entries (",
            self.usable_bytes / (1024 * 1024),
            self.entries
        )?;
        let mut separator = "";
        for (name, count) in MEMORY_TYPE_NAMES.iter().zip(self.by_type) {
            if count > 0 {
                write!(f, "{separator}{name} {count}")?;
                separator = ", ";
            }
        }
        if self.unknown > 0 {
            write!(f, "{separator}unknown {}", self.unknown)?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for FramebufferSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{} {} bpp pitch {}",
            self.width, self.height, self.bpp, self.pitch
        )
    }
}

impl fmt::Display for BootSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Mealy {}", self.version)?;
        match self.bootloader {
            Some((name, version)) => write!(f, "bootloader: {name} {version}")?,
            None => write!(f, "bootloader: none")?,
        }
        writeln!(f, ", base revision {}", OrNone(self.base_revision))?;
        writeln!(f, "firmware: {}", OrNone(self.firmware))?;
        writeln!(f, "hhdm: {}", OrNone(self.hhdm_offset.map(Hex)))?;
        writeln!(f, "memory: {}", OrNone(self.memory))?;
        writeln!(f, "framebuffer: {}", OrNone(self.framebuffer))?;
        if self.module_count == 0 {
            writeln!(f, "modules: none")?;
        }
        for module in self.modules {
            writeln!(
                f,
                "module: {} {} bytes cmdline {:?}",
                module.path, module.size, module.cmdline
            )?;
        }
        if self.module_count > self.modules.len() {
            writeln!(
                f,
                "module: ... and {} more",
                self.module_count - self.modules.len()
            )?;
        }
        writeln!(f, "rsdp: {}", OrNone(self.rsdp.map(Hex)))?;
        write!(f, "executable: {}", OrNone(self.executable_path))?;
        match self.executable_address {
            Some((virt, phys)) => writeln!(f, " at {} (physical {})", Hex(virt), Hex(phys))?,
            None => writeln!(f)?,
        }
        writeln!(f, "cmdline: {:?}", self.cmdline)?;
        let entry = match self.entry {
            EntryPath::ElfEntry => "elf header",
            EntryPath::EntryPointRequest => "entry-point request",
        };
        writeln!(f, "entry: {entry}")?;
        match &self.timer {
            Ok(timer) => writeln!(f, "timer: {timer}")?,
            Err(why) => writeln!(f, "timer: none ({why})")?,
        }
        match &self.frames {
            Ok(frames) => writeln!(f, "frames: {frames}")?,
            Err(why) => writeln!(f, "frames: none ({why})")?,
        }
        match self.heap {
            Some((mapped, limit)) => writeln!(
                f,
                "heap: {} KiB mapped, grows on demand to {} MiB",
                mapped / 1024,
                limit >> 20
            )?,
            None => writeln!(f, "heap: none")?,
        }
        match &self.interrupts {
            Ok(routing) => writeln!(f, "interrupts: {routing}")?,
            Err(why) => writeln!(f, "interrupts: none ({why})")?,
        }
        match &self.poweroff {
            Ok(poweroff) => writeln!(f, "poweroff: {poweroff}")?,
            Err(why) => writeln!(f, "poweroff: none ({why})")?,
        }
        writeln!(
            f,
            "boot: {} TSC ticks from kernel entry to banner",
            self.entry_to_banner_ticks
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary<'a>(modules: &'a [ModuleSummary<'a>], memory: MemorySummary) -> BootSummary<'a> {
        BootSummary {
            version: "0.1.0",
            bootloader: Some(("mealy-loader", "0.1.0")),
            base_revision: Some(3),
            firmware: Some("UEFI x86_64"),
            hhdm_offset: Some(0xffff_8000_0000_0000),
            memory: Some(memory),
            framebuffer: Some(FramebufferSummary {
                width: 1280,
                height: 800,
                bpp: 32,
                pitch: 5120,
            }),
            modules,
            module_count: modules.len(),
            rsdp: Some(0x7fb7_e014),
            executable_path: Some("boot():/boot/mealy-kernel"),
            executable_address: Some((0xffff_ffff_8000_0000, 0x100_0000)),
            cmdline: "test=boot",
            entry: EntryPath::EntryPointRequest,
            timer: Ok(TimerSummary {
                apic: "x2APIC",
                timer_hz: 62_500_000,
                tsc_hz: 2_995_000_000,
            }),
            frames: Ok(FrameStats {
                total: 1000,
                free: 900,
                used: 100,
            }),
            heap: Some((64 * 1024, 1 << 30)),
            interrupts: Ok(RoutingSummary {
                io_apics: 1,
                first_address: 0xfec0_0000,
                first_gsi_base: 0,
                first_lines: 24,
                isa_routed: 16,
                isa_overrides: 5,
            }),
            poweroff: Ok(PowerOffSummary {
                pm1a_port: 0x604,
                sleep_type: 0,
            }),
            entry_to_banner_ticks: 1234,
        }
    }

    #[test]
    fn memory_summary_counts_types_and_usable_bytes() {
        let mut memory = MemorySummary::default();
        memory.add(0, 64 << 20);
        memory.add(0, 2 << 20);
        memory.add(1, 4096);
        memory.add(5, 1 << 20);
        memory.add(42, 4096);
        assert_eq!(memory.entries, 5);
        assert_eq!(memory.usable_bytes, 66 << 20);
        assert_eq!(memory.by_type[0], 2);
        assert_eq!(memory.by_type[5], 1);
        assert_eq!(memory.unknown, 1);
        assert_eq!(
            memory.to_string(),
            "66 MiB usable in 5 entries (usable 2, reserved 1, bootloader-reclaimable 1, unknown 1)"
        );
    }

    #[test]
    fn banner_has_one_line_per_fact() {
        let modules = [ModuleSummary {
            path: "boot():/boot/mealy.sym",
            size: 4096,
            cmdline: "symbols",
        }];
        let mut memory = MemorySummary::default();
        memory.add(0, 128 << 20);
        let text = summary(&modules, memory).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Mealy 0.1.0",
                "bootloader: mealy-loader 0.1.0, base revision 3",
                "firmware: UEFI x86_64",
                "hhdm: 0xffff800000000000",
                "memory: 128 MiB usable in 1 entries (usable 1)",
                "framebuffer: 1280x800 32 bpp pitch 5120",
                "module: boot():/boot/mealy.sym 4096 bytes cmdline \"symbols\"",
                "rsdp: 0x7fb7e014",
                "executable: boot():/boot/mealy-kernel at 0xffffffff80000000 (physical 0x1000000)",
                "cmdline: \"test=boot\"",
                "entry: entry-point request",
                "timer: x2APIC timer at 62500 kHz, TSC at 2995 MHz (calibrated against the PIT)",
                "frames: 1000 frames (4000 KiB) total, 900 (3600 KiB) free, 100 (400 KiB) used",
                "heap: 64 KiB mapped, grows on demand to 1024 MiB",
                "interrupts: 1 I/O APIC, first at 0xfec00000 with GSI 0..23; 16 ISA IRQs routed, 5 MADT overrides",
                "poweroff: ACPI S5 through PM1a_CNT at port 0x604 (SLP_TYPa 0)",
                "boot: 1234 TSC ticks from kernel entry to banner",
            ]
        );
    }

    #[test]
    fn missing_responses_print_none_and_extra_modules_are_counted() {
        let modules = [ModuleSummary {
            path: "a",
            size: 1,
            cmdline: "",
        }];
        let mut boot = summary(&modules, MemorySummary::default());
        boot.bootloader = None;
        boot.hhdm_offset = None;
        boot.framebuffer = None;
        boot.module_count = 3;
        boot.timer = Err("no APIC");
        boot.frames = Err("no usable memory");
        boot.heap = None;
        boot.interrupts = Err("no MADT");
        boot.poweroff = Err("no FADT");
        let text = boot.to_string();
        assert!(text.contains("bootloader: none, base revision 3\n"));
        assert!(text.contains("hhdm: none\n"));
        assert!(text.contains("framebuffer: none\n"));
        assert!(text.contains("module: ... and 2 more\n"));
        assert!(text.contains("timer: none (no APIC)\n"));
        assert!(text.contains("frames: none (no usable memory)\n"));
        assert!(text.contains("heap: none\n"));
        assert!(text.contains("interrupts: none (no MADT)\n"));
        assert!(text.contains("poweroff: none (no FADT)\n"));
    }

    #[test]
    fn no_modules_says_so() {
        let boot = summary(&[], MemorySummary::default());
        assert!(boot.to_string().contains("modules: none\n"));
    }
}
