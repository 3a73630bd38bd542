//! Terminal traffic: keystrokes in, text out. One pair of messages for
//! every terminal device, so the console routes without knowing which
//! driver is behind an endpoint.
//!
//! - Drivers that read a person (`serial`, `keyboard`) send [`Input`] to
//!   the console, and the console sends it on to the shell. The bytes are
//!   what a serial terminal would send: UTF-8 text, `\r` or `\n` for Enter,
//!   0x08/0x7f for backspace, `ESC [ A` / `ESC [ B` for the arrow keys.
//! - Whoever shows text (`serial`, `fbcon`) accepts [`Output`]; the shell
//!   sends it to the console, which sends it to every display. `\n` is a
//!   new line (the serial driver sends `\r\n`), 0x08 moves back one cell.
//!
//! Both are plain sends, never calls: a terminal that is slow or gone must
//! not hold up the sender, and a full mailbox is reported to the sender
//! like any other. A payload is at most [`MAX_PAYLOAD`](crate::MAX_PAYLOAD)
//! bytes, so a long text goes as several messages ([`OUTPUT_CHUNK`]).

use serde::{Deserialize, Serialize};

/// The shell's prompt, printed at start and after every command: exactly
/// this string. It crosses a boundary (the serial line to the host):
/// `cargo xtask qemu` holds piped input until the guest prints it, and the
/// host tools and tests read a command's output up to the next one.
pub const PROMPT: &str = "mealy> ";

/// The most text bytes one [`Output`] carries, leaving room for postcard's
/// length prefix inside [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
pub const OUTPUT_CHUNK: usize = crate::MAX_PAYLOAD - 16;

/// Bytes typed at a terminal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
}

/// Text to show.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Output<'a> {
    pub text: &'a str,
}

/// Splits `text` into pieces of at most [`OUTPUT_CHUNK`] bytes, each on a
/// character boundary, so every piece is a valid [`Output`].
pub fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(OUTPUT_CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_PAYLOAD, decode, encode};

    #[test]
    fn a_full_chunk_fits_one_payload() {
        let text = "é".repeat(OUTPUT_CHUNK);
        let mut buffer = [0u8; MAX_PAYLOAD];
        let mut total = 0;
        for piece in chunks(&text) {
            assert!(piece.len() <= OUTPUT_CHUNK);
            let bytes = encode(&Output { text: piece }, &mut buffer).unwrap();
            let back: Output<'_> = decode(bytes).unwrap();
            assert_eq!(back.text, piece);
            total += piece.len();
        }
        assert_eq!(total, text.len());
    }

    #[test]
    fn input_round_trips_zero_copy() {
        let mut buffer = [0u8; 32];
        let bytes = encode(&Input { bytes: b"ls\r" }, &mut buffer).unwrap();
        let back: Input<'_> = decode(bytes).unwrap();
        assert_eq!(back.bytes, b"ls\r");
    }
}
