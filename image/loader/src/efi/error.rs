//! The loader's one error type: which file (or thing) and what went wrong.
//! It renders as the text after `mealy-loader: error: `, on one line.

use alloc::string::{String, ToString};
use core::fmt;

use mealy_loader::config::{ConfigError, SEARCH_PATHS};
use mealy_loader::elf::ElfError;
use mealy_loader::paging::PagingError;
use uefi::Status;

/// What went wrong.
#[derive(Debug)]
pub enum Problem {
    NoFileSystem(Status),
    ConfigNotFound,
    FileNotFound,
    IsDirectory,
    BadPathCharacters,
    Read(Status),
    NotUtf8,
    TooLarge(u64),
    Config(ConfigError),
    Elf(ElfError),
    BaseRevision(u64),
    Requires5LevelPaging,
    Firmware5LevelPaging,
    OutOfMemory { pages: u64 },
    Paging(PagingError),
    ImageTooSmall,
}

/// A failure before the kernel is entered.
#[derive(Debug)]
pub struct BootError {
    pub subject: String,
    pub problem: Problem,
}

impl BootError {
    pub fn new(subject: impl ToString, problem: Problem) -> Self {
        Self {
            subject: subject.to_string(),
            problem,
        }
    }

    /// The status `efi_main` returns for this error.
    pub fn status(&self) -> Status {
        match self.problem {
            Problem::ConfigNotFound | Problem::FileNotFound => Status::NOT_FOUND,
            Problem::OutOfMemory { .. } | Problem::Paging(PagingError::OutOfMemory) => {
                Status::OUT_OF_RESOURCES
            }
            Problem::Read(status) | Problem::NoFileSystem(status) => status,
            Problem::BaseRevision(_)
            | Problem::Requires5LevelPaging
            | Problem::Firmware5LevelPaging => Status::UNSUPPORTED,
            _ => Status::LOAD_ERROR,
        }
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.subject)?;
        match &self.problem {
            Problem::NoFileSystem(s) => write!(f, "cannot open the boot partition ({s:?})"),
            Problem::ConfigNotFound => {
                write!(f, "not found (searched {})", SEARCH_PATHS.join(", "))
            }
            Problem::FileNotFound => write!(f, "file not found"),
            Problem::IsDirectory => write!(f, "is a directory, not a file"),
            Problem::BadPathCharacters => write!(f, "path has characters UEFI cannot name"),
            Problem::Read(s) => write!(f, "read failed ({s:?})"),
            Problem::NotUtf8 => write!(f, "not valid UTF-8 text"),
            Problem::TooLarge(max) => write!(f, "larger than {max} bytes"),
            Problem::Config(e) => write!(f, "{e}"),
            Problem::Elf(e) => write!(f, "{e}"),
            Problem::BaseRevision(n) if *n > mealy_loader::BASE_REVISION => write!(
                f,
                "kernel requests base revision {n}, this loader supports up to {}",
                mealy_loader::BASE_REVISION
            ),
            Problem::BaseRevision(n) => write!(
                f,
                "kernel requests base revision {n}, this loader supports only revision {} (add a limine::BaseRevision::new() tag)",
                mealy_loader::BASE_REVISION
            ),
            Problem::Requires5LevelPaging => {
                write!(
                    f,
                    "kernel requires 5-level paging, this loader provides 4-level only"
                )
            }
            Problem::Firmware5LevelPaging => {
                write!(
                    f,
                    "firmware runs with 5-level paging, which this loader cannot leave"
                )
            }
            Problem::OutOfMemory { pages } => write!(f, "not enough memory ({pages} pages wanted)"),
            Problem::Paging(e) => write!(f, "{e}"),
            Problem::ImageTooSmall => write!(f, "request lies outside the loaded image"),
        }
    }
}
