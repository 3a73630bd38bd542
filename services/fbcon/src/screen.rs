//! The text screen: the pure half of the framebuffer console. A
//! [`Screen`] keeps the cursor and the escape-sequence state; the pixels
//! are a `&mut [u8]` the caller lends for each [`Screen::write`] (the
//! service borrows its Region capability's bytes per message), laid out
//! as [`Geometry`] says.
//!
//! The font is Noto Sans Mono from the `noto-sans-mono-bitmap` crate,
//! 16-pixel raster height, regular weight, Basic Latin (anything else is
//! drawn as `?`). Its pixels are intensities; they are written as grey
//! (the same value in the three colour bytes), so the console is right
//! whatever order the framebuffer keeps red, green and blue in.
//!
//! What text does: a printable character is drawn at the cursor, which
//! moves right; a character past the right edge first wraps to the next
//! line (the wrap is deferred until then, so a line exactly as wide as the
//! screen followed by `\n` makes no blank line); `\n` goes to the start of
//! the next line, `\r` to the start of this one, 0x08 back one cell (never
//! past the start of the line), `\t` to the next multiple of eight columns.
//! Below the last line the screen scrolls: every text row moves up one and
//! the bottom row is cleared. `ESC [ ... final` sequences (and `ESC` with
//! any other character) are swallowed, as is every other control
//! character. The cursor is an underline, drawn by inverting pixels so
//! hiding it restores exactly what was under it.
//!
//! Invariants: nothing is written outside the visible pixels
//! (`width * 4` bytes of each of `height` lines, `pitch` bytes apart) and
//! no input panics; the geometry is checked once in [`Screen::new`] and
//! the buffer's length on every write.

use core::fmt;

use noto_sans_mono_bitmap::{
    FontWeight, RasterHeight, RasterizedChar, get_raster, get_raster_width,
};

/// Bytes per pixel: the only depth supported.
pub const BYTES_PER_PIXEL: usize = 4;
const FONT_WEIGHT: FontWeight = FontWeight::Regular;
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
/// Width of one text cell, in pixels.
pub const CELL_WIDTH: usize = get_raster_width(FONT_WEIGHT, FONT_HEIGHT);
/// Height of one text cell (one text row), in pixels.
pub const CELL_HEIGHT: usize = FONT_HEIGHT.val();
/// Drawn for characters the font does not have.
const REPLACEMENT: char = '?';
/// Pixel lines at the bottom of a cell the cursor covers.
const CURSOR_LINES: usize = 2;
/// Parameter bytes an escape sequence may have before it is given up.
const MAX_ESCAPE_LEN: u8 = 32;
const TAB_STOP: usize = 8;

/// The shape of a linear framebuffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Geometry {
    /// Visible pixels per line.
    pub width: usize,
    /// Lines.
    pub height: usize,
    /// Bytes from the start of one line to the next.
    pub pitch: usize,
    /// Bits per pixel; only 32 is supported.
    pub bpp: u16,
}

impl Geometry {
    /// Bytes the framebuffer covers: `pitch * height` (checked by
    /// [`Screen::new`] not to overflow).
    pub fn frame_len(&self) -> Option<usize> {
        self.pitch.checked_mul(self.height)
    }
}

/// Why a framebuffer cannot hold a screen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GeometryError {
    /// A pixel depth other than 32 bits.
    UnsupportedDepth { bpp: u16 },
    /// A line's pixels do not fit in its pitch.
    PitchTooSmall { pitch: usize, width: usize },
    /// Smaller than one text cell.
    TooSmall { width: usize, height: usize },
    /// `pitch * height` does not fit in the address space.
    TooLarge,
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::UnsupportedDepth { bpp } => {
                write!(f, "{bpp} bits per pixel (only 32 is supported)")
            }
            GeometryError::PitchTooSmall { pitch, width } => {
                write!(
                    f,
                    "pitch of {pitch} bytes is less than {width} pixels of 4 bytes"
                )
            }
            GeometryError::TooSmall { width, height } => write!(
                f,
                "{width}x{height} pixels is smaller than one {CELL_WIDTH}x{CELL_HEIGHT} cell"
            ),
            GeometryError::TooLarge => f.write_str("pitch times height overflows"),
        }
    }
}

impl core::error::Error for GeometryError {}

/// The buffer lent to [`Screen::write`] is shorter than the geometry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FrameTooSmall {
    pub len: usize,
    pub needed: usize,
}

impl fmt::Display for FrameTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "framebuffer of {} bytes, the geometry needs {}",
            self.len, self.needed
        )
    }
}

impl core::error::Error for FrameTooSmall {}

/// Where an escape sequence is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Escape {
    None,
    /// Just saw ESC.
    Started,
    /// Inside `ESC [`, having seen this many parameter bytes.
    Sequence(u8),
}

/// A text screen over a framebuffer of a fixed [`Geometry`].
#[derive(Clone, Debug)]
pub struct Screen {
    geometry: Geometry,
    frame_len: usize,
    columns: usize,
    rows: usize,
    /// `0..=columns`: `columns` means the line is full and the next
    /// printable character wraps first.
    column: usize,
    /// `0..rows`.
    row: usize,
    escape: Escape,
    /// The cell whose cursor underline is inverted on the screen now.
    cursor_drawn: Option<(usize, usize)>,
    /// During a `write`: lines of it still to come that lie above the top
    /// of the screen (scrolled away in advance), drawn nowhere.
    above: usize,
    /// Counting mode: `new_line` at the bottom counts instead of scrolling
    /// (the dry run that sizes a write's one scroll).
    counting: Option<usize>,
}

impl Screen {
    /// A screen for `geometry`, cursor at the top left. Draws nothing.
    pub fn new(geometry: Geometry) -> Result<Self, GeometryError> {
        if geometry.bpp != 32 {
            return Err(GeometryError::UnsupportedDepth { bpp: geometry.bpp });
        }
        let line_bytes = geometry
            .width
            .checked_mul(BYTES_PER_PIXEL)
            .ok_or(GeometryError::TooLarge)?;
        if geometry.pitch < line_bytes {
            return Err(GeometryError::PitchTooSmall {
                pitch: geometry.pitch,
                width: geometry.width,
            });
        }
        let frame_len = geometry.frame_len().ok_or(GeometryError::TooLarge)?;
        let (columns, rows) = (geometry.width / CELL_WIDTH, geometry.height / CELL_HEIGHT);
        if columns == 0 || rows == 0 {
            return Err(GeometryError::TooSmall {
                width: geometry.width,
                height: geometry.height,
            });
        }
        Ok(Self {
            geometry,
            frame_len,
            columns,
            rows,
            column: 0,
            row: 0,
            escape: Escape::None,
            cursor_drawn: None,
            above: 0,
            counting: None,
        })
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Bytes a frame must have: `pitch * height`.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Text cells per line.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Text lines.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The cell the next character goes to, `(column, row)`; the column
    /// is `columns()` when the line is full and the next character wraps.
    pub fn cursor(&self) -> (usize, usize) {
        (self.column, self.row)
    }

    /// Clears every visible pixel, moves the cursor home and shows it.
    pub fn clear(&mut self, frame: &mut [u8]) -> Result<(), FrameTooSmall> {
        let frame = self.frame(frame)?;
        self.cursor_drawn = None;
        for line in 0..self.geometry.height {
            self.clear_line(frame, line);
        }
        self.column = 0;
        self.row = 0;
        self.escape = Escape::None;
        self.show_cursor(frame);
        Ok(())
    }

    /// Shows `text` at the cursor (see the module docs for what each
    /// character does).
    ///
    /// Scrolling copies the whole screen, which is most of the cost of a
    /// long text, so a write scrolls at most once: a dry run over the text
    /// counts the lines it will push off the top, the screen moves up by
    /// that many at once, and the text is then drawn into the room made,
    /// skipping the lines that would have scrolled away anyway.
    pub fn write(&mut self, frame: &mut [u8], text: &str) -> Result<(), FrameTooSmall> {
        let frame = self.frame(frame)?;
        self.hide_cursor(frame);
        let mut dry = self.clone();
        dry.counting = Some(0);
        for c in text.chars() {
            dry.put(&mut [], c);
        }
        let scrolls = dry.counting.unwrap_or(0);
        if scrolls > 0 {
            self.scroll_by(frame, scrolls.min(self.rows));
            if self.row >= scrolls {
                self.row -= scrolls;
            } else {
                self.above = scrolls - self.row;
                self.row = 0;
            }
        }
        for c in text.chars() {
            self.put(frame, c);
        }
        // Exact unless the dry run and the real one disagree; never leave
        // the cursor off the screen.
        self.above = 0;
        self.show_cursor(frame);
        Ok(())
    }

    fn frame<'f>(&self, frame: &'f mut [u8]) -> Result<&'f mut [u8], FrameTooSmall> {
        let len = frame.len();
        frame.get_mut(..self.frame_len).ok_or(FrameTooSmall {
            len,
            needed: self.frame_len,
        })
    }

    fn put(&mut self, frame: &mut [u8], c: char) {
        match self.escape {
            Escape::Started if c == '[' => {
                self.escape = Escape::Sequence(0);
                return;
            }
            Escape::Started if !c.is_control() => {
                // A two-character sequence (ESC 7, ESC c, Alt+key): gone.
                self.escape = Escape::None;
                return;
            }
            Escape::Sequence(seen) if !c.is_control() => {
                self.escape = if ('\u{40}'..='\u{7e}').contains(&c) || seen >= MAX_ESCAPE_LEN {
                    Escape::None
                } else {
                    Escape::Sequence(seen + 1)
                };
                return;
            }
            // A control character ends any sequence and acts as itself.
            _ => self.escape = Escape::None,
        }
        match c {
            '\u{1b}' => self.escape = Escape::Started,
            '\n' => self.new_line(frame),
            '\r' => self.column = 0,
            '\u{8}' => self.column = self.column.saturating_sub(1),
            '\t' => self.column = ((self.column / TAB_STOP + 1) * TAB_STOP).min(self.columns),
            c if c.is_control() => {}
            c => {
                if self.column >= self.columns {
                    self.new_line(frame);
                }
                if self.above == 0 && self.counting.is_none() {
                    let glyph = get_raster(c, FONT_WEIGHT, FONT_HEIGHT)
                        .or_else(|| get_raster(REPLACEMENT, FONT_WEIGHT, FONT_HEIGHT));
                    self.draw_cell(frame, self.column, self.row, glyph);
                }
                self.column += 1;
            }
        }
    }

    fn new_line(&mut self, frame: &mut [u8]) {
        self.column = 0;
        if self.above > 0 {
            self.above -= 1;
        } else if self.row + 1 < self.rows {
            self.row += 1;
        } else if let Some(count) = self.counting.as_mut() {
            *count += 1;
        } else {
            self.scroll_by(frame, 1);
        }
    }

    /// Moves every text row up `count` (at most `rows`) and clears the
    /// rows that opens at the bottom.
    fn scroll_by(&mut self, frame: &mut [u8], count: usize) {
        let text_row = CELL_HEIGHT * self.geometry.pitch;
        let text_end = self.rows * text_row;
        let count = count.min(self.rows);
        if count < self.rows {
            frame.copy_within(count * text_row..text_end, 0);
        }
        let first = (self.rows - count) * CELL_HEIGHT;
        for line in first..self.rows * CELL_HEIGHT {
            self.clear_line(frame, line);
        }
    }

    fn clear_line(&self, frame: &mut [u8], line: usize) {
        let start = line * self.geometry.pitch;
        let end = start + self.geometry.width * BYTES_PER_PIXEL;
        if let Some(pixels) = frame.get_mut(start..end) {
            pixels.fill(0);
        }
    }

    /// The bytes of pixel `(x, y)` of cell `(column, row)`.
    fn pixel<'f>(
        &self,
        frame: &'f mut [u8],
        (column, row): (usize, usize),
        (x, y): (usize, usize),
    ) -> Option<&'f mut [u8]> {
        let line = row * CELL_HEIGHT + y;
        let offset = line * self.geometry.pitch + (column * CELL_WIDTH + x) * BYTES_PER_PIXEL;
        frame.get_mut(offset..offset + BYTES_PER_PIXEL)
    }

    /// Draws `glyph` (or a blank cell) over the whole cell.
    fn draw_cell(
        &self,
        frame: &mut [u8],
        column: usize,
        row: usize,
        glyph: Option<RasterizedChar>,
    ) {
        for y in 0..CELL_HEIGHT {
            for x in 0..CELL_WIDTH {
                let intensity = glyph.and_then(|glyph| glyph.pixel(x, y)).unwrap_or(0);
                if let Some(pixel) = self.pixel(frame, (column, row), (x, y)) {
                    pixel.copy_from_slice(&[intensity, intensity, intensity, 0]);
                }
            }
        }
    }

    /// Inverts the underline of cell `cell`: twice restores it.
    fn invert_cursor(&self, frame: &mut [u8], cell: (usize, usize)) {
        for y in CELL_HEIGHT - CURSOR_LINES..CELL_HEIGHT {
            for x in 0..CELL_WIDTH {
                if let Some(pixel) = self.pixel(frame, cell, (x, y)) {
                    for channel in &mut pixel[..3] {
                        *channel ^= 0xff;
                    }
                }
            }
        }
    }

    fn show_cursor(&mut self, frame: &mut [u8]) {
        let cell = (self.column.min(self.columns - 1), self.row);
        self.invert_cursor(frame, cell);
        self.cursor_drawn = Some(cell);
    }

    fn hide_cursor(&mut self, frame: &mut [u8]) {
        if let Some(cell) = self.cursor_drawn.take() {
            self.invert_cursor(frame, cell);
        }
    }
}

#[cfg(test)]
#[path = "screen_tests.rs"]
mod tests;
