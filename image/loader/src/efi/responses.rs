//! Answering the kernel's requests: building each response in the arena
//! and pointing the request's response field at it (an HHDM address).
//!
//! Requests this loader does not answer keep their null response. At base
//! revision 3 the RSDP and EFI system-table addresses are physical; every
//! other pointer is an HHDM address.

use alloc::vec::Vec;

use mealy_loader::abi;
use mealy_loader::config::BootPath;
use mealy_loader::memmap::MemoryMapEntry;
use mealy_loader::requests::{self, Request, RequestKind, Scan};
use mealy_loader::{HHDM_OFFSET, hhdm};

use super::VERSION;
use super::error::{BootError, Problem};
use super::handoff::MemoryMapSlot;
use super::memory::{Arena, PageBlock};

/// A framebuffer as GOP describes it.
#[derive(Debug, Clone, Copy)]
pub struct FramebufferInfo {
    pub phys: u64,
    pub size: u64,
    pub width: u64,
    pub height: u64,
    pub pitch: u64,
    /// (size, shift) of red, green, blue.
    pub masks: [(u8, u8); 3],
}

/// A file handed to the kernel (the kernel's own, or a module).
pub struct HandedFile<'a> {
    pub phys: u64,
    pub size: u64,
    pub path: &'a BootPath,
    pub string: &'a str,
}

/// What the responses are made of.
pub struct Facts<'a> {
    pub kernel: HandedFile<'a>,
    pub modules: Vec<HandedFile<'a>>,
    pub image_phys: u64,
    pub virtual_base: u64,
    pub framebuffer: Option<FramebufferInfo>,
    pub rsdp: Option<u64>,
    pub system_table: Option<u64>,
    /// Room for the final memory map (entries).
    pub memory_map_capacity: usize,
}

fn file(arena: &mut Arena, f: &HandedFile) -> Result<u64, BootError> {
    let record = abi::File {
        address: hhdm(f.phys),
        size: f.size,
        path: arena.put_str(&f.path.path)?,
        string: arena.put_str(f.string)?,
        media_type: abi::MEDIA_TYPE_GENERIC,
        ..abi::File::default()
    };
    arena.put(record)
}

fn framebuffer(arena: &mut Arena, fb: &FramebufferInfo) -> Result<u64, BootError> {
    let [(rs, rsh), (gs, gsh), (bs, bsh)] = fb.masks;
    let mode = abi::VideoMode {
        pitch: fb.pitch,
        width: fb.width,
        height: fb.height,
        bpp: 32,
        memory_model: abi::MEMORY_MODEL_RGB,
        red_mask_size: rs,
        red_mask_shift: rsh,
        green_mask_size: gs,
        green_mask_shift: gsh,
        blue_mask_size: bs,
        blue_mask_shift: bsh,
    };
    let mode_ptr = arena.put(mode)?;
    let modes = arena.put_words(&[mode_ptr])?;
    let record = abi::Framebuffer {
        address: hhdm(fb.phys),
        width: fb.width,
        height: fb.height,
        pitch: fb.pitch,
        bpp: 32,
        memory_model: abi::MEMORY_MODEL_RGB,
        red_mask_size: rs,
        red_mask_shift: rsh,
        green_mask_size: gs,
        green_mask_shift: gsh,
        blue_mask_size: bs,
        blue_mask_shift: bsh,
        mode_count: 1,
        modes,
        ..abi::Framebuffer::default()
    };
    let one = arena.put(record)?;
    let list = arena.put_words(&[one])?;
    arena.put(abi::FramebufferResponse {
        revision: 1,
        framebuffer_count: 1,
        framebuffers: list,
    })
}

/// Builds the response for `request`, or `None` to leave it unanswered.
fn respond(
    request: Request,
    arena: &mut Arena,
    facts: &Facts,
    slot: &mut Option<MemoryMapSlot>,
) -> Result<Option<u64>, BootError> {
    let revision_only = abi::RevisionOnlyResponse { revision: 0 };
    let address = match request.kind {
        RequestKind::BootloaderInfo => {
            let name = arena.put_str("mealy-loader")?;
            let version = arena.put_str(VERSION)?;
            arena.put(abi::BootloaderInfoResponse {
                revision: 0,
                name,
                version,
            })?
        }
        RequestKind::FirmwareType => arena.put(abi::FirmwareTypeResponse {
            revision: 0,
            firmware_type: abi::FIRMWARE_UEFI_64,
        })?,
        RequestKind::StackSize | RequestKind::EntryPoint => arena.put(revision_only)?,
        RequestKind::Hhdm => arena.put(abi::HhdmResponse {
            revision: 0,
            offset: HHDM_OFFSET,
        })?,
        RequestKind::Framebuffer => match &facts.framebuffer {
            Some(fb) => framebuffer(arena, fb)?,
            None => return Ok(None),
        },
        RequestKind::PagingMode => arena.put(abi::PagingModeResponse {
            revision: 0,
            mode: abi::PAGING_MODE_4LEVEL,
        })?,
        RequestKind::MemoryMap => {
            let capacity = facts.memory_map_capacity;
            let entry_size = size_of::<MemoryMapEntry>() as u64;
            let entries = PageBlock::allocate(capacity as u64 * entry_size, "memory map")?;
            let mut pointers = PageBlock::allocate(capacity as u64 * 8, "memory map")?;
            let base = entries.phys();
            for (i, word) in pointers
                .bytes()
                .chunks_exact_mut(8)
                .take(capacity)
                .enumerate()
            {
                word.copy_from_slice(&hhdm(base + i as u64 * entry_size).to_le_bytes());
            }
            let response = arena.put(abi::MemoryMapResponse {
                revision: 0,
                entry_count: 0,
                entries: pointers.hhdm(),
            })?;
            let count = response - HHDM_OFFSET + 8; // physical address of entry_count
            *slot = Some(MemoryMapSlot {
                entries: base,
                capacity,
                count,
            });
            response
        }
        RequestKind::ExecutableFile => {
            let f = file(arena, &facts.kernel)?;
            arena.put(abi::ExecutableFileResponse {
                revision: 0,
                file: f,
            })?
        }
        RequestKind::Module => {
            let mut pointers = Vec::with_capacity(facts.modules.len());
            for m in &facts.modules {
                pointers.push(file(arena, m)?);
            }
            let list = arena.put_words(&pointers)?;
            arena.put(abi::ModuleResponse {
                revision: 0,
                module_count: pointers.len() as u64,
                modules: list,
            })?
        }
        RequestKind::Rsdp => match facts.rsdp {
            Some(address) => arena.put(abi::AddressResponse {
                revision: 0,
                address,
            })?,
            None => return Ok(None),
        },
        RequestKind::EfiSystemTable => match facts.system_table {
            Some(address) => arena.put(abi::AddressResponse {
                revision: 0,
                address,
            })?,
            None => return Ok(None),
        },
        RequestKind::ExecutableAddress => arena.put(abi::ExecutableAddressResponse {
            revision: 0,
            physical_base: facts.image_phys,
            virtual_base: facts.virtual_base,
        })?,
        RequestKind::ExecutableCmdline => {
            let cmdline = arena.put_str(facts.kernel.string)?;
            arena.put(abi::ExecutableCmdlineResponse {
                revision: 0,
                cmdline,
            })?
        }
    };
    Ok(Some(address))
}

/// Answers every request in `scan`, writing into the loaded `image`.
/// Returns where the final memory map must go, if the kernel asked for one.
pub fn answer(
    image: &mut [u8],
    scan: &Scan,
    arena: &mut Arena,
    facts: &Facts,
    shown: &str,
) -> Result<Option<MemoryMapSlot>, BootError> {
    let mut slot = None;
    for request in &scan.requests {
        if let Some(address) = respond(*request, arena, facts, &mut slot)?
            && !requests::set_response(image, *request, address)
        {
            return Err(BootError::new(shown, Problem::ImageTooSmall));
        }
    }
    Ok(slot)
}
