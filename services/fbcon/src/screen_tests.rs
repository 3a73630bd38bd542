//! Tests of the text screen: what each character does to the pixels, and
//! that no input writes outside the visible pixels or panics.

use std::string::String;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Bytes of padding after each line's pixels, so a write past a line's
/// end would show.
const PADDING: usize = 12;
/// What the padding and the bytes after the frame hold.
const SENTINEL: u8 = 0xa5;

/// A screen of `columns` x `rows` cells with a few stray pixels on the
/// right and at the bottom, and its cleared frame (padding kept).
fn screen(columns: usize, rows: usize) -> (Screen, Vec<u8>) {
    let width = columns * CELL_WIDTH + 3;
    let geometry = Geometry {
        width,
        height: rows * CELL_HEIGHT + 5,
        pitch: width * BYTES_PER_PIXEL + PADDING,
        bpp: 32,
    };
    let mut screen = Screen::new(geometry).unwrap();
    let mut frame = vec![SENTINEL; screen.frame_len() + 64];
    screen.clear(&mut frame).unwrap();
    assert_eq!((screen.columns(), screen.rows()), (columns, rows));
    (screen, frame)
}

/// The intensity of pixel `(x, y)` of cell `(column, row)`.
fn intensity(
    screen: &Screen,
    frame: &[u8],
    (column, row): (usize, usize),
    (x, y): (usize, usize),
) -> u8 {
    let pitch = screen.geometry().pitch;
    frame[(row * CELL_HEIGHT + y) * pitch + (column * CELL_WIDTH + x) * BYTES_PER_PIXEL]
}

/// The pixel lines of a cell the cursor never covers.
fn glyph_lines() -> core::ops::Range<usize> {
    0..CELL_HEIGHT - CURSOR_LINES
}

/// Whether cell `cell` shows `c` (`' '`: blank), cursor lines aside.
fn shows(screen: &Screen, frame: &[u8], cell: (usize, usize), c: char) -> bool {
    let glyph = get_raster(c, FONT_WEIGHT, FONT_HEIGHT).unwrap();
    glyph_lines().all(|y| {
        (0..CELL_WIDTH)
            .all(|x| intensity(screen, frame, cell, (x, y)) == glyph.pixel(x, y).unwrap())
    })
}

fn blank(screen: &Screen, frame: &[u8], cell: (usize, usize)) -> bool {
    glyph_lines().all(|y| (0..CELL_WIDTH).all(|x| intensity(screen, frame, cell, (x, y)) == 0))
}

fn cursor_shown_at(screen: &Screen, frame: &[u8], cell: (usize, usize)) -> bool {
    (CELL_HEIGHT - CURSOR_LINES..CELL_HEIGHT)
        .all(|y| (0..CELL_WIDTH).all(|x| intensity(screen, frame, cell, (x, y)) == 0xff))
}

/// Every byte outside the visible pixels still holds the sentinel.
fn outside_untouched(screen: &Screen, frame: &[u8]) -> bool {
    let geometry = screen.geometry();
    let visible = geometry.width * BYTES_PER_PIXEL;
    let lines_untouched = (0..geometry.height).all(|line| {
        frame[line * geometry.pitch + visible..(line + 1) * geometry.pitch]
            .iter()
            .all(|&byte| byte == SENTINEL)
    });
    lines_untouched
        && frame[screen.frame_len()..]
            .iter()
            .all(|&byte| byte == SENTINEL)
}

#[test]
fn a_glyph_is_drawn_in_the_cursor_cell_and_the_cursor_moves_on() {
    let (mut screen, mut frame) = screen(10, 3);
    assert!(cursor_shown_at(&screen, &frame, (0, 0)));
    screen.write(&mut frame, "A").unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'A'));
    assert!(!blank(&screen, &frame, (0, 0)));
    assert!(blank(&screen, &frame, (1, 0)));
    assert!(blank(&screen, &frame, (0, 1)));
    assert_eq!(screen.cursor(), (1, 0));
    assert!(cursor_shown_at(&screen, &frame, (1, 0)));
    assert!(
        !cursor_shown_at(&screen, &frame, (0, 0)),
        "old cursor hidden"
    );
    assert!(outside_untouched(&screen, &frame));
}

#[test]
fn newline_moves_to_the_start_of_the_next_line() {
    let (mut screen, mut frame) = screen(10, 3);
    screen.write(&mut frame, "ab\ncd").unwrap();
    assert!(shows(&screen, &frame, (1, 0), 'b'));
    assert!(shows(&screen, &frame, (0, 1), 'c'));
    assert!(shows(&screen, &frame, (1, 1), 'd'));
    assert_eq!(screen.cursor(), (2, 1));
}

#[test]
fn carriage_return_goes_back_to_column_zero() {
    let (mut screen, mut frame) = screen(10, 3);
    screen.write(&mut frame, "ab\rc").unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'c'));
    assert!(shows(&screen, &frame, (1, 0), 'b'));
    assert_eq!(screen.cursor(), (1, 0));
}

#[test]
fn a_full_line_wraps_at_the_next_character() {
    let (mut screen, mut frame) = screen(4, 3);
    screen.write(&mut frame, "wxyz").unwrap();
    assert_eq!(screen.cursor(), (4, 0), "wrap deferred");
    assert!(cursor_shown_at(&screen, &frame, (3, 0)));
    screen.write(&mut frame, "q").unwrap();
    assert!(shows(&screen, &frame, (3, 0), 'z'));
    assert!(shows(&screen, &frame, (0, 1), 'q'));
    assert_eq!(screen.cursor(), (1, 1));

    // Exactly a line's worth then a newline: no blank line between.
    let (mut screen, mut frame) = self::screen(4, 3);
    screen.write(&mut frame, "wxyz\nq").unwrap();
    assert!(shows(&screen, &frame, (0, 1), 'q'));
    assert!(outside_untouched(&screen, &frame));
}

#[test]
fn scrolling_moves_every_row_up_and_clears_the_bottom() {
    let (mut screen, mut frame) = screen(5, 3);
    screen.write(&mut frame, "a\nb\ncde").unwrap();
    screen.write(&mut frame, "\n").unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'b'));
    assert!(shows(&screen, &frame, (0, 1), 'c'));
    assert!(shows(&screen, &frame, (2, 1), 'e'));
    for column in 0..5 {
        assert!(blank(&screen, &frame, (column, 2)), "bottom row cleared");
    }
    assert_eq!(screen.cursor(), (0, 2));
    assert!(cursor_shown_at(&screen, &frame, (0, 2)));
    assert!(
        !cursor_shown_at(&screen, &frame, (3, 1)),
        "the old cursor did not scroll up with the text"
    );
    screen.write(&mut frame, "f").unwrap();
    assert!(shows(&screen, &frame, (0, 2), 'f'));
    assert!(outside_untouched(&screen, &frame));
}

#[test]
fn wrapping_on_the_last_line_scrolls() {
    let (mut screen, mut frame) = screen(2, 2);
    screen.write(&mut frame, "abcde").unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'c'));
    assert!(shows(&screen, &frame, (1, 0), 'd'));
    assert!(shows(&screen, &frame, (0, 1), 'e'));
    assert_eq!(screen.cursor(), (1, 1));
}

#[test]
fn backspace_moves_back_one_cell_and_stops_at_the_line_start() {
    let (mut screen, mut frame) = screen(10, 3);
    screen.write(&mut frame, "ab\u{8}").unwrap();
    assert_eq!(screen.cursor(), (1, 0));
    assert!(
        shows(&screen, &frame, (1, 0), 'b'),
        "moving back erases nothing"
    );
    // What a line editor echoes to rub out a character.
    screen.write(&mut frame, " \u{8}").unwrap();
    assert!(blank(&screen, &frame, (1, 0)));
    assert_eq!(screen.cursor(), (1, 0));
    screen.write(&mut frame, "\u{8}\u{8}\u{8}x").unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'x'));
}

#[test]
fn backspace_after_a_full_line_rubs_out_its_last_character() {
    let (mut screen, mut frame) = screen(3, 2);
    screen.write(&mut frame, "abc\u{8} \u{8}").unwrap();
    assert!(blank(&screen, &frame, (2, 0)));
    assert!(shows(&screen, &frame, (1, 0), 'b'));
    assert_eq!(screen.cursor(), (2, 0));
}

#[test]
fn escape_sequences_and_other_control_bytes_are_ignored() {
    let (mut screen, mut frame) = screen(10, 3);
    screen
        .write(
            &mut frame,
            "\u{1b}[1;31mA\u{1b}[K\u{7}\u{0}\u{7f}\u{1b}7B\u{1b}[",
        )
        .unwrap();
    assert!(shows(&screen, &frame, (0, 0), 'A'));
    assert!(shows(&screen, &frame, (1, 0), 'B'));
    assert_eq!(screen.cursor(), (2, 0));
    // A sequence split across two writes is still swallowed.
    screen.write(&mut frame, "2JC").unwrap();
    assert!(shows(&screen, &frame, (2, 0), 'C'));
}

#[test]
fn characters_the_font_lacks_are_drawn_as_a_question_mark() {
    let (mut screen, mut frame) = screen(10, 3);
    screen.write(&mut frame, "€").unwrap();
    assert!(shows(&screen, &frame, (0, 0), '?'));
}

#[test]
fn tabs_move_to_the_next_stop() {
    let (mut screen, mut frame) = screen(20, 2);
    screen.write(&mut frame, "a\tb").unwrap();
    assert!(shows(&screen, &frame, (8, 0), 'b'));
    screen.write(&mut frame, "\t\t\t").unwrap();
    assert_eq!(screen.cursor(), (20, 0));
}

#[test]
fn unsupported_geometries_are_refused() {
    let good = Geometry {
        width: 640,
        height: 480,
        pitch: 2560,
        bpp: 32,
    };
    assert!(Screen::new(good).is_ok());
    assert_eq!(
        Screen::new(Geometry { bpp: 24, ..good }).unwrap_err(),
        GeometryError::UnsupportedDepth { bpp: 24 }
    );
    assert!(matches!(
        Screen::new(Geometry {
            pitch: 2000,
            ..good
        }),
        Err(GeometryError::PitchTooSmall { .. })
    ));
    assert!(matches!(
        Screen::new(Geometry {
            height: CELL_HEIGHT - 1,
            ..good
        }),
        Err(GeometryError::TooSmall { .. })
    ));
    assert_eq!(
        Screen::new(Geometry {
            pitch: usize::MAX / 2,
            ..good
        })
        .unwrap_err(),
        GeometryError::TooLarge
    );
}

#[test]
fn a_frame_shorter_than_the_geometry_is_an_error_and_untouched() {
    let (mut screen, _) = screen(4, 2);
    let mut short = vec![SENTINEL; screen.frame_len() - 1];
    assert_eq!(
        screen.write(&mut short, "abc"),
        Err(FrameTooSmall {
            len: screen.frame_len() - 1,
            needed: screen.frame_len()
        })
    );
    assert!(short.iter().all(|&byte| byte == SENTINEL));
}

fn terminal_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            '\n', '\r', '\u{8}', '\t', '\u{1b}', '[', 'm', '7', 'x'
        ]),
    ];
    proptest::collection::vec(piece, 0..300).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn no_text_writes_outside_the_visible_pixels(
        columns in 1usize..12,
        rows in 1usize..5,
        extra_width in 0usize..CELL_WIDTH,
        extra_height in 0usize..CELL_HEIGHT,
        padding in 0usize..9,
        writes in proptest::collection::vec(terminal_text(), 1..4),
    ) {
        let width = columns * CELL_WIDTH + extra_width;
        let geometry = Geometry {
            width,
            height: rows * CELL_HEIGHT + extra_height,
            pitch: width * BYTES_PER_PIXEL + padding,
            bpp: 32,
        };
        let mut screen = Screen::new(geometry).unwrap();
        let mut frame = vec![SENTINEL; screen.frame_len() + 32];
        for text in &writes {
            screen.write(&mut frame, text).unwrap();
            let (column, row) = screen.cursor();
            prop_assert!(column <= screen.columns() && row < screen.rows());
        }
        prop_assert!(outside_untouched(&screen, &frame));
    }

    /// One scroll per write draws exactly what scrolling line by line
    /// (one character per write) draws.
    #[test]
    fn a_whole_write_draws_what_writing_it_character_by_character_draws(
        columns in 1usize..8,
        rows in 1usize..4,
        start in terminal_text(),
        text in terminal_text(),
    ) {
        let (mut whole, mut whole_frame) = screen(columns, rows);
        whole.write(&mut whole_frame, &start).unwrap();
        let (mut piecewise, mut piecewise_frame) = (whole.clone(), whole_frame.clone());
        whole.write(&mut whole_frame, &text).unwrap();
        let mut buffer = [0u8; 4];
        for c in text.chars() {
            piecewise.write(&mut piecewise_frame, c.encode_utf8(&mut buffer)).unwrap();
        }
        prop_assert_eq!(whole.cursor(), piecewise.cursor());
        prop_assert!(whole_frame == piecewise_frame, "the frames differ");
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (mut screen, mut frame) = screen(7, 3);
        screen.write(&mut frame, &String::from_utf8_lossy(&bytes)).unwrap();
        prop_assert!(outside_untouched(&screen, &frame));
    }
}
