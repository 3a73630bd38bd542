//! [`SyscallContext`]: `mealy_protocol::Context` over system calls, so a
//! service crate runs unchanged in ring 3.
//!
//! Each operation is one system call (`abi::Syscall`), its slices passed
//! as address and length, its CapRefs raw, its error decoded with
//! `abi::decode_error`. Exceptions:
//!
//! - **The deferred reply.** `reply` does not enter the kernel: it copies
//!   the answer into a buffer ([`Deferred`]) and returns `Ok(())`. The
//!   handler's end then sends it with `ReplyDone`, so a call answered by a
//!   ring-3 service costs two kernel crossings (the caller's `CallDone`,
//!   the callee's `ReplyDone`), not three. The price: a deferred reply's
//!   error (a stale Reply, a dead caller) cannot be `reply`'s return
//!   value. When flushed early it goes to the log; at the end the kernel
//!   logs `ReplyDone`'s failure.
//! - **The deferred call.** Likewise `call` buffers the call and returns
//!   at once the token it will take (the message area's `NEXT_TOKEN`,
//!   counted on for each call), and the handler's end makes it with
//!   `CallDone`. The kernel makes it only under that token, and any error
//!   (which `call` could no longer return) comes back as a `CallFailed {
//!   NotSent }` message for the token, as `Context::call` allows. Only
//!   what the runtime can check alone (payload size, capability count)
//!   is `call`'s error. A handler that ends with an error sends the call
//!   first and then `Done`s with its outcome. If the area has no token
//!   (0), calls are made at once, as before.
//!
//! Order is kept: one message at most waits in the buffer, and any later
//! operation that another task or a device could observe sends it first
//! (every call except `TaskId`, `NowNs`, `RegionPhys` and `Region`), and
//! so does a second `reply` or `call`.
//! - **`inspect`** gets its report postcard-encoded into a heap buffer of
//!   a page, or of the size the kernel says it needs if that is more.
//!
//! `log` formats into a fixed [`Line`] (no heap) and calls `Log`.

use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::abi::{self, Syscall};
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::mmio::Width;
use mealy_protocol::{
    Badge, CallToken, CapRef, Context, IpcError, MAX_CAPS, MAX_PAYLOAD, Rights, TaskId,
};

use crate::line::Line;

/// How many times `inspect` asks before it gives up on a report that
/// keeps growing.
const INSPECT_TRIES: usize = 3;
/// The most grants a `Spawn` passes: the kernel's `MAX_SPAWN_GRANTS`,
/// which checks the count again.
const SPAWN_GRANTS: usize = 8;
use crate::mapped;
use crate::syscall::Kernel;

/// The longest log line, in bytes; longer ones are cut and marked.
pub const LOG_LINE: usize = 512;

/// What waits in the [`Deferred`] buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// A reply through this Reply capability.
    Reply(CapRef),
    /// A call to this endpoint, under this token.
    Call { to: CapRef, token: u64 },
}

/// A reply or call waiting for the handler's end (see the module docs).
/// It lives in the runtime's static state, not on the handler's stack, so
/// `ReplyDone` and `CallDone` can point at it after the context is gone.
pub struct Deferred {
    held: Option<Held>,
    payload: [u8; MAX_PAYLOAD],
    len: usize,
    caps: [u64; MAX_CAPS],
    cap_count: usize,
}

impl Deferred {
    pub const fn new() -> Self {
        Self {
            held: None,
            payload: [0; MAX_PAYLOAD],
            len: 0,
            caps: [0; MAX_CAPS],
            cap_count: 0,
        }
    }

    /// The buffered message's bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.len]
    }

    /// Buffers `payload` and `caps` (checked by the caller) as `held`.
    fn hold(&mut self, held: Held, payload: &[u8], caps: [u64; MAX_CAPS], cap_count: usize) {
        self.payload[..payload.len()].copy_from_slice(payload);
        self.len = payload.len();
        self.caps = caps;
        self.cap_count = cap_count;
        self.held = Some(held);
    }

    /// `Reply`'s or `Call`'s first five arguments for the buffered
    /// message to `to`.
    fn args(&self, to: CapRef) -> [u64; 5] {
        [
            to.to_raw(),
            self.payload.as_ptr() as u64,
            self.len as u64,
            self.caps.as_ptr() as u64,
            self.cap_count as u64,
        ]
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Self::new()
    }
}

/// How a handler's upcall ends: the system call the entry makes last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Done(u64),
    /// `Reply`'s five arguments (pointing into the [`Deferred`] buffer),
    /// then `Done(outcome)`.
    ReplyDone {
        args: [u64; 5],
        outcome: u64,
    },
    /// `Call`'s five arguments (pointing into the [`Deferred`] buffer)
    /// and the token handed out, then `Done(DONE_OK)`.
    CallDone {
        args: [u64; 5],
        token: u64,
    },
}

/// The `Context` of one upcall.
pub struct SyscallContext<'p, K: Kernel> {
    kernel: K,
    pending: &'p mut Deferred,
    /// The token the next call takes; 0: calls are not deferred.
    next_token: u64,
}

/// `caps` as raw CapRefs; more than the ABI carries is the error the
/// kernel would give.
fn raw_caps(caps: &[CapRef]) -> Result<([u64; MAX_CAPS], usize), IpcError> {
    if caps.len() > MAX_CAPS {
        return Err(IpcError::TooManyCaps {
            count: u32::try_from(caps.len()).unwrap_or(u32::MAX),
        });
    }
    let mut raw = [0u64; MAX_CAPS];
    for (slot, cap) in raw.iter_mut().zip(caps) {
        *slot = cap.to_raw();
    }
    Ok((raw, caps.len()))
}

fn count(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl<'p, K: Kernel> SyscallContext<'p, K> {
    /// A context for one upcall; `pending` starts empty, and calls are
    /// made at once.
    pub fn new(kernel: K, pending: &'p mut Deferred) -> Self {
        pending.held = None;
        Self {
            kernel,
            pending,
            next_token: 0,
        }
    }

    /// Defers calls to the handler's end, handing out `next_token` (the
    /// message area's `NEXT_TOKEN`) and the ones after it; 0 defers
    /// nothing.
    pub fn deferring_calls(mut self, next_token: u64) -> Self {
        self.next_token = next_token;
        self
    }

    fn syscall(&mut self, call: Syscall, args: [u64; 6]) -> Result<(u64, u64), IpcError> {
        self.flush();
        self.kernel.syscall(call, args).result()
    }

    /// Sends the buffered reply or call now, if there is one. A reply's
    /// error goes to the log; a call's comes back as its `CallFailed {
    /// NotSent }`, which carries it.
    pub fn flush(&mut self) {
        let Some(held) = self.pending.held.take() else {
            return;
        };
        let (call, to, token) = match held {
            Held::Reply(reply) => (Syscall::Reply, reply, 0),
            Held::Call { to, token } => (Syscall::Call, to, token),
        };
        let [a, b, c, d, e] = self.pending.args(to);
        if let Err(error) = self.kernel.syscall(call, [a, b, c, d, e, token]).result()
            && call == Syscall::Reply
        {
            self.log(format_args!("deferred reply failed: {error}"));
        }
    }

    /// The system call that ends this upcall with `outcome`: `ReplyDone`
    /// if a reply is buffered, `CallDone` if a call is (and the handler
    /// succeeded; else the call is made first), else `Done`.
    pub fn finish(mut self, outcome: u64) -> Ending {
        match self.pending.held {
            Some(Held::Reply(reply)) => {
                self.pending.held = None;
                Ending::ReplyDone {
                    args: self.pending.args(reply),
                    outcome,
                }
            }
            Some(Held::Call { to, token }) if outcome == abi::DONE_OK => {
                self.pending.held = None;
                Ending::CallDone {
                    args: self.pending.args(to),
                    token,
                }
            }
            Some(Held::Call { .. }) => {
                self.flush();
                Ending::Done(outcome)
            }
            None => Ending::Done(outcome),
        }
    }

    fn message(
        &mut self,
        call: Syscall,
        to: CapRef,
        payload: &[u8],
        caps: &[CapRef],
    ) -> Result<u64, IpcError> {
        let (raw, cap_count) = raw_caps(caps)?;
        let args = [
            to.to_raw(),
            payload.as_ptr() as u64,
            payload.len() as u64,
            raw.as_ptr() as u64,
            cap_count as u64,
            0,
        ];
        self.syscall(call, args).map(|(value, _)| value)
    }
}

impl<K: Kernel> Context for SyscallContext<'_, K> {
    fn task_id(&self) -> TaskId {
        // TaskId cannot fail for a running task; `u32::MAX` never names one.
        let id = self.kernel.syscall(Syscall::TaskId, [0; 6]).result();
        TaskId(id.map_or(u32::MAX, |(value, _)| value as u32))
    }

    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        self.message(Syscall::Send, to, payload, caps).map(drop)
    }

    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError> {
        if self.next_token == 0 {
            return self
                .message(Syscall::Call, to, payload, caps)
                .map(CallToken);
        }
        mealy_protocol::check_payload(payload.len())?;
        let (raw, cap_count) = raw_caps(caps)?;
        self.flush();
        let token = self.next_token;
        self.next_token = token.wrapping_add(1);
        self.pending
            .hold(Held::Call { to, token }, payload, raw, cap_count);
        Ok(CallToken(token))
    }

    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        mealy_protocol::check_payload(payload.len())?;
        let (raw, cap_count) = raw_caps(caps)?;
        self.flush();
        self.pending
            .hold(Held::Reply(reply), payload, raw, cap_count);
        Ok(())
    }

    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError> {
        let args = [
            cap.to_raw(),
            u64::from(rights.bits()),
            badge.map_or(0, Badge::get),
            0,
            0,
            0,
        ];
        self.syscall(Syscall::Mint, args)
            .map(|(raw, _)| CapRef::from_raw(raw))
    }

    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError> {
        self.syscall(Syscall::Copy, [cap.to_raw(), 0, 0, 0, 0, 0])
            .map(|(raw, _)| CapRef::from_raw(raw))
    }

    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError> {
        self.syscall(Syscall::Drop, [cap.to_raw(), 0, 0, 0, 0, 0])
            .map(drop)
    }

    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError> {
        self.syscall(Syscall::Revoke, [cap.to_raw(), 0, 0, 0, 0, 0])
            .map(|(n, _)| count(n))
    }

    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError> {
        self.syscall(
            Syscall::RevokeIn,
            [task.to_raw(), slot.to_raw(), 0, 0, 0, 0],
        )
        .map(|(n, _)| count(n))
    }

    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        self.syscall(Syscall::StopTask, [task.to_raw(), 0, 0, 0, 0, 0])
            .map(drop)
    }

    fn restart_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        self.syscall(Syscall::RestartTask, [task.to_raw(), 0, 0, 0, 0, 0])
            .map(drop)
    }

    /// `Syscall::Spawn` with the grants as records on the stack; more
    /// than the kernel takes is `TooManyCaps`, a name a record cannot
    /// hold `Malformed`, both before the kernel.
    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(&str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        let mut records = [[0u8; abi::GRANT_RECORD]; SPAWN_GRANTS];
        if grants.len() > SPAWN_GRANTS {
            return Err(IpcError::TooManyCaps {
                count: u32::try_from(grants.len()).unwrap_or(u32::MAX),
            });
        }
        for (record, (grant, cap)) in records.iter_mut().zip(grants) {
            *record = abi::encode_grant(grant, *cap).ok_or(IpcError::Malformed)?;
        }
        self.syscall(
            Syscall::Spawn,
            [
                program.to_raw(),
                name.as_ptr() as u64,
                name.len() as u64,
                records.as_ptr() as u64,
                grants.len() as u64,
                0,
            ],
        )
        .map(|(task, _)| CapRef::from_raw(task))
    }

    fn supervise(&mut self, task: CapRef, endpoint: CapRef) -> Result<(), IpcError> {
        self.syscall(
            Syscall::Supervise,
            [task.to_raw(), endpoint.to_raw(), 0, 0, 0, 0],
        )
        .map(drop)
    }

    fn inject_fault(
        &mut self,
        task: CapRef,
        kind: mealy_protocol::supervision::FaultKind,
    ) -> Result<(), IpcError> {
        self.syscall(
            Syscall::InjectFault,
            [task.to_raw(), kind as u64, 0, 0, 0, 0],
        )
        .map(drop)
    }

    /// Asks with a page of room, and once more with the room the kernel
    /// says the report needs (it may have grown meanwhile: then again).
    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError> {
        self.flush();
        let mut room = 4096;
        for _ in 0..INSPECT_TRIES {
            let mut buffer = Vec::new();
            buffer
                .try_reserve_exact(room)
                .map_err(|_| IpcError::OutOfResources)?;
            buffer.resize(room, 0);
            let number = abi::inspect_number(query);
            match self
                .kernel
                .inspect(inspect.to_raw(), number, &mut buffer)
                .result()
            {
                Ok((len, _)) => {
                    let bytes = buffer.get(..len as usize).ok_or(IpcError::Malformed)?;
                    return Report::decode(bytes).map_err(|_| IpcError::Malformed);
                }
                Err(IpcError::PayloadTooLarge { len, .. }) if len as usize > room => {
                    room = len as usize;
                }
                Err(error) => return Err(error),
            }
        }
        Err(IpcError::OutOfResources)
    }

    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError> {
        self.syscall(Syscall::AllocRegion, [len as u64, 0, 0, 0, 0, 0])
            .map(|(raw, _)| CapRef::from_raw(raw))
    }

    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        let args = [cap.to_raw(), offset, len, u64::from(rights.bits()), 0, 0];
        self.syscall(Syscall::Subregion, args)
            .map(|(raw, _)| CapRef::from_raw(raw))
    }

    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError> {
        mapped::region(&self.kernel, cap)
    }

    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError> {
        self.flush();
        mapped::region_mut(&mut self.kernel, cap)
    }

    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError> {
        self.syscall(
            Syscall::PortRead,
            [device.to_raw(), u64::from(offset), 0, 0, 0, 0],
        )
        .map(|(byte, _)| byte as u8)
    }

    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError> {
        let args = [
            device.to_raw(),
            u64::from(offset),
            u64::from(value),
            0,
            0,
            0,
        ];
        self.syscall(Syscall::PortWrite, args).map(drop)
    }

    fn mmio_read(&mut self, device: CapRef, offset: u64, width: Width) -> Result<u64, IpcError> {
        let args = [device.to_raw(), offset, abi::encode_width(width), 0, 0, 0];
        self.syscall(Syscall::MmioRead, args)
            .map(|(value, _)| value)
    }

    fn mmio_write(
        &mut self,
        device: CapRef,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<(), IpcError> {
        let args = [
            device.to_raw(),
            offset,
            abi::encode_width(width),
            value,
            0,
            0,
        ];
        self.syscall(Syscall::MmioWrite, args).map(drop)
    }

    /// Learning an address is nothing another task or a device observes,
    /// so a buffered reply stays buffered (as for `now_ns`).
    fn region_phys(&self, cap: CapRef, offset: u64) -> Result<u64, IpcError> {
        self.kernel
            .syscall(Syscall::RegionPhys, [cap.to_raw(), offset, 0, 0, 0, 0])
            .result()
            .map(|(phys, _)| phys)
    }

    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError> {
        self.syscall(Syscall::IrqAck, [irq.to_raw(), 0, 0, 0, 0, 0])
            .map(drop)
    }

    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError> {
        self.syscall(Syscall::SetTimer, [timer.to_raw(), after_ns, 0, 0, 0, 0])
            .map(drop)
    }

    fn now_ns(&self) -> u64 {
        let now = self.kernel.syscall(Syscall::NowNs, [0; 6]).result();
        now.map_or(0, |(ns, _)| ns)
    }

    fn log(&mut self, line: fmt::Arguments<'_>) {
        let line = Line::<LOG_LINE>::format(line);
        let text = line.as_bytes();
        // A log line that cannot be written has nowhere else to go.
        let _ = self.syscall(
            Syscall::Log,
            [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0],
        );
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
