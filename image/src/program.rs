//! A quick check of a built user program before it goes into `/bin`: the
//! shape the kernel's loader (`kernel/src/program/elf.rs`) insists on, so
//! a program that would be refused at spawn is refused at build time with
//! its name. The kernel's `plan` stays the authority (its host test
//! `kernel/tests/user_programs.rs` runs it over every built program); this
//! repeats its cheap outer checks without linking the kernel into xtask:
//!
//! - an ELF64 little-endian x86_64 `ET_DYN` (a static PIE), no `PT_INTERP`;
//! - no segment both writable and executable;
//! - relocations only in `DT_RELA`, every one `R_X86_64_RELATIVE` (no
//!   `DT_REL`, `DT_RELR` or PLT relocations).

use std::fmt;

use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, Rela};

/// What a good program looks like, for the build's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramSummary {
    pub file_bytes: usize,
    /// Bytes from link address 0 to the end of the last segment.
    pub image_bytes: u64,
    pub relocations: usize,
}

/// Why a file is not a program the kernel would load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAProgram(pub String);

impl fmt::Display for NotAProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAProgram {}

fn refuse<T>(why: impl Into<String>) -> Result<T, NotAProgram> {
    Err(NotAProgram(why.into()))
}

const DT_RELR: u64 = 36;

/// Checks `file` as a user program.
pub fn check(file: &[u8]) -> Result<ProgramSummary, NotAProgram> {
    let header = elf::FileHeader64::<LE>::parse(file)
        .map_err(|_| NotAProgram("not an ELF64 little-endian file".into()))?;
    if header.e_machine.get(LE) != elf::EM_X86_64 {
        return refuse("not for x86_64");
    }
    if header.e_type.get(LE) != elf::ET_DYN {
        return refuse("not position-independent (ET_DYN): link it as a static PIE");
    }
    let headers = header
        .program_headers(LE, file)
        .map_err(|_| NotAProgram("truncated program headers".into()))?;
    let mut image_bytes = 0u64;
    let mut dynamic = None;
    for ph in headers {
        match ph.p_type(LE) {
            elf::PT_INTERP => return refuse("asks for an interpreter (PT_INTERP)"),
            elf::PT_LOAD => {
                let flags = ph.p_flags(LE);
                if flags & elf::PF_W != 0 && flags & elf::PF_X != 0 {
                    return refuse(format!(
                        "segment at {:#x} is writable and executable",
                        ph.p_vaddr(LE)
                    ));
                }
                let end = ph.p_vaddr(LE).saturating_add(ph.p_memsz(LE));
                image_bytes = image_bytes.max(end);
            }
            elf::PT_DYNAMIC => dynamic = Some(ph),
            _ => {}
        }
    }
    let mut relocations = 0;
    if let Some(ph) = dynamic {
        let entries = ph
            .dynamic(LE, file)
            .map_err(|_| NotAProgram("bad dynamic section".into()))?
            .unwrap_or(&[]);
        let (mut rela, mut rela_size) = (None, 0u64);
        for entry in entries {
            let tag = entry.d_tag(LE);
            match tag {
                tag if tag == u64::from(elf::DT_RELA) => rela = Some(entry.d_val(LE)),
                tag if tag == u64::from(elf::DT_RELASZ) => rela_size = entry.d_val(LE),
                tag if tag == u64::from(elf::DT_REL)
                    || tag == u64::from(elf::DT_JMPREL)
                    || tag == DT_RELR
                    || tag == u64::from(elf::DT_NEEDED) =>
                {
                    return refuse(format!(
                        "dynamic tag {tag} (only DT_RELA with R_X86_64_RELATIVE is loaded)"
                    ));
                }
                _ => {}
            }
        }
        if let Some(address) = rela {
            relocations = check_relocations(file, header, address, rela_size)?;
        }
    }
    Ok(ProgramSummary {
        file_bytes: file.len(),
        image_bytes,
        relocations,
    })
}

/// Every `Elf64_Rela` at link address `address` must be relative.
fn check_relocations(
    file: &[u8],
    header: &elf::FileHeader64<LE>,
    address: u64,
    size: u64,
) -> Result<usize, NotAProgram> {
    let headers = header
        .program_headers(LE, file)
        .map_err(|_| NotAProgram("truncated program headers".into()))?;
    // The table's file offset: through the PT_LOAD that holds it.
    let offset = headers
        .iter()
        .filter(|ph| ph.p_type(LE) == elf::PT_LOAD)
        .find(|ph| {
            let start = ph.p_vaddr(LE);
            address >= start && address.saturating_add(size) <= start + ph.p_filesz(LE)
        })
        .map(|ph| address - ph.p_vaddr(LE) + ph.p_offset(LE))
        .ok_or_else(|| NotAProgram("relocation table outside the loaded file".into()))?;
    let table = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(start, len)| file.get(start..start.checked_add(len)?))
        .ok_or_else(|| NotAProgram("relocation table past the end of the file".into()))?;
    let entries: &[elf::Rela64<LE>] = object::pod::slice_from_all_bytes(table)
        .map_err(|_| NotAProgram("relocation table is not whole entries".into()))?;
    for entry in entries {
        let kind = entry.r_type(LE, false);
        if kind != elf::R_X86_64_RELATIVE {
            return refuse(format!(
                "relocation type {kind} at {:#x} (only R_X86_64_RELATIVE is loaded)",
                entry.r_offset(LE)
            ));
        }
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own sample static PIE (`kernel/src/program/testdata`).
    const HELLO: &[u8] = include_bytes!("../../kernel/src/program/testdata/hello.elf");

    #[test]
    fn a_static_pie_passes() {
        let summary = check(HELLO).unwrap();
        assert_eq!(summary.file_bytes, HELLO.len());
        assert!(summary.relocations > 0);
        assert!(summary.image_bytes > 0);
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        assert!(
            check(b"#!/bin/sh\n")
                .unwrap_err()
                .0
                .contains("not an ELF64")
        );
        let mut exec = HELLO.to_vec();
        exec[16..18].copy_from_slice(&elf::ET_EXEC.to_le_bytes());
        assert!(check(&exec).unwrap_err().0.contains("ET_DYN"));
        let mut arm = HELLO.to_vec();
        arm[18..20].copy_from_slice(&elf::EM_AARCH64.to_le_bytes());
        assert!(check(&arm).unwrap_err().0.contains("x86_64"));
    }
}
