//! Conversion of the firmware's memory map into the Limine memory map.
//!
//! The protocol's promises for the result: entries sorted by base, no two
//! overlapping, usable and bootloader-reclaimable entries page-aligned (this
//! loader page-aligns every entry), and the loader's own allocations marked
//! bootloader-reclaimable. The kernel, its file and the modules are laid
//! over the map as "executable and modules", and the GOP framebuffer as its
//! own entry.
//!
//! The final conversion runs after ExitBootServices, when nothing may be
//! allocated, so [`build`] writes into a caller-provided slice and works in
//! place. It is quadratic in the number of entries, which is a few hundred
//! at most; simple beats clever here.

use crate::{page_ceil, page_floor};

/// Limine memory-map entry types (`limine::memory_map::EntryType`).
pub mod kind {
    pub const USABLE: u64 = 0;
    pub const RESERVED: u64 = 1;
    pub const ACPI_RECLAIMABLE: u64 = 2;
    pub const ACPI_NVS: u64 = 3;
    pub const BAD_MEMORY: u64 = 4;
    pub const BOOTLOADER_RECLAIMABLE: u64 = 5;
    pub const EXECUTABLE_AND_MODULES: u64 = 6;
    pub const FRAMEBUFFER: u64 = 7;
}

/// `limine::memory_map::Entry`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryMapEntry {
    pub base: u64,
    pub length: u64,
    pub kind: u64,
}

impl MemoryMapEntry {
    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }
}

/// The Limine type for a UEFI memory type.
pub fn kind_for_uefi(uefi_type: u32) -> u64 {
    match uefi_type {
        // Boot services code/data and conventional memory are free after exit.
        3 | 4 | 7 => kind::USABLE,
        // Loader code/data: this loader, its page tables, stack, responses.
        1 | 2 => kind::BOOTLOADER_RECLAIMABLE,
        8 => kind::BAD_MEMORY,
        9 => kind::ACPI_RECLAIMABLE,
        10 => kind::ACPI_NVS,
        // Reserved, runtime services, MMIO, PAL code, persistent, unaccepted,
        // and any OEM or OS-loader type.
        _ => kind::RESERVED,
    }
}

/// Whether revision 3's HHDM maps entries of this type.
pub fn hhdm_covers(kind: u64) -> bool {
    matches!(
        kind,
        kind::USABLE
            | kind::BOOTLOADER_RECLAIMABLE
            | kind::EXECUTABLE_AND_MODULES
            | kind::FRAMEBUFFER
    )
}

/// Which type wins where two inputs overlap: the more restrictive one.
fn priority(kind: u64) -> u8 {
    match kind {
        kind::USABLE => 0,
        kind::BOOTLOADER_RECLAIMABLE => 1,
        kind::EXECUTABLE_AND_MODULES => 2,
        kind::ACPI_RECLAIMABLE => 3,
        kind::ACPI_NVS => 4,
        kind::RESERVED => 5,
        kind::FRAMEBUFFER => 6,
        _ => 7, // bad memory and anything unknown
    }
}

/// The output slice is too small for the converted map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyEntries;

/// Aligns an entry: free memory shrinks to whole pages, everything else
/// grows to whole pages (so a partial page is never handed out as usable).
fn aligned(entry: MemoryMapEntry) -> Option<MemoryMapEntry> {
    let (base, end) = match entry.kind {
        kind::USABLE | kind::BOOTLOADER_RECLAIMABLE => {
            (page_ceil(entry.base), page_floor(entry.end()))
        }
        _ => (page_floor(entry.base), page_ceil(entry.end())),
    };
    (end > base).then_some(MemoryMapEntry {
        base,
        length: end - base,
        kind: entry.kind,
    })
}

/// Inserts `entry` keeping `out[..*len]` sorted by base.
fn insert_sorted(
    out: &mut [MemoryMapEntry],
    len: &mut usize,
    entry: MemoryMapEntry,
) -> Result<(), TooManyEntries> {
    if *len >= out.len() {
        return Err(TooManyEntries);
    }
    let at = out[..*len]
        .iter()
        .position(|e| e.base > entry.base)
        .unwrap_or(*len);
    out.copy_within(at..*len, at + 1);
    out[at] = entry;
    *len += 1;
    Ok(())
}

fn remove(out: &mut [MemoryMapEntry], len: &mut usize, at: usize) {
    out.copy_within(at + 1..*len, at);
    *len -= 1;
}

/// Builds the Limine memory map from `regions` (the converted firmware map)
/// and `overlays` (kernel, modules, framebuffer: they win over the free and
/// reclaimable memory they lie in). Returns the number of entries written.
pub fn build(
    regions: impl IntoIterator<Item = MemoryMapEntry>,
    overlays: &[MemoryMapEntry],
    out: &mut [MemoryMapEntry],
) -> Result<usize, TooManyEntries> {
    let mut len = 0;
    for entry in regions
        .into_iter()
        .chain(overlays.iter().copied())
        .filter_map(aligned)
    {
        insert_sorted(out, &mut len, entry)?;
    }

    // Resolve overlaps; `out[..i]` is overlap-free at the top of each turn.
    let mut i = 1;
    while i < len {
        let (prev, cur) = (out[i - 1], out[i]);
        if cur.base >= prev.end() {
            i += 1;
            continue;
        }
        if priority(prev.kind) >= priority(cur.kind) {
            // The earlier entry keeps the overlap; `cur` loses its head.
            remove(out, &mut len, i);
            if cur.end() > prev.end() {
                let rest = MemoryMapEntry {
                    base: prev.end(),
                    length: cur.end() - prev.end(),
                    ..cur
                };
                insert_sorted(out, &mut len, rest)?;
            }
        } else {
            // `cur` wins: `prev` is cut at cur.base, its tail (if any) re-enters.
            if prev.end() > cur.end() {
                let tail = MemoryMapEntry {
                    base: cur.end(),
                    length: prev.end() - cur.end(),
                    ..prev
                };
                insert_sorted(out, &mut len, tail)?;
            }
            out[i - 1].length = cur.base - prev.base;
            if out[i - 1].length == 0 {
                remove(out, &mut len, i - 1);
                i = i.saturating_sub(1).max(1);
            }
        }
    }

    // Merge neighbours of one type.
    let mut i = 1;
    while i < len {
        if out[i - 1].kind == out[i].kind && out[i - 1].end() == out[i].base {
            out[i - 1].length += out[i].length;
            remove(out, &mut len, i);
        } else {
            i += 1;
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PAGE_SIZE;

    fn e(base: u64, length: u64, kind: u64) -> MemoryMapEntry {
        MemoryMapEntry { base, length, kind }
    }

    fn run(regions: &[MemoryMapEntry], overlays: &[MemoryMapEntry]) -> Vec<MemoryMapEntry> {
        let mut out = vec![MemoryMapEntry::default(); 4 * (regions.len() + overlays.len()) + 4];
        let n = build(regions.iter().copied(), overlays, &mut out).expect("room");
        out.truncate(n);
        out
    }

    fn check_invariants(map: &[MemoryMapEntry]) {
        for w in map.windows(2) {
            assert!(w[0].end() <= w[1].base, "sorted and disjoint: {w:?}");
            assert!(
                !(w[0].end() == w[1].base && w[0].kind == w[1].kind),
                "merged: {w:?}"
            );
        }
        for entry in map {
            assert!(entry.length > 0);
            assert_eq!(entry.base % PAGE_SIZE, 0, "{entry:?}");
            assert_eq!(entry.length % PAGE_SIZE, 0, "{entry:?}");
        }
    }

    #[test]
    fn uefi_types_map_to_limine_types() {
        assert_eq!(kind_for_uefi(7), kind::USABLE);
        assert_eq!(kind_for_uefi(3), kind::USABLE);
        assert_eq!(kind_for_uefi(4), kind::USABLE);
        assert_eq!(kind_for_uefi(1), kind::BOOTLOADER_RECLAIMABLE);
        assert_eq!(kind_for_uefi(2), kind::BOOTLOADER_RECLAIMABLE);
        assert_eq!(kind_for_uefi(9), kind::ACPI_RECLAIMABLE);
        assert_eq!(kind_for_uefi(10), kind::ACPI_NVS);
        assert_eq!(kind_for_uefi(8), kind::BAD_MEMORY);
        for reserved in [0, 5, 6, 11, 12, 13, 14, 15, 0x7000_0000, 0x8000_0001] {
            assert_eq!(kind_for_uefi(reserved), kind::RESERVED, "{reserved:#x}");
        }
        assert!(hhdm_covers(kind::FRAMEBUFFER));
        assert!(!hhdm_covers(kind::ACPI_RECLAIMABLE));
        assert!(!hhdm_covers(kind::RESERVED));
    }

    #[test]
    fn sorts_merges_and_overlays() {
        let regions = [
            e(0x10_0000, 0x10_0000, kind::USABLE),
            e(0x0, 0x9_f000, kind::USABLE),
            e(0x20_0000, 0x1000, kind::USABLE),
            e(0x30_0000, 0x4000, kind::ACPI_RECLAIMABLE),
        ];
        let overlays = [e(0x18_0000, 0x3000, kind::EXECUTABLE_AND_MODULES)];
        let map = run(&regions, &overlays);
        check_invariants(&map);
        assert_eq!(
            map,
            [
                e(0x0, 0x9_f000, kind::USABLE),
                e(0x10_0000, 0x8_0000, kind::USABLE),
                e(0x18_0000, 0x3000, kind::EXECUTABLE_AND_MODULES),
                e(0x18_3000, 0x7_e000, kind::USABLE),
                e(0x30_0000, 0x4000, kind::ACPI_RECLAIMABLE),
            ]
        );
    }

    #[test]
    fn alignment_shrinks_free_memory_and_grows_the_rest() {
        let map = run(
            &[
                e(0x800, 0x3000, kind::USABLE),
                e(0x8000, 0x10, kind::RESERVED),
            ],
            &[e(0x2_0100, 0x2000, kind::FRAMEBUFFER)],
        );
        check_invariants(&map);
        assert_eq!(
            map,
            [
                e(0x1000, 0x2000, kind::USABLE),
                e(0x8000, 0x1000, kind::RESERVED),
                e(0x2_0000, 0x3000, kind::FRAMEBUFFER),
            ]
        );
    }

    #[test]
    fn too_small_output_is_an_error() {
        let regions = [
            e(0, 0x1000, kind::USABLE),
            e(0x2000, 0x1000, kind::RESERVED),
        ];
        let mut out = [MemoryMapEntry::default(); 1];
        assert_eq!(build(regions, &[], &mut out), Err(TooManyEntries));
    }

    /// Compares page by page against the obvious rule on random inputs.
    #[test]
    fn random_maps_match_the_per_page_rule() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const KINDS: [u64; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
        const PAGES: u64 = 48;
        for _ in 0..500 {
            let count = (next() % 8 + 1) as usize;
            let regions: Vec<_> = (0..count)
                .map(|_| {
                    let start = next() % PAGES;
                    let pages = next() % 12 + 1;
                    e(
                        start * PAGE_SIZE,
                        pages * PAGE_SIZE,
                        KINDS[(next() % 8) as usize],
                    )
                })
                .collect();
            let map = run(&regions, &[]);
            check_invariants(&map);
            for page in 0..PAGES + 12 {
                let addr = page * PAGE_SIZE;
                let expected = regions
                    .iter()
                    .filter(|r| r.base <= addr && addr < r.end())
                    .map(|r| r.kind)
                    .max_by_key(|k| priority(*k));
                let got = map
                    .iter()
                    .find(|m| m.base <= addr && addr < m.end())
                    .map(|m| m.kind);
                assert_eq!(got, expected, "page {page} of {regions:?} -> {map:?}");
            }
        }
    }
}
