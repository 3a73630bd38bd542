//! The PS/2 keyboard driver: reads the i8042 controller through a Device
//! capability when its interrupt fires, decodes the scancodes
//! ([`scancodes`], over the `pc-keyboard` crate) and sends what was typed
//! to the console as one `terminal::Input` per interrupt.
//!
//! Grants, by name (see [`GRANT_PORTS`], [`GRANT_IRQ`], [`GRANT_CONSOLE`]):
//! `"ports"`, the Device capability for ports 0x60..0x65 (offset 0 is the
//! data port 0x60, offset 4 the status port 0x64); `"irq"`, the Irq
//! capability for line 1; `"console"`, an endpoint that accepts
//! `terminal::Input`. A missing grant stops the driver at start with a
//! fatal error that names it: without any one of them it can do nothing.
//!
//! At start it empties the controller's output buffer (a byte left there
//! would keep an edge-triggered line from ever firing). It does not
//! reprogram the controller: it relies on the firmware having left
//! translation to set 1 and the keyboard interrupt on. Open question, not
//! yet checked under QEMU: if no IRQ 1 ever arrives, setting bit 0 of the
//! controller's configuration byte (commands 0x20/0x60) at start is the
//! next step.
//!
//! On `MessageKind::Interrupt` it reads while the status port says the
//! output buffer is full, at most [`MAX_BYTES_PER_INTERRUPT`] bytes (a
//! stuck controller cannot keep the handler running), drops bytes the
//! status marks as coming from the mouse, sends the keys' bytes, then
//! re-arms the line. Every other message is ignored. A failed send (a full
//! console mailbox, a dead console) loses those keystrokes, is logged and
//! counted, and never stops the driver.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`, no heap; depends on
//! `mealy-protocol` and `pc-keyboard`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod scancodes;

use core::fmt;

use mealy_protocol::terminal::Input;
use mealy_protocol::{
    CapRef, CodecError, Context, Grants, HandleError, Incoming, MessageKind, Outbox, StateMachine,
};

use crate::scancodes::{Decoder, MAX_KEY_BYTES};

/// The grant naming the controller's ports 0x60..0x65.
pub const GRANT_PORTS: &str = "ports";
/// The grant naming IRQ line 1.
pub const GRANT_IRQ: &str = "irq";
/// The grant naming the endpoint typed bytes go to.
pub const GRANT_CONSOLE: &str = "console";

/// Offset of the data port (0x60) in the `"ports"` range.
pub const DATA_PORT: u16 = 0;
/// Offset of the status port (0x64) in the `"ports"` range.
pub const STATUS_PORT: u16 = 4;
/// Status bit 0: a byte waits in the output buffer.
const STATUS_OUTPUT_FULL: u8 = 1 << 0;
/// Status bit 5: the waiting byte is from the auxiliary (mouse) port.
const STATUS_AUX_DATA: u8 = 1 << 5;

/// The most bytes read from the controller for one interrupt.
pub const MAX_BYTES_PER_INTERRUPT: usize = 16;
/// The most terminal bytes one interrupt can produce.
const MAX_TYPED: usize = MAX_BYTES_PER_INTERRUPT * MAX_KEY_BYTES;

/// Why the driver could not start.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StartError {
    /// The task list gave no capability under this name.
    MissingGrant(&'static str),
}

impl StartError {
    /// The reason as the kernel logs it when the driver stops.
    pub fn reason(self) -> &'static str {
        match self {
            StartError::MissingGrant(GRANT_PORTS) => {
                "no \"ports\" grant (Device capability for ports 0x60..0x65)"
            }
            StartError::MissingGrant(GRANT_IRQ) => "no \"irq\" grant (Irq capability for line 1)",
            StartError::MissingGrant(_) => "no \"console\" grant (endpoint for terminal::Input)",
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl core::error::Error for StartError {}

impl From<StartError> for HandleError {
    fn from(error: StartError) -> Self {
        HandleError::Fatal(error.reason())
    }
}

/// The capabilities the driver works through, found at start.
#[derive(Clone, Copy, Debug)]
struct Wiring {
    ports: CapRef,
    irq: CapRef,
    console: CapRef,
}

impl Wiring {
    fn from_grants(grants: Grants<'_>) -> Result<Self, StartError> {
        let get = |name| grants.get(name).ok_or(StartError::MissingGrant(name));
        Ok(Self {
            ports: get(GRANT_PORTS)?,
            irq: get(GRANT_IRQ)?,
            console: get(GRANT_CONSOLE)?,
        })
    }
}

/// What the driver has done, for tests and inspection.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct KeyboardStats {
    /// Interrupts handled.
    pub interrupts: u64,
    /// Keyboard bytes read from the data port (mouse bytes not counted).
    pub scancodes: u64,
    /// `terminal::Input` messages sent.
    pub inputs_sent: u64,
    /// Sends that failed; their keystrokes are lost.
    pub send_failures: u64,
}

/// The keyboard driver's state.
#[derive(Debug, Default)]
pub struct Keyboard {
    wiring: Option<Wiring>,
    decoder: Decoder,
    outbox: Outbox<{ MAX_TYPED + 16 }>,
    pub stats: KeyboardStats,
}

impl Keyboard {
    pub const fn new() -> Self {
        Self {
            wiring: None,
            decoder: Decoder::new(),
            outbox: Outbox::new(),
            stats: KeyboardStats {
                interrupts: 0,
                scancodes: 0,
                inputs_sent: 0,
                send_failures: 0,
            },
        }
    }

    /// Reads what the controller holds, sends the typed bytes, re-arms
    /// the line.
    fn interrupt(&mut self, cx: &mut dyn Context, wiring: Wiring) -> Result<(), HandleError> {
        self.stats.interrupts += 1;
        let mut typed = [0u8; MAX_TYPED];
        let mut len = 0;
        let mut budget = MAX_BYTES_PER_INTERRUPT;
        self.drain(cx, wiring, &mut typed, &mut len, &mut budget);
        cx.irq_ack(wiring.irq)?;
        // A byte that came after the drain but before the line was open
        // again raised its edge while masked, and the controller raises
        // no other until it is read: look once more, with the line open.
        self.drain(cx, wiring, &mut typed, &mut len, &mut budget);
        if len > 0 {
            self.send(cx, wiring.console, &typed[..len]);
        }
        Ok(())
    }

    /// Reads what the controller holds into `typed`, at most `budget`
    /// bytes (shared by the two passes of an interrupt).
    fn drain(
        &mut self,
        cx: &mut dyn Context,
        wiring: Wiring,
        typed: &mut [u8; MAX_TYPED],
        len: &mut usize,
        budget: &mut usize,
    ) {
        while *budget > 0 {
            *budget -= 1;
            let byte = match read_controller(cx, wiring.ports) {
                Controller::Empty => break,
                Controller::Mouse => continue,
                Controller::Keyboard(byte) => byte,
            };
            self.stats.scancodes += 1;
            if let Some(key) = self.decoder.feed(byte) {
                let bytes = key.as_slice();
                // Always fits: each scancode makes at most MAX_KEY_BYTES.
                if let Some(room) = typed.get_mut(*len..*len + bytes.len()) {
                    room.copy_from_slice(bytes);
                    *len += bytes.len();
                }
            }
        }
    }

    fn send(&mut self, cx: &mut dyn Context, console: CapRef, bytes: &[u8]) {
        match mealy_protocol::send(cx, console, self.outbox.space(), &Input { bytes }, &[]) {
            Ok(()) => self.stats.inputs_sent += 1,
            Err(error) => {
                self.stats.send_failures += 1;
                cx.log(format_args!(
                    "{} typed bytes lost, sending to the console failed: {error}",
                    bytes.len()
                ));
            }
        }
    }
}

/// What one read of the controller found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Controller {
    /// Nothing waits (or the ports cannot be read: logged).
    Empty,
    /// A byte from the auxiliary (mouse) port, read and dropped.
    Mouse,
    /// A byte from the keyboard.
    Keyboard(u8),
}

/// Reads the next waiting byte, if the status port says one waits.
fn read_controller(cx: &mut dyn Context, ports: CapRef) -> Controller {
    let status = match cx.port_read(ports, STATUS_PORT) {
        Ok(status) => status,
        Err(error) => {
            cx.log(format_args!("reading the status port: {error}"));
            return Controller::Empty;
        }
    };
    if status & STATUS_OUTPUT_FULL == 0 {
        return Controller::Empty;
    }
    match cx.port_read(ports, DATA_PORT) {
        Ok(_) if status & STATUS_AUX_DATA != 0 => Controller::Mouse,
        Ok(byte) => Controller::Keyboard(byte),
        Err(error) => {
            cx.log(format_args!("reading the data port: {error}"));
            Controller::Empty
        }
    }
}

impl StateMachine for Keyboard {
    fn name(&self) -> &'static str {
        "keyboard"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        match Wiring::from_grants(grants) {
            Ok(wiring) => {
                // A byte that arrived before the line was routed would keep
                // the output buffer full, and an edge-triggered IRQ 1 would
                // then never fire again: empty it (bounded, like a handler).
                for _ in 0..MAX_BYTES_PER_INTERRUPT {
                    if read_controller(cx, wiring.ports) == Controller::Empty {
                        break;
                    }
                }
                self.wiring = Some(wiring);
                // The kernel routes every line masked: arm it.
                cx.irq_ack(wiring.irq)?;
                Ok(())
            }
            Err(error) => {
                cx.log(format_args!("cannot start: {error}"));
                Err(error.into())
            }
        }
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match (msg.kind, self.wiring) {
            (MessageKind::Interrupt { .. }, Some(wiring)) => self.interrupt(cx, wiring),
            // The driver takes no requests: a caller gets an error reply
            // rather than waiting for an answer that never comes.
            (MessageKind::Request, _) => Err(HandleError::Malformed(CodecError::Invalid)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::interface::encode_request;
    use mealy_protocol::testing::{FakeContext, Operation};
    use mealy_protocol::{DeviceRange, Grant, IpcError};

    const DATA: u16 = 0x60;
    const STATUS: u16 = 0x64;

    /// A started driver with an empty controller, and its context.
    fn keyboard() -> (FakeContext, Keyboard) {
        let mut cx = FakeContext::new();
        let mut keyboard = Keyboard::new();
        let grants = [
            Grant {
                name: GRANT_PORTS,
                cap: cx.device(DeviceRange::Ports { base: DATA, len: 5 }),
            },
            Grant {
                name: GRANT_IRQ,
                cap: cx.irq(1),
            },
            Grant {
                name: GRANT_CONSOLE,
                cap: cx.endpoint("console"),
            },
        ];
        // An empty port reads 0xff: the status says nothing waits.
        cx.queue_port_input(STATUS, &[0]);
        cx.start(&mut keyboard, &grants).unwrap();
        assert_eq!(cx.irq_acks, [1], "armed at start");
        (cx, keyboard)
    }

    #[test]
    fn scancodes_become_one_input_to_the_console_and_the_line_is_rearmed() {
        let (mut cx, mut keyboard) = keyboard();
        // `h`, `i` pressed and released, then Enter pressed.
        let scancodes = [0x23, 0xa3, 0x17, 0x97, 0x1c];
        let mut status = [STATUS_OUTPUT_FULL; 7];
        status[5..].fill(0);
        cx.queue_port_input(STATUS, &status);
        cx.queue_port_input(DATA, &scancodes);
        cx.deliver(&mut keyboard, &cx.interrupt(1)).unwrap();
        assert_eq!(cx.sends.len(), 1);
        assert_eq!(cx.sends[0].to, "console");
        let mut buffer = [0u8; 16];
        let input = encode_request(&Input { bytes: b"hi\r" }, &mut buffer).unwrap();
        assert_eq!(cx.sends[0].payload, input);
        assert_eq!(cx.irq_acks, [1, 1]);
        assert_eq!(keyboard.stats.scancodes, 5);
        assert_eq!(keyboard.stats.inputs_sent, 1);
    }

    #[test]
    fn mouse_bytes_and_releases_send_nothing() {
        let (mut cx, mut keyboard) = keyboard();
        let mouse = STATUS_OUTPUT_FULL | STATUS_AUX_DATA;
        cx.queue_port_input(STATUS, &[mouse, STATUS_OUTPUT_FULL, 0, 0]);
        cx.queue_port_input(DATA, &[0x23, 0xa3]);
        cx.deliver(&mut keyboard, &cx.interrupt(1)).unwrap();
        assert!(cx.sends.is_empty());
        assert_eq!(keyboard.stats.scancodes, 1, "the mouse byte is not counted");
        assert_eq!(cx.irq_acks, [1, 1]);
    }

    #[test]
    fn a_failed_send_loses_the_keys_and_the_driver_goes_on() {
        let (mut cx, mut keyboard) = keyboard();
        cx.fail(Operation::Send, IpcError::MailboxFull);
        cx.queue_port_input(STATUS, &[STATUS_OUTPUT_FULL, 0, 0]);
        cx.queue_port_input(DATA, &[0x23]);
        cx.deliver(&mut keyboard, &cx.interrupt(1)).unwrap();
        assert_eq!(keyboard.stats.send_failures, 1);
        assert_eq!(cx.logs.len(), 1);
        cx.heal();
        cx.queue_port_input(STATUS, &[STATUS_OUTPUT_FULL, 0, 0]);
        cx.queue_port_input(DATA, &[0x17]);
        cx.deliver(&mut keyboard, &cx.interrupt(1)).unwrap();
        assert_eq!(cx.sends.len(), 1);
    }

    #[test]
    fn requests_are_refused() {
        let (mut cx, mut keyboard) = keyboard();
        let msg = cx.request(&Input { bytes: b"x" });
        assert!(matches!(
            cx.deliver(&mut keyboard, &msg),
            Err(HandleError::Malformed(_))
        ));
    }
}
