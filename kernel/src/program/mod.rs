//! Programs: user tasks that are loaded from files rather than linked into
//! the kernel.
//!
//! This is the first piece of issue 15's "programs from files": [`elf`]
//! turns the bytes of a static-PIE ELF (what `x86_64-unknown-none` links by
//! default) into a checked load plan at a chosen base, and copies and
//! relocates it into a buffer. It checks everything that comes from the
//! file: the header (ELF64, little-endian, x86_64, `ET_DYN`), the
//! `PT_LOAD` segments (sorted, aligned, inside the file, not sharing a page,
//! never writable and executable), the image's size against a limit, the
//! RELRO range, the entry point (inside executable code) and every
//! relocation (only `R_X86_64_RELATIVE`, each landing in a writable
//! segment).
//!
//! Still to come: mapping the image into a protection domain at a unique
//! range from the address-space allocator, with each segment's permissions
//! and RELRO made read-only after relocation; entering it in ring 3; and
//! giving back everything on failure.

pub mod boot_files;
pub mod elf;
pub mod names;
pub mod symbols;
pub(crate) mod syscall;
pub mod task;

pub use task::{Exit, LoadError, UserCpu, UserTask};

#[cfg(test)]
mod task_tests;
