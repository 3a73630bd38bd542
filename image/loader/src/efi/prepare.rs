//! Everything before the point of no return: configuration, files, the
//! kernel image, page tables, stack, GDT and responses. Any failure here is
//! reported and handed back to the firmware; success yields a [`Handoff`]
//! made only of addresses, so nothing firmware-owned outlives this function.

use alloc::vec;
use alloc::vec::Vec;

use mealy_loader::config::{self, SEARCH_PATHS};
use mealy_loader::elf::LoadPlan;
use mealy_loader::gdt::{self, Gdtr};
use mealy_loader::memmap::{self, MemoryMapEntry, kind, kind_for_uefi};
use mealy_loader::paging::{AddressSpace, flags};
use mealy_loader::requests::{self, RequestKind};
use mealy_loader::{BASE_REVISION, MIN_STACK_SIZE, PAGE_SIZE, hhdm, page_ceil, page_floor};
use uefi::boot::{self, MemoryType, OpenProtocolAttributes, OpenProtocolParams};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::console::gop::{GraphicsOutput, PixelFormat};
use uefi::table::cfg::ConfigTableEntry;

use super::error::{BootError, Problem};
use super::files::BootVolume;
use super::handoff::Handoff;
use super::memory::{Arena, FirmwareTables, PageBlock};
use super::responses::{self, Facts, FramebufferInfo, HandedFile};

/// CR4.LA57: the firmware runs with 5-level paging.
fn firmware_uses_5_level_paging() -> bool {
    let cr4: u64;
    // SAFETY: reading CR4 has no side effects; UEFI runs in ring 0.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack)) };
    cr4 & (1 << 12) != 0
}

/// Whether the CPU supports the NX bit (CPUID 0x8000_0001, EDX bit 20).
fn cpu_has_nx() -> bool {
    let max = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    max >= 0x8000_0001 && core::arch::x86_64::__cpuid(0x8000_0001).edx & (1 << 20) != 0
}

fn mask_info(mask: u32) -> (u8, u8) {
    (
        mask.count_ones() as u8,
        if mask == 0 {
            0
        } else {
            mask.trailing_zeros() as u8
        },
    )
}

/// The GOP framebuffer, if there is one with a linear framebuffer.
fn framebuffer() -> Option<FramebufferInfo> {
    let handle = boot::get_handle_for_protocol::<GraphicsOutput>().ok()?;
    let params = OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: GetProtocol opens GOP without disconnecting the console that
    // also uses it; we only read the mode and framebuffer address.
    let mut gop = unsafe {
        boot::open_protocol::<GraphicsOutput>(params, OpenProtocolAttributes::GetProtocol)
    }
    .ok()?;
    let info = gop.current_mode_info();
    let masks = match info.pixel_format() {
        PixelFormat::Rgb => [(8, 0), (8, 8), (8, 16)],
        PixelFormat::Bgr => [(8, 16), (8, 8), (8, 0)],
        PixelFormat::Bitmask => {
            let m = info.pixel_bitmask()?;
            [mask_info(m.red), mask_info(m.green), mask_info(m.blue)]
        }
        PixelFormat::BltOnly => return None,
    };
    let (width, height) = info.resolution();
    let stride = info.stride() as u64;
    let mut fb = gop.frame_buffer();
    Some(FramebufferInfo {
        phys: fb.as_mut_ptr() as u64,
        size: fb.size() as u64,
        width: width as u64,
        height: height as u64,
        pitch: stride * 4,
        masks,
    })
}

/// Physical address of the ACPI RSDP (ACPI 2.0+ table preferred).
fn rsdp() -> Option<u64> {
    uefi::system::with_config_table(|tables| {
        let find = |guid| {
            tables
                .iter()
                .find(|t| t.guid == guid)
                .map(|t| t.address as u64)
        };
        find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID))
    })
}

fn overlay(phys: u64, size: u64, kind: u64) -> MemoryMapEntry {
    let base = page_floor(phys);
    MemoryMapEntry {
        base,
        length: page_ceil(phys + size.max(1)) - base,
        kind,
    }
}

/// The firmware memory map now, converted (used for the HHDM and sizing).
fn current_memory_map(overlays: &[MemoryMapEntry]) -> Result<Vec<MemoryMapEntry>, BootError> {
    let map = boot::memory_map(MemoryType::LOADER_DATA)
        .map_err(|e| BootError::new("memory map", Problem::Read(e.status())))?;
    let regions: Vec<_> = map
        .entries()
        .map(|d| MemoryMapEntry {
            base: d.phys_start,
            length: d.page_count * PAGE_SIZE,
            kind: kind_for_uefi(d.ty.0),
        })
        .collect();
    let mut out = vec![MemoryMapEntry::default(); 2 * (regions.len() + overlays.len()) + 8];
    let n = memmap::build(regions, overlays, &mut out)
        .map_err(|_| BootError::new("memory map", Problem::OutOfMemory { pages: 0 }))?;
    out.truncate(n);
    Ok(out)
}

/// Runs every step up to the exit from boot services.
pub fn prepare() -> Result<Handoff, BootError> {
    if firmware_uses_5_level_paging() {
        return Err(BootError::new("CPU", Problem::Firmware5LevelPaging));
    }
    let nx = cpu_has_nx();

    // Configuration.
    let mut volume = BootVolume::open()?;
    let config_path = SEARCH_PATHS
        .iter()
        .copied()
        .find(|path| volume.exists(path))
        .ok_or_else(|| BootError::new("limine.conf", Problem::ConfigNotFound))?;
    let text = volume.read_text(config_path)?;
    let entry =
        config::parse(&text).map_err(|e| BootError::new(config_path, Problem::Config(e)))?;
    let shown = entry.kernel.uri.as_str();

    // The kernel.
    let mut kernel_file = volume.load(&entry.kernel.path, shown)?;
    let plan = LoadPlan::parse(kernel_file.contents())
        .map_err(|e| BootError::new(shown, Problem::Elf(e)))?;
    let mut image = PageBlock::allocate(plan.size, shown)?;
    plan.load(kernel_file.contents(), image.bytes())
        .map_err(|e| BootError::new(shown, Problem::Elf(e)))?;
    let scan = requests::scan(image.bytes());
    let tag = match scan.base_revision {
        Some(tag) if tag.requested == BASE_REVISION => tag,
        _ => {
            let requested = scan.requested_revision();
            return Err(BootError::new(shown, Problem::BaseRevision(requested)));
        }
    };
    if let Some(request) = scan.find(RequestKind::PagingMode)
        && request.revision >= 1
        && requests::extra_field(image.bytes(), request, 2).is_some_and(|min| min > 0)
    {
        return Err(BootError::new(shown, Problem::Requires5LevelPaging));
    }

    // Modules.
    let mut modules = Vec::with_capacity(entry.modules.len());
    for module in &entry.modules {
        modules.push(volume.load(&module.path.path, &module.path.uri)?);
    }
    drop(volume);

    // Firmware facts.
    let fb = framebuffer();
    let mut overlays = vec![
        overlay(image.phys(), image.len(), kind::EXECUTABLE_AND_MODULES),
        overlay(
            kernel_file.block.phys(),
            kernel_file.size,
            kind::EXECUTABLE_AND_MODULES,
        ),
    ];
    for m in &modules {
        overlays.push(overlay(
            m.block.phys(),
            m.size,
            kind::EXECUTABLE_AND_MODULES,
        ));
    }
    if let Some(fb) = &fb {
        overlays.push(overlay(fb.phys, fb.size, kind::FRAMEBUFFER));
    }

    // Page tables: the HHDM over what revision 3 covers, then the kernel.
    let map = current_memory_map(&overlays)?;
    let paging = |e| BootError::new("page tables", Problem::Paging(e));
    let mut space = AddressSpace::new(FirmwareTables).map_err(paging)?;
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for e in map.iter().filter(|e| memmap::hhdm_covers(e.kind)) {
        match ranges.last_mut() {
            Some(last) if last.1 == e.base => last.1 = e.end(),
            _ => ranges.push((e.base, e.end())),
        }
    }
    for (start, end) in ranges {
        space
            .map_range(hhdm(start), start, end - start, flags::WRITABLE)
            .map_err(paging)?;
    }
    let no_execute = if nx { flags::NO_EXECUTE } else { 0 };
    for page in 0..plan.pages() {
        let virt = plan.virtual_base + page * PAGE_SIZE;
        if let Some(perm) = plan.page_permissions(virt) {
            let mut leaf = 0;
            if perm.writable {
                leaf |= flags::WRITABLE;
            }
            if !perm.executable {
                leaf |= no_execute;
            }
            space
                .map_page(virt, image.phys() + page * PAGE_SIZE, leaf)
                .map_err(paging)?;
        }
    }
    space.alias_top_level(256, 0, 255);

    // Stack and GDT.
    let requested_stack = scan
        .find(RequestKind::StackSize)
        .and_then(|r| requests::extra_field(image.bytes(), r, 0))
        .unwrap_or(0);
    let stack = PageBlock::allocate(page_ceil(requested_stack.max(MIN_STACK_SIZE)), "stack")?;
    let mut gdt_page = PageBlock::allocate(PAGE_SIZE, "GDT")?;
    for (i, d) in gdt::DESCRIPTORS.iter().enumerate() {
        gdt_page.bytes()[i * 8..i * 8 + 8].copy_from_slice(&d.to_le_bytes());
    }
    let gdtr = Gdtr::for_table_at(gdt_page.hhdm());
    gdt_page.bytes()[64..66].copy_from_slice(&{ gdtr.limit }.to_le_bytes());
    gdt_page.bytes()[66..74].copy_from_slice(&{ gdtr.base }.to_le_bytes());

    // Responses.
    let strings: u64 = entry.cmdline.len() as u64
        + entry.kernel.path.len() as u64
        + entry
            .modules
            .iter()
            .map(|m| (m.cmdline.len() + m.path.path.len()) as u64)
            .sum::<u64>();
    let mut arena = Arena::new(16 * 1024 + 2 * strings + 512 * modules.len() as u64)?;
    let facts = Facts {
        kernel: HandedFile {
            phys: kernel_file.block.phys(),
            size: kernel_file.size,
            path: &entry.kernel,
            string: &entry.cmdline,
        },
        modules: modules
            .iter()
            .zip(&entry.modules)
            .map(|(file, m)| HandedFile {
                phys: file.block.phys(),
                size: file.size,
                path: &m.path,
                string: &m.cmdline,
            })
            .collect(),
        image_phys: image.phys(),
        virtual_base: plan.virtual_base,
        framebuffer: fb,
        rsdp: rsdp(),
        system_table: uefi::table::system_table_raw().map(|st| st.as_ptr() as u64),
        memory_map_capacity: 2 * map.len() + overlays.len() + 256,
    };
    let memory_map = responses::answer(image.bytes(), &scan, &mut arena, &facts, shown)?;
    let entry_point = match scan.find(RequestKind::EntryPoint) {
        Some(r) => requests::extra_field(image.bytes(), r, 0).unwrap_or(plan.entry),
        None => plan.entry,
    };
    if !requests::acknowledge_base_revision(image.bytes(), tag, BASE_REVISION) {
        return Err(BootError::new(shown, Problem::ImageTooSmall));
    }

    say!("booting {shown} ({} modules)", modules.len());
    Ok(Handoff {
        pml4: space.root(),
        gdtr: hhdm(gdt_page.phys() + 64),
        stack_top: stack.hhdm() + stack.len(),
        entry: entry_point,
        memory_map,
        overlays: overlays.leak(),
        nx,
    })
}
