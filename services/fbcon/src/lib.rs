//! The framebuffer console: shows the text of every `terminal::Output` it
//! receives on a linear framebuffer, with a cursor, line wrap and
//! scrolling. The drawing is [`screen`], pure and host-tested; this file
//! is the service around it.
//!
//! Built with the framebuffer's [`Geometry`] (`Fbcon::new`), which the
//! kernel knows from boot. One grant, [`GRANT_FRAMEBUFFER`]: a Region
//! capability covering at least `pitch * height` bytes, reached with
//! `cx.region_mut` on every message (no pointer is kept between messages,
//! so revoking the region takes the screen away). At start it clears the
//! screen. A missing grant stops the service with a fatal error naming it;
//! a geometry it cannot draw on (a depth other than 32 bits per pixel, a
//! region shorter than the geometry) is logged once at start, and from
//! then on output is counted and ignored: the rest of the system does not
//! depend on a console that cannot show anything.
//!
//! Serves the `terminal` interface's `output` (plain sends); `input`, or a
//! payload that is no terminal message, is `HandleError::Malformed`.
//! Sends nothing.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, no heap; depends on
//! `mealy-protocol` and `noto-sans-mono-bitmap` (the font).
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod screen;

use mealy_protocol::terminal::{self, Output};
use mealy_protocol::{
    Badge, CapRef, Context, Grants, HandleError, Incoming, Outgoing, StateMachine,
};

pub use crate::screen::{Geometry, GeometryError, Screen};

/// The grant naming the framebuffer's Region capability.
pub const GRANT_FRAMEBUFFER: &str = "framebuffer";

/// What the console has done, for tests and inspection.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct FbconStats {
    /// `Output` messages drawn.
    pub outputs_shown: u64,
    /// `Output` messages received while the console cannot draw.
    pub outputs_ignored: u64,
}

#[derive(Debug)]
enum State {
    /// Before `start`.
    Unstarted,
    /// Drawing on the region `framebuffer`.
    Running { screen: Screen, framebuffer: CapRef },
    /// The framebuffer cannot be drawn on; output is ignored.
    Disabled,
}

/// The framebuffer console's state.
#[derive(Debug)]
pub struct Fbcon {
    geometry: Geometry,
    state: State,
    pub stats: FbconStats,
}

impl Fbcon {
    /// A console for a framebuffer of `geometry`; checked at start.
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            state: State::Unstarted,
            stats: FbconStats {
                outputs_shown: 0,
                outputs_ignored: 0,
            },
        }
    }

    /// Whether the console draws (it started, and the framebuffer suits it).
    pub fn is_drawing(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    /// Checks the geometry and the region, and clears the screen.
    fn open(&self, cx: &mut dyn Context, framebuffer: CapRef) -> Result<Screen, StartProblem> {
        let mut screen = Screen::new(self.geometry).map_err(StartProblem::Geometry)?;
        let frame = cx.region_mut(framebuffer).map_err(StartProblem::Region)?;
        screen.clear(frame).map_err(StartProblem::Frame)?;
        Ok(screen)
    }

    fn draw(&mut self, cx: &mut dyn Context, text: &str) -> Result<(), HandleError> {
        let State::Running {
            screen,
            framebuffer,
        } = &mut self.state
        else {
            self.stats.outputs_ignored += 1;
            return Ok(());
        };
        let frame = cx.region_mut(*framebuffer)?;
        match screen.write(frame, text) {
            Ok(()) => {
                self.stats.outputs_shown += 1;
                Ok(())
            }
            // The region was checked at start and cannot shrink; if it
            // ever does, say so and stop drawing rather than fail forever.
            Err(error) => {
                cx.log(format_args!("{error}; output is ignored from now on"));
                self.state = State::Disabled;
                self.stats.outputs_ignored += 1;
                Ok(())
            }
        }
    }
}

/// The console sends nothing: no buffer to answer from.
impl Outgoing for Fbcon {
    fn outbox(&mut self) -> &mut [u8] {
        &mut []
    }
}

impl terminal::Display for Fbcon {
    fn show(
        &mut self,
        cx: &mut dyn Context,
        message: Output<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.draw(cx, message.text)
    }
}

/// Why the console starts disabled.
#[derive(Clone, Copy, Debug)]
enum StartProblem {
    Geometry(GeometryError),
    Region(mealy_protocol::IpcError),
    Frame(screen::FrameTooSmall),
}

impl core::fmt::Display for StartProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartProblem::Geometry(error) => write!(f, "unsupported framebuffer: {error}"),
            StartProblem::Region(error) => write!(f, "framebuffer region: {error}"),
            StartProblem::Frame(error) => write!(f, "framebuffer region: {error}"),
        }
    }
}

impl StateMachine for Fbcon {
    fn name(&self) -> &'static str {
        "fbcon"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let Some(framebuffer) = grants.get(GRANT_FRAMEBUFFER) else {
            cx.log(format_args!(
                "cannot start: no \"{GRANT_FRAMEBUFFER}\" grant"
            ));
            return Err(HandleError::Fatal(
                "no \"framebuffer\" grant (Region capability of pitch * height bytes)",
            ));
        };
        self.state = match self.open(cx, framebuffer) {
            Ok(screen) => State::Running {
                screen,
                framebuffer,
            },
            Err(problem) => {
                cx.log(format_args!("{problem}; output is ignored"));
                State::Disabled
            }
        };
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        terminal::serve(self, cx, &msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::terminal::Input;
    use mealy_protocol::testing::FakeContext;
    use mealy_protocol::{Grant, Rights};

    const GEOMETRY: Geometry = Geometry {
        width: 64,
        height: 64,
        pitch: 64 * 4,
        bpp: 32,
    };
    const FRAME: usize = 64 * 64 * 4;

    /// A started console over a framebuffer Region full of 0xAA, and
    /// the Region.
    fn fbcon() -> (FakeContext, Fbcon, CapRef) {
        let mut cx = FakeContext::new();
        let framebuffer = cx.region_with(&[0xaa; FRAME], Rights::READ | Rights::WRITE);
        let mut fbcon = Fbcon::new(GEOMETRY);
        let grants = [Grant {
            name: GRANT_FRAMEBUFFER,
            cap: framebuffer,
        }];
        cx.start(&mut fbcon, &grants).unwrap();
        (cx, fbcon, framebuffer)
    }

    fn frame(cx: &FakeContext, framebuffer: CapRef) -> std::vec::Vec<u8> {
        cx.region(framebuffer).unwrap()[..FRAME].to_vec()
    }

    #[test]
    fn start_clears_the_framebuffer_and_output_draws_into_it() {
        let (mut cx, mut fbcon, framebuffer) = fbcon();
        assert!(fbcon.is_drawing());
        let cleared = frame(&cx, framebuffer);
        assert!(
            cleared.iter().all(|&byte| byte != 0xaa),
            "every pixel cleared"
        );

        let msg = cx.request(&Output { text: "A" });
        cx.deliver(&mut fbcon, &msg).unwrap();
        let drawn = frame(&cx, framebuffer);
        // The cell a byte is in: (column, row).
        let cell = |i: usize| {
            let (line, x) = (
                i / GEOMETRY.pitch,
                i % GEOMETRY.pitch / screen::BYTES_PER_PIXEL,
            );
            (x / screen::CELL_WIDTH, line / screen::CELL_HEIGHT)
        };
        let changed: std::collections::BTreeSet<_> = (0..FRAME)
            .filter(|&i| drawn[i] != cleared[i])
            .map(cell)
            .collect();
        // The glyph in the first cell, the cursor moved to the second.
        assert_eq!(
            changed.into_iter().collect::<std::vec::Vec<_>>(),
            [(0, 0), (1, 0)]
        );
        assert_eq!(fbcon.stats.outputs_shown, 1);
    }

    #[test]
    fn input_is_refused_and_draws_nothing() {
        let (mut cx, mut fbcon, framebuffer) = fbcon();
        let before = frame(&cx, framebuffer);
        let msg = cx.request(&Input { bytes: b"A" });
        assert!(matches!(
            cx.deliver(&mut fbcon, &msg),
            Err(HandleError::Malformed(_))
        ));
        assert_eq!(frame(&cx, framebuffer), before);
        assert_eq!(fbcon.stats, FbconStats::default());
    }

    #[test]
    fn a_read_only_framebuffer_disables_the_console() {
        let mut cx = FakeContext::new();
        let framebuffer = cx.region_with(&[0; FRAME], Rights::READ);
        let mut fbcon = Fbcon::new(GEOMETRY);
        let grants = [Grant {
            name: GRANT_FRAMEBUFFER,
            cap: framebuffer,
        }];
        cx.start(&mut fbcon, &grants).unwrap();
        assert!(!fbcon.is_drawing());
        let msg = cx.request(&Output { text: "A" });
        cx.deliver(&mut fbcon, &msg).unwrap();
        assert_eq!(fbcon.stats.outputs_ignored, 1);
        assert_eq!(cx.logs.len(), 1, "{:?}", cx.logs);
    }

    #[test]
    fn no_framebuffer_grant_is_fatal() {
        let mut cx = FakeContext::new();
        assert!(matches!(
            cx.start(&mut Fbcon::new(GEOMETRY), &[]),
            Err(HandleError::Fatal(_))
        ));
    }
}
