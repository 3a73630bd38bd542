//! Naming code addresses: the kernel's symbol table, which xtask extracts
//! from the kernel ELF at build time and the loader hands over as the module
//! whose cmdline is `symbols` (format in `image/src/symbols.rs`).
//!
//! Lookups scan the text instead of building an index: they happen only in
//! crash reports, which must work before (and without) the heap, and a few
//! thousand lines take microseconds.

/// The symbol table text, borrowed from the boot module.
#[derive(Clone, Copy, Debug)]
pub struct SymbolTable<'a> {
    text: &'a str,
}

/// A symbol containing an address, and the address's offset into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub offset: u64,
}

impl core::fmt::Display for Symbol<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)
    }
}

impl<'a> SymbolTable<'a> {
    pub const fn new(text: &'a str) -> Self {
        SymbolTable { text }
    }

    /// The symbol whose `[address, address + size)` holds `address`; for a
    /// symbol of size 0, the nearest one below. Malformed lines are skipped.
    pub fn lookup(&self, address: u64) -> Option<Symbol<'a>> {
        let mut best: Option<(u64, u64, &'a str)> = None;
        for line in self.text.lines() {
            let mut fields = line.splitn(3, ' ');
            let (Some(start), Some(size), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Ok(start), Ok(size)) = (
                u64::from_str_radix(start, 16),
                u64::from_str_radix(size, 16),
            ) else {
                continue;
            };
            if start > address {
                // Sorted by address: nothing later can hold it.
                break;
            }
            best = Some((start, size, name));
        }
        let (start, size, name) = best?;
        let offset = address - start;
        (size == 0 || offset < size).then_some(Symbol { name, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
ffffffff80000000 40 mealy_kernel::arch::x86_64::entry::kernel_elf_entry
ffffffff80000040 100 mealy_kernel::boot::kmain
garbage line
ffffffff80000200 0 asm_label
ffffffff80000300 10 core::panicking::panic
";

    #[test]
    fn address_inside_a_symbol_names_it_with_offset() {
        let table = SymbolTable::new(TABLE);
        let symbol = table.lookup(0xffff_ffff_8000_0050).unwrap();
        assert_eq!(symbol.name, "mealy_kernel::boot::kmain");
        assert_eq!(symbol.offset, 0x10);
        assert_eq!(symbol.to_string(), "mealy_kernel::boot::kmain+0x10");
    }

    #[test]
    fn gaps_and_addresses_outside_are_unknown() {
        let table = SymbolTable::new(TABLE);
        assert_eq!(
            table.lookup(0xffff_ffff_8000_0150),
            None,
            "past kmain's size"
        );
        assert_eq!(table.lookup(0x1000), None, "below every symbol");
        assert_eq!(
            table.lookup(0xffff_ffff_8000_0310),
            None,
            "past the last one"
        );
    }

    #[test]
    fn sizeless_symbol_covers_up_to_the_next() {
        let table = SymbolTable::new(TABLE);
        assert_eq!(
            table.lookup(0xffff_ffff_8000_0280).unwrap().name,
            "asm_label"
        );
    }

    #[test]
    fn empty_table_knows_nothing() {
        assert_eq!(SymbolTable::new("").lookup(0xffff_ffff_8000_0000), None);
    }
}
