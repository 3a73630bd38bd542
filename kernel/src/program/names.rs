//! Names of programs: the scheduler keeps task names as `&'static str`,
//! and a program's name comes from a file at run time. Each distinct name
//! is stored once, for good, in a bounded table, so spawning the same
//! program a thousand times costs nothing more than the first time.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_protocol::IpcError;
use spin::Mutex;

/// Distinct program names kept at most.
pub const MAX_NAMES: usize = 256;
/// Longest program name, in bytes.
pub const MAX_NAME: usize = 24;

static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// `name`, stored once. `Malformed` unless it is 1 to [`MAX_NAME`]
/// printable ASCII bytes without spaces; `OutOfResources` once
/// [`MAX_NAMES`] different names exist.
pub fn intern(name: &str) -> Result<&'static str, IpcError> {
    if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IpcError::Malformed);
    }
    let mut names = NAMES.lock();
    if let Some(known) = names.iter().find(|known| **known == name) {
        return Ok(known);
    }
    if names.len() >= MAX_NAMES {
        return Err(IpcError::OutOfResources);
    }
    names.try_reserve(1).map_err(|_| IpcError::OutOfResources)?;
    let stored: &'static str = Box::leak(Box::<str>::from(name));
    names.push(stored);
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_stored_once_and_bad_ones_are_refused() {
        let first = intern("names-test").unwrap();
        let again = intern("names-test").unwrap();
        assert!(core::ptr::eq(first, again));
        for bad in [
            "",
            "has space",
            "x".repeat(MAX_NAME + 1).as_str(),
            "tab\t",
            "é",
        ] {
            assert_eq!(intern(bad), Err(IpcError::Malformed), "{bad:?}");
        }
    }
}
