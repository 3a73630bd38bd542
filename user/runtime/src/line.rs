//! [`Line`]: a fixed buffer that `core::fmt` writes one log line into,
//! cutting it short (at a character boundary, marked with `...`) instead
//! of allocating. The log and the panic handler use it, so neither needs
//! the heap (the panic may be the heap running out).

use core::fmt;

/// Up to `N` bytes of UTF-8 text.
pub struct Line<const N: usize> {
    bytes: [u8; N],
    len: usize,
    cut: bool,
}

const ELLIPSIS: &str = "...";

impl<const N: usize> Line<N> {
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
            cut: false,
        }
    }

    /// The line `args` formats to, cut short if it does not fit.
    pub fn format(args: fmt::Arguments<'_>) -> Self {
        let mut line = Self::new();
        // `write_str` never fails; a formatting impl that errs leaves what
        // it wrote so far, which is the best a log line can do.
        let _ = fmt::write(&mut line, args);
        line.finish();
        line
    }

    /// Marks a cut line with `...` at its end.
    fn finish(&mut self) {
        if !self.cut || N < ELLIPSIS.len() {
            return;
        }
        let mut end = self.len.min(N - ELLIPSIS.len());
        while end > 0 && !self.as_str_upto(end) {
            end -= 1;
        }
        self.bytes[end..end + ELLIPSIS.len()].copy_from_slice(ELLIPSIS.as_bytes());
        self.len = end + ELLIPSIS.len();
    }

    fn as_str_upto(&self, end: usize) -> bool {
        core::str::from_utf8(&self.bytes[..end]).is_ok()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s (or their char-boundary prefixes) are copied in.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for Line<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        if take < text.len() {
            self.cut = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_whole() {
        let line = Line::<32>::format(format_args!("{} + {} = {}", 1, 2, 3));
        assert_eq!(line.as_str(), "1 + 2 = 3");
    }

    #[test]
    fn long_lines_are_cut_at_a_char_boundary_and_marked() {
        let line = Line::<10>::format(format_args!("{}", "aaaaaaaaaaaaaaa"));
        assert_eq!(line.as_str(), "aaaaaaa...");
        let line = Line::<10>::format(format_args!("{}", "ééééééé"));
        assert_eq!(line.as_str(), "ééé...");
        assert!(line.as_bytes().len() <= 10);
        let line = Line::<2>::format(format_args!("{}", "abc"));
        assert_eq!(line.as_str(), "ab");
    }
}
