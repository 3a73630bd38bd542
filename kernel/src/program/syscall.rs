//! System calls: a ring-3 task's registers turned into one [`Context`]
//! operation, and its result turned back into registers, as
//! `mealy_protocol::abi` defines them.
//!
//! Everything a task passes is hostile until checked, in this order: the
//! call number (`UnknownSyscall`), lengths against their limits
//! (`PayloadTooLarge`, `TooManyCaps`) before anything is copied, every
//! byte of every buffer against the task's domain (`BadAddress`, through
//! [`Domain::copy_in`](crate::mem::domain::Domain::copy_in)), numbers that
//! must fit a narrower type (`OutOfRange`, `Malformed`), and then the
//! capabilities themselves, which the `Context` checks exactly as it does
//! for a ring-0 task (`InvalidCap`, `MissingRights`, `RightsEscalation`,
//! ...). A bad argument is an error value in `rax`; nothing here panics
//! or follows a task's pointer.

use mealy_caps::{Badge, CapRef, Rights};
use mealy_protocol::abi::{self, Syscall};
use mealy_protocol::{CallToken, Context, HandleError, IpcError, MAX_CAPS, MAX_PAYLOAD};

use super::task::{Granted, UserTask};
use crate::trap::TrapFrame;

/// Longest log line a task may write in one call.
pub const MAX_LOG: usize = 512;

/// What the upcall loop does after a system call.
pub(super) enum Outcome {
    /// Enter the task again with the result in its registers.
    Resume,
    /// The handler is finished, with this result.
    Done(Result<(), HandleError>),
}

fn handler_result(outcome: u64) -> Result<(), HandleError> {
    match outcome {
        abi::DONE_OK => Ok(()),
        abi::DONE_MALFORMED => Err(HandleError::Malformed(mealy_protocol::CodecError::Invalid)),
        // The runtime logged the error itself: nothing more to say.
        abi::DONE_FAILED => Ok(()),
        _ => Err(HandleError::Stopped),
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A message's capabilities, copied in from the task; its payload went
/// to the task's [`UserTask::payload`] buffer (`len` bytes).
struct Message {
    len: usize,
    caps: [CapRef; MAX_CAPS],
    cap_count: usize,
}

impl Message {
    fn caps(&self) -> &[CapRef] {
        &self.caps[..self.cap_count]
    }
}

fn copy_message(
    task: &mut UserTask<'_>,
    payload: u64,
    len: u64,
    caps: u64,
    cap_count: u64,
) -> Result<Message, IpcError> {
    if len > MAX_PAYLOAD as u64 {
        return Err(IpcError::PayloadTooLarge {
            len: saturate(len),
            max: MAX_PAYLOAD as u32,
        });
    }
    if cap_count > MAX_CAPS as u64 {
        return Err(IpcError::TooManyCaps {
            count: saturate(cap_count),
        });
    }
    let mut message = Message {
        len: len as usize,
        caps: [CapRef::from_raw(0); MAX_CAPS],
        cap_count: cap_count as usize,
    };
    if len > 0 {
        task.domain
            .copy_in(payload, &mut task.payload[..len as usize])
            .map_err(|_| IpcError::BadAddress)?;
    }
    if cap_count > 0 {
        let mut raw = [0u8; 8 * MAX_CAPS];
        task.domain
            .copy_in(caps, &mut raw[..8 * cap_count as usize])
            .map_err(|_| IpcError::BadAddress)?;
        for (cap, bytes) in message.caps.iter_mut().zip(raw.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            *cap = CapRef::from_raw(u64::from_le_bytes(word));
        }
        task.moved = message.caps;
        task.moved_count = message.cap_count;
    }
    Ok(message)
}

fn rights(bits: u64) -> Result<Rights, IpcError> {
    u8::try_from(bits)
        .ok()
        .and_then(Rights::from_bits)
        .ok_or(IpcError::Malformed)
}

/// A register access's width from its size in bytes (`abi::encode_width`).
fn width(bytes: u64) -> Result<mealy_protocol::mmio::Width, IpcError> {
    abi::decode_width(bytes).ok_or(IpcError::Malformed)
}

fn port_offset(offset: u64) -> Result<u16, IpcError> {
    u16::try_from(offset).map_err(|_| IpcError::OutOfRange {
        offset: saturate(offset),
        len: 0,
    })
}

/// Serves the system call in `frame` for `task`. The message-path calls
/// are here; the others in [`serve_other`], kept out of line so the
/// round trip does not pay for their setup.
pub(super) fn serve(
    task: &mut UserTask<'_>,
    cx: &mut dyn Context,
    frame: &mut TrapFrame,
) -> Outcome {
    let args = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
    ];
    let [a0, a1, a2, a3, a4, a5] = args;
    let cap = CapRef::from_raw;
    let Some(call) = Syscall::from_number(frame.rax) else {
        return resume(frame, Err(IpcError::UnknownSyscall));
    };
    let gives_up = gives_up_capabilities(call, a4);
    let was_current = gives_up && task.view_current(cx);
    if gives_up {
        task.moved_count = 0;
    }
    let result: Result<(u64, u64), IpcError> = match call {
        Syscall::Done => return Outcome::Done(handler_result(a0)),
        Syscall::Send => copy_message(task, a1, a2, a3, a4)
            .and_then(|message| cx.send(cap(a0), &task.payload[..message.len], message.caps()))
            .map(|()| (0, 0)),
        Syscall::Call if a5 == 0 => copy_message(task, a1, a2, a3, a4)
            .and_then(|message| cx.call(cap(a0), &task.payload[..message.len], message.caps()))
            .map(|token| (token.0, 0)),
        Syscall::Call => deferred_call(task, cx, args).map(|token| (token.0, 0)),
        Syscall::Reply => copy_message(task, a1, a2, a3, a4)
            .and_then(|message| cx.reply(cap(a0), &task.payload[..message.len], message.caps()))
            .map(|()| (0, 0)),
        Syscall::ReplyDone => {
            let result = copy_message(task, a1, a2, a3, a4).and_then(|message| {
                cx.reply(cap(a0), &task.payload[..message.len], message.caps())
            });
            if gives_up {
                forget_given_up(task, cx, call, a0, was_current);
            }
            return Outcome::Done(match result {
                Ok(()) => handler_result(a5),
                Err(error) => Err(HandleError::Ipc(error)),
            });
        }
        Syscall::CallDone => {
            let result = deferred_call(task, cx, args);
            if gives_up {
                forget_given_up(task, cx, call, a0, was_current);
            }
            return Outcome::Done(result.map(drop).map_err(HandleError::Ipc));
        }
        _ => serve_other(task, cx, call, args),
    };
    // A capability this task gave up (dropped, revoked, moved away in a
    // message) takes its Region out of the domain before the task runs
    // another instruction; others' revocations are caught before its
    // next upcall (one core: it cannot run meanwhile).
    if gives_up {
        forget_given_up(task, cx, call, a0, was_current);
    }
    resume(frame, result)
}

/// After `call`, which [`gives_up_capabilities`]: a drop or a message
/// can take away only the capabilities it names, so only mappings by
/// those are looked at again (if the rest were current before); a revoke
/// or a stop can reach anything, so every mapping is.
#[inline(never)]
fn forget_given_up(
    task: &mut UserTask<'_>,
    cx: &mut dyn Context,
    call: Syscall,
    a0: u64,
    was_current: bool,
) {
    match call {
        Syscall::Drop => task.forget_given_up(cx, &[CapRef::from_raw(a0)], was_current),
        Syscall::Send | Syscall::Call | Syscall::Reply | Syscall::ReplyDone | Syscall::CallDone => {
            let moved = task.moved;
            task.forget_given_up(cx, &moved[..task.moved_count], was_current);
        }
        _ => task.forget_revoked(cx),
    }
}

/// A deferred call (`Call` with a token in `r9`, or `CallDone`): made
/// only if the token the task handed out is the one the call takes; any
/// failure, that one included, is also the task's `CallFailed { NotSent }`
/// for that token, since the handler that deferred the call was told it
/// was made.
#[inline(always)]
fn deferred_call(
    task: &mut UserTask<'_>,
    cx: &mut dyn Context,
    [a0, a1, a2, a3, a4, a5]: [u64; 6],
) -> Result<CallToken, IpcError> {
    let token = CallToken(a5);
    let result = if cx.next_call_token() == Some(token) {
        copy_message(task, a1, a2, a3, a4).and_then(|message| {
            cx.call(
                CapRef::from_raw(a0),
                &task.payload[..message.len],
                message.caps(),
            )
        })
    } else {
        Err(IpcError::Malformed)
    };
    if let Err(error) = result {
        cx.fail_deferred_call(token, error);
    }
    result
}

/// Every system call off the message path.
#[inline(never)]
fn serve_other(
    task: &mut UserTask<'_>,
    cx: &mut dyn Context,
    call: Syscall,
    [a0, a1, a2, a3, a4, _]: [u64; 6],
) -> Result<(u64, u64), IpcError> {
    let cap = CapRef::from_raw;
    match call {
        Syscall::TaskId => Ok((u64::from(cx.task_id().0), 0)),
        Syscall::Mint => rights(a1)
            .and_then(|rights| cx.mint(cap(a0), rights, Badge::new(a2)))
            .map(|new| (new.to_raw(), 0)),
        Syscall::Copy => cx.copy(cap(a0)).map(|new| (new.to_raw(), 0)),
        Syscall::Drop => cx.drop_cap(cap(a0)).map(|()| (0, 0)),
        Syscall::Revoke => cx.revoke(cap(a0)).map(|count| (count as u64, 0)),
        Syscall::RevokeIn => cx
            .revoke_in(cap(a0), cap(a1))
            .map(|count| (count as u64, 0)),
        Syscall::StopTask => cx.stop_task(cap(a0)).map(|()| (0, 0)),
        Syscall::Inspect => inspect(task, cx, cap(a0), a1, (a2, a3)).map(|len| (len, 0)),
        Syscall::AllocRegion => task.alloc_region(cx, a0).map(|new| (new.to_raw(), 0)),
        Syscall::Subregion => rights(a3)
            .and_then(|rights| cx.subregion(cap(a0), a1, a2, rights))
            .map(|new| (new.to_raw(), 0)),
        Syscall::Region => map_region(task, cx, cap(a0), a1 != 0),
        Syscall::PortRead => port_offset(a1)
            .and_then(|offset| cx.port_read(cap(a0), offset))
            .map(|byte| (u64::from(byte), 0)),
        Syscall::PortWrite => port_offset(a1)
            .and_then(|offset| {
                let byte = u8::try_from(a2).map_err(|_| IpcError::Malformed)?;
                cx.port_write(cap(a0), offset, byte)
            })
            .map(|()| (0, 0)),
        Syscall::IrqAck => cx.irq_ack(cap(a0)).map(|()| (0, 0)),
        Syscall::SetTimer => cx.set_timer(cap(a0), a1).map(|()| (0, 0)),
        Syscall::NowNs => Ok((cx.now_ns(), 0)),
        Syscall::Log => log(task, cx, a0, a1).map(|()| (0, 0)),
        Syscall::Spawn => spawn(task, cx, cap(a0), (a1, a2), (a3, a4)).map(|new| (new.to_raw(), 0)),
        Syscall::RestartTask => cx.restart_task(cap(a0)).map(|()| (0, 0)),
        Syscall::Supervise => cx.supervise(cap(a0), cap(a1)).map(|()| (0, 0)),
        Syscall::MmioRead => width(a2)
            .and_then(|width| cx.mmio_read(cap(a0), a1, width))
            .map(|value| (value, 0)),
        Syscall::MmioWrite => width(a2)
            .and_then(|width| cx.mmio_write(cap(a0), a1, width, a3))
            .map(|()| (0, 0)),
        Syscall::RegionPhys => cx.region_phys(cap(a0), a1).map(|phys| (phys, 0)),
        Syscall::InjectFault => mealy_protocol::supervision::FaultKind::from_number(a1)
            .ok_or(IpcError::Malformed)
            .and_then(|kind| cx.inject_fault(cap(a0), kind))
            .map(|()| (0, 0)),
        // Served by `serve` itself.
        Syscall::Done
        | Syscall::Send
        | Syscall::Call
        | Syscall::Reply
        | Syscall::ReplyDone
        | Syscall::CallDone => Err(IpcError::UnknownSyscall),
    }
}

/// Whether `call` (with `cap_count` its fifth argument where it moves
/// capabilities) can delete capabilities of the caller's.
fn gives_up_capabilities(call: Syscall, cap_count: u64) -> bool {
    match call {
        Syscall::Drop | Syscall::Revoke | Syscall::RevokeIn | Syscall::StopTask => true,
        Syscall::Send | Syscall::Call | Syscall::Reply | Syscall::ReplyDone | Syscall::CallDone => {
            cap_count > 0
        }
        _ => false,
    }
}

/// Writes `result` into the task's registers and clears the rest of the
/// caller-saved ones, so no kernel value leaks.
fn resume(frame: &mut TrapFrame, result: Result<(u64, u64), IpcError>) -> Outcome {
    let (rax, rdx, rsi) = match result {
        Ok((first, second)) => (0, first, second),
        Err(error) => {
            let (code, detail) = abi::encode_error(error);
            (code, detail, 0)
        }
    };
    frame.rax = rax;
    frame.rdx = rdx;
    frame.rsi = rsi;
    frame.rdi = 0;
    frame.r8 = 0;
    frame.r9 = 0;
    frame.r10 = 0;
    Outcome::Resume
}

fn map_region(
    task: &mut UserTask<'_>,
    cx: &mut dyn Context,
    cap: CapRef,
    writable: bool,
) -> Result<(u64, u64), IpcError> {
    let (base, len) = if writable {
        cx.region_mut(cap)
            .map(|bytes| (bytes.as_ptr() as u64, bytes.len() as u64))?
    } else {
        cx.region(cap)
            .map(|bytes| (bytes.as_ptr() as u64, bytes.len() as u64))?
    };
    task.map_granted(Granted {
        cap,
        base,
        len,
        writable,
    })?;
    Ok((base, len))
}

fn log(task: &UserTask<'_>, cx: &mut dyn Context, text: u64, len: u64) -> Result<(), IpcError> {
    if len > MAX_LOG as u64 {
        return Err(IpcError::PayloadTooLarge {
            len: saturate(len),
            max: MAX_LOG as u32,
        });
    }
    let mut bytes = [0u8; MAX_LOG];
    let bytes = &mut bytes[..len as usize];
    task.domain
        .copy_in(text, bytes)
        .map_err(|_| IpcError::BadAddress)?;
    cx.log(format_args!(
        "{}",
        alloc::string::String::from_utf8_lossy(bytes)
    ));
    Ok(())
}

/// `Inspect`: the report, postcard-encoded, into the task's buffer
/// `out` of `out_len` bytes if it fits (see `abi::Syscall::Inspect`).
fn inspect(
    task: &UserTask<'_>,
    cx: &mut dyn Context,
    inspect: CapRef,
    query: u64,
    (out, out_len): (u64, u64),
) -> Result<u64, IpcError> {
    let query = abi::inspect_query(query).ok_or(IpcError::Malformed)?;
    let report = cx.inspect(inspect, query)?;
    let bytes = report.encode().map_err(|_| IpcError::OutOfResources)?;
    let len = bytes.len() as u64;
    if len > out_len {
        return Err(IpcError::PayloadTooLarge {
            len: saturate(len),
            max: saturate(out_len),
        });
    }
    task.domain
        .copy_out(out, &bytes)
        .map_err(|_| IpcError::BadAddress)?;
    Ok(len)
}

/// Most grants one `Spawn` carries (the kernel's own limit).
const MAX_GRANTS: usize = crate::sched::MAX_SPAWN_GRANTS;

fn spawn(
    task: &UserTask<'_>,
    cx: &mut dyn Context,
    program: CapRef,
    (name, name_len): (u64, u64),
    (grants, grant_count): (u64, u64),
) -> Result<CapRef, IpcError> {
    if name_len > super::names::MAX_NAME as u64 {
        return Err(IpcError::Malformed);
    }
    if grant_count > MAX_GRANTS as u64 {
        return Err(IpcError::TooManyCaps {
            count: saturate(grant_count),
        });
    }
    let mut name_bytes = [0u8; super::names::MAX_NAME];
    let name_bytes = &mut name_bytes[..name_len as usize];
    task.domain
        .copy_in(name, name_bytes)
        .map_err(|_| IpcError::BadAddress)?;
    let name = core::str::from_utf8(name_bytes).map_err(|_| IpcError::Malformed)?;
    let mut records = [[0u8; abi::GRANT_RECORD]; MAX_GRANTS];
    let records = &mut records[..grant_count as usize];
    for (index, record) in records.iter_mut().enumerate() {
        let at = grants.saturating_add((index * abi::GRANT_RECORD) as u64);
        task.domain
            .copy_in(at, record)
            .map_err(|_| IpcError::BadAddress)?;
    }
    let mut decoded: [(&str, CapRef); MAX_GRANTS] = [("", CapRef::from_raw(0)); MAX_GRANTS];
    for (slot, record) in decoded.iter_mut().zip(records.iter()) {
        *slot = abi::decode_grant(record).ok_or(IpcError::Malformed)?;
    }
    cx.spawn(program, name, &decoded[..grant_count as usize])
}
