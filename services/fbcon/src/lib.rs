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
//! Accepts plain sends of `terminal::Output`; a payload that is not one is
//! `HandleError::Malformed`. Sends nothing.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, no heap; depends on
//! `mealy-protocol` and `noto-sans-mono-bitmap` (the font).
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod screen;

use mealy_protocol::terminal::Output;
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, MessageKind, StateMachine, decode,
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

    fn show(&mut self, cx: &mut dyn Context, text: &str) -> Result<(), HandleError> {
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
        if msg.kind != MessageKind::Request {
            return Ok(());
        }
        let output: Output<'_> = decode(msg.payload)?;
        self.show(cx, output.text)
    }
}
