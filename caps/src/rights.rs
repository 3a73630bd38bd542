//! `Rights`: what a capability lets its holder do with the object it names.
//!
//! Six bits, and no more: the access bits a region needs (READ, WRITE, EXEC,
//! MAP) double as the verbs of the other kinds, and two bits govern the
//! capability itself (GRANT, DERIVE). Fewer bits would merge distinct
//! permissions; more would name permissions no object checks. Rights can only
//! shrink along a derivation: mint takes a subset, copy and move keep them.

use core::fmt;

use serde::{Deserialize, Serialize};

bitflags::bitflags! {
    /// The rights a capability carries. Per object kind:
    ///
    /// | kind     | READ            | WRITE                 | EXEC    | MAP        |
    /// |----------|-----------------|-----------------------|---------|------------|
    /// | Endpoint | -               | send / call           | -       | -          |
    /// | Reply    | -               | reply (once)          | -       | -          |
    /// | Region   | load            | store                 | execute | map pages  |
    /// | Device   | MMIO load / `in`| MMIO store / `out`    | -       | map MMIO   |
    /// | Irq      | -               | bind and acknowledge  | -       | -          |
    /// | Timer    | -               | arm and cancel        | -       | -          |
    /// | Inspect  | read the kernel's tables | -            | -       | -          |
    /// | Task     | read its state  | stop, start, kill     | -       | -          |
    ///
    /// GRANT and DERIVE apply to every kind (except that a Reply is never
    /// derivable, which is what makes it one-shot).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct Rights: u8 {
        /// Read the object: load from a region or device, read a task's state,
        /// read the kernel's tables through Inspect.
        const READ = 1 << 0;
        /// Act on or write to the object: store to a region or device, send
        /// through an endpoint or reply, arm a timer, acknowledge an IRQ,
        /// control a task.
        const WRITE = 1 << 1;
        /// Execute code from a region.
        const EXEC = 1 << 2;
        /// Map the pages of a region or an MMIO range into a protection domain.
        const MAP = 1 << 3;
        /// Move this capability to another CSpace, or derive a capability into
        /// another CSpace (mint or copy across CSpaces).
        const GRANT = 1 << 4;
        /// Derive new capabilities from this one (mint, copy). Without it a
        /// capability can only be used, moved or dropped.
        const DERIVE = 1 << 5;
    }
}

impl fmt::Display for Rights {
    /// Compact, fixed-width form for the shell: `rwxmgd`, `-` for a missing bit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LETTERS: [(Rights, char); 6] = [
            (Rights::READ, 'r'),
            (Rights::WRITE, 'w'),
            (Rights::EXEC, 'x'),
            (Rights::MAP, 'm'),
            (Rights::GRANT, 'g'),
            (Rights::DERIVE, 'd'),
        ];
        for (right, letter) in LETTERS {
            let shown = if self.contains(right) { letter } else { '-' };
            fmt::Write::write_char(f, shown)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn display_is_fixed_width_letters() {
        assert_eq!(format!("{}", Rights::empty()), "------");
        assert_eq!(format!("{}", Rights::all()), "rwxmgd");
        assert_eq!(format!("{}", Rights::READ | Rights::GRANT), "r---g-");
    }

    #[test]
    fn unknown_bits_are_dropped_by_truncate() {
        assert_eq!(Rights::from_bits_truncate(0xff), Rights::all());
        assert_eq!(Rights::from_bits(0x40), None);
    }
}
