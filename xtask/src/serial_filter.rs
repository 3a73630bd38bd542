//! What `cargo xtask qemu --headless` shows of the guest's serial port when
//! it is piped, and the events it watches for in it.
//!
//! OVMF uses the same port as its console, so before the Mealy loader's
//! first line there is only firmware noise (screen clears, boot manager
//! text): that is held back, and shown only if the loader never speaks. From
//! then on the text passes through, with terminal escape sequences and
//! carriage returns removed so scripts get plain lines.

/// Every line the loader prints starts with this (see `image/loader`).
pub const LOADER_MARKER: &[u8] = b"mealy-loader: ";
/// The loader's one-line report of a bad boot medium.
pub const LOADER_ERROR_MARKER: &[u8] = b"mealy-loader: error:";
/// The shell's prompt: the guest reads serial input from here on
/// (`mealy_shell::PROMPT`; `test=echo` prints it too). Input piped in
/// earlier is held until then, so the firmware cannot eat it.
pub const READY_PROMPT: &[u8] = b"mealy> ";

/// OVMF starts its built-in shell or setup screen when no boot option
/// worked: the loader never ran (no ESP, no `EFI/BOOT/BOOTX64.EFI`) or it
/// returned an error.
pub const FIRMWARE_GAVE_UP_MARKERS: [&[u8]; 2] = [b"\"EFI Internal Shell\"", b"\"UiApp\""];

/// How much firmware output is kept for a diagnosis.
const FIRMWARE_TAIL: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The guest printed its prompt: it reads input now.
    Ready,
    /// The loader reported an error and returned to the firmware.
    LoaderFailed,
    /// The firmware found nothing to boot and fell back to its setup UI.
    FirmwareGaveUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ ... final`.
    Csi,
}

#[derive(Debug)]
pub struct SerialFilter {
    escape: Escape,
    loader_started: bool,
    ready_seen: bool,
    firmware: Vec<u8>,
    line: Vec<u8>,
}

impl Default for SerialFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialFilter {
    pub fn new() -> Self {
        SerialFilter {
            escape: Escape::None,
            loader_started: false,
            ready_seen: false,
            firmware: Vec::new(),
            line: Vec::new(),
        }
    }

    /// Filters one chunk of serial output into `shown`, returning the events
    /// it completed.
    pub fn feed(&mut self, chunk: &[u8], shown: &mut Vec<u8>) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in chunk {
            if let Some(byte) = self.unescape(byte) {
                self.take(byte, shown, &mut events);
            }
        }
        events
    }

    /// Whether the loader has printed anything yet.
    pub fn loader_started(&self) -> bool {
        self.loader_started
    }

    /// The last firmware output before the loader spoke, escapes removed
    /// and the runs of blanks its screen drawing leaves squeezed.
    pub fn firmware_output(&self) -> String {
        let text = String::from_utf8_lossy(&self.firmware);
        text.lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|line| !line.is_empty())
            .map(|line| line + "\n")
            .collect()
    }

    /// Removes escape sequences and carriage returns.
    fn unescape(&mut self, byte: u8) -> Option<u8> {
        match (self.escape, byte) {
            (Escape::None, 0x1b) => {
                self.escape = Escape::Start;
                None
            }
            (Escape::None, b'\r') => None,
            (Escape::None, _) => Some(byte),
            (Escape::Start, b'[') => {
                self.escape = Escape::Csi;
                None
            }
            (Escape::Start, _) => {
                self.escape = Escape::None;
                None
            }
            (Escape::Csi, 0x40..=0x7e) => {
                self.escape = Escape::None;
                None
            }
            (Escape::Csi, _) => None,
        }
    }

    fn take(&mut self, byte: u8, shown: &mut Vec<u8>, events: &mut Vec<Event>) {
        if !self.loader_started {
            self.firmware.push(byte);
            if self.firmware.ends_with(LOADER_MARKER) {
                self.loader_started = true;
                self.firmware
                    .truncate(self.firmware.len() - LOADER_MARKER.len());
                shown.extend_from_slice(LOADER_MARKER);
            } else if self.firmware.len() > 2 * FIRMWARE_TAIL {
                self.firmware.drain(..FIRMWARE_TAIL);
            }
            if byte == b'\n' {
                self.line.clear();
            } else {
                self.line.push(byte);
                if FIRMWARE_GAVE_UP_MARKERS
                    .iter()
                    .any(|marker| self.line.ends_with(marker))
                {
                    events.push(Event::FirmwareGaveUp);
                }
            }
            if self.loader_started {
                self.line.clear();
                self.line.extend_from_slice(LOADER_MARKER);
            }
            return;
        }
        shown.push(byte);
        if byte == b'\n' {
            if self.line.starts_with(LOADER_ERROR_MARKER) {
                events.push(Event::LoaderFailed);
            }
            self.line.clear();
            return;
        }
        self.line.push(byte);
        if !self.ready_seen && self.line.ends_with(READY_PROMPT) {
            self.ready_seen = true;
            events.push(Event::Ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(filter: &mut SerialFilter, chunks: &[&[u8]]) -> (String, Vec<Event>) {
        let mut shown = Vec::new();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(filter.feed(chunk, &mut shown));
        }
        (String::from_utf8(shown).unwrap(), events)
    }

    #[test]
    fn firmware_noise_is_held_back_and_escapes_removed() {
        let mut filter = SerialFilter::new();
        let (shown, events) = feed_all(
            &mut filter,
            &[
                b"\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001\r\n\x1b[0m\x1b[37;40mmeal",
                b"y-loader: Mealy loader 0.1.0\r\nMealy 0.1.0\n",
            ],
        );
        assert_eq!(shown, "mealy-loader: Mealy loader 0.1.0\nMealy 0.1.0\n");
        assert!(events.is_empty());
        assert!(filter.loader_started());
        assert_eq!(filter.firmware_output(), "BdsDxe: loading Boot0001\n");
    }

    #[test]
    fn prompt_split_across_chunks_signals_ready_once() {
        let mut filter = SerialFilter::new();
        let (shown, events) = feed_all(
            &mut filter,
            &[b"mealy-loader: x\nmeal", b"y> ", b"ls\nmealy> "],
        );
        assert_eq!(shown, "mealy-loader: x\nmealy> ls\nmealy> ");
        assert_eq!(events, [Event::Ready]);
    }

    #[test]
    fn loader_error_line_is_reported_when_complete() {
        let mut filter = SerialFilter::new();
        let (_, events) = feed_all(
            &mut filter,
            &[b"mealy-loader: error: boot():/k: file not found"],
        );
        assert!(events.is_empty(), "not before the line ends");
        let (_, events) = feed_all(&mut filter, &[b"\r\n"]);
        assert_eq!(events, [Event::LoaderFailed]);
    }

    #[test]
    fn kernel_text_mentioning_the_marker_mid_line_is_not_an_error() {
        let mut filter = SerialFilter::new();
        let (_, events) = feed_all(
            &mut filter,
            &[b"mealy-loader: ok\nlog: saw mealy-loader: error: earlier\n"],
        );
        assert!(events.is_empty());
    }

    #[test]
    fn firmware_falling_back_to_its_setup_ui_is_reported() {
        let mut filter = SerialFilter::new();
        let (shown, events) = feed_all(
            &mut filter,
            &[b"BdsDxe: loading Boot0000 \"UiApp\" from Fv(7CB8)\r\n   \x1b[1;1H   Boot Manager  \r\n"],
        );
        assert_eq!(shown, "");
        assert_eq!(events, [Event::FirmwareGaveUp]);
        assert_eq!(
            filter.firmware_output(),
            "BdsDxe: loading Boot0000 \"UiApp\" from Fv(7CB8)\nBoot Manager\n"
        );
    }

    #[test]
    fn firmware_starting_its_shell_is_reported() {
        let mut filter = SerialFilter::new();
        let (_, events) = feed_all(
            &mut filter,
            &[b"BdsDxe: loading Boot0003 \"EFI Internal Shell\" from Fv(7CB8)\r\n"],
        );
        assert_eq!(events, [Event::FirmwareGaveUp]);
    }

    #[test]
    fn firmware_tail_is_bounded() {
        let mut filter = SerialFilter::new();
        let noise = vec![b'x'; 100 * 1024];
        feed_all(&mut filter, &[&noise]);
        assert!(filter.firmware_output().len() <= 2 * FIRMWARE_TAIL);
    }
}
