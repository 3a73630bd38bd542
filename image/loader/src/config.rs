//! Parser for the subset of `limine.conf` (Limine 8+ syntax) this loader
//! understands.
//!
//! The file is a list of lines. Blank lines and lines whose first
//! non-blank character is `#` are ignored (a `#` later in a line is part of
//! the value, since command lines may contain one). A line starting with `/`
//! begins an entry (`//` a sub-entry; a directory entry simply has no
//! `path`). Other lines are `key: value` assignments; keys are
//! case-insensitive. Assignments before the first entry are global options
//! (`timeout`, `verbose`, ...) and are accepted and ignored.
//!
//! Per entry: `protocol` (must be `limine` if given), `path` or its old name
//! `kernel_path`, `cmdline` or its old name `kernel_cmdline`, and any number of
//! `module_path`, each optionally followed by a `module_cmdline`. Other keys
//! are ignored. The first entry that has a path is booted: there is no menu.
//!
//! Paths must be `boot():/...` URIs (the partition the loader was started
//! from); other resources, partition numbers and `#hash` suffixes are
//! refused rather than guessed at.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Where real Limine looks for its configuration on UEFI, in order.
pub const SEARCH_PATHS: [&str; 5] = [
    "/limine.conf",
    "/limine/limine.conf",
    "/boot/limine.conf",
    "/boot/limine/limine.conf",
    "/EFI/BOOT/limine.conf",
];

/// A file on the boot partition named by a `boot():/` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPath {
    /// The URI as written in the config, used in messages.
    pub uri: String,
    /// The path inside the partition, with a leading `/`.
    pub path: String,
}

impl BootPath {
    /// Parses a `boot():/path` URI.
    pub fn parse(uri: &str) -> Result<Self, ConfigError> {
        let unsupported = || ConfigError::UnsupportedPath {
            line: 0,
            uri: uri.to_string(),
        };
        let path = uri.strip_prefix("boot():").ok_or_else(unsupported)?;
        if !path.starts_with('/') || path.len() < 2 || path.contains('#') {
            return Err(unsupported());
        }
        Ok(Self {
            uri: uri.to_string(),
            path: path.to_string(),
        })
    }

    /// The path in the form UEFI's file protocol wants (`\` separators).
    pub fn uefi_path(&self) -> String {
        self.path.replace('/', "\\")
    }
}

/// One module to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: BootPath,
    pub cmdline: String,
}

/// The entry to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub name: String,
    pub kernel: BootPath,
    pub cmdline: String,
    pub modules: Vec<Module>,
}

/// Why a config could not be used. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No entry with a `path` (or `kernel_path`).
    NoBootEntry,
    /// A line that is neither a comment, an entry nor `key: value`.
    Syntax { line: usize },
    /// A path that is not a `boot():/` URI.
    UnsupportedPath { line: usize, uri: String },
    /// `protocol:` names something other than `limine`.
    UnsupportedProtocol { line: usize, protocol: String },
    /// `module_cmdline` with no `module_path` before it in the entry.
    ModuleCmdlineWithoutModule { line: usize },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBootEntry => write!(f, "no entry with a `path:` to boot"),
            Self::Syntax { line } => write!(f, "line {line}: expected `key: value` or `/Entry`"),
            Self::UnsupportedPath { line, uri } => write!(
                f,
                "line {line}: unsupported path syntax `{uri}` (only boot():/... paths are supported)"
            ),
            Self::UnsupportedProtocol { line, protocol } => write!(
                f,
                "line {line}: protocol `{protocol}` is not supported (only `limine`)"
            ),
            Self::ModuleCmdlineWithoutModule { line } => {
                write!(
                    f,
                    "line {line}: module_cmdline without a module_path before it"
                )
            }
        }
    }
}

#[derive(Default)]
struct Draft {
    name: String,
    kernel: Option<BootPath>,
    protocol: Option<(usize, String)>,
    cmdline: String,
    modules: Vec<Module>,
}

impl Draft {
    fn finish(self) -> Result<Option<BootEntry>, ConfigError> {
        let Some(kernel) = self.kernel else {
            return Ok(None);
        };
        if let Some((line, protocol)) = self.protocol
            && !protocol.eq_ignore_ascii_case("limine")
        {
            return Err(ConfigError::UnsupportedProtocol { line, protocol });
        }
        Ok(Some(BootEntry {
            name: self.name,
            kernel,
            cmdline: self.cmdline,
            modules: self.modules,
        }))
    }
}

fn boot_path(line: usize, value: &str) -> Result<BootPath, ConfigError> {
    BootPath::parse(value).map_err(|_| ConfigError::UnsupportedPath {
        line,
        uri: value.to_string(),
    })
}

/// Parses `text` and returns the entry to boot: the first with a path.
pub fn parse(text: &str) -> Result<BootEntry, ConfigError> {
    let mut current: Option<Draft> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('/') {
            if let Some(done) = current.take()
                && let Some(entry) = done.finish()?
            {
                return Ok(entry);
            }
            let name = name.trim_start_matches(['/', '+']).trim();
            current = Some(Draft {
                name: name.to_string(),
                ..Draft::default()
            });
            continue;
        }
        let (key, value) = trimmed
            .split_once(':')
            .ok_or(ConfigError::Syntax { line })?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ConfigError::Syntax { line });
        }
        let Some(draft) = current.as_mut() else {
            continue; // a global option
        };
        match key.as_str() {
            "protocol" => draft.protocol = Some((line, value.to_string())),
            "path" | "kernel_path" => draft.kernel = Some(boot_path(line, value)?),
            "cmdline" | "kernel_cmdline" => draft.cmdline = value.to_string(),
            "module_path" => draft.modules.push(Module {
                path: boot_path(line, value)?,
                cmdline: String::new(),
            }),
            "module_cmdline" | "module_string" => match draft.modules.last_mut() {
                Some(module) => module.cmdline = value.to_string(),
                None => return Err(ConfigError::ModuleCmdlineWithoutModule { line }),
            },
            _ => {}
        }
    }
    match current.map(Draft::finish).transpose()?.flatten() {
        Some(entry) => Ok(entry),
        None => Err(ConfigError::NoBootEntry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT_CONF: &str = "timeout: 0\n\
        /Mealy\n    protocol: limine\n    path: boot():/boot/mealy-kernel\n    \
        cmdline: some words\n    module_path: boot():/boot/mealy.sym\n    module_cmdline: symbols\n";

    #[test]
    fn parses_the_projects_config() {
        let entry = parse(PROJECT_CONF).expect("valid");
        assert_eq!(entry.name, "Mealy");
        assert_eq!(entry.kernel.uri, "boot():/boot/mealy-kernel");
        assert_eq!(entry.kernel.path, "/boot/mealy-kernel");
        assert_eq!(entry.kernel.uefi_path(), "\\boot\\mealy-kernel");
        assert_eq!(entry.cmdline, "some words");
        assert_eq!(entry.modules.len(), 1);
        assert_eq!(entry.modules[0].path.path, "/boot/mealy.sym");
        assert_eq!(entry.modules[0].cmdline, "symbols");
    }

    #[test]
    fn old_key_names_and_case_are_accepted() {
        let text = "# comment\nTIMEOUT: 3\n/A\n  PROTOCOL: Limine\n  Kernel_Path: boot():/k\n  \
            KERNEL_CMDLINE: a=b # not a comment\n";
        let entry = parse(text).expect("valid");
        assert_eq!(entry.kernel.path, "/k");
        assert_eq!(entry.cmdline, "a=b # not a comment");
        assert!(entry.modules.is_empty());
    }

    #[test]
    fn first_entry_with_a_path_is_booted() {
        let text = "/Directory\n//First\n path: boot():/one\n/Second\n path: boot():/two\n";
        assert_eq!(parse(text).expect("valid").kernel.path, "/one");
        assert_eq!(parse(text).expect("valid").name, "First");
    }

    #[test]
    fn several_modules_keep_their_own_cmdlines() {
        let text = "/E\n path: boot():/k\n module_path: boot():/a\n module_path: boot():/b\n \
            module_cmdline: bee\n";
        let entry = parse(text).expect("valid");
        let cmdlines: Vec<_> = entry.modules.iter().map(|m| m.cmdline.as_str()).collect();
        assert_eq!(cmdlines, ["", "bee"]);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("timeout: 0\n"), Err(ConfigError::NoBootEntry));
        assert_eq!(parse(""), Err(ConfigError::NoBootEntry));
        assert_eq!(
            parse("/E\n path boot():/k\n"),
            Err(ConfigError::Syntax { line: 2 })
        );
        assert_eq!(
            parse("/E\n path: hdd(1:1):/k\n"),
            Err(ConfigError::UnsupportedPath {
                line: 2,
                uri: "hdd(1:1):/k".into()
            })
        );
        assert!(matches!(
            parse("/E\n path: boot(2):/k\n"),
            Err(ConfigError::UnsupportedPath { line: 2, .. })
        ));
        assert!(matches!(
            parse("/E\n path: boot():/k#abcd\n"),
            Err(ConfigError::UnsupportedPath { .. })
        ));
        assert!(matches!(
            parse("/E\n path: /k\n"),
            Err(ConfigError::UnsupportedPath { .. })
        ));
        assert_eq!(
            parse("/E\n protocol: linux\n path: boot():/k\n"),
            Err(ConfigError::UnsupportedProtocol {
                line: 2,
                protocol: "linux".into()
            })
        );
        assert_eq!(
            parse("/E\n module_cmdline: x\n"),
            Err(ConfigError::ModuleCmdlineWithoutModule { line: 2 })
        );
    }

    #[test]
    fn messages_are_one_line() {
        let err = parse("/E\n path: tftp():/k\n").expect_err("unsupported");
        let text = err.to_string();
        assert!(!text.contains('\n'));
        assert!(text.contains("tftp():/k"), "{text}");
    }
}
