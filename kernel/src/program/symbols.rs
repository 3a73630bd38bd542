//! A program's function symbols, kept from its ELF file so a fault report
//! can say `hello::main+0x1c` rather than only an address.
//!
//! Read once at load from `.symtab` (if the program was not stripped),
//! relocated to where the image went, and kept sorted. A file whose symbol
//! table is missing or malformed simply has none: symbols only explain a
//! report, they never stop a load.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use object::read::elf::ElfFile64;
use object::{Object, ObjectSymbol, SymbolKind};

/// At most this many symbols are kept (a program with more keeps the
/// first ones in address order).
const MAX_SYMBOLS: usize = 4096;

/// One function: where it starts, how long it is, its demangled name
/// (without the hash).
struct Function {
    start: u64,
    len: u64,
    name: String,
}

/// See the module documentation.
#[derive(Default)]
pub struct ProgramSymbols {
    functions: Vec<Function>,
}

impl ProgramSymbols {
    /// The functions of `file`, relocated to `base`.
    pub fn read(file: &[u8], base: u64) -> Self {
        let Ok(elf) = ElfFile64::<object::LittleEndian>::parse(file) else {
            return Self::default();
        };
        let mut functions: Vec<Function> = elf
            .symbols()
            .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.size() > 0)
            .filter_map(|symbol| {
                Some(Function {
                    start: base.checked_add(symbol.address())?,
                    len: symbol.size(),
                    name: alloc::format!("{:#}", rustc_demangle::demangle(symbol.name().ok()?)),
                })
            })
            .collect();
        functions.sort_by_key(|function| function.start);
        functions.truncate(MAX_SYMBOLS);
        Self { functions }
    }

    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// ` (name+0xoffset)` for `address`, or nothing if no function holds it.
    pub fn describe(&self, address: u64) -> Describe<'_> {
        let index = self
            .functions
            .partition_point(|function| function.start <= address);
        let found = index
            .checked_sub(1)
            .and_then(|index| self.functions.get(index))
            .filter(|function| address - function.start < function.len);
        Describe(found.map(|function| (function.name.as_str(), address - function.start)))
    }
}

/// A symbol for a report line; see [`ProgramSymbols::describe`].
pub struct Describe<'a>(Option<(&'a str, u64)>);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((name, offset)) => write!(f, " ({name}+{offset:#x})"),
            None => Ok(()),
        }
    }
}
