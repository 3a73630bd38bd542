//! Tests of the line editor: what it echoes and which events it emits for
//! each key a serial terminal can send.

use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;
use proptest::prelude::*;

const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";

/// Feeds `bytes`, returning everything echoed and every event.
fn type_bytes(editor: &mut LineEditor, bytes: &[u8]) -> (String, Vec<LineEvent>) {
    let mut echo = String::new();
    let events = bytes
        .iter()
        .filter_map(|&byte| editor.push(byte, &mut echo))
        .collect();
    (echo, events)
}

fn line(text: &str) -> LineEvent {
    LineEvent::Line(text.to_string())
}

#[test]
fn printable_text_is_echoed_and_enter_completes_the_line() {
    let mut editor = LineEditor::new();
    let (echo, events) = type_bytes(&mut editor, b"ps\r");
    assert_eq!(echo, "ps\n");
    assert_eq!(events, [line("ps")]);
    assert_eq!(editor.current(), "");
}

#[test]
fn crlf_counts_as_one_enter_but_lf_lf_is_two() {
    let mut editor = LineEditor::new();
    let (_, events) = type_bytes(&mut editor, b"ps\r\nmem\n\n");
    assert_eq!(events, [line("ps"), line("mem"), line("")]);
    let (_, events) = type_bytes(&mut editor, b"\r\r");
    assert_eq!(events, [line(""), line("")]);
}

#[test]
fn backspace_and_delete_erase_one_character_each() {
    let mut editor = LineEditor::new();
    let (echo, events) = type_bytes(&mut editor, b"psx\x08\x7f");
    assert_eq!(echo, "psx\x08 \x08\x08 \x08");
    assert!(events.is_empty());
    assert_eq!(editor.current(), "p");
    // Backspace on an empty line echoes nothing.
    let (echo, _) = type_bytes(&mut editor, b"\x08\x08\x08");
    assert_eq!(echo, ERASE);
    assert_eq!(editor.current(), "");
}

#[test]
fn backspace_erases_a_whole_multibyte_character() {
    let mut editor = LineEditor::new();
    let (echo, _) = type_bytes(&mut editor, "aé→".as_bytes());
    assert_eq!(echo, "aé→");
    type_bytes(&mut editor, b"\x7f");
    assert_eq!(editor.current(), "aé");
    let (_, events) = type_bytes(&mut editor, b"\r");
    assert_eq!(events, [line("aé")]);
}

#[test]
fn arrow_up_and_down_walk_the_history() {
    let mut editor = LineEditor::new();
    type_bytes(&mut editor, b"ps\rmem\rst");
    let (echo, _) = type_bytes(&mut editor, UP);
    assert_eq!(editor.current(), "mem");
    assert_eq!(echo, "\x08 \x08\x08 \x08mem");
    type_bytes(&mut editor, UP);
    assert_eq!(editor.current(), "ps");
    // Past the oldest entry, up does nothing.
    let (echo, _) = type_bytes(&mut editor, UP);
    assert_eq!((echo.as_str(), editor.current()), ("", "ps"));
    type_bytes(&mut editor, DOWN);
    assert_eq!(editor.current(), "mem");
    // Past the newest entry, down brings back what was being typed.
    type_bytes(&mut editor, DOWN);
    assert_eq!(editor.current(), "st");
    let (echo, _) = type_bytes(&mut editor, DOWN);
    assert_eq!((echo.as_str(), editor.current()), ("", "st"));
}

#[test]
fn recalled_line_can_be_edited_and_run() {
    let mut editor = LineEditor::new();
    type_bytes(&mut editor, b"caps 1\r");
    let (_, events) = type_bytes(&mut editor, b"\x1bOA\x7f2\r");
    assert_eq!(events, [line("caps 2")]);
    assert_eq!(editor.history().collect::<Vec<_>>(), ["caps 1", "caps 2"]);
}

#[test]
fn history_skips_blank_lines_and_repeats_and_is_bounded() {
    let mut editor = LineEditor::new();
    type_bytes(&mut editor, b"ps\rps\r  \r\r");
    assert_eq!(editor.history().collect::<Vec<_>>(), ["ps"]);
    for i in 0..HISTORY_LINES + 5 {
        type_bytes(&mut editor, alloc::format!("send echo {i}\r").as_bytes());
    }
    let history: Vec<&str> = editor.history().collect();
    assert_eq!(history.len(), HISTORY_LINES);
    assert_eq!(history.first(), Some(&"send echo 5"));
}

#[test]
fn other_escape_sequences_and_control_bytes_are_swallowed() {
    let mut editor = LineEditor::new();
    let (echo, events) = type_bytes(&mut editor, b"p\x1b[C\x1b[1;5D\x1b[3~\x01\x00\ts\x1bx\r");
    assert_eq!(echo, "ps\n");
    assert_eq!(events, [line("ps")]);
}

#[test]
fn enter_inside_an_escape_sequence_still_completes_the_line() {
    let mut editor = LineEditor::new();
    let (_, events) = type_bytes(&mut editor, b"ps\x1b[\r");
    assert_eq!(events, [line("ps")]);
}

#[test]
fn ctrl_c_clears_the_line() {
    let mut editor = LineEditor::new();
    let (echo, events) = type_bytes(&mut editor, b"kill 3\x03");
    assert_eq!(echo, "kill 3^C\n");
    assert_eq!(events, [LineEvent::Cancelled]);
    assert_eq!(editor.current(), "");
    assert_eq!(editor.history().count(), 0);
}

#[test]
fn overlong_line_is_refused_once_at_enter_and_not_stored_past_the_limit() {
    let mut editor = LineEditor::new();
    let long = [b'a'; MAX_LINE + 10];
    let (echo, events) = type_bytes(&mut editor, &long);
    assert!(events.is_empty());
    assert_eq!(editor.current().len(), MAX_LINE);
    assert_eq!(echo.len(), MAX_LINE, "bytes past the limit are not echoed");
    // Backspacing does not salvage it: the tail is gone.
    type_bytes(&mut editor, &[0x7f; 20]);
    let (_, events) = type_bytes(&mut editor, b"\r\n");
    assert_eq!(
        events,
        [LineEvent::Error(LineError::TooLong { limit: MAX_LINE })]
    );
    // The next line is fine again.
    let (_, events) = type_bytes(&mut editor, b"ps\r");
    assert_eq!(events, [line("ps")]);
}

#[test]
fn a_line_of_exactly_the_limit_is_accepted() {
    let mut editor = LineEditor::new();
    let mut bytes = alloc::vec![b'x'; MAX_LINE];
    bytes.push(b'\r');
    let (_, events) = type_bytes(&mut editor, &bytes);
    assert!(matches!(events.as_slice(), [LineEvent::Line(text)] if text.len() == MAX_LINE));
}

#[test]
fn invalid_utf8_drops_the_line_with_one_error() {
    for bad in [
        &b"p\xffs\r"[..],
        b"\xc3(\r",        // lead byte, then not a continuation
        b"\x80ps\r",       // stray continuation byte
        b"ps\xe2\x82\r",   // cut short by Enter
        b"\xed\xa0\x80\r", // an encoded surrogate
        b"\xc0\xaf\r",     // overlong encoding
    ] {
        let mut editor = LineEditor::new();
        let (echo, events) = type_bytes(&mut editor, bad);
        assert_eq!(
            events,
            [LineEvent::Error(LineError::InvalidUtf8)],
            "{bad:?}"
        );
        assert!(!echo.contains('\u{fffd}'));
        let (_, events) = type_bytes(&mut editor, b"ps\r");
        assert_eq!(events, [line("ps")], "the next line is fine after {bad:?}");
    }
}

#[test]
fn arrow_down_back_to_a_refused_draft_keeps_it_refused() {
    let mut editor = LineEditor::new();
    type_bytes(&mut editor, b"ps\r");
    let (_, events) = type_bytes(&mut editor, b"x\xff\x1b[A\x1b[B\r");
    assert_eq!(events, [LineEvent::Error(LineError::InvalidUtf8)]);
    // Whereas running the recalled entry is fine.
    let (_, events) = type_bytes(&mut editor, b"x\xff\x1b[A\r");
    assert_eq!(events, [line("ps")]);
}

#[test]
fn line_errors_are_one_line_and_mention_help() {
    for error in [
        LineError::TooLong { limit: MAX_LINE },
        LineError::InvalidUtf8,
    ] {
        let text = error.to_string();
        assert!(!text.contains('\n'));
        assert!(text.contains("'help'"));
    }
}

proptest! {
    #[test]
    fn no_byte_sequence_panics_or_breaks_the_invariants(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut editor = LineEditor::new();
        let mut echo = String::new();
        for byte in bytes {
            if let Some(LineEvent::Line(text)) = editor.push(byte, &mut echo) {
                prop_assert!(text.len() <= MAX_LINE);
                prop_assert!(!text.chars().any(char::is_control));
            }
            prop_assert!(editor.current().len() <= MAX_LINE);
            prop_assert!(editor.history().count() <= HISTORY_LINES);
        }
    }
}
