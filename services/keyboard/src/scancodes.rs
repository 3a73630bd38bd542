//! Scancodes to terminal bytes: the pure half of the keyboard driver.
//!
//! [`Decoder`] feeds i8042 bytes (scancode set 1, what the controller
//! translates every keyboard to under OVMF and QEMU) one at a time to
//! `pc-keyboard` with the US 104-key layout, and turns each decoded key
//! into the bytes a serial terminal would send for it (see
//! `mealy_protocol::terminal`): text as UTF-8, Enter as `\r`, Backspace as
//! DEL (0x7f), the arrow keys as `ESC [ A/B/C/D`, Delete as `ESC [ 3 ~`,
//! Ctrl with a letter as its control byte (Ctrl-C is 0x03).
//!
//! Invariants: any byte sequence is accepted (an unknown scancode is
//! ignored, never an error or a panic); key releases and modifier keys
//! produce no bytes; one key never produces more than [`MAX_KEY_BYTES`].
//! The Escape key alone produces nothing, so a lone ESC can never start
//! an escape sequence the shell would misread.

use pc_keyboard::layouts::Us104Key;
use pc_keyboard::{DecodedKey, HandleControl, KeyCode, KeyState, PS2Keyboard, ScancodeSet1};

/// The most bytes one key press turns into (`ESC [ 3 ~`, or a 4-byte
/// UTF-8 character).
pub const MAX_KEY_BYTES: usize = 4;

/// The bytes one key press produced: at most [`MAX_KEY_BYTES`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyBytes {
    bytes: [u8; MAX_KEY_BYTES],
    len: u8,
}

impl KeyBytes {
    fn from_slice(bytes: &[u8]) -> Self {
        let mut key = KeyBytes {
            bytes: [0; MAX_KEY_BYTES],
            len: 0,
        };
        let len = bytes.len().min(MAX_KEY_BYTES);
        key.bytes[..len].copy_from_slice(&bytes[..len]);
        key.len = len as u8;
        key
    }

    fn from_char(c: char) -> Self {
        let mut utf8 = [0u8; MAX_KEY_BYTES];
        Self::from_slice(c.encode_utf8(&mut utf8).as_bytes())
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Decodes a stream of set-1 scancode bytes into terminal bytes, keeping
/// the state between bytes (an `E0` prefix, which modifiers are held).
pub struct Decoder {
    keyboard: PS2Keyboard<Us104Key, ScancodeSet1>,
}

impl Decoder {
    pub const fn new() -> Self {
        Self {
            keyboard: PS2Keyboard::new(ScancodeSet1::new(), Us104Key, HandleControl::Ignore),
        }
    }

    /// Feeds one byte from the controller's data port; returns the
    /// terminal bytes of the key it completed, if any.
    pub fn feed(&mut self, scancode: u8) -> Option<KeyBytes> {
        // An unknown scancode is an `Err`: ignore it, the state machine
        // has already gone back to its start state.
        let event = self.keyboard.add_byte(scancode).ok()??;
        let code = event.code;
        let pressed = event.state == KeyState::Down;
        // Always pass the event on, so modifier state stays right.
        let decoded = self.keyboard.process_keyevent(event)?;
        if !pressed {
            return None;
        }
        let ctrl = self.keyboard.get_modifiers().is_ctrl();
        match (code, decoded) {
            (KeyCode::Return | KeyCode::NumpadEnter, _) => Some(KeyBytes::from_slice(b"\r")),
            (KeyCode::Backspace, _) => Some(KeyBytes::from_slice(&[0x7f])),
            (KeyCode::Delete, _) => Some(KeyBytes::from_slice(b"\x1b[3~")),
            (KeyCode::Escape, _) => None,
            (_, DecodedKey::RawKey(raw)) => arrow(raw),
            (_, DecodedKey::Unicode(c)) if ctrl && c.is_ascii_alphabetic() => {
                Some(KeyBytes::from_slice(&[(c as u8) & 0x1f]))
            }
            (_, DecodedKey::Unicode(c)) => Some(KeyBytes::from_char(c)),
        }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Decoder(set 1, US 104)")
    }
}

/// The escape sequence of an arrow key; `None` for every other raw key.
fn arrow(key: KeyCode) -> Option<KeyBytes> {
    let sequence: &[u8] = match key {
        KeyCode::ArrowUp => b"\x1b[A",
        KeyCode::ArrowDown => b"\x1b[B",
        KeyCode::ArrowRight => b"\x1b[C",
        KeyCode::ArrowLeft => b"\x1b[D",
        _ => return None,
    };
    Some(KeyBytes::from_slice(sequence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Every terminal byte the scancodes produce, concatenated.
    fn decode(scancodes: &[u8]) -> Vec<u8> {
        let mut decoder = Decoder::new();
        scancodes
            .iter()
            .filter_map(|&byte| decoder.feed(byte))
            .flat_map(|key| key.as_slice().to_vec())
            .collect()
    }

    const A: u8 = 0x1e;
    const C: u8 = 0x2e;
    const ONE: u8 = 0x02;
    const ENTER: u8 = 0x1c;
    const BACKSPACE: u8 = 0x0e;
    const LSHIFT: u8 = 0x2a;
    const LCTRL: u8 = 0x1d;
    const RELEASE: u8 = 0x80;

    #[test]
    fn a_press_is_a_letter_and_its_release_is_nothing() {
        assert_eq!(decode(&[A]), b"a");
        assert_eq!(decode(&[A, A | RELEASE]), b"a");
        assert_eq!(decode(&[A | RELEASE]), b"");
    }

    #[test]
    fn shift_changes_letters_and_symbols_until_released() {
        let typed = decode(&[
            LSHIFT,
            A,
            A | RELEASE,
            ONE,
            ONE | RELEASE,
            LSHIFT | RELEASE,
            A,
        ]);
        assert_eq!(typed, b"A!a");
    }

    #[test]
    fn enter_and_backspace_are_what_a_serial_terminal_sends() {
        assert_eq!(decode(&[ENTER, ENTER | RELEASE]), b"\r");
        assert_eq!(decode(&[BACKSPACE, BACKSPACE | RELEASE]), [0x7f]);
    }

    #[test]
    fn extended_arrow_keys_become_escape_sequences() {
        let up = [0xe0, 0x48, 0xe0, 0xc8];
        let down = [0xe0, 0x50, 0xe0, 0xd0];
        assert_eq!(decode(&up), b"\x1b[A");
        assert_eq!(decode(&down), b"\x1b[B");
        assert_eq!(decode(&[0xe0, 0x4d, 0xe0, 0x4b]), b"\x1b[C\x1b[D");
    }

    #[test]
    fn ctrl_c_is_end_of_text() {
        let typed = decode(&[LCTRL, C, C | RELEASE, LCTRL | RELEASE, C]);
        assert_eq!(typed, b"\x03c");
    }

    #[test]
    fn escape_and_modifiers_alone_send_nothing() {
        assert_eq!(decode(&[0x01, 0x81, LSHIFT, LSHIFT | RELEASE]), b"");
    }

    #[test]
    fn unknown_bytes_are_ignored_and_decoding_goes_on() {
        // 0x7f/0xff have no key in set 1; 0xe0 0x7f no extended key.
        assert_eq!(decode(&[0x7f, 0xff, 0xe0, 0x7f, A]), b"a");
    }

    proptest! {
        #[test]
        fn any_byte_stream_decodes_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            let mut decoder = Decoder::new();
            for byte in bytes {
                if let Some(key) = decoder.feed(byte) {
                    prop_assert!(!key.as_slice().is_empty());
                    prop_assert!(key.as_slice().len() <= MAX_KEY_BYTES);
                }
            }
        }
    }
}
