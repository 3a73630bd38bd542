//! Powering off through ACPI: writing `SLP_TYPa | SLP_EN` to the FADT's PM1a
//! control register enters sleep state S5 (soft off). SLP_TYP comes from
//! the DSDT's `\_S5` package, which is AML bytecode.
//!
//! Trade-off: instead of an AML interpreter, [`sleep_type_s5`] recognises
//! the one shape firmware uses for `\_S5` (a Name holding a constant
//! Package). A DSDT that computes `_S5` in a Method is not understood, and
//! the caller reports that. The register write itself is in the arch layer.

/// SLP_EN: bit 13 of PM1x_CNT starts the transition.
pub const SLEEP_ENABLE: u16 = 1 << 13;

/// The PM1a/PM1b values that enter S5: `(SLP_TYPa, SLP_TYPb)`, shifted
/// into place (bits 10..13) with SLP_EN set.
pub fn pm1_control_values(sleep_type: (u8, u8)) -> (u16, u16) {
    let value = |typ: u8| (u16::from(typ & 0b111) << 10) | SLEEP_ENABLE;
    (value(sleep_type.0), value(sleep_type.1))
}

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const BYTE_PREFIX: u8 = 0x0a;
const WORD_PREFIX: u8 = 0x0b;
const DWORD_PREFIX: u8 = 0x0c;
const ONES_OP: u8 = 0xff;

/// Finds `Name(_S5_, Package() { SLP_TYPa, SLP_TYPb, ... })` in AML and
/// returns the two sleep types. `None` if there is no such package.
pub fn sleep_type_s5(aml: &[u8]) -> Option<(u8, u8)> {
    aml.windows(4)
        .enumerate()
        .filter(|(_, window)| *window == b"_S5_")
        .find_map(|(at, _)| {
            let name_op_before = match at.checked_sub(1).map(|i| aml[i]) {
                Some(NAME_OP) => true,
                // `\_S5_`: the root prefix between NameOp and the name.
                Some(b'\\') => at.checked_sub(2).map(|i| aml[i]) == Some(NAME_OP),
                _ => false,
            };
            if !name_op_before {
                return None;
            }
            parse_package(aml.get(at + 4..)?)
        })
}

fn parse_package(bytes: &[u8]) -> Option<(u8, u8)> {
    let (&op, rest) = bytes.split_first()?;
    if op != PACKAGE_OP {
        return None;
    }
    // PkgLength: the top two bits of its first byte count the bytes after.
    let (&lead, _) = rest.split_first()?;
    let length_bytes = 1 + usize::from(lead >> 6);
    let rest = rest.get(length_bytes..)?;
    let (&elements, mut rest) = rest.split_first()?;
    if elements < 2 {
        return None;
    }
    let mut values = [0u8; 2];
    for value in &mut values {
        let (parsed, after) = parse_integer(rest)?;
        *value = parsed as u8;
        rest = after;
    }
    Some((values[0], values[1]))
}

fn parse_integer(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&op, rest) = bytes.split_first()?;
    let take = |count: usize| -> Option<(u64, &[u8])> {
        let field = rest.get(..count)?;
        let value = field
            .iter()
            .rev()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        Some((value, &rest[count..]))
    };
    match op {
        ZERO_OP => Some((0, rest)),
        ONE_OP => Some((1, rest)),
        ONES_OP => Some((u64::MAX, rest)),
        BYTE_PREFIX => take(1),
        WORD_PREFIX => take(2),
        DWORD_PREFIX => take(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })`, as QEMU's
    /// q35 DSDT has it, inside some unrelated bytes.
    const QEMU_Q35: &[u8] = &[
        0x10, 0x4f, 0x5f, 0x53, 0x42, 0x5f, // unrelated scope
        0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00, //
        0x14, 0x20, // unrelated method
    ];

    #[test]
    fn finds_qemu_s5() {
        assert_eq!(sleep_type_s5(QEMU_Q35), Some((0, 0)));
    }

    #[test]
    fn reads_byte_prefixed_values_and_root_prefix() {
        let aml = [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x0a, 0x04, 0x0a, 0x07, 0x0a, 0x05, 0x00,
            0x00,
        ];
        assert_eq!(sleep_type_s5(&aml), Some((7, 5)));
    }

    #[test]
    fn a_reference_or_a_method_is_not_the_package() {
        // `_S5_` used as a name inside a method call, not defined.
        let aml = [0x70, b'_', b'S', b'5', b'_', 0x60];
        assert_eq!(sleep_type_s5(&aml), None);
        // Defined as a method: MethodOp 0x14 before the name.
        let aml = [0x14, 0x08, b'_', b'S', b'5', b'_', 0x00, 0xa4, 0x00];
        assert_eq!(sleep_type_s5(&aml), None);
    }

    #[test]
    fn truncated_aml_is_none_not_a_panic() {
        for end in 0..QEMU_Q35.len() - 2 {
            let _ = sleep_type_s5(&QEMU_Q35[..end]);
        }
        assert_eq!(
            sleep_type_s5(&QEMU_Q35[..14]),
            None,
            "cut inside the package"
        );
        assert_eq!(sleep_type_s5(&[]), None);
    }

    #[test]
    fn control_values_put_the_type_in_bits_10_to_12() {
        assert_eq!(pm1_control_values((0, 0)), (0x2000, 0x2000));
        assert_eq!(pm1_control_values((5, 7)), (0x3400, 0x3c00));
    }
}
