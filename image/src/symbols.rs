//! The kernel's symbol table, extracted at build time into a text module the
//! loader hands to the kernel, so a crash report can name functions without
//! the kernel parsing its own ELF.
//!
//! Format, one symbol per line, sorted by address:
//! `<address, 16 hex digits> <size, hex> <demangled name>`.

use object::{Object, ObjectSymbol, SymbolKind};

#[derive(Debug)]
pub struct SymbolError(pub String);

impl std::fmt::Display for SymbolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SymbolError {}

/// The function symbols of an ELF file, in the module's text format.
pub fn symbol_table(elf: &[u8]) -> Result<String, SymbolError> {
    let file = object::File::parse(elf)
        .map_err(|error| SymbolError(format!("not a readable ELF file: {error}")))?;
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.address() != 0)
        .filter_map(|symbol| {
            let name = symbol.name().ok()?;
            let name = format!("{:#}", rustc_demangle::demangle(name));
            Some((symbol.address(), symbol.size(), name))
        })
        .collect();
    if symbols.is_empty() {
        return Err(SymbolError("the ELF file has no function symbols".into()));
    }
    symbols.sort();
    symbols.dedup_by_key(|(address, _, _)| *address);
    let mut text = String::new();
    for (address, size, name) in symbols {
        text.push_str(&format!("{address:016x} {size:x} {name}\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary_sorted_and_demangled() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let table = symbol_table(&exe).unwrap();
        let addresses: Vec<u64> = table
            .lines()
            .map(|line| u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap())
            .collect();
        assert!(addresses.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            table.contains("mealy_image::symbols::symbol_table"),
            "demangled name of the function under test is listed"
        );
    }

    #[test]
    fn rejects_what_is_not_elf() {
        let error = symbol_table(b"not an elf file").unwrap_err();
        assert!(error.to_string().starts_with("not a readable ELF file"));
    }
}
