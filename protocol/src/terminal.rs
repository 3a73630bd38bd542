//! The terminal interface: keystrokes in, text out. One interface for
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
//! Both are one-way operations of one interface, [`Server`]: a terminal
//! that is slow or gone must not hold up the sender, and a full mailbox
//! is reported to the sender like any other. They share an interface,
//! tagged on the wire, rather than being two untagged ones, because their
//! encodings would otherwise be the same bytes (a length and the bytes):
//! the tag is what keeps text a driver sends from being taken as the
//! shell's. Each handler gets the sender's badge, so the console can
//! check who may send which (only the shell's endpoint may print). A
//! display implements [`Display`], which serves the interface and refuses
//! `input`; any other service that takes only one of them refuses the
//! other with [`not_accepted`]. A payload is at most
//! [`MAX_PAYLOAD`](crate::MAX_PAYLOAD) bytes, so a long text goes as
//! several messages ([`OUTPUT_CHUNK`]).

use serde::{Deserialize, Serialize};

use mealy_caps::Badge;

use crate::codec::CodecError;
use crate::context::Context;
use crate::error::HandleError;
use crate::interface::Outgoing;

/// The shell's prompt, printed at start and after every command: exactly
/// this string. It crosses a boundary (the serial line to the host):
/// `cargo xtask qemu` holds piped input until the guest prints it, and the
/// host tools and tests read a command's output up to the next one.
pub const PROMPT: &str = "mealy> ";

/// The most text bytes one [`Output`] carries, leaving room for the
/// operation tag and postcard's length prefix inside
/// [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
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

crate::interface! {
    <'a>
    /// Bytes typed at a terminal.
    0 => fn input(Input<'a>);
    /// Text to show.
    1 => fn output(Output<'a>);
}

/// What a handler returns for an operation its service does not take (a
/// display given `Input`, a driver given `Output`) or a sender it does not
/// take it from: the message is malformed for this receiver, and a caller
/// gets the kernel's `Malformed` error reply.
pub const fn not_accepted() -> HandleError {
    HandleError::Malformed(CodecError::Invalid)
}

/// A display: a service that shows [`Output`] and takes no [`Input`].
/// Implement this rather than [`Server`]: it serves the interface, and
/// refuses `input` with [`not_accepted`].
pub trait Display: Outgoing {
    /// Shows `message`, which came through an endpoint with `badge`.
    fn show(
        &mut self,
        cx: &mut dyn Context,
        message: Output<'_>,
        badge: Option<Badge>,
    ) -> Result<(), HandleError>;
}

impl<T: Display> Server for T {
    fn input(
        &mut self,
        _: &mut dyn Context,
        _: Input<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        Err(not_accepted())
    }

    fn output(
        &mut self,
        cx: &mut dyn Context,
        message: Output<'_>,
        badge: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.show(cx, message, badge)
    }
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
    use crate::MAX_PAYLOAD;
    use crate::interface::encode_request;

    #[test]
    fn a_full_chunk_fits_one_payload() {
        let text = "é".repeat(OUTPUT_CHUNK);
        let mut buffer = [0u8; MAX_PAYLOAD];
        let mut total = 0;
        for piece in chunks(&text) {
            assert!(piece.len() <= OUTPUT_CHUNK);
            let bytes = encode_request(&Output { text: piece }, &mut buffer).unwrap();
            assert_eq!(bytes[0], 1, "tagged as output");
            let back: Output<'_> = crate::decode(&bytes[1..]).unwrap();
            assert_eq!(back.text, piece);
            total += piece.len();
        }
        assert_eq!(total, text.len());
    }

    #[test]
    fn input_and_output_differ_on_the_wire() {
        let mut buffer = [0u8; 32];
        let input = encode_request(&Input { bytes: b"ls\r" }, &mut buffer)
            .unwrap()
            .to_vec();
        let output = encode_request(&Output { text: "ls\r" }, &mut buffer).unwrap();
        assert_eq!(input, [0, 3, b'l', b's', b'\r']);
        assert_eq!(output, [1, 3, b'l', b's', b'\r']);
    }
}
