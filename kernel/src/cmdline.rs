//! The kernel command line: space-separated `key=value` words from the
//! `cmdline:` line of limine.conf.
//!
//! Only what the kernel acts on is parsed; other words are kept for the
//! banner and ignored, the way Linux treats options it does not know.

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
}

impl TestScenario {
    /// Every scenario, with the name `test=` takes.
    pub const ALL: [(&'static str, TestScenario); 15] = [
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
            "unknown test scenario `reboot` (known: boot panic echo page-fault divide-error invalid-opcode timer exhaust shutdown ipc ping bench user churn disk)"
        );
    }
}
