use alloc::collections::BTreeMap;
use alloc::format;

use super::*;

/// A configuration space in memory: words per function, and per BAR the
/// mask a write of all ones reads back as (what sizing sees).
#[derive(Default)]
struct FakeSpace {
    words: BTreeMap<(Bdf, u8), u32>,
    bar_masks: BTreeMap<(Bdf, u8), u32>,
    /// BAR writes seen while decoding was on (the spec forbids them).
    sized_while_decoding: bool,
}

impl ConfigSpace for FakeSpace {
    fn read32(&mut self, at: Bdf, offset: u8) -> u32 {
        let missing = if offset == VENDOR { 0xffff_ffff } else { 0 };
        self.words.get(&(at, offset)).copied().unwrap_or(missing)
    }

    fn write32(&mut self, at: Bdf, offset: u8, value: u32) {
        if (BAR0..BAR0 + 24).contains(&offset) && value == u32::MAX {
            let command = self.read32(at, COMMAND) as u16;
            if command & (COMMAND_IO | COMMAND_MEMORY) != 0 {
                self.sized_while_decoding = true;
            }
            // An unimplemented BAR reads back 0.
            let mask = self.bar_masks.get(&(at, offset)).copied().unwrap_or(0);
            self.words.insert((at, offset), mask);
            return;
        }
        self.words.insert((at, offset), value);
    }
}

const BLK: Bdf = Bdf {
    bus: 0,
    device: 4,
    function: 0,
};

impl FakeSpace {
    fn function(&mut self, at: Bdf, vendor: u16, device: u16, class: u32, header: u8) {
        self.words
            .insert((at, VENDOR), u32::from(vendor) | (u32::from(device) << 16));
        self.words.insert((at, CLASS), class << 8);
        self.words.insert((at, 0x0c), u32::from(header) << 16);
        self.words.insert((at, COMMAND), 0x0007);
    }

    fn bar(&mut self, at: Bdf, index: u8, value: u32, mask: u32) {
        self.words.insert((at, BAR0 + 4 * index), value);
        self.bar_masks.insert((at, BAR0 + 4 * index), mask);
    }

    /// Capabilities at 0x40, 0x50, ...: `(id, body words)`.
    fn capabilities(&mut self, at: Bdf, list: &[(u8, &[u32])]) {
        let status = self.read32(at, COMMAND) | (u32::from(STATUS_CAPABILITIES) << 16);
        self.words.insert((at, COMMAND), status);
        self.words.insert((at, CAPABILITIES), 0x40);
        for (index, (id, body)) in list.iter().enumerate() {
            let offset = 0x40 + 0x14 * index as u8;
            let next = if index + 1 < list.len() {
                offset + 0x14
            } else {
                0
            };
            let mut first = u32::from(*id) | (u32::from(next) << 8);
            if let Some(word) = body.first() {
                first |= word << 16;
            }
            self.words.insert((at, offset), first);
            for (n, word) in body.iter().skip(1).enumerate() {
                self.words.insert((at, offset + 4 + 4 * n as u8), *word);
            }
        }
    }

    /// A virtio-blk function like QEMU's: an I/O BAR0, MSI-X table in
    /// BAR1, the virtio structures in the 64-bit BAR4.
    fn virtio_blk() -> FakeSpace {
        let mut space = FakeSpace::default();
        space.function(BLK, VIRTIO_VENDOR, 0x1001, 0x01_00_00, 0);
        space.bar(BLK, 0, 0xc001, 0xffff_ffc1);
        space.bar(BLK, 1, 0xfebd_1000, 0xffff_f000);
        space.bar(BLK, 4, 0xfe00_000c, 0xffff_c00c);
        space.bar(BLK, 5, 0, 0xffff_ffff);
        // virtio capabilities: cfg_len in the id word's high byte, then
        // (cfg_type | bar << 8), offset, length, [multiplier].
        let vendor = |kind: u32, offset: u32, len: u32| [16 | (kind << 8), 4, offset, len, 4];
        space.capabilities(
            BLK,
            &[
                (CAP_MSIX, &[1, 0x0000_0001, 0x0000_0801]),
                (CAP_VENDOR, &vendor(1, 0, 0x1000)),
                (CAP_VENDOR, &vendor(3, 0x1000, 0x1000)),
                (CAP_VENDOR, &vendor(4, 0x2000, 0x1000)),
                (CAP_VENDOR, &vendor(2, 0x3000, 0x1000)),
            ],
        );
        space
    }
}

#[test]
fn finds_functions_decodes_bars_and_restores_the_command_register() {
    let mut space = FakeSpace::virtio_blk();
    let host = Bdf {
        bus: 0,
        device: 0,
        function: 0,
    };
    space.function(host, 0x8086, 0x29c0, 0x06_00_00, 0);
    let found = enumerate(&mut space);
    assert_eq!(found.len(), 2);
    let blk = &found[1];
    assert_eq!((blk.vendor, blk.device), (VIRTIO_VENDOR, 0x1001));
    assert_eq!(blk.class, (1, 0, 0));
    assert_eq!(
        blk.bars[0],
        Some(Bar::Io {
            base: 0xc000,
            size: 0x40
        })
    );
    assert_eq!(blk.memory_bar(1), Some((0xfebd_1000, 0x1000)));
    assert_eq!(
        blk.bars[4],
        Some(Bar::Memory {
            base: 0xfe00_0000,
            size: 0x4000,
            wide: true,
            prefetchable: true
        })
    );
    assert_eq!(blk.bars[5], None, "the upper half of bar4");
    assert_eq!(space.read16(BLK, COMMAND), 0x0007, "decoding restored");
    assert!(!space.sized_while_decoding);
    assert_eq!(space.read32(BLK, BAR0 + 16), 0xfe00_000c, "BAR restored");
    assert_eq!(
        format!("{blk}"),
        "pci 00:04.0 1af4:1001 class 01.00.00 bar0 io 0xc000+0x40 bar1 mem32 0xfebd1000+0x1000 bar4 mem64 0xfe000000+0x4000"
    );
}

#[test]
fn reads_the_msix_table_and_the_virtio_layout() {
    let mut space = FakeSpace::virtio_blk();
    let found = enumerate(&mut space);
    let blk = &found[0];
    assert_eq!(
        msix_table(&mut space, blk),
        Some(MsixTable {
            capability: 0x40,
            bar: 1,
            offset: 0,
            entries: 2
        })
    );
    let layout = virtio_layout(&mut space, blk).unwrap();
    assert_eq!(
        layout.common,
        VirtioRegion {
            bar: 4,
            offset: 0,
            len: 0x1000
        }
    );
    assert_eq!(layout.notify.offset, 0x3000);
    assert_eq!(layout.notify_multiplier, 4);
    assert_eq!(layout.device.offset, 0x2000);
}

#[test]
fn a_virtio_structure_outside_its_bar_is_refused() {
    let mut space = FakeSpace::virtio_blk();
    // The device structure claims 0x2000.. of a 0x4000 BAR with 0x3000 bytes.
    space.words.insert((BLK, 0x40 + 0x14 * 3 + 12), 0x3000);
    let found = enumerate(&mut space);
    assert_eq!(
        virtio_layout(&mut space, &found[0]),
        Err(VirtioError::BadRegion(4))
    );
    // And one naming a BAR that is not memory.
    let mut space = FakeSpace::virtio_blk();
    space.words.insert((BLK, 0x40 + 0x14 + 4), 0);
    let found = enumerate(&mut space);
    assert_eq!(
        virtio_layout(&mut space, &found[0]),
        Err(VirtioError::BadRegion(1))
    );
}

#[test]
fn a_looping_capability_list_ends() {
    let mut space = FakeSpace::virtio_blk();
    // The last capability points back at the first.
    let last = (BLK, 0x40 + 0x14 * 4);
    let word = space.words[&last];
    space.words.insert(last, word | (0x40 << 8));
    let found = enumerate(&mut space);
    assert_eq!(found[0].capabilities.len(), 48);
}

#[test]
fn follows_bridges_once() {
    let mut space = FakeSpace::default();
    let bridge = Bdf {
        bus: 0,
        device: 1,
        function: 0,
    };
    space.function(bridge, 0x1b36, 0x000c, 0x06_04_00, 1);
    // Secondary bus 1; a bridge there pointing back at bus 0.
    space.words.insert((bridge, 0x18), 1 << 8);
    let back = Bdf {
        bus: 1,
        device: 0,
        function: 0,
    };
    space.function(back, 0x1b36, 0x000c, 0x06_04_00, 1);
    let found = enumerate(&mut space);
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].at, back);
}
