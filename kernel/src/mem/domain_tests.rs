use super::*;
use crate::mem::address_space::AddressSpace;
use crate::mem::frame::FrameAllocator;
use crate::mem::system::MemorySystem;
use crate::mem::testing::{HashMapMapper, VecMemory, usable};

const MIB: u64 = 1 << 20;
type TestSystem = MemorySystem<VecMemory, HashMapMapper>;

fn system(frames: u64) -> TestSystem {
    let map = [usable(MIB, frames)];
    let allocator = FrameAllocator::new(&map, VecMemory::covering(&map)).expect("frames");
    MemorySystem::new(
        allocator,
        AddressSpace::lower_half(),
        HashMapMapper::default(),
    )
}

/// A "kernel root" with recognisable upper-half entries.
fn kernel_root(memory: &TestSystem) -> PhysFrame {
    let root = memory.allocate_table().expect("root");
    for slot in 256..512u64 {
        let entry = (0x4000_0000 + slot * 0x1000) | PRESENT | WRITABLE;
        memory
            .write(root.start_address() + slot * 8, &entry.to_le_bytes())
            .expect("write");
    }
    root
}

fn page(address: u64) -> Page {
    Page::containing_address(VirtAddr::new(address))
}

const USER_PAGE: u64 = LOWER_HALF_START + 0x7000;

#[test]
fn the_upper_half_is_the_kernels_and_the_lower_half_starts_empty() {
    let memory = system(64);
    let kernel = kernel_root(&memory);
    let domain = Domain::new(&memory, kernel).expect("domain");
    let mut theirs = [0u8; 2048];
    let mut ours = [0u8; 2048];
    memory
        .read(kernel.start_address() + 2048, &mut theirs)
        .unwrap();
    memory
        .read(domain.root().start_address() + 2048, &mut ours)
        .unwrap();
    assert_eq!(theirs, ours);
    let mut lower = [0u8; 2048];
    memory
        .read(domain.root().start_address(), &mut lower)
        .unwrap();
    assert!(lower.iter().all(|&b| b == 0));
    assert_eq!(domain.translate(USER_PAGE, false), None);
}

#[test]
fn copies_go_through_the_mapping_and_respect_its_rights() {
    let memory = system(64);
    let kernel = kernel_root(&memory);
    let mut domain = Domain::new(&memory, kernel).expect("domain");
    let data = memory.allocate_table().expect("frame");
    let code = memory.allocate_table().expect("frame");
    domain
        .map(page(USER_PAGE), data, Access::ReadWrite, true)
        .unwrap();
    domain
        .map(page(USER_PAGE + 0x1000), code, Access::Execute, true)
        .unwrap();
    // A copy that straddles the two pages reads both, and writes neither
    // (the second page is not writable), all or nothing.
    domain
        .copy_out(USER_PAGE + 4090, b"hello, world")
        .unwrap_err();
    let mut untouched = [0u8; 6];
    domain.copy_in(USER_PAGE + 4090, &mut untouched).unwrap();
    assert_eq!(untouched, [0; 6]);
    domain.copy_out(USER_PAGE + 4000, b"hello").unwrap();
    let mut back = [0u8; 5];
    domain.copy_in(USER_PAGE + 4000, &mut back).unwrap();
    assert_eq!(&back, b"hello");
    let mut across = [0u8; 200];
    domain.copy_in(USER_PAGE + 4000, &mut across).unwrap();
    assert_eq!(&across[..5], b"hello");
    assert!(domain.is_executable(USER_PAGE + 0x1000));
    assert!(!domain.is_executable(USER_PAGE));
    assert_eq!(
        domain.copy_in(USER_PAGE + 0x2000 - 1, &mut [0u8; 2]),
        Err(BadAddress {
            address: USER_PAGE + 0x2000
        })
    );
}

#[test]
fn hostile_addresses_are_errors_not_reads() {
    let memory = system(64);
    let kernel = kernel_root(&memory);
    let mut domain = Domain::new(&memory, kernel).expect("domain");
    let device = PhysFrame::containing_address(PhysAddr::new(0xfee0_0000));
    domain
        .map(page(USER_PAGE), device, Access::ReadWrite, false)
        .unwrap();
    let mut out = [0u8; 8];
    for address in [
        0,
        0xffff_ffff_8000_0000,
        0xffff_8000_0000_0000,
        LOWER_HALF_END,
        u64::MAX - 3,
        USER_PAGE, // device memory: mapped, but never copied
        USER_PAGE + 0x1000,
    ] {
        assert!(
            domain.copy_in(address, &mut out).is_err(),
            "{address:#x} was read"
        );
        assert!(
            domain.copy_out(address, &out).is_err(),
            "{address:#x} was written"
        );
    }
    // Mapping outside the user half, or twice, is refused.
    let frame = memory.allocate_table().unwrap();
    assert_eq!(
        domain.map(page(0xffff_ffff_8000_0000), frame, Access::ReadOnly, true),
        Err(DomainError::OutsideUserSpace {
            address: 0xffff_ffff_8000_0000
        })
    );
    assert_eq!(
        domain.map(page(USER_PAGE), frame, Access::ReadOnly, true),
        Err(DomainError::AlreadyMapped { address: USER_PAGE })
    );
}

#[test]
fn unmap_removes_and_drop_returns_every_table() {
    let memory = system(64);
    let kernel = kernel_root(&memory);
    let before = memory.frame_stats().free;
    let mut domain = Domain::new(&memory, kernel).expect("domain");
    let frame = memory.allocate_table().unwrap();
    // Two pages far apart need two sets of tables.
    domain
        .map(page(USER_PAGE), frame, Access::ReadOnly, true)
        .unwrap();
    domain
        .map(
            page(LOWER_HALF_START + (1 << 40)),
            frame,
            Access::ReadOnly,
            true,
        )
        .unwrap();
    assert_eq!(domain.mapped_pages(), 2);
    assert!(domain.table_frames() >= 5);
    // Both are remembered by the leaf cache; the unmap must forget one.
    assert!(domain.translate(USER_PAGE, false).is_some());
    assert!(
        domain
            .translate(LOWER_HALF_START + (1 << 40), false)
            .is_some()
    );
    assert_eq!(domain.unmap(page(USER_PAGE)), Some(frame));
    assert_eq!(domain.unmap(page(USER_PAGE)), None);
    assert_eq!(domain.translate(USER_PAGE, false), None);
    assert!(
        domain
            .translate(LOWER_HALF_START + (1 << 40), false)
            .is_some()
    );
    drop(domain);
    memory.free_table(frame);
    assert_eq!(memory.frame_stats().free, before);
}
