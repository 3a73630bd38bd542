//! The load plan for the kernel: which bytes of the ELF file go where in the
//! higher half, and with which permissions.
//!
//! Parsing uses the `object` crate, which reports malformed input as errors
//! instead of panicking. Only what the protocol's non-PIE case needs is
//! accepted: a little-endian ELF64 executable (`ET_EXEC`) for x86_64 whose
//! loadable segments lie in the top 2 GiB (`0xffffffff80000000` and up), do
//! not overlap, and fit in their file. The whole span of the segments is
//! loaded into one physically contiguous block, so the kernel's physical
//! base (executable-address response) is well defined.

use alloc::vec::Vec;
use core::fmt;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::{PAGE_SIZE, page_ceil, page_floor};

/// Lowest address a non-PIE kernel may be linked at.
pub const HIGHER_HALF_KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// Why an ELF file cannot be loaded. Each renders as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    NotElf64LittleEndian,
    WrongMachine(u16),
    PositionIndependent,
    NotExecutable(u16),
    Malformed(&'static str),
    NoLoadableSegments,
    BelowHigherHalf(u64),
    SegmentOutsideFile,
    FileSizeExceedsMemorySize,
    SegmentsOverlap(u64),
    EntryOutsideImage(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf => write!(f, "not an ELF file"),
            Self::NotElf64LittleEndian => write!(f, "not a little-endian 64-bit ELF file"),
            Self::WrongMachine(m) => write!(f, "ELF machine is not x86_64 (e_machine {m})"),
            Self::PositionIndependent => {
                write!(
                    f,
                    "position-independent executables are not supported (link it non-PIE)"
                )
            }
            Self::NotExecutable(t) => write!(f, "ELF file is not an executable (e_type {t})"),
            Self::Malformed(what) => write!(f, "malformed ELF file: {what}"),
            Self::NoLoadableSegments => write!(f, "ELF file has no loadable segments"),
            Self::BelowHigherHalf(va) => write!(
                f,
                "segment at {va:#x} is below {HIGHER_HALF_KERNEL_BASE:#x} (kernels must be linked in the top 2 GiB)"
            ),
            Self::SegmentOutsideFile => write!(f, "a segment's data lies outside the file"),
            Self::FileSizeExceedsMemorySize => {
                write!(f, "a segment's file size exceeds its memory size")
            }
            Self::SegmentsOverlap(va) => write!(f, "segments overlap at {va:#x}"),
            Self::EntryOutsideImage(va) => {
                write!(f, "entry point {va:#x} is outside the loaded image")
            }
        }
    }
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// Page permissions for the kernel mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagePermissions {
    pub writable: bool,
    pub executable: bool,
}

/// Where the kernel goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    /// Page-aligned virtual address of the first loaded page.
    pub virtual_base: u64,
    /// Bytes from `virtual_base` to the end of the last page.
    pub size: u64,
    pub segments: Vec<Segment>,
}

impl LoadPlan {
    /// Parses `file` into a plan.
    pub fn parse(file: &[u8]) -> Result<Self, ElfError> {
        if file.get(..4) != Some(&elf::ELFMAG[..]) {
            return Err(ElfError::NotElf);
        }
        if file.get(4) != Some(&elf::ELFCLASS64) || file.get(5) != Some(&elf::ELFDATA2LSB) {
            return Err(ElfError::NotElf64LittleEndian);
        }
        let header = elf::FileHeader64::<object::LittleEndian>::parse(file)
            .map_err(|_| ElfError::Malformed("bad file header"))?;
        let endian = object::LittleEndian;
        let machine = header.e_machine(endian);
        if machine != elf::EM_X86_64 {
            return Err(ElfError::WrongMachine(machine));
        }
        match header.e_type(endian) {
            elf::ET_EXEC => {}
            elf::ET_DYN => return Err(ElfError::PositionIndependent),
            other => return Err(ElfError::NotExecutable(other)),
        }
        let headers = header
            .program_headers(endian, file)
            .map_err(|_| ElfError::Malformed("bad program header table"))?;

        let mut segments = Vec::new();
        for ph in headers
            .iter()
            .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        {
            let segment = Segment {
                vaddr: ph.p_vaddr(endian),
                mem_size: ph.p_memsz(endian),
                file_offset: ph.p_offset(endian),
                file_size: ph.p_filesz(endian),
                writable: ph.p_flags(endian) & elf::PF_W != 0,
                executable: ph.p_flags(endian) & elf::PF_X != 0,
            };
            if segment.mem_size == 0 {
                continue;
            }
            if segment.vaddr < HIGHER_HALF_KERNEL_BASE {
                return Err(ElfError::BelowHigherHalf(segment.vaddr));
            }
            if segment.file_size > segment.mem_size {
                return Err(ElfError::FileSizeExceedsMemorySize);
            }
            let file_end = segment.file_offset.checked_add(segment.file_size);
            if file_end.is_none_or(|end| end > file.len() as u64) {
                return Err(ElfError::SegmentOutsideFile);
            }
            if segment.vaddr.checked_add(segment.mem_size).is_none() {
                return Err(ElfError::Malformed("segment wraps the address space"));
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            return Err(ElfError::NoLoadableSegments);
        }
        segments.sort_by_key(|s| s.vaddr);
        for pair in segments.windows(2) {
            if pair[0].vaddr + pair[0].mem_size > pair[1].vaddr {
                return Err(ElfError::SegmentsOverlap(pair[1].vaddr));
            }
        }

        let virtual_base = page_floor(segments[0].vaddr);
        let last = segments[segments.len() - 1];
        let size = page_ceil(last.vaddr + last.mem_size).wrapping_sub(virtual_base);
        let entry = header.e_entry(endian);
        let plan = Self {
            entry,
            virtual_base,
            size,
            segments,
        };
        if !plan.contains(entry) {
            return Err(ElfError::EntryOutsideImage(entry));
        }
        Ok(plan)
    }

    /// Whether `vaddr` lies in the loaded image.
    pub fn contains(&self, vaddr: u64) -> bool {
        vaddr >= self.virtual_base && vaddr - self.virtual_base < self.size
    }

    /// Number of pages the image occupies.
    pub fn pages(&self) -> u64 {
        self.size / PAGE_SIZE
    }

    /// Copies the segments from `file` into `image` (the block of
    /// [`Self::size`] bytes that will be mapped at `virtual_base`), zeroing
    /// everything else. `file` must be the one the plan was parsed from.
    pub fn load(&self, file: &[u8], image: &mut [u8]) -> Result<(), ElfError> {
        image.fill(0);
        for s in &self.segments {
            let from = s.file_offset as usize;
            let data = file
                .get(from..from + s.file_size as usize)
                .ok_or(ElfError::SegmentOutsideFile)?;
            let at = (s.vaddr - self.virtual_base) as usize;
            image
                .get_mut(at..at + data.len())
                .ok_or(ElfError::Malformed("image buffer too small"))?
                .copy_from_slice(data);
        }
        Ok(())
    }

    /// Permissions of the page at `page` (page-aligned), or `None` if no
    /// segment touches it (it is then left unmapped). A page shared by two
    /// segments gets the union of their permissions.
    pub fn page_permissions(&self, page: u64) -> Option<PagePermissions> {
        let mut result: Option<PagePermissions> = None;
        for s in &self.segments {
            if page_floor(s.vaddr) <= page && page < s.vaddr + s.mem_size {
                let p = result.get_or_insert_with(PagePermissions::default);
                p.writable |= s.writable;
                p.executable |= s.executable;
            }
        }
        result
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 with the given `(vaddr, flags, data, mem_size)`
    /// segments, for tests here and in other modules.
    pub(crate) fn build_elf(
        machine: u16,
        kind: u16,
        entry: u64,
        segments: &[(u64, u32, &[u8], u64)],
    ) -> Vec<u8> {
        let phoff = 64u64;
        let data_start = phoff + 56 * segments.len() as u64;
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&phoff.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        out.extend_from_slice(&64u16.to_le_bytes()); // ehsize
        out.extend_from_slice(&56u16.to_le_bytes()); // phentsize
        out.extend_from_slice(&(segments.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
        let mut offset = data_start;
        for (vaddr, flags, data, mem) in segments {
            out.extend_from_slice(&elf::PT_LOAD.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(&mem.to_le_bytes());
            out.extend_from_slice(&PAGE_SIZE.to_le_bytes());
            offset += data.len() as u64;
        }
        for (_, _, data, _) in segments {
            out.extend_from_slice(data);
        }
        out
    }

    const BASE: u64 = HIGHER_HALF_KERNEL_BASE;
    const RX: u32 = elf::PF_R | elf::PF_X;
    const R: u32 = elf::PF_R;
    const RW: u32 = elf::PF_R | elf::PF_W;

    fn kernel() -> Vec<u8> {
        build_elf(
            elf::EM_X86_64,
            elf::ET_EXEC,
            BASE + 0x10,
            &[
                (BASE, RX, &[0xcc; 0x20], 0x20),
                (BASE + 0x1000, R, b"rodata", 6),
                (BASE + 0x2800, RW, &[7, 7], 0x2000),
            ],
        )
    }

    #[test]
    fn plans_and_loads_a_kernel() {
        let file = kernel();
        let plan = LoadPlan::parse(&file).expect("valid");
        assert_eq!(plan.entry, BASE + 0x10);
        assert_eq!(plan.virtual_base, BASE);
        assert_eq!(plan.size, 0x5000);
        assert_eq!(plan.pages(), 5);

        let mut image = vec![0xaau8; plan.size as usize];
        plan.load(&file, &mut image).expect("loads");
        assert_eq!(&image[..0x20], &[0xcc; 0x20]);
        assert_eq!(image[0x20], 0, "gaps are zeroed");
        assert_eq!(&image[0x1000..0x1006], b"rodata");
        assert_eq!(&image[0x2800..0x2802], &[7, 7]);
        assert!(image[0x2802..].iter().all(|&b| b == 0), "bss is zeroed");

        let perm = |off| plan.page_permissions(BASE + off);
        assert_eq!(
            perm(0),
            Some(PagePermissions {
                writable: false,
                executable: true
            })
        );
        assert_eq!(
            perm(0x1000),
            Some(PagePermissions {
                writable: false,
                executable: false
            })
        );
        assert_eq!(
            perm(0x2000),
            Some(PagePermissions {
                writable: true,
                executable: false
            })
        );
        assert_eq!(
            perm(0x4000),
            Some(PagePermissions {
                writable: true,
                executable: false
            })
        );
        assert_eq!(perm(0x5000), None);
    }

    #[test]
    fn shared_pages_get_the_union() {
        let file = build_elf(
            elf::EM_X86_64,
            elf::ET_EXEC,
            BASE,
            &[(BASE, RX, &[1; 0x10], 0x10), (BASE + 0x800, RW, &[2; 4], 4)],
        );
        let plan = LoadPlan::parse(&file).expect("valid");
        assert_eq!(
            plan.page_permissions(BASE),
            Some(PagePermissions {
                writable: true,
                executable: true
            })
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            LoadPlan::parse(b"#!/bin/sh\necho hi\n"),
            Err(ElfError::NotElf)
        );
        assert_eq!(LoadPlan::parse(b""), Err(ElfError::NotElf));
        assert_eq!(
            LoadPlan::parse(b"\x7fELF"),
            Err(ElfError::NotElf64LittleEndian)
        );
        let mut truncated = kernel();
        truncated.truncate(40);
        assert!(matches!(
            LoadPlan::parse(&truncated),
            Err(ElfError::Malformed(_))
        ));
        let mut short_data = kernel();
        short_data.truncate(short_data.len() - 3);
        assert_eq!(
            LoadPlan::parse(&short_data),
            Err(ElfError::SegmentOutsideFile)
        );

        let seg: &[(u64, u32, &[u8], u64)] = &[(BASE, RX, &[0; 4], 4)];
        let arm = build_elf(elf::EM_AARCH64, elf::ET_EXEC, BASE, seg);
        assert_eq!(
            LoadPlan::parse(&arm),
            Err(ElfError::WrongMachine(elf::EM_AARCH64))
        );
        let pie = build_elf(elf::EM_X86_64, elf::ET_DYN, BASE, seg);
        assert_eq!(LoadPlan::parse(&pie), Err(ElfError::PositionIndependent));
        let low = build_elf(
            elf::EM_X86_64,
            elf::ET_EXEC,
            0x20_0000,
            &[(0x20_0000, RX, &[0; 4], 4)],
        );
        assert_eq!(
            LoadPlan::parse(&low),
            Err(ElfError::BelowHigherHalf(0x20_0000))
        );
        let none = build_elf(elf::EM_X86_64, elf::ET_EXEC, BASE, &[]);
        assert_eq!(LoadPlan::parse(&none), Err(ElfError::NoLoadableSegments));
        let big = build_elf(
            elf::EM_X86_64,
            elf::ET_EXEC,
            BASE,
            &[(BASE, RX, &[0; 8], 4)],
        );
        assert_eq!(
            LoadPlan::parse(&big),
            Err(ElfError::FileSizeExceedsMemorySize)
        );
        let overlap = build_elf(
            elf::EM_X86_64,
            elf::ET_EXEC,
            BASE,
            &[(BASE, RX, &[0; 8], 0x2000), (BASE + 0x1000, RW, &[0; 8], 8)],
        );
        assert_eq!(
            LoadPlan::parse(&overlap),
            Err(ElfError::SegmentsOverlap(BASE + 0x1000))
        );
        let wild_entry = build_elf(elf::EM_X86_64, elf::ET_EXEC, 0x1234, seg);
        assert_eq!(
            LoadPlan::parse(&wild_entry),
            Err(ElfError::EntryOutsideImage(0x1234))
        );
    }
}
