//! The Limine protocol's binary interface as this loader writes it: request
//! identifiers, offsets of request fields, and `#[repr(C)]` mirrors of the
//! responses.
//!
//! The `limine` crate (0.5) is the ground truth, but its types have private
//! fields and are meant to be read, not built, so the loader keeps its own
//! mirrors. The host tests reinterpret these mirrors as the crate's types and
//! read them back through the crate's accessors, which pins the layouts.
//!
//! All pointers written into responses are HHDM virtual addresses (`u64`),
//! except the RSDP and EFI system-table addresses, which base revision 3
//! defines as physical.

/// First two words of every request identifier.
pub const COMMON_MAGIC: [u64; 2] = [0xc7b1_dd30_df4c_8b88, 0x0a82_e883_a194_f07b];
/// The base revision tag's two magic words; the third word is the revision.
pub const BASE_REVISION_MAGIC: [u64; 2] = [0xf956_2b2d_5c95_a6c8, 0x6a7b_3849_4453_6bdc];
/// Marks the start of the requests area.
pub const REQUESTS_START_MARKER: [u64; 4] = [
    0xf6b8_f4b3_9de7_d1ae,
    0xfab9_1a69_40fc_b9cf,
    0x785c_6ed0_15d3_e316,
    0x181e_920a_7852_b9d9,
];
/// Marks the end of the requests area.
pub const REQUESTS_END_MARKER: [u64; 2] = [0xadc0_e053_1bb1_0d03, 0x9572_709f_3176_4c62];

/// Byte offset of `revision` in every request.
pub const REQUEST_REVISION_OFFSET: usize = 32;
/// Byte offset of the `response` pointer in every request.
pub const REQUEST_RESPONSE_OFFSET: usize = 40;
/// Byte offset of the first request-specific field (stack size, entry point,
/// paging mode, internal-module count).
pub const REQUEST_EXTRA_OFFSET: usize = 48;

/// Firmware type value for 64-bit UEFI.
pub const FIRMWARE_UEFI_64: u64 = 2;
/// Paging mode value for 4-level paging.
pub const PAGING_MODE_4LEVEL: u64 = 0;
/// Framebuffer memory model value for RGB.
pub const MEMORY_MODEL_RGB: u8 = 1;
/// File media type "generic".
pub const MEDIA_TYPE_GENERIC: u32 = 0;

/// `limine::response::BootloaderInfoResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct BootloaderInfoResponse {
    pub revision: u64,
    pub name: u64,
    pub version: u64,
}

/// `limine::response::FirmwareTypeResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct FirmwareTypeResponse {
    pub revision: u64,
    pub firmware_type: u64,
}

/// Responses that carry only a revision (stack size, entry point).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct RevisionOnlyResponse {
    pub revision: u64,
}

/// `limine::response::HhdmResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct HhdmResponse {
    pub revision: u64,
    pub offset: u64,
}

/// `limine::response::FramebufferResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct FramebufferResponse {
    pub revision: u64,
    pub framebuffer_count: u64,
    /// Pointer to an array of pointers to [`Framebuffer`].
    pub framebuffers: u64,
}

/// `limine::framebuffer` revision-1 framebuffer (v0 fields, then modes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Framebuffer {
    pub address: u64,
    pub width: u64,
    pub height: u64,
    pub pitch: u64,
    pub bpp: u16,
    pub memory_model: u8,
    pub red_mask_size: u8,
    pub red_mask_shift: u8,
    pub green_mask_size: u8,
    pub green_mask_shift: u8,
    pub blue_mask_size: u8,
    pub blue_mask_shift: u8,
    pub unused: [u8; 7],
    pub edid_size: u64,
    pub edid: u64,
    pub mode_count: u64,
    /// Pointer to an array of pointers to [`VideoMode`].
    pub modes: u64,
}

/// `limine::framebuffer::VideoMode`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct VideoMode {
    pub pitch: u64,
    pub width: u64,
    pub height: u64,
    pub bpp: u16,
    pub memory_model: u8,
    pub red_mask_size: u8,
    pub red_mask_shift: u8,
    pub green_mask_size: u8,
    pub green_mask_shift: u8,
    pub blue_mask_size: u8,
    pub blue_mask_shift: u8,
}

/// `limine::response::PagingModeResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct PagingModeResponse {
    pub revision: u64,
    pub mode: u64,
}

/// `limine::response::MemoryMapResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryMapResponse {
    pub revision: u64,
    pub entry_count: u64,
    /// Pointer to an array of pointers to [`crate::memmap::MemoryMapEntry`].
    pub entries: u64,
}

/// `limine::file::File` (revision 0 fields; the rest stay zero).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct File {
    pub revision: u64,
    pub address: u64,
    pub size: u64,
    pub path: u64,
    pub string: u64,
    pub media_type: u32,
    pub unused: u32,
    pub tftp_ip: u32,
    pub tftp_port: u32,
    pub partition_index: u32,
    pub mbr_disk_id: u32,
    pub gpt_disk_uuid: [u8; 16],
    pub gpt_part_uuid: [u8; 16],
    pub part_uuid: [u8; 16],
}

/// `limine::response::ExecutableFileResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecutableFileResponse {
    pub revision: u64,
    /// Pointer to a [`File`].
    pub file: u64,
}

/// `limine::response::ModuleResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ModuleResponse {
    pub revision: u64,
    pub module_count: u64,
    /// Pointer to an array of pointers to [`File`].
    pub modules: u64,
}

/// `limine::response::RsdpResponse` and `EfiSystemTableResponse`: at base
/// revision 3 the address is physical.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct AddressResponse {
    pub revision: u64,
    pub address: u64,
}

/// `limine::response::ExecutableAddressResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecutableAddressResponse {
    pub revision: u64,
    pub physical_base: u64,
    pub virtual_base: u64,
}

/// `limine::response::ExecutableCmdlineResponse`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecutableCmdlineResponse {
    pub revision: u64,
    pub cmdline: u64,
}

#[cfg(test)]
mod tests {
    //! Layout checks against the `limine` crate. On the host, HHDM pointers
    //! are replaced by ordinary host pointers so the crate can follow them.
    use super::*;
    use core::mem::size_of;

    #[test]
    fn sizes_match_the_limine_crate() {
        use limine::response as r;
        assert_eq!(
            size_of::<BootloaderInfoResponse>(),
            size_of::<r::BootloaderInfoResponse>()
        );
        assert_eq!(
            size_of::<FirmwareTypeResponse>(),
            size_of::<r::FirmwareTypeResponse>()
        );
        assert_eq!(
            size_of::<RevisionOnlyResponse>(),
            size_of::<r::StackSizeResponse>()
        );
        assert_eq!(
            size_of::<RevisionOnlyResponse>(),
            size_of::<r::EntryPointResponse>()
        );
        assert_eq!(size_of::<HhdmResponse>(), size_of::<r::HhdmResponse>());
        assert_eq!(
            size_of::<FramebufferResponse>(),
            size_of::<r::FramebufferResponse>()
        );
        assert_eq!(
            size_of::<PagingModeResponse>(),
            size_of::<r::PagingModeResponse>()
        );
        assert_eq!(
            size_of::<MemoryMapResponse>(),
            size_of::<r::MemoryMapResponse>()
        );
        assert_eq!(
            size_of::<ExecutableFileResponse>(),
            size_of::<r::ExecutableFileResponse>()
        );
        assert_eq!(size_of::<ModuleResponse>(), size_of::<r::ModuleResponse>());
        assert_eq!(size_of::<AddressResponse>(), size_of::<r::RsdpResponse>());
        assert_eq!(
            size_of::<AddressResponse>(),
            size_of::<r::EfiSystemTableResponse>()
        );
        assert_eq!(
            size_of::<ExecutableAddressResponse>(),
            size_of::<r::ExecutableAddressResponse>()
        );
        assert_eq!(
            size_of::<ExecutableCmdlineResponse>(),
            size_of::<r::ExecutableCmdlineResponse>()
        );
        assert_eq!(size_of::<File>(), size_of::<limine::file::File>());
        assert_eq!(
            size_of::<VideoMode>(),
            size_of::<limine::framebuffer::VideoMode>()
        );
        assert_eq!(
            size_of::<crate::memmap::MemoryMapEntry>(),
            size_of::<limine::memory_map::Entry>()
        );
    }

    /// Reads `ours` through the crate's type `T`.
    fn as_crate<T, U>(ours: &U) -> &T {
        assert_eq!(size_of::<T>(), size_of::<U>());
        // SAFETY: both are repr(C) with equal size (checked), the crate's type
        // only has integer and pointer fields, and the reference lives as
        // long as `ours`.
        #[allow(unsafe_code)]
        unsafe {
            &*(ours as *const U).cast::<T>()
        }
    }

    #[test]
    fn bootloader_info_and_cmdline_read_back() {
        let name = c"mealy-loader";
        let version = c"0.1.0";
        let ours = BootloaderInfoResponse {
            revision: 0,
            name: name.as_ptr() as u64,
            version: version.as_ptr() as u64,
        };
        let theirs: &limine::response::BootloaderInfoResponse = as_crate(&ours);
        assert_eq!(theirs.name(), "mealy-loader");
        assert_eq!(theirs.version(), "0.1.0");

        let cmd = c"some words";
        let ours = ExecutableCmdlineResponse {
            revision: 0,
            cmdline: cmd.as_ptr() as u64,
        };
        let theirs: &limine::response::ExecutableCmdlineResponse = as_crate(&ours);
        assert_eq!(theirs.cmdline(), cmd);
    }

    #[test]
    fn scalar_responses_read_back() {
        let hhdm = HhdmResponse {
            revision: 0,
            offset: crate::HHDM_OFFSET,
        };
        let theirs: &limine::response::HhdmResponse = as_crate(&hhdm);
        assert_eq!(theirs.offset(), crate::HHDM_OFFSET);

        let fw = FirmwareTypeResponse {
            revision: 0,
            firmware_type: FIRMWARE_UEFI_64,
        };
        let theirs: &limine::response::FirmwareTypeResponse = as_crate(&fw);
        assert!(theirs.firmware_type() == limine::firmware_type::FirmwareType::UEFI_64);

        let pm = PagingModeResponse {
            revision: 0,
            mode: PAGING_MODE_4LEVEL,
        };
        let theirs: &limine::response::PagingModeResponse = as_crate(&pm);
        assert!(theirs.mode() == limine::paging::Mode::FOUR_LEVEL);

        let addr = ExecutableAddressResponse {
            revision: 0,
            physical_base: 0x20_0000,
            virtual_base: 0xffff_ffff_8000_0000,
        };
        let theirs: &limine::response::ExecutableAddressResponse = as_crate(&addr);
        assert_eq!(theirs.physical_base(), 0x20_0000);
        assert_eq!(theirs.virtual_base(), 0xffff_ffff_8000_0000);

        let rsdp = AddressResponse {
            revision: 0,
            address: 0xe0000,
        };
        let theirs: &limine::response::RsdpResponse = as_crate(&rsdp);
        assert_eq!(theirs.address(), 0xe0000);
    }

    #[test]
    fn files_modules_and_memory_map_read_back() {
        let path = c"/boot/mealy.sym";
        let string = c"symbols";
        let data = [1u8, 2, 3];
        let file = File {
            address: data.as_ptr() as u64,
            size: 3,
            path: path.as_ptr() as u64,
            string: string.as_ptr() as u64,
            ..File::default()
        };
        let ptrs = [&file as *const File as u64];
        let modules = ModuleResponse {
            revision: 0,
            module_count: 1,
            modules: ptrs.as_ptr() as u64,
        };
        let theirs: &limine::response::ModuleResponse = as_crate(&modules);
        let m = theirs.modules();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].size(), 3);
        assert_eq!(m[0].addr() as u64, data.as_ptr() as u64);
        assert_eq!(m[0].path(), path);
        assert_eq!(m[0].string(), string);
        assert!(m[0].gpt_disk_id().is_none());

        let exe = ExecutableFileResponse {
            revision: 0,
            file: &file as *const File as u64,
        };
        let theirs: &limine::response::ExecutableFileResponse = as_crate(&exe);
        assert_eq!(theirs.file().path(), path);

        use crate::memmap::{MemoryMapEntry, kind};
        let entries = [
            MemoryMapEntry {
                base: 0,
                length: 0x1000,
                kind: kind::USABLE,
            },
            MemoryMapEntry {
                base: 0x1000,
                length: 0x1000,
                kind: kind::FRAMEBUFFER,
            },
        ];
        let eptrs = [
            &entries[0] as *const _ as u64,
            &entries[1] as *const _ as u64,
        ];
        let map = MemoryMapResponse {
            revision: 0,
            entry_count: 2,
            entries: eptrs.as_ptr() as u64,
        };
        let theirs: &limine::response::MemoryMapResponse = as_crate(&map);
        let e = theirs.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].base, 0x1000);
        assert!(e[1].entry_type == limine::memory_map::EntryType::FRAMEBUFFER);
        assert!(e[0].entry_type == limine::memory_map::EntryType::USABLE);
    }

    #[test]
    fn framebuffer_reads_back_with_one_mode() {
        let mode = VideoMode {
            pitch: 4096,
            width: 1024,
            height: 768,
            bpp: 32,
            memory_model: MEMORY_MODEL_RGB,
            red_mask_size: 8,
            red_mask_shift: 16,
            green_mask_size: 8,
            green_mask_shift: 8,
            blue_mask_size: 8,
            blue_mask_shift: 0,
        };
        let mode_ptrs = [&mode as *const VideoMode as u64];
        let fb = Framebuffer {
            address: 0x1234_5000,
            width: 1024,
            height: 768,
            pitch: 4096,
            bpp: 32,
            memory_model: MEMORY_MODEL_RGB,
            red_mask_size: 8,
            red_mask_shift: 16,
            green_mask_size: 8,
            green_mask_shift: 8,
            blue_mask_size: 8,
            blue_mask_shift: 0,
            mode_count: 1,
            modes: mode_ptrs.as_ptr() as u64,
            ..Framebuffer::default()
        };
        let fb_ptrs = [&fb as *const Framebuffer as u64];
        let resp = FramebufferResponse {
            revision: 1,
            framebuffer_count: 1,
            framebuffers: fb_ptrs.as_ptr() as u64,
        };
        let theirs: &limine::response::FramebufferResponse = as_crate(&resp);
        let fbs: Vec<_> = theirs.framebuffers().collect();
        assert_eq!(fbs.len(), 1);
        assert_eq!(fbs[0].addr() as u64, 0x1234_5000);
        assert_eq!(fbs[0].width(), 1024);
        assert_eq!(fbs[0].pitch(), 4096);
        assert_eq!(fbs[0].bpp(), 32);
        assert_eq!(fbs[0].red_mask_shift(), 16);
        assert!(fbs[0].edid().is_none());
        let modes = fbs[0].modes().expect("revision 1 has modes");
        assert_eq!(modes.len(), 1);
        assert_eq!(modes[0].width, 1024);
    }
}
