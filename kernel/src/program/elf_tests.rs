use super::*;
use alloc::vec;
use proptest::prelude::*;

const RX: u32 = elf::PF_R | elf::PF_X;
const RW: u32 = elf::PF_R | elf::PF_W;
const BASE: u64 = 0x40_0000_0000;
const LIMITS: Limits = Limits::PROGRAM;

/// One `PT_LOAD`: its bytes sit at `offset` in the file.
#[derive(Clone)]
struct Load {
    vaddr: u64,
    offset: u64,
    file_size: u64,
    mem_size: u64,
    flags: u32,
    align: u64,
}

/// A synthetic static PIE, laid out as lld does it. By default two
/// segments: text (`0..0x1000`, RX: headers, the relocation table at
/// 0x800, code at 0x900) and data (`0x1000..0x2800`, RW: RELRO in its
/// first page with the dynamic section at 0x1f00, data at 0x2000, bss from
/// 0x2100). Tests break one field at a time.
#[derive(Clone)]
struct Spec {
    kind: u16,
    machine: u16,
    entry: u64,
    loads: Vec<Load>,
    relro: Option<(u64, u64)>,
    interp: bool,
    dynamic: Vec<(u32, u64)>,
    relocations: Vec<(u64, u32, i64)>,
}

const RELA_AT: u64 = 0x800;
const CODE_AT: u64 = 0x900;
const DYNAMIC_AT: u64 = 0x1f00;
const DATA_AT: u64 = 0x2000;

impl Spec {
    fn valid() -> Self {
        let load = |vaddr, file_size, mem_size, flags| Load {
            vaddr,
            offset: vaddr,
            file_size,
            mem_size,
            flags,
            align: 0x1000,
        };
        let relocations = vec![
            (0x1000, elf::R_X86_64_RELATIVE, CODE_AT as i64),
            (0x2008, elf::R_X86_64_RELATIVE, DYNAMIC_AT as i64),
        ];
        Self {
            kind: elf::ET_DYN,
            machine: elf::EM_X86_64,
            entry: CODE_AT,
            loads: vec![
                load(0, 0x1000, 0x1000, RX),
                load(0x1000, 0x1100, 0x1800, RW),
            ],
            relro: Some((0x1000, 0x1000)),
            interp: false,
            dynamic: vec![
                (elf::DT_RELA, RELA_AT),
                (elf::DT_RELASZ, 24 * relocations.len() as u64),
                (elf::DT_RELAENT, 24),
            ],
            relocations,
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut phdrs: Vec<(u32, u32, u64, u64, u64, u64, u64)> = self
            .loads
            .iter()
            .map(|l| {
                (
                    elf::PT_LOAD,
                    l.flags,
                    l.offset,
                    l.vaddr,
                    l.file_size,
                    l.mem_size,
                    l.align,
                )
            })
            .collect();
        let dynamic_size = 16 * (self.dynamic.len() as u64 + 1);
        phdrs.push((
            elf::PT_DYNAMIC,
            RW,
            DYNAMIC_AT,
            DYNAMIC_AT,
            dynamic_size,
            dynamic_size,
            8,
        ));
        if let Some((at, size)) = self.relro {
            phdrs.push((elf::PT_GNU_RELRO, elf::PF_R, at, at, size, size, 1));
        }
        if self.interp {
            phdrs.push((elf::PT_INTERP, elf::PF_R, 0, 0, 1, 1, 1));
        }
        let end = self.loads.iter().map(|l| l.offset + l.file_size).max();
        let mut file = vec![0u8; end.unwrap_or(0).max(0x200) as usize];
        let mut at = 0;
        put(
            &mut file,
            &mut at,
            &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        put(&mut file, &mut at, &self.kind.to_le_bytes());
        put(&mut file, &mut at, &self.machine.to_le_bytes());
        put(&mut file, &mut at, &1u32.to_le_bytes());
        put(&mut file, &mut at, &self.entry.to_le_bytes());
        put(&mut file, &mut at, &64u64.to_le_bytes()); // phoff
        put(&mut file, &mut at, &0u64.to_le_bytes()); // shoff
        put(&mut file, &mut at, &0u32.to_le_bytes()); // flags
        put(&mut file, &mut at, &64u16.to_le_bytes()); // ehsize
        put(&mut file, &mut at, &56u16.to_le_bytes()); // phentsize
        put(&mut file, &mut at, &(phdrs.len() as u16).to_le_bytes());
        put(&mut file, &mut at, &[0; 6]); // shentsize, shnum, shstrndx
        for (kind, flags, offset, vaddr, file_size, mem_size, align) in phdrs {
            put(&mut file, &mut at, &kind.to_le_bytes());
            put(&mut file, &mut at, &flags.to_le_bytes());
            for word in [offset, vaddr, vaddr, file_size, mem_size, align] {
                put(&mut file, &mut at, &word.to_le_bytes());
            }
        }
        at = RELA_AT as usize;
        for &(offset, kind, addend) in &self.relocations {
            put(&mut file, &mut at, &offset.to_le_bytes());
            put(&mut file, &mut at, &u64::from(kind).to_le_bytes());
            put(&mut file, &mut at, &addend.to_le_bytes());
        }
        at = CODE_AT as usize;
        put(&mut file, &mut at, &[0xcc; 0x10]);
        at = DYNAMIC_AT as usize;
        for &(tag, value) in self.dynamic.iter().chain([&(elf::DT_NULL, 0)]) {
            put(&mut file, &mut at, &u64::from(tag).to_le_bytes());
            put(&mut file, &mut at, &value.to_le_bytes());
        }
        at = DATA_AT as usize;
        put(&mut file, &mut at, &[0xdd; 0x100]);
        file
    }

    fn plan(&self) -> Result<LoadPlan, ElfError> {
        plan(&self.build(), BASE, LIMITS)
    }

    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

/// Writes `bytes` at `*at` (growing `file`) and moves `*at` past them.
fn put(file: &mut Vec<u8>, at: &mut usize, bytes: &[u8]) {
    let end = *at + bytes.len();
    if file.len() < end {
        file.resize(end, 0);
    }
    file[*at..end].copy_from_slice(bytes);
    *at = end;
}

fn plan_and_load(file: &[u8], base: u64) -> Result<Vec<u8>, ElfError> {
    let plan = plan(file, base, LIMITS)?;
    let mut image = vec![0xaa; plan.size as usize];
    load(file, &plan, &mut image)?;
    Ok(image)
}

fn word(image: &[u8], at: u64) -> u64 {
    let at = at as usize;
    u64::from_le_bytes(image[at..at + 8].try_into().expect("8 bytes"))
}

#[test]
fn plans_a_valid_program() {
    let plan = Spec::valid().plan().expect("valid");
    assert_eq!(plan.base, BASE);
    assert_eq!(plan.size, 0x3000);
    assert_eq!(plan.entry, CODE_AT);
    assert_eq!(plan.entry_address(), BASE + CODE_AT);
    assert_eq!(plan.relro, 0x1000..0x2000);
    assert_eq!(plan.relocations, RELA_AT..RELA_AT + 48);
    let rx = Permissions {
        read: true,
        write: false,
        execute: true,
    };
    let rw = Permissions {
        read: true,
        write: true,
        execute: false,
    };
    assert_eq!(
        plan.segments,
        vec![
            Segment {
                offset: 0,
                file: 0..0x1000,
                mem_size: 0x1000,
                permissions: rx
            },
            Segment {
                offset: 0x1000,
                file: 0x1000..0x2100,
                mem_size: 0x1800,
                permissions: rw
            },
        ]
    );
}

#[test]
fn loads_copies_zeroes_and_relocates() {
    let file = Spec::valid().build();
    let image = plan_and_load(&file, BASE).expect("loads");
    assert_eq!(image.len(), 0x3000);
    assert_eq!(&image[..4], b"\x7fELF");
    assert_eq!(&image[0x900..0x910], &[0xcc; 0x10]);
    assert_eq!(word(&image, 0x1000), BASE + CODE_AT, "base + addend");
    assert_eq!(word(&image, 0x2008), BASE + DYNAMIC_AT, "base + addend");
    assert_eq!(&image[0x2000..0x2008], &[0xdd; 8], "data is copied");
    assert_eq!(&image[0x2010..0x2100], &[0xdd; 0xf0]);
    assert!(
        image[0x2100..].iter().all(|&b| b == 0),
        "bss and the tail are zeroed"
    );

    // Another base, another image: only the relocated words differ.
    let elsewhere = plan_and_load(&file, 0x1000).expect("loads");
    assert_eq!(word(&elsewhere, 0x1000), 0x1000 + CODE_AT);
    let mut differ = (0..image.len()).filter(|&i| image[i] != elsewhere[i]);
    assert!(differ.all(|i| (0x1000..0x1008).contains(&i) || (0x2008..0x2010).contains(&i)));
}

#[test]
fn a_program_without_relocations_or_relro_loads() {
    let spec = Spec::valid().with(|s| {
        s.dynamic.clear();
        s.relocations.clear();
        s.relro = None;
    });
    let plan = spec.plan().expect("valid");
    assert_eq!(plan.relro, 0..0);
    assert_eq!(plan.relocations, 0..0);
    plan_and_load(&spec.build(), BASE).expect("loads");
}

#[test]
fn rejects_files_that_are_not_x86_64_static_pie() {
    let file = Spec::valid().build();
    let plan_of = |file: &[u8]| plan(file, BASE, LIMITS);
    assert_eq!(plan_of(b""), Err(ElfError::Truncated));
    assert_eq!(plan_of(&file[..3]), Err(ElfError::Truncated));
    assert_eq!(plan_of(&file[..40]), Err(ElfError::Truncated));
    assert_eq!(
        plan_of(&file[..100]),
        Err(ElfError::Truncated),
        "program headers cut"
    );
    assert_eq!(plan_of(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf));
    for (at, value) in [(4, 1), (5, 2)] {
        let mut bad = file.clone();
        bad[at] = value;
        assert_eq!(plan_of(&bad), Err(ElfError::NotElf64LittleEndian));
    }
    let spec = Spec::valid();
    let arm = spec.clone().with(|s| s.machine = elf::EM_AARCH64);
    assert_eq!(arm.plan(), Err(ElfError::WrongMachine(elf::EM_AARCH64)));
    let exec = spec.clone().with(|s| s.kind = elf::ET_EXEC);
    assert_eq!(exec.plan(), Err(ElfError::NotPositionIndependent));
    let object = spec.clone().with(|s| s.kind = elf::ET_REL);
    assert_eq!(object.plan(), Err(ElfError::NotExecutable(elf::ET_REL)));
    let dynamic = spec.clone().with(|s| s.interp = true);
    assert_eq!(dynamic.plan(), Err(ElfError::NeedsInterpreter));
    let needed = spec.with(|s| s.dynamic.push((elf::DT_NEEDED, 1)));
    assert_eq!(
        needed.plan(),
        Err(ElfError::UnsupportedDynamicTag(elf::DT_NEEDED.into()))
    );
}

#[test]
fn rejects_bad_segments() {
    let spec = Spec::valid();
    let data = |change: fn(&mut Load)| spec.clone().with(|s| change(&mut s.loads[1])).plan();

    let none = spec.clone().with(|s| s.loads.clear());
    assert_eq!(none.plan(), Err(ElfError::NoLoadableSegments));
    let unsorted = spec.clone().with(|s| s.loads.reverse());
    assert_eq!(unsorted.plan(), Err(ElfError::SegmentsUnsorted(0)));
    assert_eq!(
        data(|l| {
            l.vaddr = 0x800;
            l.offset = 0x800;
        }),
        Err(ElfError::SegmentsOverlap(0x800))
    );
    let share = spec.clone().with(|s| {
        s.loads[0].mem_size = 0xc00;
        s.loads[0].file_size = 0xc00;
        s.loads[1].vaddr = 0xe00;
        s.loads[1].offset = 0xe00;
    });
    assert_eq!(
        share.plan(),
        Err(ElfError::SegmentsOverlap(0xe00)),
        "sharing a page is overlapping"
    );
    assert_eq!(
        data(|l| l.offset = 0x1010),
        Err(ElfError::SegmentMisaligned(0x1000))
    );
    assert_eq!(
        data(|l| l.align = 0x1800),
        Err(ElfError::SegmentMisaligned(0x1000))
    );
    assert_eq!(
        data(|l| l.file_size = 0x1900),
        Err(ElfError::FileSizeExceedsMemorySize(0x1000))
    );
    assert_eq!(
        data(|l| l.flags |= elf::PF_X),
        Err(ElfError::WritableAndExecutable(0x1000))
    );
    assert_eq!(
        data(|l| l.mem_size = u64::MAX - 0x800),
        Err(ElfError::AddressOverflow)
    );
    assert_eq!(
        data(|l| l.mem_size = 1 << 40),
        Err(ElfError::ImageTooLarge {
            size: (1 << 40) + 0x1000,
            max: 16 << 20
        })
    );

    let mut short = spec.build();
    short.truncate(0x20ff);
    assert_eq!(
        plan(&short, BASE, LIMITS),
        Err(ElfError::SegmentOutsideFile(0x1000))
    );
    let file = spec.build();
    let small = Limits {
        max_image: 0x2000,
        ..LIMITS
    };
    assert_eq!(
        plan(&file, BASE, small),
        Err(ElfError::ImageTooLarge {
            size: 0x3000,
            max: 0x2000
        })
    );
    let one = Limits {
        max_segments: 1,
        ..LIMITS
    };
    assert_eq!(
        plan(&file, BASE, one),
        Err(ElfError::TooManySegments { count: 2, max: 1 })
    );
}

#[test]
fn rejects_bad_placement_entry_and_relro() {
    let spec = Spec::valid();
    let file = spec.build();
    assert_eq!(
        plan(&file, BASE + 8, LIMITS),
        Err(ElfError::BaseNotPageAligned(BASE + 8))
    );
    assert_eq!(plan(&file, !0xfff, LIMITS), Err(ElfError::AddressOverflow));
    for entry in [0x1000, 0x2ff0, 0x5000, u64::MAX] {
        let wild = spec.clone().with(|s| s.entry = entry);
        assert_eq!(wild.plan(), Err(ElfError::EntryNotExecutable(entry)));
    }
    let relro_in_text = spec.clone().with(|s| s.relro = Some((0, 0x100)));
    assert_eq!(
        relro_in_text.plan(),
        Err(ElfError::RelroOutsideWritableSegment(0))
    );
    let relro_past_end = spec.with(|s| s.relro = Some((0x1000, 0x2000)));
    assert_eq!(
        relro_past_end.plan(),
        Err(ElfError::RelroOutsideWritableSegment(0x1000))
    );
}

#[test]
fn rejects_bad_relocation_tables() {
    let table = |address: u64, size: u64, entry: u64| {
        Spec::valid()
            .with(|s| {
                s.dynamic = vec![
                    (elf::DT_RELA, address),
                    (elf::DT_RELASZ, size),
                    (elf::DT_RELAENT, entry),
                ]
            })
            .plan()
    };
    assert_eq!(
        table(0x10_0000, 48, 24),
        Err(ElfError::RelocationTableOutsideFile)
    );
    assert_eq!(
        table(0x2200, 48, 24),
        Err(ElfError::RelocationTableOutsideFile),
        "bss"
    );
    assert_eq!(
        table(0xff8, 48, 24),
        Err(ElfError::RelocationTableOutsideFile),
        "straddles"
    );
    assert_eq!(table(u64::MAX - 7, 48, 24), Err(ElfError::AddressOverflow));
    assert_eq!(
        table(0x804, 48, 24),
        Err(ElfError::RelocationTableMisaligned)
    );
    assert_eq!(
        table(0x800, 47, 24),
        Err(ElfError::RelocationTableMisaligned)
    );
    assert_eq!(
        table(0x800, 48, 16),
        Err(ElfError::RelocationTableMisaligned)
    );
    let no_size = Spec::valid().with(|s| s.dynamic.retain(|&(tag, _)| tag != elf::DT_RELASZ));
    assert!(matches!(no_size.plan(), Err(ElfError::Malformed(_))));
    let rel = Spec::valid().with(|s| s.dynamic.push((elf::DT_REL, 0x800)));
    assert_eq!(
        rel.plan(),
        Err(ElfError::UnsupportedDynamicTag(elf::DT_REL.into()))
    );
}

#[test]
fn rejects_bad_relocations() {
    let one = |offset: u64, kind: u32, addend: i64| {
        let spec = Spec::valid().with(|s| s.relocations[1] = (offset, kind, addend));
        plan(&spec.build(), 0, LIMITS)
    };
    assert!(
        one(0x2800 - 8, elf::R_X86_64_RELATIVE, 0).is_ok(),
        "last word of data"
    );
    assert_eq!(
        one(0x2008, elf::R_X86_64_64, 0),
        Err(ElfError::UnsupportedRelocation(elf::R_X86_64_64))
    );
    assert_eq!(
        one(0x2008, elf::R_X86_64_GLOB_DAT, 0),
        Err(ElfError::UnsupportedRelocation(elf::R_X86_64_GLOB_DAT))
    );
    assert_eq!(
        one(0x2ffc, elf::R_X86_64_RELATIVE, 0),
        Err(ElfError::RelocationOutsideImage(0x2ffc))
    );
    assert_eq!(
        one(0x10_0000, elf::R_X86_64_RELATIVE, 0),
        Err(ElfError::RelocationOutsideImage(0x10_0000))
    );
    assert_eq!(
        one(u64::MAX - 3, elf::R_X86_64_RELATIVE, 0),
        Err(ElfError::AddressOverflow)
    );
    assert_eq!(
        one(CODE_AT, elf::R_X86_64_RELATIVE, 0),
        Err(ElfError::RelocationNotWritable(CODE_AT))
    );
    assert_eq!(
        one(0x27fc, elf::R_X86_64_RELATIVE, 0),
        Err(ElfError::RelocationNotWritable(0x27fc)),
        "straddles the end of data"
    );
    assert_eq!(
        one(0x2008, elf::R_X86_64_RELATIVE, -1),
        Err(ElfError::AddressOverflow),
        "0 + -1"
    );
}

#[test]
fn load_checks_the_buffer() {
    let file = Spec::valid().build();
    let plan = plan(&file, BASE, LIMITS).expect("valid");
    let mut image = vec![0; 0x2000];
    assert_eq!(
        load(&file, &plan, &mut image),
        Err(ElfError::ImageBufferSize {
            expected: 0x3000,
            actual: 0x2000
        })
    );
    let mut image = vec![0; 0x3000];
    assert_eq!(
        load(&file[..0x1000], &plan, &mut image),
        Err(ElfError::SegmentOutsideFile(0x1000)),
        "a different file than planned"
    );
}

#[test]
fn every_error_is_one_line() {
    let errors = [
        ElfError::Truncated,
        ElfError::NotElf,
        ElfError::NotElf64LittleEndian,
        ElfError::WrongMachine(3),
        ElfError::NotPositionIndependent,
        ElfError::NotExecutable(1),
        ElfError::Malformed("x"),
        ElfError::NeedsInterpreter,
        ElfError::NoLoadableSegments,
        ElfError::TooManySegments { count: 9, max: 1 },
        ElfError::SegmentsUnsorted(1),
        ElfError::SegmentMisaligned(1),
        ElfError::SegmentsOverlap(1),
        ElfError::SegmentOutsideFile(1),
        ElfError::FileSizeExceedsMemorySize(1),
        ElfError::WritableAndExecutable(1),
        ElfError::AddressOverflow,
        ElfError::BaseNotPageAligned(1),
        ElfError::ImageTooLarge { size: 2, max: 1 },
        ElfError::EntryNotExecutable(1),
        ElfError::RelroOutsideWritableSegment(1),
        ElfError::UnsupportedDynamicTag(1),
        ElfError::RelocationTableOutsideFile,
        ElfError::RelocationTableMisaligned,
        ElfError::UnsupportedRelocation(1),
        ElfError::RelocationOutsideImage(1),
        ElfError::RelocationNotWritable(1),
        ElfError::ImageBufferSize {
            expected: 2,
            actual: 1,
        },
    ];
    for error in errors {
        let line = alloc::format!("{error}");
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "{error:?}: {line}"
        );
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..0x400)) {
        let _ = plan_and_load(&bytes, BASE);
        let mut elf = Spec::valid().build();
        elf[64..64 + bytes.len().min(0x200)].copy_from_slice(&bytes[..bytes.len().min(0x200)]);
        let _ = plan_and_load(&elf, BASE);
    }

    #[test]
    fn corrupted_bytes_never_panic(at in 0usize..0x2100, byte in any::<u8>()) {
        let mut file = Spec::valid().build();
        file[at] = byte;
        let _ = plan_and_load(&file, BASE);
    }

    #[test]
    fn corrupted_words_never_panic(at in 0usize..0x120, word in any::<u64>()) {
        let mut file = Spec::valid().build();
        file[at..at + 8].copy_from_slice(&word.to_le_bytes());
        let _ = plan_and_load(&file, BASE);
    }
}

/// A real static PIE: `testdata/hello.rs`, linked by rustc's lld with
/// `rustc --edition 2024 --target x86_64-unknown-none -C panic=abort -O
/// hello.rs -o hello.elf` (rustc 1.95). Four segments (R, RX, RW with
/// RELRO, RW), five `R_X86_64_RELATIVE` relocations at 0x2378, 0x2388,
/// 0x2398, 0x3488, 0x3498.
#[test]
fn plans_and_loads_a_real_static_pie() {
    let file = include_bytes!("testdata/hello.elf");
    let plan = plan(file, BASE, LIMITS).expect("valid");
    assert_eq!(plan.segments.len(), 4);
    assert_eq!(plan.size, 0x4000);
    assert_eq!(plan.entry, 0x1330);
    assert_eq!(plan.relro, 0x2000..0x3000);
    let mut image = vec![0; plan.size as usize];
    load(file, &plan, &mut image).expect("loads");
    for (at, addend) in [(0x2378, 0x2fb), (0x2388, 0x2fc), (0x3488, 0x2f8)] {
        assert_eq!(word(&image, at), BASE + addend);
    }
}
