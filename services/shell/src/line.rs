//! The line editor: raw serial bytes in, one at a time; echo text and
//! completed lines out.
//!
//! It understands just what a serial terminal sends: printable characters
//! (ASCII or UTF-8), backspace (0x08 and DEL 0x7f), Enter (CR, LF, or CRLF
//! counted once), Ctrl-C (0x03) and the arrow keys (`ESC [ A` / `ESC [ B`,
//! also `ESC O A` / `ESC O B`) for history. Every other control byte and
//! escape sequence is swallowed. There is no cursor movement inside the
//! line: editing happens at the end, which keeps echo a pure append/erase
//! and the state small.
//!
//! The line being typed is always a valid `String` without control
//! characters: UTF-8 is decoded as it arrives, and an invalid sequence is
//! not stored but remembered, so the whole line is refused with one
//! [`LineError::InvalidUtf8`] at Enter. Likewise bytes past [`MAX_LINE`]
//! are neither stored nor echoed and the line is refused with
//! [`LineError::TooLong`]; a refused line can only be finished (Enter) or
//! cleared (Ctrl-C, or recalling history), never salvaged by backspacing,
//! so what runs is always exactly what was typed. No byte sequence panics.

use alloc::collections::VecDeque;
use alloc::string::String;
use core::fmt;

/// The longest line the editor stores, in bytes.
pub const MAX_LINE: usize = 256;

/// How many previous lines arrow-up can recall.
pub const HISTORY_LINES: usize = 32;

/// What erases one character on the terminal: back, blank, back.
pub const ERASE: &str = "\x08 \x08";

/// Parameter bytes tolerated inside one escape sequence before it is
/// abandoned, so a stream of garbage cannot keep the editor in escape mode.
const MAX_ESCAPE_LEN: u8 = 16;

const CTRL_C: u8 = 0x03;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const ESCAPE: u8 = 0x1b;

/// Why a completed line was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LineError {
    /// More than [`MAX_LINE`] bytes were typed.
    TooLong { limit: usize },
    /// The line held bytes that are not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(
                f,
                "line longer than {limit} bytes, nothing was run; type 'help' for commands"
            ),
            LineError::InvalidUtf8 => {
                f.write_str("line is not valid UTF-8, nothing was run; type 'help' for commands")
            }
        }
    }
}

/// Something the editor finished.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LineEvent {
    /// Enter on a good line (possibly empty).
    Line(String),
    /// Enter on a refused line; the line is gone.
    Error(LineError),
    /// Ctrl-C; the line is gone.
    Cancelled,
}

/// Where the editor is inside an escape sequence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Escape {
    None,
    /// Just saw ESC.
    Started,
    /// Inside `ESC [` or `ESC O`, having seen this many parameter bytes.
    Sequence(u8),
}

/// A UTF-8 character arriving byte by byte.
#[derive(Clone, Copy, Debug, Default)]
struct PendingChar {
    bytes: [u8; 4],
    len: usize,
    expected: usize,
}

/// The line editor's state. See the module docs for the key map.
#[derive(Debug)]
pub struct LineEditor {
    line: String,
    pending: PendingChar,
    too_long: bool,
    invalid_utf8: bool,
    escape: Escape,
    /// The last byte was CR, so an LF right after it is the same Enter.
    after_cr: bool,
    /// Oldest first.
    history: VecDeque<String>,
    /// Which history entry is shown, while browsing.
    browsing: Option<usize>,
    /// What was typed before browsing started, restored by arrow-down
    /// together with whether it was already refused.
    draft: String,
    draft_too_long: bool,
    draft_invalid_utf8: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub fn new() -> Self {
        Self {
            line: String::new(),
            pending: PendingChar::default(),
            too_long: false,
            invalid_utf8: false,
            escape: Escape::None,
            after_cr: false,
            history: VecDeque::new(),
            browsing: None,
            draft: String::new(),
            draft_too_long: false,
            draft_invalid_utf8: false,
        }
    }

    /// The line typed so far.
    pub fn current(&self) -> &str {
        &self.line
    }

    /// Previous lines, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// Takes one byte, appends what to show to `echo`, and returns an event
    /// if the byte finished (or cancelled) a line.
    pub fn push(&mut self, byte: u8, echo: &mut String) -> Option<LineEvent> {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        if self.escape != Escape::None && byte >= 0x20 {
            self.continue_escape(byte, echo);
            return None;
        }
        // A control byte ends any escape sequence and is then itself obeyed.
        self.escape = Escape::None;
        if byte >= 0x80 || (byte >= 0x20 && byte != DELETE) {
            self.push_text_byte(byte, echo);
            return None;
        }
        self.drop_pending_char();
        match byte {
            b'\r' => {
                self.after_cr = true;
                Some(self.finish(echo))
            }
            b'\n' if after_cr => None,
            b'\n' => Some(self.finish(echo)),
            BACKSPACE | DELETE => {
                self.erase_char(echo);
                None
            }
            CTRL_C => {
                echo.push_str("^C\n");
                self.reset_line();
                Some(LineEvent::Cancelled)
            }
            ESCAPE => {
                self.escape = Escape::Started;
                None
            }
            _ => None,
        }
    }

    fn continue_escape(&mut self, byte: u8, echo: &mut String) {
        match self.escape {
            Escape::Started if byte == b'[' || byte == b'O' => {
                self.escape = Escape::Sequence(0);
            }
            Escape::Started => {
                // Not a sequence we know (Alt+key): forget the ESC.
                self.escape = Escape::None;
            }
            Escape::Sequence(_) if (0x40..=0x7e).contains(&byte) => {
                self.escape = Escape::None;
                match byte {
                    b'A' => self.recall_older(echo),
                    b'B' => self.recall_newer(echo),
                    _ => {}
                }
            }
            Escape::Sequence(seen) if seen < MAX_ESCAPE_LEN => {
                self.escape = Escape::Sequence(seen + 1);
            }
            Escape::Sequence(_) | Escape::None => self.escape = Escape::None,
        }
    }

    /// A byte of text: ASCII, or part of a UTF-8 character.
    fn push_text_byte(&mut self, byte: u8, echo: &mut String) {
        let is_continuation = (0x80..=0xbf).contains(&byte);
        if self.pending.len > 0 && !is_continuation {
            // The character before was cut short.
            self.drop_pending_char();
        }
        if self.pending.len == 0 {
            let expected = match byte {
                0x00..=0x7f => 1,
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => {
                    self.invalid_utf8 = true;
                    return;
                }
            };
            self.pending.expected = expected;
        }
        if let Some(slot) = self.pending.bytes.get_mut(self.pending.len) {
            *slot = byte;
            self.pending.len += 1;
        }
        if self.pending.len < self.pending.expected {
            return;
        }
        let bytes = self.pending.bytes.get(..self.pending.len).unwrap_or(&[]);
        let decoded = core::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.chars().next());
        self.pending = PendingChar::default();
        match decoded {
            Some(ch) => self.insert_char(ch, echo),
            None => self.invalid_utf8 = true,
        }
    }

    /// Forgets a partly received UTF-8 character, which makes the line bad.
    fn drop_pending_char(&mut self) {
        if self.pending.len > 0 {
            self.invalid_utf8 = true;
            self.pending = PendingChar::default();
        }
    }

    fn insert_char(&mut self, ch: char, echo: &mut String) {
        if ch.is_control() {
            // C1 controls and the like: not text, not stored.
            return;
        }
        if self.too_long || self.line.len() + ch.len_utf8() > MAX_LINE {
            self.too_long = true;
            return;
        }
        self.line.push(ch);
        echo.push(ch);
    }

    fn erase_char(&mut self, echo: &mut String) {
        if self.line.pop().is_some() {
            echo.push_str(ERASE);
        }
    }

    /// Enter: hands over the line, or the reason it was refused.
    fn finish(&mut self, echo: &mut String) -> LineEvent {
        echo.push('\n');
        let event = if self.too_long {
            LineEvent::Error(LineError::TooLong { limit: MAX_LINE })
        } else if self.invalid_utf8 || self.pending.len > 0 {
            LineEvent::Error(LineError::InvalidUtf8)
        } else {
            let line = core::mem::take(&mut self.line);
            self.remember(&line);
            LineEvent::Line(line)
        };
        self.reset_line();
        event
    }

    fn remember(&mut self, line: &str) {
        if line.trim().is_empty() || self.history.back().is_some_and(|last| last == line) {
            return;
        }
        if self.history.len() == HISTORY_LINES {
            self.history.pop_front();
        }
        self.history.push_back(String::from(line));
    }

    fn reset_line(&mut self) {
        self.line.clear();
        self.pending = PendingChar::default();
        self.too_long = false;
        self.invalid_utf8 = false;
        self.escape = Escape::None;
        self.browsing = None;
        self.draft.clear();
        self.draft_too_long = false;
        self.draft_invalid_utf8 = false;
    }

    /// Arrow-up: shows the previous history entry.
    fn recall_older(&mut self, echo: &mut String) {
        let target = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.drop_pending_char();
                self.draft = self.line.clone();
                self.draft_too_long = self.too_long;
                self.draft_invalid_utf8 = self.invalid_utf8;
                self.history.len() - 1
            }
            Some(0) => return,
            Some(shown) => shown - 1,
        };
        self.browsing = Some(target);
        let text = self.history.get(target).cloned().unwrap_or_default();
        self.replace_line(text, echo);
    }

    /// Arrow-down: shows the next history entry, then what was being typed.
    fn recall_newer(&mut self, echo: &mut String) {
        let Some(shown) = self.browsing else {
            return;
        };
        if shown + 1 < self.history.len() {
            self.browsing = Some(shown + 1);
            let text = self.history.get(shown + 1).cloned().unwrap_or_default();
            self.replace_line(text, echo);
        } else {
            self.browsing = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace_line(draft, echo);
            self.too_long = self.draft_too_long;
            self.invalid_utf8 = self.draft_invalid_utf8;
        }
    }

    /// Erases the shown line and shows `text` instead. A history entry is
    /// a good line, so showing one clears any refusal (arrow-down back to
    /// the draft restores the draft's).
    fn replace_line(&mut self, text: String, echo: &mut String) {
        for _ in self.line.chars() {
            echo.push_str(ERASE);
        }
        echo.push_str(&text);
        self.line = text;
        self.pending = PendingChar::default();
        self.too_long = false;
        self.invalid_utf8 = false;
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
