//! The operations a test sequence is made of, and how raw fuzzer bytes
//! decode into them.
//!
//! Operands are small indices, not refs: `cap` picks among every ref ever
//! issued (live or stale), `space` among every CSpace ever created (live or
//! destroyed), `object` among every object ever created. So random sequences
//! exercise stale refs and dead CSpaces as often as live ones, and any byte
//! string is a valid sequence.

use alloc::vec::Vec;

/// One step of a test sequence. See the module docs for operand meanings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    CreateCSpace {
        capacity: u8,
    },
    DestroyCSpace {
        space: u8,
    },
    CreateObject {
        space: u8,
        kind: u8,
    },
    Lookup {
        cap: u8,
        rights: u8,
    },
    LookupForged {
        space: u8,
        slot: u8,
        generation: u8,
    },
    Mint {
        cap: u8,
        dest: u8,
        rights: u8,
        badge: u8,
    },
    Copy {
        cap: u8,
        dest: u8,
    },
    Move {
        cap: u8,
        dest: u8,
    },
    Drop {
        cap: u8,
    },
    Revoke {
        cap: u8,
    },
    Destroy {
        object: u8,
    },
}

/// The longest sequence `decode_ops` produces, so a fuzz input stays fast.
pub const MAX_OPS: usize = 256;

/// Decodes as many whole operations as `data` holds (at most `MAX_OPS`):
/// one opcode byte, then that operation's operand bytes.
pub fn decode_ops(data: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut rest = data;
    while ops.len() < MAX_OPS {
        let Some((op, tail)) = decode_one(rest) else {
            break;
        };
        ops.push(op);
        rest = tail;
    }
    ops
}

fn decode_one(data: &[u8]) -> Option<(Op, &[u8])> {
    let (&opcode, rest) = data.split_first()?;
    let operand = |i: usize| rest.get(i).copied();
    let (op, used) = match opcode % 11 {
        0 => (
            Op::CreateCSpace {
                capacity: operand(0)?,
            },
            1,
        ),
        1 => (Op::DestroyCSpace { space: operand(0)? }, 1),
        2 => (
            Op::CreateObject {
                space: operand(0)?,
                kind: operand(1)?,
            },
            2,
        ),
        3 => (
            Op::Lookup {
                cap: operand(0)?,
                rights: operand(1)?,
            },
            2,
        ),
        4 => (
            Op::LookupForged {
                space: operand(0)?,
                slot: operand(1)?,
                generation: operand(2)?,
            },
            3,
        ),
        5 => (
            Op::Mint {
                cap: operand(0)?,
                dest: operand(1)?,
                rights: operand(2)?,
                badge: operand(3)?,
            },
            4,
        ),
        6 => (
            Op::Copy {
                cap: operand(0)?,
                dest: operand(1)?,
            },
            2,
        ),
        7 => (
            Op::Move {
                cap: operand(0)?,
                dest: operand(1)?,
            },
            2,
        ),
        8 => (Op::Drop { cap: operand(0)? }, 1),
        9 => (Op::Revoke { cap: operand(0)? }, 1),
        _ => (
            Op::Destroy {
                object: operand(0)?,
            },
            1,
        ),
    };
    Some((op, rest.get(used..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_whole_ops_and_stops_at_a_partial_one() {
        let ops = decode_ops(&[8, 3, 5, 1, 2, 3, 4, 2, 9]);
        assert_eq!(
            ops,
            [
                Op::Drop { cap: 3 },
                Op::Mint {
                    cap: 1,
                    dest: 2,
                    rights: 3,
                    badge: 4
                }
            ]
        );
        assert!(decode_ops(&[]).is_empty());
    }
}
