//! The kernel command line: space-separated `key=value` words from the
//! `cmdline:` line of limine.conf.
//!
//! | word | effect |
//! |---|---|
//! | `test=NAME` | run scenario NAME instead of a normal boot |
//! | `fs=ro` / `fs=rw` | mount the file system read-only / read-write |
//! | `fault=NAME:KIND` | ring-3 task NAME commits fault KIND (`pf gp ud de stack panic loop`) right after every start: a crash loop, for the supervisor's tests |
//!
//! Only what the kernel acts on is parsed; other words are kept for the
//! banner and ignored, the way Linux treats options it does not know.

use mealy_protocol::supervision::FaultKind;

/// A scenario the kernel runs instead of a normal boot, chosen with
/// `test=NAME`. Each one ends QEMU with a status, so a host test can tell
/// pass from fail without reading the whole log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestScenario {
    /// Print the banner, then exit with success.
    Boot,
    /// Panic on purpose: the run must end with a failure status and the
    /// panic location on serial.
    Panic,
    /// Print the shell prompt, read one line from serial and echo it back:
    /// proves that input typed before the guest was ready was held, not lost.
    Echo,
    /// Write to an unmapped address: the page-fault report.
    PageFault,
    /// Divide by zero: the divide-error report.
    DivideError,
    /// Execute `ud2`: the invalid-opcode report.
    InvalidOpcode,
    /// Run the periodic tick and a one-shot deadline and check both
    /// against the monotonic clock.
    Timer,
    /// Allocate frames, then heap, until each runs out: errors, not
    /// panics, and the kernel keeps running.
    Exhaust,
    /// Power off through ACPI.
    Shutdown,
    /// Run the boot tasks with 1000 pinger round trips and report the cost
    /// of one in TSC ticks (guest instructions under `-icount shift=0`).
    Ipc,
    /// Ping every boot task from a probe task and log the answers.
    Ping,
    /// Print the in-guest benchmark numbers (region map+unmap, IPC).
    Bench,
    /// Run a raw ring-3 program: its system calls, hostile ones refused,
    /// and its fault stopping only it.
    User,
    /// Spawn and stop `/bin/hello` a thousand times; memory must end
    /// where it began.
    Churn,
    /// Write a block through the virtio-blk driver, flush, read it back,
    /// and say what the last boot left there.
    Disk,
    /// Call ring-3 echo at full rate while it is killed or made to fault
    /// 100 times; nothing lost, memory back at its baseline.
    Soak,
}

impl TestScenario {
    /// Every scenario, with the name `test=` takes.
    pub const ALL: [(&'static str, TestScenario); 16] = [
        ("boot", TestScenario::Boot),
        ("panic", TestScenario::Panic),
        ("echo", TestScenario::Echo),
        ("page-fault", TestScenario::PageFault),
        ("divide-error", TestScenario::DivideError),
        ("invalid-opcode", TestScenario::InvalidOpcode),
        ("timer", TestScenario::Timer),
        ("exhaust", TestScenario::Exhaust),
        ("shutdown", TestScenario::Shutdown),
        ("ipc", TestScenario::Ipc),
        ("ping", TestScenario::Ping),
        ("bench", TestScenario::Bench),
        ("user", TestScenario::User),
        ("churn", TestScenario::Churn),
        ("disk", TestScenario::Disk),
        ("soak", TestScenario::Soak),
    ];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, scenario)| *scenario)
    }
}

/// A command-line word the kernel cannot act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// `test=NAME` with a NAME that is not in [`TestScenario::ALL`].
    UnknownTest(&'a str),
    /// `fs=` with a value other than `ro` or `rw`.
    BadFsMode(&'a str),
    /// `fault=` not of the form `NAME:KIND`, or with a KIND that is not a
    /// `FaultKind` name.
    BadFault(&'a str),
}

impl core::fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CmdlineError::UnknownTest(name) => {
                write!(f, "unknown test scenario `{name}` (known:")?;
                for (known, _) in TestScenario::ALL {
                    write!(f, " {known}")?;
                }
                write!(f, ")")
            }
            CmdlineError::BadFsMode(mode) => {
                write!(f, "fs={mode}: the file system is mounted `ro` or `rw`")
            }
            CmdlineError::BadFault(value) => {
                write!(f, "fault={value}: expected NAME:KIND, KIND one of")?;
                for kind in FaultKind::ALL {
                    write!(f, " {}", kind.name())?;
                }
                Ok(())
            }
        }
    }
}

/// The options the kernel acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOptions {
    pub test: Option<TestScenario>,
    /// `fs=ro`: the fs gets its image without WRITE, so every write is
    /// refused (the default is `fs=rw`).
    pub fs_read_only: bool,
    /// `fault=NAME:KIND`: the ring-3 task NAME commits the fault KIND
    /// right after each start (boot and every restart), for the
    /// crash-loop test. A test facility; nothing else can set it.
    pub fault_at_start: Option<FaultAtStart>,
}

/// The longest task name `fault=` takes.
pub const FAULT_NAME_MAX: usize = 24;

/// `fault=NAME:KIND`, kept without borrowing the command line (which is
/// reclaimed after boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultAtStart {
    name: [u8; FAULT_NAME_MAX],
    len: u8,
    pub kind: FaultKind,
}

impl FaultAtStart {
    fn parse(value: &str) -> Option<Self> {
        let (name, kind) = value.split_once(':')?;
        let kind = FaultKind::parse(kind)?;
        if name.is_empty() || name.len() > FAULT_NAME_MAX {
            return None;
        }
        let mut bytes = [0u8; FAULT_NAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(Self {
            name: bytes,
            len: name.len() as u8,
            kind,
        })
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        // Copied from a `&str` whole, so it is UTF-8.
        core::str::from_utf8(&self.name[..usize::from(self.len)]).unwrap_or("")
    }
}

impl KernelOptions {
    /// Parses `cmdline`. Words without `=` and unknown keys are ignored; a
    /// known key with a bad value is an error naming the value.
    pub fn parse(cmdline: &str) -> Result<Self, CmdlineError<'_>> {
        let mut options = KernelOptions::default();
        for word in cmdline.split_ascii_whitespace() {
            if let Some(name) = word.strip_prefix("test=") {
                let scenario =
                    TestScenario::from_name(name).ok_or(CmdlineError::UnknownTest(name))?;
                options.test = Some(scenario);
            } else if let Some(mode) = word.strip_prefix("fs=") {
                options.fs_read_only = match mode {
                    "ro" => true,
                    "rw" => false,
                    other => return Err(CmdlineError::BadFsMode(other)),
                };
            } else if let Some(value) = word.strip_prefix("fault=") {
                options.fault_at_start =
                    Some(FaultAtStart::parse(value).ok_or(CmdlineError::BadFault(value))?);
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cmdline_is_a_normal_boot() {
        assert_eq!(KernelOptions::parse(""), Ok(KernelOptions::default()));
    }

    #[test]
    fn test_scenario_is_found_among_other_words() {
        let options = KernelOptions::parse("quiet test=panic loglevel=3").unwrap();
        assert_eq!(options.test, Some(TestScenario::Panic));
    }

    #[test]
    fn fs_mode_is_ro_or_rw_and_anything_else_is_an_error() {
        assert!(KernelOptions::parse("fs=ro").unwrap().fs_read_only);
        assert!(!KernelOptions::parse("fs=ro fs=rw").unwrap().fs_read_only);
        let error = KernelOptions::parse("fs=readonly").unwrap_err();
        assert_eq!(
            error.to_string(),
            "fs=readonly: the file system is mounted `ro` or `rw`"
        );
    }

    #[test]
    fn fault_names_a_task_and_a_kind_and_anything_else_is_an_error() {
        let options = KernelOptions::parse("fault=echo:pf").unwrap();
        let fault = options.fault_at_start.unwrap();
        assert_eq!((fault.name(), fault.kind), ("echo", FaultKind::PageFault));
        for bad in [
            "fault=echo",
            "fault=:pf",
            "fault=echo:segv",
            "fault=a-name-longer-than-24-bytes:pf",
        ] {
            assert!(
                matches!(KernelOptions::parse(bad), Err(CmdlineError::BadFault(_))),
                "{bad}"
            );
        }
        assert_eq!(
            KernelOptions::parse("fault=echo:x")
                .unwrap_err()
                .to_string(),
            "fault=echo:x: expected NAME:KIND, KIND one of pf gp ud de stack panic loop"
        );
    }

    #[test]
    fn last_test_word_wins() {
        let options = KernelOptions::parse("test=panic test=echo").unwrap();
        assert_eq!(options.test, Some(TestScenario::Echo));
    }

    #[test]
    fn unknown_scenario_is_an_error_that_lists_the_known_ones() {
        let error = KernelOptions::parse("test=reboot").unwrap_err();
        assert_eq!(error, CmdlineError::UnknownTest("reboot"));
        assert_eq!(
            error.to_string(),
            "unknown test scenario `reboot` (known: boot panic echo page-fault divide-error invalid-opcode timer exhaust shutdown ipc ping bench user churn disk soak)"
        );
    }
}
