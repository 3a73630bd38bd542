//! The serial driver: a 16550 UART (COM1) through a Device capability for
//! its eight I/O ports and an Irq capability for its line.
//!
//! - Receive is interrupt-driven: on `Interrupt` the driver empties the
//!   receive FIFO (bounded), sends the bytes to the console as one
//!   `terminal::Input`, and re-arms the line with `irq_ack`.
//! - Transmit is buffered: `terminal::Output` text (with `\n` sent as
//!   `\r\n`, as a terminal expects) is queued and written while the
//!   transmitter has room, at most [`TRANSMIT_BATCH`] per message; what
//!   is left waits for the transmitter-empty interrupt. Nothing is dropped: past [`TX_LIMIT`] queued bytes the
//!   driver waits for the transmitter instead, which bounds its memory.
//! - Received bytes the console cannot take (its mailbox is full) are kept
//!   and sent with the next batch.
//! - With a `timer` grant, bytes still waiting either way when a handler
//!   ends are looked at again a millisecond later, so a lost interrupt
//!   edge delays them rather than stranding them.
//!
//! The kernel programs the UART's line settings at boot (it logs there
//! before any task exists); this driver only switches its interrupts.
//! `#![no_std]` with `alloc`, `#![forbid(unsafe_code)]`: every port access
//! is `Context::port_read`/`port_write`, checked against the capability.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mealy_protocol::terminal::{Input, Output};
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, IpcError, MAX_PAYLOAD, MessageKind, Outbox,
    StateMachine, decode,
};

/// Register offsets in the port range.
const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const LINE_STATUS: u16 = 5;

const DATA_READY: u8 = 1 << 0;
const TRANSMITTER_EMPTY: u8 = 1 << 5;
const RECEIVE_INTERRUPT: u8 = 1 << 0;
const TRANSMIT_INTERRUPT: u8 = 1 << 1;

/// Bytes written per transmitter-empty: the 16550's FIFO depth.
const FIFO: usize = 16;
/// Bytes read per interrupt at most, so a stuck line cannot hold the core.
const RECEIVE_BATCH: usize = 256;
/// Bytes written per message at most, so a long output does not hold the
/// core either (each port write is slow under emulation): the rest goes
/// at the next transmitter-empty interrupt.
pub const TRANSMIT_BATCH: usize = 256;
/// Queued transmit bytes past which the driver waits for the UART.
pub const TX_LIMIT: usize = 64 * 1024;
/// How soon to look again at bytes still waiting, in nanoseconds.
const RETRY_NS: u64 = 1_000_000;
/// Line-status polls before giving up on a transmitter that never empties.
const SPIN_LIMIT: u32 = 1_000_000;

/// The capabilities the driver works through.
#[derive(Clone, Copy, Debug)]
struct Devices {
    ports: CapRef,
    irq: CapRef,
    console: CapRef,
    /// Retries a transmission the UART's interrupt did not finish.
    timer: Option<CapRef>,
}

/// The serial driver's state.
#[derive(Debug, Default)]
pub struct Serial {
    devices: Option<Devices>,
    transmit: VecDeque<u8>,
    /// Received bytes not yet accepted by the console.
    received: Vec<u8>,
    outbox: Outbox<MAX_PAYLOAD>,
    /// Whether the transmitter-empty interrupt is on.
    transmit_interrupt: bool,
    /// Counters, for tests and `send`-style inspection.
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl Serial {
    pub fn new() -> Self {
        Self::default()
    }

    fn devices(&self) -> Result<Devices, HandleError> {
        self.devices.ok_or(HandleError::Fatal(
            "serial: started without its capabilities",
        ))
    }

    fn line_status(&self, cx: &mut dyn Context, ports: CapRef) -> Result<u8, IpcError> {
        cx.port_read(ports, LINE_STATUS)
    }

    /// Empties the receive FIFO into `received`.
    fn receive(&mut self, cx: &mut dyn Context, ports: CapRef) -> Result<(), IpcError> {
        for _ in 0..RECEIVE_BATCH {
            if self.line_status(cx, ports)? & DATA_READY == 0 {
                break;
            }
            self.received.push(cx.port_read(ports, DATA)?);
            self.bytes_received += 1;
        }
        Ok(())
    }

    /// Sends what was received to the console, as far as it takes it.
    fn forward(&mut self, cx: &mut dyn Context, console: CapRef) -> Result<(), IpcError> {
        while !self.received.is_empty() {
            // Keep every piece well inside one payload.
            let take = self.received.len().min(MAX_PAYLOAD / 2);
            let payload = self
                .outbox
                .encode(&Input {
                    bytes: &self.received[..take],
                })
                .map_err(|_| IpcError::Malformed)?;
            match cx.send(console, payload, &[]) {
                Ok(()) => {
                    self.received.drain(..take);
                }
                // Kept for the next interrupt or message.
                Err(IpcError::MailboxFull) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Writes queued bytes while the transmitter has room; `wait` polls
    /// until the queue is below [`TX_LIMIT`].
    fn transmit(
        &mut self,
        cx: &mut dyn Context,
        ports: CapRef,
        wait: bool,
    ) -> Result<(), IpcError> {
        let mut spins = 0;
        let mut written = 0;
        while !self.transmit.is_empty() {
            if written >= TRANSMIT_BATCH && !(wait && self.transmit.len() > TX_LIMIT) {
                break;
            }
            if self.line_status(cx, ports)? & TRANSMITTER_EMPTY == 0 {
                if wait && self.transmit.len() > TX_LIMIT && spins < SPIN_LIMIT {
                    spins += 1;
                    continue;
                }
                break;
            }
            for _ in 0..FIFO {
                let Some(byte) = self.transmit.pop_front() else {
                    break;
                };
                cx.port_write(ports, DATA, byte)?;
                self.bytes_sent += 1;
                written += 1;
            }
        }
        // Ask for an interrupt only while something waits.
        let want = !self.transmit.is_empty();
        if want != self.transmit_interrupt {
            let enable = RECEIVE_INTERRUPT | if want { TRANSMIT_INTERRUPT } else { 0 };
            cx.port_write(ports, INTERRUPT_ENABLE, enable)?;
            self.transmit_interrupt = want;
        }
        Ok(())
    }

    fn queue_text(&mut self, text: &str) {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.transmit.push_back(b'\r');
            }
            self.transmit.push_back(byte);
        }
    }
}

impl StateMachine for Serial {
    fn name(&self) -> &'static str {
        "serial"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let (Some(ports), Some(irq), Some(console)) = (
            grants.get("ports"),
            grants.get("irq"),
            grants.get("console"),
        ) else {
            return Err(HandleError::Fatal(
                "serial: needs the grants `ports`, `irq` and `console`",
            ));
        };
        self.devices = Some(Devices {
            ports,
            irq,
            console,
            timer: grants.get("timer"),
        });
        cx.port_write(ports, INTERRUPT_ENABLE, RECEIVE_INTERRUPT)?;
        // Bytes that arrived before the line was handed over.
        self.receive(cx, ports)?;
        self.forward(cx, console)?;
        cx.irq_ack(irq)?;
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        let devices = self.devices()?;
        match msg.kind {
            MessageKind::Interrupt { .. } => {
                let received = self.receive(cx, devices.ports);
                // Re-arm before writing: the transmitter-empty edge the
                // writes cause must find the line open, or it is lost.
                cx.irq_ack(devices.irq)?;
                received?;
                // A byte that came while the line was masked raised no
                // interrupt of its own: look once more, with it open.
                self.receive(cx, devices.ports)?;
                self.forward(cx, devices.console)?;
                self.transmit(cx, devices.ports, false)?;
            }
            MessageKind::Request => {
                let output: Output<'_> = decode(msg.payload)?;
                self.queue_text(output.text);
                self.transmit(cx, devices.ports, true)?;
                self.forward(cx, devices.console)?;
            }
            MessageKind::Timeout => {
                self.transmit(cx, devices.ports, false)?;
                self.forward(cx, devices.console)?;
            }
            _ => {}
        }
        // An edge-triggered line can still miss an edge; a timer makes
        // sure waiting bytes go out (and undelivered input goes in).
        if let Some(timer) = devices.timer
            && (!self.transmit.is_empty() || !self.received.is_empty())
        {
            cx.set_timer(timer, RETRY_NS)?;
        }
        Ok(())
    }
}
