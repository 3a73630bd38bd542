//! The framebuffer console: shows the text of every `terminal::Output` it
//! receives on a linear framebuffer, with a cursor, line wrap and
//! scrolling. The drawing is [`screen`], pure and host-tested; this file
//! is the service around it.
//!
//! Two grants: [`GRANT_GEOMETRY`], the framebuffer's [`Geometry`] as
//! configuration bytes (a READ-only Region laid out as [`config`] says,
//! which the kernel writes from what boot found), read once at start; and
//! [`GRANT_FRAMEBUFFER`], a Region capability covering at least
//! `pitch * height` bytes, reached with `cx.region_mut` on every message
//! (no pointer is kept between messages, so revoking the region takes the
//! screen away). Both come as grants, so the crate runs the same way as a
//! ring-0 service and as the ring-3 program `/bin/fbcon`. At start it
//! clears the screen. A missing framebuffer grant stops the service with
//! a fatal error naming it; a missing or malformed geometry, or one it
//! cannot draw on (a depth other than 32 bits per pixel, a region shorter
//! than the geometry), is one line at start, and from then on output is
//! counted and ignored: the rest of the system does not depend on a
//! console that cannot show anything.
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

pub mod config;
pub mod screen;

use mealy_protocol::terminal::{self, Output};
use mealy_protocol::{
    Badge, CapRef, Context, Grants, HandleError, Incoming, Outgoing, StateMachine,
};

pub use crate::config::{ConfigError, GEOMETRY_LEN};
pub use crate::screen::{Geometry, GeometryError, Screen};

/// The grant naming the framebuffer's Region capability.
pub const GRANT_FRAMEBUFFER: &str = "framebuffer";

/// The grant naming the configuration Region that holds the framebuffer's
/// [`Geometry`] ([`config`]'s layout).
pub const GRANT_GEOMETRY: &str = "geometry";

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
    state: State,
    pub stats: FbconStats,
}

impl Fbcon {
    /// A console; its geometry and framebuffer come as grants at start.
    pub const fn new() -> Self {
        Self {
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

    /// Reads the geometry from its grant, checks it and the region, and
    /// clears the screen.
    fn open(
        &self,
        cx: &mut dyn Context,
        geometry: Option<CapRef>,
        framebuffer: CapRef,
    ) -> Result<Screen, StartProblem> {
        let geometry = geometry.ok_or(StartProblem::NoGeometry)?;
        let bytes = cx.region(geometry).map_err(StartProblem::GeometryRegion)?;
        let geometry = Geometry::decode(bytes).map_err(StartProblem::Config)?;
        let mut screen = Screen::new(geometry).map_err(StartProblem::Geometry)?;
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
    NoGeometry,
    GeometryRegion(mealy_protocol::IpcError),
    Config(ConfigError),
    Geometry(GeometryError),
    Region(mealy_protocol::IpcError),
    Frame(screen::FrameTooSmall),
}

impl core::fmt::Display for StartProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartProblem::NoGeometry => write!(f, "no \"{GRANT_GEOMETRY}\" grant"),
            StartProblem::GeometryRegion(error) => {
                write!(f, "\"{GRANT_GEOMETRY}\" grant: {error}")
            }
            StartProblem::Config(error) => {
                write!(f, "\"{GRANT_GEOMETRY}\" grant is no geometry: {error}")
            }
            StartProblem::Geometry(error) => write!(f, "unsupported framebuffer: {error}"),
            StartProblem::Region(error) => write!(f, "framebuffer region: {error}"),
            StartProblem::Frame(error) => write!(f, "framebuffer region: {error}"),
        }
    }
}

impl Default for Fbcon {
    fn default() -> Self {
        Self::new()
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
        self.state = match self.open(cx, grants.get(GRANT_GEOMETRY), framebuffer) {
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
        let mut fbcon = Fbcon::new();
        let grants = grants(&mut cx, &GEOMETRY.encode().unwrap(), framebuffer);
        cx.start(&mut fbcon, &grants).unwrap();
        (cx, fbcon, framebuffer)
    }

    /// The two grants: `geometry` as a READ-only configuration Region,
    /// and the framebuffer.
    fn grants(cx: &mut FakeContext, geometry: &[u8], framebuffer: CapRef) -> [Grant; 2] {
        [
            Grant {
                name: GRANT_GEOMETRY,
                cap: cx.region_with(geometry, Rights::READ),
            },
            Grant {
                name: GRANT_FRAMEBUFFER,
                cap: framebuffer,
            },
        ]
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
        let mut fbcon = Fbcon::new();
        let grants = grants(&mut cx, &GEOMETRY.encode().unwrap(), framebuffer);
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
            cx.start(&mut Fbcon::new(), &[]),
            Err(HandleError::Fatal(_))
        ));
    }

    #[test]
    fn a_missing_or_malformed_geometry_is_one_line_and_output_is_ignored() {
        for (geometry, says) in [
            (None, "no \"geometry\" grant"),
            (
                Some(&b"FBG1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"[..]),
                "reserved bytes are not zero",
            ),
            (Some(&[0u8; 64][..]), "does not start with \"FBG1\""),
        ] {
            let mut cx = FakeContext::new();
            let framebuffer = cx.region_with(&[0xaa; FRAME], Rights::READ | Rights::WRITE);
            let mut fbcon = Fbcon::new();
            let grants = grants(&mut cx, geometry.unwrap_or(b""), framebuffer);
            let grants = if geometry.is_some() {
                &grants[..]
            } else {
                &grants[1..]
            };
            cx.start(&mut fbcon, grants).unwrap();
            assert!(!fbcon.is_drawing());
            assert_eq!(cx.logs.len(), 1, "{:?}", cx.logs);
            assert!(cx.logs[0].contains(says), "{:?}", cx.logs);
            assert!(
                frame(&cx, framebuffer).iter().all(|&byte| byte == 0xaa),
                "nothing drawn"
            );
            let msg = cx.request(&Output { text: "A" });
            cx.deliver(&mut fbcon, &msg).unwrap();
            assert_eq!(fbcon.stats.outputs_ignored, 1);
        }
    }
}
