//! The load plan for a user program: a static-PIE ELF, checked, placed at a
//! base address, copied and relocated.
//!
//! A program is what `x86_64-unknown-none` links by default: a
//! little-endian ELF64 `ET_DYN` for x86_64 whose `PT_LOAD` segments start
//! at link address 0, a `PT_DYNAMIC` whose `DT_RELA` table holds only
//! `R_X86_64_RELATIVE` relocations, and usually a `PT_GNU_RELRO`. The image
//! covers link addresses `0..size` and is placed at `base`, so link address
//! `a` ends up at `base + a` and a relative relocation writes
//! `base + addend`.
//!
//! Parsing uses the `object` crate (as the loader's `elf.rs` does for the
//! kernel), which reports malformed input as errors instead of panicking;
//! this module adds the policy. Everything in the file is hostile: every
//! check is a typed [`ElfError`], all arithmetic on file values is checked,
//! and [`load`] re-checks what it touches, so neither function panics on
//! any input (a property test holds it to that).
//!
//! Segments may not share a page: the mapping gives each page one set of
//! permissions, and W^X is per page. A writable and executable segment is
//! refused outright.
//!
//! Cost: [`plan`] is linear in the program headers, the dynamic section and
//! the relocation table (each relocation is checked against every segment,
//! and there are at most [`Limits::max_segments`]). [`load`] is linear in
//! the image size plus the same relocation walk.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, Rela};

use crate::mem::PAGE_SIZE;

/// Size of one `Elf64_Rela` entry.
const RELA_ENTRY_SIZE: u64 = 24;
/// Packed relative relocations (`-z pack-relative-relocs`), which `object`
/// 0.36 does not name; refused, so a program must be linked without them.
const DT_RELRSZ: u32 = 35;
const DT_RELR: u32 = 36;

/// Bounds a program must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image (page-rounded bytes from link address 0).
    pub max_image: u64,
    /// Most `PT_LOAD` segments.
    pub max_segments: usize,
}

impl Limits {
    /// The limits for programs from the file system.
    pub const PROGRAM: Self = Self {
        max_image: 16 << 20,
        max_segments: 16,
    };
}

/// Why an ELF file cannot be loaded as a program. Each renders as one line;
/// addresses are link addresses (offsets in the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    Truncated,
    NotElf,
    NotElf64LittleEndian,
    WrongMachine(u16),
    NotPositionIndependent,
    NotExecutable(u16),
    Malformed(&'static str),
    NeedsInterpreter,
    NoLoadableSegments,
    TooManySegments { count: usize, max: usize },
    SegmentsUnsorted(u64),
    SegmentMisaligned(u64),
    SegmentsOverlap(u64),
    SegmentOutsideFile(u64),
    FileSizeExceedsMemorySize(u64),
    WritableAndExecutable(u64),
    AddressOverflow,
    BaseNotPageAligned(u64),
    ImageTooLarge { size: u64, max: u64 },
    EntryNotExecutable(u64),
    RelroOutsideWritableSegment(u64),
    UnsupportedDynamicTag(u64),
    RelocationTableOutsideFile,
    RelocationTableMisaligned,
    UnsupportedRelocation(u32),
    RelocationOutsideImage(u64),
    RelocationNotWritable(u64),
    ImageBufferSize { expected: u64, actual: u64 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "ELF file is truncated"),
            Self::NotElf => write!(f, "not an ELF file"),
            Self::NotElf64LittleEndian => write!(f, "not a little-endian 64-bit ELF file"),
            Self::WrongMachine(m) => write!(f, "ELF machine is not x86_64 (e_machine {m})"),
            Self::NotPositionIndependent => write!(
                f,
                "not position-independent (ET_EXEC); programs must be static PIE"
            ),
            Self::NotExecutable(t) => write!(f, "ELF file is not a program (e_type {t})"),
            Self::Malformed(what) => write!(f, "malformed ELF file: {what}"),
            Self::NeedsInterpreter => {
                write!(
                    f,
                    "program asks for an interpreter (PT_INTERP); link it static"
                )
            }
            Self::NoLoadableSegments => write!(f, "ELF file has no loadable segments"),
            Self::TooManySegments { count, max } => {
                write!(f, "{count} loadable segments, at most {max} allowed")
            }
            Self::SegmentsUnsorted(va) => {
                write!(f, "segment at {va:#x} is not in ascending address order")
            }
            Self::SegmentMisaligned(va) => write!(
                f,
                "segment at {va:#x} is misaligned (bad p_align, or address and offset disagree)"
            ),
            Self::SegmentsOverlap(va) => {
                write!(
                    f,
                    "segment at {va:#x} overlaps or shares a page with another"
                )
            }
            Self::SegmentOutsideFile(va) => {
                write!(f, "segment at {va:#x} has data outside the file")
            }
            Self::FileSizeExceedsMemorySize(va) => {
                write!(
                    f,
                    "segment at {va:#x} has a file size above its memory size"
                )
            }
            Self::WritableAndExecutable(va) => {
                write!(
                    f,
                    "segment at {va:#x} is both writable and executable (W^X)"
                )
            }
            Self::AddressOverflow => write!(f, "an address computation overflows"),
            Self::BaseNotPageAligned(base) => write!(f, "base {base:#x} is not page-aligned"),
            Self::ImageTooLarge { size, max } => {
                write!(f, "image of {size:#x} bytes exceeds the limit of {max:#x}")
            }
            Self::EntryNotExecutable(va) => {
                write!(f, "entry point {va:#x} is not in an executable segment")
            }
            Self::RelroOutsideWritableSegment(va) => {
                write!(f, "RELRO range at {va:#x} is not inside a writable segment")
            }
            Self::UnsupportedDynamicTag(tag) => write!(
                f,
                "dynamic tag {tag:#x} is not supported (only DT_RELA relocations)"
            ),
            Self::RelocationTableOutsideFile => {
                write!(f, "relocation table lies outside the file's loaded data")
            }
            Self::RelocationTableMisaligned => {
                write!(f, "relocation table is misaligned or has a bad entry size")
            }
            Self::UnsupportedRelocation(kind) => write!(
                f,
                "relocation type {kind} is not supported (only R_X86_64_RELATIVE)"
            ),
            Self::RelocationOutsideImage(at) => {
                write!(f, "relocation at {at:#x} lies outside the image")
            }
            Self::RelocationNotWritable(at) => {
                write!(f, "relocation at {at:#x} is not in a writable segment")
            }
            Self::ImageBufferSize { expected, actual } => write!(
                f,
                "image buffer is {actual:#x} bytes, the plan needs {expected:#x}"
            ),
        }
    }
}

/// What a segment's pages allow. Never both `write` and `execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where it starts in the image (its link address).
    pub offset: u64,
    /// Its bytes in the file; the rest of `mem_size` is zeroed (bss).
    pub file: Range<u64>,
    pub mem_size: u64,
    pub permissions: Permissions,
}

impl Segment {
    fn end(&self) -> u64 {
        // Cannot overflow: `plan` checked it.
        self.offset.saturating_add(self.mem_size)
    }

    fn contains(&self, at: Range<u64>) -> bool {
        self.offset <= at.start && at.end <= self.end()
    }
}

/// Where and how a program goes: the result of [`plan`], the input of
/// [`load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    /// Page-aligned address the image will be mapped at.
    pub base: u64,
    /// Bytes of the image (page-rounded), from link address 0.
    pub size: u64,
    /// Sorted by offset; no two share a page.
    pub segments: Vec<Segment>,
    /// Page-aligned image offsets that become read-only once relocated
    /// (empty if there is no `PT_GNU_RELRO`). As in other loaders, only
    /// whole pages: a page RELRO shares with ordinary data stays writable.
    pub relro: Range<u64>,
    /// Offset of the entry point in the image; inside an executable segment.
    pub entry: u64,
    /// The `Elf64_Rela` table's bytes in the file (empty if none).
    pub relocations: Range<u64>,
}

impl LoadPlan {
    /// The entry point's address once mapped at `base`.
    pub fn entry_address(&self) -> u64 {
        // Cannot overflow: `plan` checked `base + size`.
        self.base.saturating_add(self.entry)
    }
}

fn page_floor(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

fn page_ceil(value: u64) -> Result<u64, ElfError> {
    value
        .checked_add(PAGE_SIZE - 1)
        .map(page_floor)
        .ok_or(ElfError::AddressOverflow)
}

fn add(a: u64, b: u64) -> Result<u64, ElfError> {
    a.checked_add(b).ok_or(ElfError::AddressOverflow)
}

/// Checks `file` and plans it at `base`. Errors, in the order they are
/// checked: the base, the header, the program headers (segment by segment),
/// the image as a whole, the entry point, RELRO, the dynamic section and
/// every relocation.
pub fn plan(file: &[u8], base: u64, limits: Limits) -> Result<LoadPlan, ElfError> {
    if !base.is_multiple_of(PAGE_SIZE) {
        return Err(ElfError::BaseNotPageAligned(base));
    }
    let header = parse_header(file)?;
    let headers = header
        .program_headers(LE, file)
        .map_err(|_| ElfError::Truncated)?;

    let mut segments: Vec<Segment> = Vec::new();
    let mut relro = None;
    let mut dynamic = None;
    for ph in headers {
        match ph.p_type(LE) {
            elf::PT_LOAD => {
                if segments.len() == limits.max_segments {
                    let count = headers
                        .iter()
                        .filter(|ph| ph.p_type(LE) == elf::PT_LOAD)
                        .count();
                    let max = limits.max_segments;
                    return Err(ElfError::TooManySegments { count, max });
                }
                let segment = check_segment(ph, file)?;
                if let Some(previous) = segments.last() {
                    if segment.offset < previous.offset {
                        return Err(ElfError::SegmentsUnsorted(segment.offset));
                    }
                    if page_floor(segment.offset) < page_ceil(previous.end())? {
                        return Err(ElfError::SegmentsOverlap(segment.offset));
                    }
                }
                segments.push(segment);
            }
            elf::PT_GNU_RELRO if relro.is_some() => {
                return Err(ElfError::Malformed("more than one PT_GNU_RELRO"));
            }
            elf::PT_GNU_RELRO => {
                let start = ph.p_vaddr(LE);
                relro = Some(start..add(start, ph.p_memsz(LE))?);
            }
            elf::PT_DYNAMIC if dynamic.is_some() => {
                return Err(ElfError::Malformed("more than one PT_DYNAMIC"));
            }
            elf::PT_DYNAMIC => dynamic = Some(ph),
            elf::PT_INTERP => return Err(ElfError::NeedsInterpreter),
            _ => {}
        }
    }
    let last = segments.last().ok_or(ElfError::NoLoadableSegments)?;
    let size = page_ceil(last.end())?;
    if size > limits.max_image {
        let max = limits.max_image;
        return Err(ElfError::ImageTooLarge { size, max });
    }
    add(base, size)?;

    let entry = header.e_entry(LE);
    let executable = segments
        .iter()
        .any(|s| s.permissions.execute && s.offset <= entry && entry < s.end());
    if !executable {
        return Err(ElfError::EntryNotExecutable(entry));
    }

    let relro = match relro {
        None => 0..0,
        Some(range) => {
            let writable = segments
                .iter()
                .any(|s| s.permissions.write && s.contains(range.clone()));
            if !writable {
                return Err(ElfError::RelroOutsideWritableSegment(range.start));
            }
            let start = page_floor(range.start);
            start..page_floor(range.end).max(start)
        }
    };

    let relocations = match dynamic {
        None => 0..0,
        Some(ph) => relocation_table(ph, file, &segments)?,
    };
    let plan = LoadPlan {
        base,
        size,
        segments,
        relro,
        entry,
        relocations,
    };
    for_each_relocation(file, &plan, |_, _| Ok(()))?;
    Ok(plan)
}

/// Copies the program into `image`, the buffer of [`LoadPlan::size`] bytes
/// that will be mapped at the plan's base: every segment's file bytes, zero
/// everywhere else (bss and gaps), then every relocation applied. `file`
/// should be the one `plan` was made from; if it is not, the result is an
/// error or a wrong image, never a panic.
pub fn load(file: &[u8], plan: &LoadPlan, image: &mut [u8]) -> Result<(), ElfError> {
    if image.len() as u64 != plan.size {
        return Err(ElfError::ImageBufferSize {
            expected: plan.size,
            actual: image.len() as u64,
        });
    }
    image.fill(0);
    for segment in &plan.segments {
        let data = slice(file, segment.file.clone())
            .ok_or(ElfError::SegmentOutsideFile(segment.offset))?;
        let at = add(segment.offset, data.len() as u64)?;
        slice_mut(image, segment.offset..at)
            .ok_or(ElfError::SegmentOutsideFile(segment.offset))?
            .copy_from_slice(data);
    }
    for_each_relocation(file, plan, |at, value| {
        slice_mut(image, at..at.saturating_add(8))
            .ok_or(ElfError::RelocationOutsideImage(at))?
            .copy_from_slice(&value.to_le_bytes());
        Ok(())
    })
}

fn parse_header(file: &[u8]) -> Result<&elf::FileHeader64<LE>, ElfError> {
    match file.get(..4) {
        None => return Err(ElfError::Truncated),
        Some(magic) if magic != elf::ELFMAG => return Err(ElfError::NotElf),
        Some(_) => {}
    }
    match (file.get(4), file.get(5)) {
        (Some(&elf::ELFCLASS64), Some(&elf::ELFDATA2LSB)) => {}
        (Some(_), Some(_)) => return Err(ElfError::NotElf64LittleEndian),
        _ => return Err(ElfError::Truncated),
    }
    let header = elf::FileHeader64::<LE>::parse(file).map_err(|_| ElfError::Truncated)?;
    let machine = header.e_machine(LE);
    if machine != elf::EM_X86_64 {
        return Err(ElfError::WrongMachine(machine));
    }
    match header.e_type(LE) {
        elf::ET_DYN => Ok(header),
        elf::ET_EXEC => Err(ElfError::NotPositionIndependent),
        other => Err(ElfError::NotExecutable(other)),
    }
}

fn check_segment(ph: &elf::ProgramHeader64<LE>, file: &[u8]) -> Result<Segment, ElfError> {
    let offset = ph.p_vaddr(LE);
    let flags = ph.p_flags(LE);
    let permissions = Permissions {
        read: flags & elf::PF_R != 0,
        write: flags & elf::PF_W != 0,
        execute: flags & elf::PF_X != 0,
    };
    if permissions.write && permissions.execute {
        return Err(ElfError::WritableAndExecutable(offset));
    }
    let align = ph.p_align(LE);
    let file_start = ph.p_offset(LE);
    if align > 1 && (!align.is_power_of_two() || offset % align != file_start % align) {
        return Err(ElfError::SegmentMisaligned(offset));
    }
    let file_size = ph.p_filesz(LE);
    let mem_size = ph.p_memsz(LE);
    if file_size > mem_size {
        return Err(ElfError::FileSizeExceedsMemorySize(offset));
    }
    add(offset, mem_size)?;
    let file_end = add(file_start, file_size)?;
    if file_end > file.len() as u64 {
        return Err(ElfError::SegmentOutsideFile(offset));
    }
    Ok(Segment {
        offset,
        file: file_start..file_end,
        mem_size,
        permissions,
    })
}

/// The file range of the `DT_RELA` table that `dynamic` points to.
fn relocation_table(
    dynamic: &elf::ProgramHeader64<LE>,
    file: &[u8],
    segments: &[Segment],
) -> Result<Range<u64>, ElfError> {
    let entries = dynamic
        .dynamic(LE, file)
        .map_err(|_| ElfError::Malformed("dynamic section outside the file"))?
        .unwrap_or(&[]);
    let (mut address, mut size, mut entry_size) = (None, None, None);
    for entry in entries {
        let value = entry.d_val(LE);
        match u32::try_from(entry.d_tag(LE)) {
            Ok(elf::DT_NULL) => break,
            Ok(elf::DT_RELA) => address = Some(value),
            Ok(elf::DT_RELASZ) => size = Some(value),
            Ok(elf::DT_RELAENT) => entry_size = Some(value),
            Ok(elf::DT_PLTRELSZ | elf::DT_RELSZ | DT_RELRSZ) if value == 0 => {}
            Ok(
                elf::DT_NEEDED
                | elf::DT_REL
                | DT_RELR
                | elf::DT_JMPREL
                | elf::DT_PLTRELSZ
                | elf::DT_RELSZ
                | DT_RELRSZ
                | elf::DT_TEXTREL,
            ) => return Err(ElfError::UnsupportedDynamicTag(entry.d_tag(LE))),
            _ => {}
        }
    }
    let (address, size) = match (address, size) {
        (None, None | Some(0)) => return Ok(0..0),
        (Some(address), Some(size)) => (address, size),
        _ => return Err(ElfError::Malformed("DT_RELA without DT_RELASZ")),
    };
    if !address.is_multiple_of(8)
        || !size.is_multiple_of(RELA_ENTRY_SIZE)
        || entry_size != Some(RELA_ENTRY_SIZE)
    {
        return Err(ElfError::RelocationTableMisaligned);
    }
    let end = add(address, size)?;
    // The table is read from the file: it must lie in a segment's file bytes.
    let segment = segments
        .iter()
        .find(|s| {
            let file_size = s.file.end - s.file.start;
            s.offset <= address && end <= s.offset.saturating_add(file_size)
        })
        .ok_or(ElfError::RelocationTableOutsideFile)?;
    let start = add(segment.file.start, address - segment.offset)?;
    Ok(start..add(start, size)?)
}

/// Checks every relocation of `plan` and hands each target offset and
/// value to `apply`.
fn for_each_relocation(
    file: &[u8],
    plan: &LoadPlan,
    mut apply: impl FnMut(u64, u64) -> Result<(), ElfError>,
) -> Result<(), ElfError> {
    let bytes =
        slice(file, plan.relocations.clone()).ok_or(ElfError::RelocationTableOutsideFile)?;
    let table: &[elf::Rela64<LE>] = object::pod::slice_from_all_bytes(bytes)
        .map_err(|_| ElfError::RelocationTableMisaligned)?;
    for rela in table {
        let kind = rela.r_type(LE, false);
        if kind != elf::R_X86_64_RELATIVE {
            return Err(ElfError::UnsupportedRelocation(kind));
        }
        let at = rela.r_offset(LE);
        let end = add(at, 8)?;
        if end > plan.size {
            return Err(ElfError::RelocationOutsideImage(at));
        }
        let writable = plan
            .segments
            .iter()
            .any(|s| s.permissions.write && s.contains(at..end));
        if !writable {
            return Err(ElfError::RelocationNotWritable(at));
        }
        let value = plan
            .base
            .checked_add_signed(rela.r_addend(LE))
            .ok_or(ElfError::AddressOverflow)?;
        apply(at, value)?;
    }
    Ok(())
}

fn slice(bytes: &[u8], range: Range<u64>) -> Option<&[u8]> {
    bytes.get(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
}

fn slice_mut(bytes: &mut [u8], range: Range<u64>) -> Option<&mut [u8]> {
    bytes.get_mut(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
