//! Finding the kernel's Limine requests in its loaded image.
//!
//! The protocol's rule: requests and the base revision tag sit on 8-byte
//! aligned addresses. If the image contains the requests start marker and,
//! after it, the end marker, only requests between the two are honoured;
//! without markers the whole loaded image is scanned. The base revision tag
//! is looked for in the whole image either way (the `limine` crate places it
//! wherever the kernel declares it).
//!
//! The scan works on the image as loaded (a byte slice whose offset 0 is the
//! image's page-aligned virtual base), so offsets are also virtual-address
//! offsets and 8-byte alignment of one is alignment of the other.

use alloc::vec::Vec;

use crate::abi::{
    BASE_REVISION_MAGIC, COMMON_MAGIC, REQUEST_EXTRA_OFFSET, REQUEST_RESPONSE_OFFSET,
    REQUEST_REVISION_OFFSET, REQUESTS_END_MARKER, REQUESTS_START_MARKER,
};

/// The requests this loader answers. Every other request keeps its null
/// response, as the protocol prescribes for unsupported features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    BootloaderInfo,
    FirmwareType,
    StackSize,
    Hhdm,
    Framebuffer,
    PagingMode,
    MemoryMap,
    EntryPoint,
    ExecutableFile,
    Module,
    Rsdp,
    EfiSystemTable,
    ExecutableAddress,
    ExecutableCmdline,
}

impl RequestKind {
    /// Every answered kind with the last two words of its identifier.
    pub const ALL: [(RequestKind, [u64; 2]); 14] = [
        (
            Self::BootloaderInfo,
            [0xf550_38d8_e2a1_202f, 0x2794_26fc_f5f5_9740],
        ),
        (
            Self::FirmwareType,
            [0x8c2f_75d9_0bef_28a8, 0x7045_a468_8eac_00c3],
        ),
        (
            Self::StackSize,
            [0x224e_f046_0a8e_8926, 0xe1cb_0fc2_5f46_ea3d],
        ),
        (Self::Hhdm, [0x48dc_f1cb_8ad2_b852, 0x6398_4e95_9a98_244b]),
        (
            Self::Framebuffer,
            [0x9d58_27dc_d881_dd75, 0xa314_8604_f6fa_b11b],
        ),
        (
            Self::PagingMode,
            [0x95c1_a0ed_ab09_44cb, 0xa4e5_cb38_42f7_488a],
        ),
        (
            Self::MemoryMap,
            [0x67cf_3d9d_378a_806f, 0xe304_acdf_c50c_3c62],
        ),
        (
            Self::EntryPoint,
            [0x13d8_6c03_5a1c_d3e1, 0x2b0c_aa89_d8f3_026a],
        ),
        (
            Self::ExecutableFile,
            [0xad97_e90e_83f1_ed67, 0x31eb_5d1c_5ff2_3b69],
        ),
        (Self::Module, [0x3e7e_2797_02be_32af, 0xca1c_4f3b_d128_0cee]),
        (Self::Rsdp, [0xc5e7_7b6b_397e_7b43, 0x2763_7845_accd_cf3c]),
        (
            Self::EfiSystemTable,
            [0x5ceb_a516_3eaa_f6d6, 0x0a69_8161_0cf6_5fcc],
        ),
        (
            Self::ExecutableAddress,
            [0x71ba_7686_3cc5_5f63, 0xb264_4a48_c516_a487],
        ),
        (
            Self::ExecutableCmdline,
            [0x4b16_1536_e598_651e, 0xb390_ad4a_2f1f_303a],
        ),
    ];

    fn from_id(id: [u64; 4]) -> Option<Self> {
        if id[..2] != COMMON_MAGIC {
            return None;
        }
        Self::ALL
            .iter()
            .find(|(_, tail)| id[2..] == *tail)
            .map(|(kind, _)| *kind)
    }
}

/// One request found in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    /// Byte offset of the request in the loaded image.
    pub offset: usize,
    /// The request's own revision field.
    pub revision: u64,
}

/// The base revision tag: where it is and which revision it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseRevisionTag {
    pub offset: usize,
    pub requested: u64,
}

/// Everything the scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// `None` means no tag: the protocol then assumes revision 0.
    pub base_revision: Option<BaseRevisionTag>,
    /// Answered requests, first occurrence of each kind only.
    pub requests: Vec<Request>,
    /// Whether both markers were found (and so limited the scan).
    pub markers: bool,
}

impl Scan {
    /// The first request of `kind`, if the kernel made one.
    pub fn find(&self, kind: RequestKind) -> Option<Request> {
        self.requests.iter().copied().find(|r| r.kind == kind)
    }

    /// The revision the kernel asked for (0 when it has no tag).
    pub fn requested_revision(&self) -> u64 {
        self.base_revision.map_or(0, |t| t.requested)
    }
}

/// Reads the little-endian word at `offset`, if it lies inside `image`.
pub fn read_u64(image: &[u8], offset: usize) -> Option<u64> {
    let bytes = image.get(offset..offset.checked_add(8)?)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    Some(u64::from_le_bytes(word))
}

/// Writes the little-endian word at `offset`; false if it is outside `image`.
pub fn write_u64(image: &mut [u8], offset: usize, value: u64) -> bool {
    let Some(end) = offset.checked_add(8) else {
        return false;
    };
    match image.get_mut(offset..end) {
        Some(bytes) => {
            bytes.copy_from_slice(&value.to_le_bytes());
            true
        }
        None => false,
    }
}

fn words_at<const N: usize>(image: &[u8], offset: usize) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    for (i, word) in out.iter_mut().enumerate() {
        *word = read_u64(image, offset + i * 8)?;
    }
    Some(out)
}

fn find_words<const N: usize>(image: &[u8], from: usize, words: [u64; N]) -> Option<usize> {
    (from..image.len())
        .step_by(8)
        .find(|&off| words_at::<N>(image, off) == Some(words))
}

/// Scans a loaded image for the base revision tag and the answered requests.
pub fn scan(image: &[u8]) -> Scan {
    let base_revision = find_words(image, 0, BASE_REVISION_MAGIC).and_then(|offset| {
        let requested = read_u64(image, offset + 16)?;
        Some(BaseRevisionTag { offset, requested })
    });
    let mut result = Scan {
        base_revision,
        ..Scan::default()
    };

    let mut area = 0..image.len();
    if let Some(start) = find_words(image, 0, REQUESTS_START_MARKER) {
        let after = start + 32;
        if let Some(end) = find_words(image, after, REQUESTS_END_MARKER) {
            area = after..end;
            result.markers = true;
        }
    }

    let mut offset = area.start;
    while offset < area.end {
        let found = words_at::<4>(image, offset).and_then(RequestKind::from_id);
        match found {
            Some(kind) if result.find(kind).is_none() => {
                let revision = read_u64(image, offset + REQUEST_REVISION_OFFSET).unwrap_or(0);
                result.requests.push(Request {
                    kind,
                    offset,
                    revision,
                });
                offset += REQUEST_RESPONSE_OFFSET;
            }
            _ => offset += 8,
        }
    }
    result
}

/// Acknowledges base revision 3 in the tag at `tag`: the third word becomes
/// 0 ("supported") and the second the revision actually used, which is what
/// `limine::BaseRevision::{is_supported, loaded_revision}` read.
pub fn acknowledge_base_revision(image: &mut [u8], tag: BaseRevisionTag, used: u64) -> bool {
    write_u64(image, tag.offset + 16, 0) && write_u64(image, tag.offset + 8, used)
}

/// Points `request`'s response field at `response` (an HHDM address).
pub fn set_response(image: &mut [u8], request: Request, response: u64) -> bool {
    write_u64(image, request.offset + REQUEST_RESPONSE_OFFSET, response)
}

/// The word of a request-specific field (`index` 0 is the first after the
/// response pointer).
pub fn extra_field(image: &[u8], request: Request, index: usize) -> Option<u64> {
    read_u64(image, request.offset + REQUEST_EXTRA_OFFSET + index * 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use limine::request as lr;

    fn bytes_of<T>(value: &T) -> Vec<u8> {
        // SAFETY: reading the initialised bytes of a plain repr(C) value with
        // no padding-dependent meaning; used only to build a test image.
        #[allow(unsafe_code)]
        unsafe {
            core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()).to_vec()
        }
    }

    fn push<T>(image: &mut Vec<u8>, value: &T) -> usize {
        while !image.len().is_multiple_of(8) {
            image.push(0);
        }
        let at = image.len();
        image.extend(bytes_of(value));
        at
    }

    #[test]
    fn ids_match_the_limine_crate() {
        let check = |kind: RequestKind, id: &[u64; 4]| {
            assert_eq!(RequestKind::from_id(*id), Some(kind), "{kind:?}");
        };
        check(
            RequestKind::BootloaderInfo,
            lr::BootloaderInfoRequest::new().id(),
        );
        check(
            RequestKind::FirmwareType,
            lr::FirmwareTypeRequest::new().id(),
        );
        check(RequestKind::StackSize, lr::StackSizeRequest::new().id());
        check(RequestKind::Hhdm, lr::HhdmRequest::new().id());
        check(RequestKind::Framebuffer, lr::FramebufferRequest::new().id());
        check(RequestKind::PagingMode, lr::PagingModeRequest::new().id());
        check(RequestKind::MemoryMap, lr::MemoryMapRequest::new().id());
        check(RequestKind::EntryPoint, lr::EntryPointRequest::new().id());
        check(
            RequestKind::ExecutableFile,
            lr::ExecutableFileRequest::new().id(),
        );
        check(RequestKind::Module, lr::ModuleRequest::new().id());
        check(RequestKind::Rsdp, lr::RsdpRequest::new().id());
        check(
            RequestKind::EfiSystemTable,
            lr::EfiSystemTableRequest::new().id(),
        );
        check(
            RequestKind::ExecutableAddress,
            lr::ExecutableAddressRequest::new().id(),
        );
        check(
            RequestKind::ExecutableCmdline,
            lr::ExecutableCmdlineRequest::new().id(),
        );
        assert_eq!(RequestKind::from_id(*lr::SmbiosRequest::new().id()), None);
    }

    #[test]
    fn markers_limit_the_scan_and_the_tag_is_found_anywhere() {
        let mut image = Vec::new();
        let outside = push(&mut image, &lr::HhdmRequest::new());
        let tag_at = push(&mut image, &limine::BaseRevision::new());
        push(&mut image, &lr::RequestsStartMarker::new());
        let stack_at = push(
            &mut image,
            &lr::StackSizeRequest::new().with_size(0x10_0000),
        );
        let map_at = push(&mut image, &lr::MemoryMapRequest::new());
        push(&mut image, &lr::RequestsEndMarker::new());
        push(&mut image, &lr::FramebufferRequest::new());

        let scan = scan(&image);
        assert!(scan.markers);
        assert_eq!(
            scan.base_revision,
            Some(BaseRevisionTag {
                offset: tag_at,
                requested: 3
            })
        );
        assert_eq!(scan.requests.len(), 2);
        let stack = scan.find(RequestKind::StackSize).expect("stack request");
        assert_eq!(stack.offset, stack_at);
        assert_eq!(extra_field(&image, stack, 0), Some(0x10_0000));
        assert_eq!(
            scan.find(RequestKind::MemoryMap).map(|r| r.offset),
            Some(map_at)
        );
        assert!(
            scan.find(RequestKind::Hhdm).is_none(),
            "outside the markers at {outside}"
        );
        assert!(scan.find(RequestKind::Framebuffer).is_none());
    }

    #[test]
    fn without_markers_the_whole_image_is_scanned() {
        let mut image = vec![0u8; 24];
        push(&mut image, &lr::HhdmRequest::new());
        push(&mut image, &lr::PagingModeRequest::new());
        push(&mut image, &lr::RequestsStartMarker::new()); // start without end
        let scan = scan(&image);
        assert!(!scan.markers);
        assert_eq!(scan.requests.len(), 2);
        assert_eq!(
            scan.find(RequestKind::PagingMode).map(|r| r.revision),
            Some(1)
        );
        assert_eq!(scan.requested_revision(), 0, "no tag means revision 0");
    }

    #[test]
    fn misaligned_ids_are_ignored() {
        let mut image = vec![0u8; 4];
        image.extend(bytes_of(&lr::HhdmRequest::new()));
        image.extend([0u8; 4]);
        assert!(scan(&image).requests.is_empty());
    }

    #[test]
    fn acknowledgement_is_what_the_crate_reads() {
        let mut image = Vec::new();
        let tag_at = push(&mut image, &limine::BaseRevision::new());
        let req_at = push(&mut image, &lr::HhdmRequest::new());
        let scan = scan(&image);
        let tag = scan.base_revision.expect("tag");
        assert!(acknowledge_base_revision(&mut image, tag, 3));
        let hhdm = scan.find(RequestKind::Hhdm).expect("hhdm");
        let response = crate::abi::HhdmResponse {
            revision: 0,
            offset: 0xffff_8000_0000_0000,
        };
        assert!(set_response(&mut image, hhdm, &response as *const _ as u64));

        // Reinterpret the edited bytes as the crate's types.
        let mut words = vec![0u64; image.len() / 8];
        for (i, w) in words.iter_mut().enumerate() {
            *w = read_u64(&image, i * 8).unwrap_or(0);
        }
        let base = words.as_ptr().cast::<u8>();
        // SAFETY: `words` is 8-aligned, holds the tag and the request at the
        // offsets the scan reported, and outlives these references.
        #[allow(unsafe_code)]
        let (tag, req) = unsafe {
            (
                &*base.add(tag_at).cast::<limine::BaseRevision>(),
                &*base.add(req_at).cast::<lr::HhdmRequest>(),
            )
        };
        assert!(tag.is_supported());
        assert!(tag.is_valid());
        assert_eq!(tag.loaded_revision(), Some(3));
        assert_eq!(
            req.get_response().map(|r| r.offset()),
            Some(0xffff_8000_0000_0000)
        );
    }

    #[test]
    fn writes_outside_the_image_are_refused() {
        let mut image = vec![0u8; 8];
        assert!(!write_u64(&mut image, 4, 1));
        assert!(!write_u64(&mut image, usize::MAX - 2, 1));
        assert_eq!(read_u64(&image, 1), None);
    }
}
