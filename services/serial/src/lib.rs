//! The serial driver: a 16550 UART (COM1) through a Device capability for
//! its eight I/O ports and an Irq capability for its line.
//!
//! - Receive is interrupt-driven: on `Interrupt` the driver empties the
//!   receive FIFO (bounded), sends the bytes to the console as one
//!   `terminal::Input`, and re-arms the line with `irq_ack`.
//! - Transmit is buffered: the `terminal` interface's `output` (it
//!   refuses `input`) queues the text, with `\n` sent as `\r\n` as a
//!   terminal expects, and writes it while the transmitter has room, at
//!   most [`TRANSMIT_BATCH`] per message; what is left waits for the
//!   transmitter-empty interrupt. Nothing is dropped: past [`TX_LIMIT`]
//!   queued bytes the driver waits for the transmitter instead, which
//!   bounds its memory.
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

use mealy_protocol::terminal::{self, Input, Output};
use mealy_protocol::{
    Badge, CapRef, Context, Grants, HandleError, Incoming, IpcError, MAX_PAYLOAD, MessageKind,
    Outbox, Outgoing, StateMachine,
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

/// How much of the transmit queue one `transmit` writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Drain {
    /// What the UART takes now, at most a batch: from an interrupt or a
    /// timer, where the rest can wait for the next one.
    WhatFits,
    /// Polls the UART until the queue is below [`TX_LIMIT`]: new output
    /// must not grow the queue without bound.
    BelowLimit,
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
            let input = Input {
                bytes: &self.received[..take],
            };
            match mealy_protocol::send(cx, console, self.outbox.space(), &input, &[]) {
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

    /// Writes queued bytes while the transmitter has room; with
    /// [`Drain::BelowLimit`] it polls until the queue is below [`TX_LIMIT`].
    fn transmit(
        &mut self,
        cx: &mut dyn Context,
        ports: CapRef,
        drain: Drain,
    ) -> Result<(), IpcError> {
        let wait = drain == Drain::BelowLimit;
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

impl Outgoing for Serial {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl terminal::Display for Serial {
    fn show(
        &mut self,
        cx: &mut dyn Context,
        message: Output<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        let devices = self.devices()?;
        self.queue_text(message.text);
        self.transmit(cx, devices.ports, Drain::BelowLimit)?;
        self.forward(cx, devices.console)?;
        Ok(())
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
                self.transmit(cx, devices.ports, Drain::WhatFits)?;
            }
            MessageKind::Timeout => {
                self.transmit(cx, devices.ports, Drain::WhatFits)?;
                self.forward(cx, devices.console)?;
            }
            _ => terminal::serve(self, cx, &msg)?,
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

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use mealy_protocol::interface::encode_request;
    use mealy_protocol::testing::FakeContext;
    use mealy_protocol::{DeviceRange, Grant};

    const COM1: u16 = 0x3f8;
    const IRQ: u8 = 4;

    /// A started driver with nothing waiting in the UART, and its context.
    fn serial() -> (FakeContext, Serial) {
        let mut cx = FakeContext::new();
        let mut serial = Serial::new();
        let grants = [
            Grant {
                name: "ports",
                cap: cx.device(DeviceRange::Ports { base: COM1, len: 8 }),
            },
            Grant {
                name: "irq",
                cap: cx.irq(IRQ),
            },
            Grant {
                name: "console",
                cap: cx.endpoint("console"),
            },
            Grant {
                name: "timer",
                cap: cx.timer(),
            },
        ];
        // An empty port reads 0xff, which would look like data: the line
        // status says there is none.
        cx.queue_port_input(COM1 + LINE_STATUS, &[0]);
        cx.start(&mut serial, &grants).unwrap();
        assert_eq!(cx.irq_acks, [IRQ], "armed at start");
        cx.port_writes.clear();
        (cx, serial)
    }

    fn written(cx: &FakeContext) -> Vec<u8> {
        cx.port_writes
            .iter()
            .filter(|(port, _)| *port == COM1 + DATA)
            .map(|(_, byte)| *byte)
            .collect()
    }

    #[test]
    fn an_interrupt_reads_the_fifo_sends_input_to_the_console_and_acks() {
        let (mut cx, mut serial) = serial();
        cx.queue_port_input(COM1 + LINE_STATUS, &[DATA_READY, DATA_READY, 0, 0]);
        cx.queue_port_input(COM1 + DATA, b"hi");
        cx.deliver(&mut serial, &cx.interrupt(IRQ)).unwrap();
        assert_eq!(cx.irq_acks, [IRQ, IRQ]);
        assert_eq!(cx.sends.len(), 1);
        assert_eq!(cx.sends[0].to, "console");
        let mut buffer = [0u8; 16];
        let input = encode_request(&Input { bytes: b"hi" }, &mut buffer).unwrap();
        assert_eq!(cx.sends[0].payload, input);
        assert_eq!(serial.bytes_received, 2);
        assert!(cx.timers.is_empty(), "nothing left waiting");
    }

    #[test]
    fn input_the_console_cannot_take_is_kept_for_the_timer() {
        let (mut cx, mut serial) = serial();
        cx.queue_port_input(COM1 + LINE_STATUS, &[DATA_READY, 0, 0]);
        cx.queue_port_input(COM1 + DATA, b"k");
        cx.fail(
            mealy_protocol::testing::Operation::Send,
            IpcError::MailboxFull,
        );
        cx.deliver(&mut serial, &cx.interrupt(IRQ)).unwrap();
        assert!(cx.sends.is_empty());
        assert_eq!(cx.timers.len(), 1);
        cx.heal();
        cx.deliver(&mut serial, &cx.timeout()).unwrap();
        assert_eq!(cx.sends.len(), 1, "sent on the retry");
    }

    #[test]
    fn output_is_written_to_the_data_port_with_crlf() {
        let (mut cx, mut serial) = serial();
        cx.queue_port_input(COM1 + LINE_STATUS, &[TRANSMITTER_EMPTY]);
        let msg = cx.request(&Output { text: "a\nb" });
        cx.deliver(&mut serial, &msg).unwrap();
        assert_eq!(written(&cx), b"a\r\nb");
        assert_eq!(serial.bytes_sent, 4);
        assert!(cx.timers.is_empty());
    }

    #[test]
    fn a_full_transmitter_waits_and_the_timer_retries() {
        let (mut cx, mut serial) = serial();
        cx.queue_port_input(COM1 + LINE_STATUS, &[0]);
        let msg = cx.request(&Output { text: "ok" });
        cx.deliver(&mut serial, &msg).unwrap();
        assert!(written(&cx).is_empty());
        // It asks for the transmitter-empty interrupt and a retry.
        assert!(cx.port_writes.contains(&(
            COM1 + INTERRUPT_ENABLE,
            RECEIVE_INTERRUPT | TRANSMIT_INTERRUPT
        )));
        assert_eq!(cx.timers.len(), 1);
        assert_eq!(cx.timers[0].1, RETRY_NS);

        cx.queue_port_input(COM1 + LINE_STATUS, &[TRANSMITTER_EMPTY]);
        cx.deliver(&mut serial, &cx.timeout()).unwrap();
        assert_eq!(written(&cx), b"ok");
        assert_eq!(
            cx.port_writes.last(),
            Some(&(COM1 + INTERRUPT_ENABLE, RECEIVE_INTERRUPT)),
            "the transmit interrupt is off again"
        );
        assert_eq!(cx.timers.len(), 1, "no further retry");
    }

    #[test]
    fn input_sent_to_the_driver_is_refused() {
        let (mut cx, mut serial) = serial();
        let msg = cx.request(&Input { bytes: b"x" });
        assert!(matches!(
            cx.deliver(&mut serial, &msg),
            Err(HandleError::Malformed(_))
        ));
        assert!(cx.port_writes.is_empty());
    }

    #[test]
    fn missing_grants_stop_the_driver() {
        let mut cx = FakeContext::new();
        assert!(matches!(
            cx.start(&mut Serial::new(), &[]),
            Err(HandleError::Fatal(_))
        ));
    }
}
