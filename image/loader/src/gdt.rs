//! The GDT the Limine protocol promises the kernel at entry (x86_64).
//!
//! The protocol fixes the layout, starting at offset 0: null, 16-bit code,
//! 16-bit data, 32-bit code, 32-bit data, 64-bit code, 64-bit data, with
//! base 0 and limits 0xffff (16-bit) and 4 GiB (32-bit); code readable, data
//! writable. CS holds the 64-bit code selector and every data segment
//! register the 64-bit data selector. Kernels rely on these selectors (for
//! example to reload CS before installing their own GDT).

/// The descriptors, in order.
pub const DESCRIPTORS: [u64; 7] = [
    0,
    0x0000_9b00_0000_ffff, // 16-bit code: present, ring 0, readable, accessed
    0x0000_9300_0000_ffff, // 16-bit data: present, ring 0, writable, accessed
    0x00cf_9b00_0000_ffff, // 32-bit code: G=1, D=1, limit 0xfffff pages
    0x00cf_9300_0000_ffff, // 32-bit data: G=1, B=1
    0x00af_9b00_0000_ffff, // 64-bit code: G=1, L=1
    0x00cf_9300_0000_ffff, // 64-bit data
];

/// Selector of the 64-bit code descriptor (loaded into CS).
pub const CODE64_SELECTOR: u16 = 0x28;
/// Selector of the 64-bit data descriptor (loaded into DS, ES, FS, GS, SS).
pub const DATA64_SELECTOR: u16 = 0x30;

/// The operand of `lgdt`: limit then linear base, packed.
#[repr(C, packed)]
#[derive(Debug, Clone, Copy)]
pub struct Gdtr {
    pub limit: u16,
    pub base: u64,
}

impl Gdtr {
    /// The register value for [`DESCRIPTORS`] placed at `base`.
    pub fn for_table_at(base: u64) -> Self {
        Self {
            limit: (core::mem::size_of_val(&DESCRIPTORS) - 1) as u16,
            base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(d: u64) -> u64 {
        (d >> 40) & 0xff
    }
    fn long_mode(d: u64) -> bool {
        d & (1 << 53) != 0
    }
    fn default_32(d: u64) -> bool {
        d & (1 << 54) != 0
    }
    fn base(d: u64) -> u64 {
        ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24)
    }
    fn limit(d: u64) -> u64 {
        let raw = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
        if d & (1 << 55) != 0 {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }

    #[test]
    fn layout_matches_the_protocol() {
        assert_eq!(DESCRIPTORS[0], 0);
        for d in &DESCRIPTORS[1..] {
            assert_eq!(base(*d), 0);
            assert_eq!(access(*d) & 0x80, 0x80, "present");
            assert_eq!(access(*d) & 0x60, 0, "ring 0");
        }
        let code = |d: u64| access(d) & 0x1a == 0x1a; // code, readable
        let data = |d: u64| access(d) & 0x1a == 0x12; // data, writable
        assert!(
            code(DESCRIPTORS[1]) && !default_32(DESCRIPTORS[1]) && limit(DESCRIPTORS[1]) == 0xffff
        );
        assert!(data(DESCRIPTORS[2]) && limit(DESCRIPTORS[2]) == 0xffff);
        assert!(code(DESCRIPTORS[3]) && default_32(DESCRIPTORS[3]));
        assert_eq!(limit(DESCRIPTORS[3]), 0xffff_ffff);
        assert!(data(DESCRIPTORS[4]) && limit(DESCRIPTORS[4]) == 0xffff_ffff);
        assert!(code(DESCRIPTORS[5]) && long_mode(DESCRIPTORS[5]) && !default_32(DESCRIPTORS[5]));
        assert!(data(DESCRIPTORS[6]));
        assert_eq!(usize::from(CODE64_SELECTOR) / 8, 5);
        assert_eq!(usize::from(DATA64_SELECTOR) / 8, 6);
        let gdtr = Gdtr::for_table_at(0x1000);
        assert_eq!({ gdtr.limit }, 55);
        assert_eq!(core::mem::size_of::<Gdtr>(), 10);
    }
}
