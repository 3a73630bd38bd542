//! The system-call ABI between a ring-3 task and the kernel, in one place:
//! the numbers, the registers, the message page, the error codes. The
//! kernel (`kernel/src/program/syscall.rs`) and the user runtime
//! (`user/runtime`) both build on this module, so they cannot disagree.
//!
//! # Registers
//!
//! A task enters the kernel with the `syscall` instruction:
//!
//! | register | in | out |
//! |---|---|---|
//! | `rax` | the [`Syscall`] number | 0 for success, else an error code ([`encode_error`]) |
//! | `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9` | arguments 0 to 5 | `rdx`: the result; `rsi`: a second result; `rdx` again: an error's detail |
//! | `rcx`, `r11` | | clobbered (the CPU's return address and flags) |
//!
//! `rbx`, `rbp`, `r12` to `r15` and `rsp` are preserved; every other
//! general-purpose register comes back zeroed or holding a result, never a
//! kernel value. Pointers are plain addresses in the one address space;
//! the kernel checks that each byte lies in a page the task's domain maps
//! for user access (writable where the kernel writes), and a bad one is
//! [`IpcError::BadAddress`], never a fault. CapRefs are
//! [`CapRef::to_raw`] values; a forged or stale one is `InvalidCap`.
//!
//! # Upcall and done
//!
//! A task holds no registers between messages. To deliver one, the kernel
//! writes it into the task's message page (read-only to the task) and
//! enters the program's entry point with a fresh stack: `rdi` holds the
//! message page's address, `rsp` the top of the stack (16-byte aligned,
//! minus 8, as after a `call`). The handler ends with [`Syscall::Done`],
//! or with [`Syscall::ReplyDone`] / [`Syscall::CallDone`], which answer
//! or call and end the handler in one crossing. Returning from the entry
//! point is a fault.
//!
//! The first upcall has kind [`UPCALL_START`]: its payload lists the
//! task's named grants ([`encode_grant`]).
//!
//! # The message page
//!
//! One 4 KiB page; all fields little-endian at fixed offsets ([`page`]).

use mealy_caps::{CapRef, ObjectKind, Rights};

use crate::error::IpcError;

/// System-call numbers (`rax`). Arguments are listed in register order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
pub enum Syscall {
    /// `(outcome)`: the handler is finished ([`DONE_OK`] and the other
    /// `DONE_*` outcomes). Never returns.
    Done = 0,
    /// `() -> task id`.
    TaskId = 1,
    /// `(to, payload, payload_len, caps, caps_len)`. `caps` points at
    /// `caps_len` raw CapRefs (`u64`).
    Send = 2,
    /// As `Send`, with `r9` 0; `-> call token`. A *deferred* call has in
    /// `r9` the token the caller already handed out (nonzero; the page's
    /// [`page::NEXT_TOKEN`], counted on): it is made only if that is the
    /// token it would take, and any failure (the call's error, a wrong
    /// token) also comes back as a `CallFailed { NotSent }` message
    /// with that token ([`Context::fail_deferred_call`](crate::Context::fail_deferred_call)).
    Call = 3,
    /// `(reply, payload, payload_len, caps, caps_len)`.
    Reply = 4,
    /// `(cap, rights bits, badge or 0) -> CapRef`.
    Mint = 5,
    /// `(cap) -> CapRef`.
    Copy = 6,
    /// `(cap)`.
    Drop = 7,
    /// `(cap) -> count revoked`.
    Revoke = 8,
    /// `(task, slot) -> count revoked`.
    RevokeIn = 9,
    /// `(task)`.
    StopTask = 10,
    /// `(inspect, query, out, out_len) -> bytes written`: `query` is an
    /// [`InspectQuery`] number (another is `Malformed`); the report is
    /// written postcard-encoded. One longer than `out_len` is
    /// `PayloadTooLarge { len: its length, max: out_len }`, and nothing
    /// is written: ask again with room for `len`.
    Inspect = 11,
    /// `(len) -> CapRef` to a fresh zeroed region.
    AllocRegion = 12,
    /// `(cap, offset, len, rights bits) -> CapRef`.
    Subregion = 13,
    /// `(cap, writable 0 or 1) -> address, length`: maps the region into
    /// the caller's domain (read-only unless `writable`, which needs
    /// WRITE) and returns where it is.
    Region = 14,
    /// `(device, offset) -> byte`.
    PortRead = 15,
    /// `(device, offset, byte)`.
    PortWrite = 16,
    /// `(irq)`.
    IrqAck = 17,
    /// `(timer, after_ns)`.
    SetTimer = 18,
    /// `() -> nanoseconds since boot`.
    NowNs = 19,
    /// `(text, len)`: one log line (UTF-8; invalid bytes are replaced).
    Log = 20,
    /// As `Reply`, then `Done` with the outcome in `r9`. A failed reply
    /// is logged by the kernel.
    ReplyDone = 21,
    /// A deferred `Call` (`r9` the token handed out), then `Done` with
    /// `DONE_OK`. A failed call is logged, and the caller gets its
    /// `CallFailed { NotSent }`.
    CallDone = 22,
    /// `(program, name, name_len, grants, grants_len) -> Task CapRef`:
    /// starts the static-PIE ELF in the Region `program` as a new ring-3
    /// task. `grants` points at `grants_len` [`GRANT_RECORD`]-byte
    /// records ([`encode_grant`]): each a copy of a capability of the
    /// caller's (which needs GRANT on it), named for the new task.
    Spawn = 23,
    /// `(task)`: `Context::restart_task`.
    RestartTask = 24,
    /// `(task, endpoint)`: `Context::supervise`.
    Supervise = 25,
    /// `(device, offset, width) -> value`: `Context::mmio_read`. `width`
    /// is the access's size in bytes ([`encode_width`]: 1, 2, 4 or 8;
    /// another is `Malformed`).
    MmioRead = 26,
    /// `(device, offset, width, value)`: `Context::mmio_write`, `width`
    /// as for `MmioRead`.
    MmioWrite = 27,
    /// `(region, offset) -> physical address`: `Context::region_phys`.
    RegionPhys = 28,
    /// `(task, kind)`: `Context::inject_fault`; `kind` is a
    /// [`FaultKind`](crate::supervision::FaultKind) number (another is
    /// `Malformed`).
    InjectFault = 29,
}

impl Syscall {
    /// Every call, in number order.
    pub const ALL: [Syscall; 30] = [
        Syscall::Done,
        Syscall::TaskId,
        Syscall::Send,
        Syscall::Call,
        Syscall::Reply,
        Syscall::Mint,
        Syscall::Copy,
        Syscall::Drop,
        Syscall::Revoke,
        Syscall::RevokeIn,
        Syscall::StopTask,
        Syscall::Inspect,
        Syscall::AllocRegion,
        Syscall::Subregion,
        Syscall::Region,
        Syscall::PortRead,
        Syscall::PortWrite,
        Syscall::IrqAck,
        Syscall::SetTimer,
        Syscall::NowNs,
        Syscall::Log,
        Syscall::ReplyDone,
        Syscall::CallDone,
        Syscall::Spawn,
        Syscall::RestartTask,
        Syscall::Supervise,
        Syscall::MmioRead,
        Syscall::MmioWrite,
        Syscall::RegionPhys,
        Syscall::InjectFault,
    ];

    /// The call numbered `number`, if there is one. Numbers may have gaps:
    /// a call is usually at its own index in [`Syscall::ALL`], and looked
    /// for past that only when not.
    pub fn from_number(number: u64) -> Option<Syscall> {
        let index = usize::try_from(number).ok()?;
        Self::ALL
            .get(index)
            .copied()
            .filter(|&call| call as u64 == number)
    }
}

/// A register access's [`Width`](crate::mmio::Width) as `MmioRead`'s and
/// `MmioWrite`'s `width` argument: its size in bytes.
pub fn encode_width(width: crate::mmio::Width) -> u64 {
    width.bytes()
}

/// The width [`encode_width`] wrote; `None` for any other number.
pub fn decode_width(bytes: u64) -> Option<crate::mmio::Width> {
    use crate::mmio::Width;
    [Width::U8, Width::U16, Width::U32, Width::U64]
        .into_iter()
        .find(|width| width.bytes() == bytes)
}

/// How a handler ended ([`Syscall::Done`]'s argument): as a ring-0
/// handler's `Ok(())`, `Err(Malformed)` (the caller gets `CallFailed
/// { Malformed }`), `Err(Ipc)` (the runtime logs it), or a panic or
/// `Err(Fatal)` (logged by the runtime too): the task is stopped. Any
/// other value counts as fatal.
pub const DONE_OK: u64 = 0;
pub const DONE_MALFORMED: u64 = 1;
pub const DONE_FAILED: u64 = 2;
pub const DONE_FATAL: u64 = 3;

/// Upcall kinds (the message page's `kind`).
pub const UPCALL_START: u32 = 0;
pub const UPCALL_REQUEST: u32 = 1;
pub const UPCALL_REPLY: u32 = 2;
pub const UPCALL_CALL_FAILED: u32 = 3;
pub const UPCALL_INTERRUPT: u32 = 4;
pub const UPCALL_TIMEOUT: u32 = 5;
/// `MessageKind::TaskExited`: `detail` is the task id, `token` the
/// fault's address, and [`page::CAUSE`] the cause ([`encode_cause`]).
pub const UPCALL_TASK_EXITED: u32 = 6;
/// `MessageKind::InjectFault`: `detail` is the
/// [`FaultKind`](crate::supervision::FaultKind) number. The runtime
/// commits that fault itself; the program's handler never sees it.
pub const UPCALL_INJECT_FAULT: u32 = 7;

/// An [`ExitCause`](crate::inspect::ExitCause) as the message page's
/// The `CAUSE` word of a `CallFailed` upcall with [`FAILED_NOT_SENT`]: the
/// error's code in the low byte, its detail in the next
/// ([`CallFailure::NotSent`](crate::CallFailure::NotSent)).
pub fn encode_not_sent(code: u8, detail: u8) -> u32 {
    u32::from(code) | (u32::from(detail) << 8)
}

/// The code and detail [`encode_not_sent`] wrote.
pub fn decode_not_sent(word: u32) -> (u8, u8) {
    (word as u8, (word >> 8) as u8)
}

/// `CAUSE` word: the kind in the low byte, an exception's vector above.
pub fn encode_cause(cause: crate::inspect::ExitCause) -> u32 {
    use crate::inspect::ExitCause;
    match cause {
        ExitCause::Stopped => 0,
        ExitCause::Exception { vector } => 1 | (u32::from(vector) << 8),
        ExitCause::OverBudget => 2,
        ExitCause::Fatal => 3,
        ExitCause::BadFrame => 4,
    }
}

/// The cause [`encode_cause`] wrote; `None` for any other word.
pub fn decode_cause(word: u32) -> Option<crate::inspect::ExitCause> {
    use crate::inspect::ExitCause;
    let vector = u8::try_from(word >> 8).ok()?;
    Some(match (word & 0xff, vector) {
        (0, 0) => ExitCause::Stopped,
        (1, vector) => ExitCause::Exception { vector },
        (2, 0) => ExitCause::OverBudget,
        (3, 0) => ExitCause::Fatal,
        (4, 0) => ExitCause::BadFrame,
        _ => return None,
    })
}

/// `CallFailed`'s reason in the page's `detail`.
pub const FAILED_MALFORMED: u32 = 0;
pub const FAILED_PEER_DIED: u32 = 1;
pub const FAILED_DROPPED: u32 = 2;
pub const FAILED_NOT_SENT: u32 = 3;

/// Field offsets in the message page.
pub mod page {
    /// `u32`: `UPCALL_*`.
    pub const KIND: usize = 0;
    /// `u32`: the interrupt line, or the `FAILED_*` reason.
    pub const DETAIL: usize = 4;
    /// `u64`: the call token of a reply or failed call.
    pub const TOKEN: usize = 8;
    /// `u64`: the badge, 0 for none.
    pub const BADGE: usize = 16;
    /// `u64`: the Reply CapRef, [`super::NO_CAP`] for none.
    pub const REPLY: usize = 24;
    /// `u32`: how many of `CAPS` are valid.
    pub const CAP_COUNT: usize = 32;
    /// `u32`: payload bytes.
    pub const PAYLOAD_LEN: usize = 36;
    /// `[u64; MAX_CAPS]` (`crate::MAX_CAPS`): transferred CapRefs.
    pub const CAPS: usize = 40;
    /// `u32`: a `TaskExited` notice's cause (`super::encode_cause`), or
    /// a `NotSent` call's error (`super::encode_not_sent`); after the
    /// CAPS array.
    pub const CAUSE: usize = CAPS + 8 * crate::MAX_CAPS;
    /// `u64`: the token the task's next call will take, as the upcall
    /// starts (`Context::next_call_token`; 0 if the kernel cannot say).
    /// A runtime that defers a call to the handler's end
    /// ([`super::Syscall::CallDone`]) hands this token out at once.
    pub const NEXT_TOKEN: usize = CAUSE + 8;
    /// The payload, up to [`crate::MAX_PAYLOAD`] bytes: it starts on the
    /// page after the header, so the two pages hold a whole message.
    pub const PAYLOAD: usize = 4096;
    /// The whole area: a header page and a payload page.
    pub const LEN: usize = 8192;
}

/// "No capability" in a CapRef field: no CapRef has every bit set.
pub const NO_CAP: u64 = u64::MAX;

/// A grant record for [`Syscall::Spawn`] and the start upcall: a name of
/// at most [`GRANT_NAME`] bytes (zero-padded) and a raw CapRef.
pub const GRANT_NAME: usize = 24;
pub const GRANT_RECORD: usize = GRANT_NAME + 8;

/// Writes one grant record; `None` if `name` is empty or too long.
pub fn encode_grant(name: &str, cap: CapRef) -> Option<[u8; GRANT_RECORD]> {
    if name.is_empty() || name.len() > GRANT_NAME {
        return None;
    }
    let mut record = [0u8; GRANT_RECORD];
    record[..name.len()].copy_from_slice(name.as_bytes());
    record[GRANT_NAME..].copy_from_slice(&cap.to_raw().to_le_bytes());
    Some(record)
}

/// Reads one grant record; `None` if the name is empty or not UTF-8.
pub fn decode_grant(record: &[u8; GRANT_RECORD]) -> Option<(&str, CapRef)> {
    let name = &record[..GRANT_NAME];
    let len = name.iter().position(|&b| b == 0).unwrap_or(GRANT_NAME);
    let name = core::str::from_utf8(&name[..len]).ok()?;
    if name.is_empty() {
        return None;
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&record[GRANT_NAME..]);
    Some((name, CapRef::from_raw(u64::from_le_bytes(raw))))
}

/// `Syscall::Inspect`'s query numbers.
pub const INSPECT_TASKS: u64 = 0;
pub const INSPECT_GRAPH: u64 = 1;
pub const INSPECT_MEMORY: u64 = 2;
pub const INSPECT_STATS: u64 = 3;
pub const INSPECT_BENCH: u64 = 4;
/// The [`crate::inspect::Query`] an inspect number names.
pub type InspectQuery = u64;

/// The number `Syscall::Inspect` passes for `query`.
pub fn inspect_number(query: crate::inspect::Query) -> InspectQuery {
    use crate::inspect::Query;
    match query {
        Query::Tasks => INSPECT_TASKS,
        Query::Graph => INSPECT_GRAPH,
        Query::Memory => INSPECT_MEMORY,
        Query::Stats => INSPECT_STATS,
        Query::Bench => INSPECT_BENCH,
    }
}

/// The query an inspect number names, if any.
pub fn inspect_query(number: InspectQuery) -> Option<crate::inspect::Query> {
    use crate::inspect::Query;
    Some(match number {
        INSPECT_TASKS => Query::Tasks,
        INSPECT_GRAPH => Query::Graph,
        INSPECT_MEMORY => Query::Memory,
        INSPECT_STATS => Query::Stats,
        INSPECT_BENCH => Query::Bench,
        _ => return None,
    })
}

/// Error codes (`rax` on failure) and their detail (`rdx`).
const E_MAILBOX_FULL: u64 = 1;
const E_DEAD_TASK: u64 = 2;
const E_INVALID_CAP: u64 = 3;
const E_MISSING_RIGHTS: u64 = 4;
const E_WRONG_KIND: u64 = 5;
const E_RIGHTS_ESCALATION: u64 = 6;
const E_ALREADY_BADGED: u64 = 7;
const E_PAYLOAD_TOO_LARGE: u64 = 8;
const E_TOO_MANY_CAPS: u64 = 9;
const E_DUPLICATE_CAP: u64 = 10;
const E_NO_ROOM: u64 = 11;
const E_OUT_OF_RESOURCES: u64 = 12;
const E_MALFORMED: u64 = 13;
const E_OUT_OF_RANGE: u64 = 14;
const E_UNSUPPORTED: u64 = 15;
const E_BAD_ADDRESS: u64 = 16;
const E_UNKNOWN_SYSCALL: u64 = 17;

const KINDS: [ObjectKind; 8] = [
    ObjectKind::Endpoint,
    ObjectKind::Reply,
    ObjectKind::Region,
    ObjectKind::Device,
    ObjectKind::Irq,
    ObjectKind::Timer,
    ObjectKind::Inspect,
    ObjectKind::Task,
];

fn pair(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}

/// `error` as (`rax`, `rdx`).
pub fn encode_error(error: IpcError) -> (u64, u64) {
    match error {
        IpcError::MailboxFull => (E_MAILBOX_FULL, 0),
        IpcError::DeadTask => (E_DEAD_TASK, 0),
        IpcError::InvalidCap => (E_INVALID_CAP, 0),
        IpcError::MissingRights { missing } => (E_MISSING_RIGHTS, u64::from(missing.bits())),
        IpcError::WrongKind { found } => (
            E_WRONG_KIND,
            KINDS.iter().position(|&k| k == found).unwrap_or(0) as u64,
        ),
        IpcError::RightsEscalation { excess } => (E_RIGHTS_ESCALATION, u64::from(excess.bits())),
        IpcError::AlreadyBadged => (E_ALREADY_BADGED, 0),
        IpcError::PayloadTooLarge { len, max } => (E_PAYLOAD_TOO_LARGE, pair(len, max)),
        IpcError::TooManyCaps { count } => (E_TOO_MANY_CAPS, u64::from(count)),
        IpcError::DuplicateCap => (E_DUPLICATE_CAP, 0),
        IpcError::NoRoom => (E_NO_ROOM, 0),
        IpcError::OutOfResources => (E_OUT_OF_RESOURCES, 0),
        IpcError::Malformed => (E_MALFORMED, 0),
        IpcError::OutOfRange { offset, len } => (E_OUT_OF_RANGE, pair(offset, len)),
        IpcError::Unsupported => (E_UNSUPPORTED, 0),
        IpcError::BadAddress => (E_BAD_ADDRESS, 0),
        IpcError::UnknownSyscall => (E_UNKNOWN_SYSCALL, 0),
    }
}

/// The error (`rax`, `rdx`) encode; `None` for 0 (success). An unknown
/// code reads as `Unsupported`.
pub fn decode_error(code: u64, detail: u64) -> Option<IpcError> {
    let high = (detail >> 32) as u32;
    let low = detail as u32;
    Some(match code {
        0 => return None,
        E_MAILBOX_FULL => IpcError::MailboxFull,
        E_DEAD_TASK => IpcError::DeadTask,
        E_INVALID_CAP => IpcError::InvalidCap,
        E_MISSING_RIGHTS => IpcError::MissingRights {
            missing: Rights::from_bits_truncate(detail as u8),
        },
        E_WRONG_KIND => IpcError::WrongKind {
            found: KINDS
                .get(usize::try_from(detail).unwrap_or(0))
                .copied()
                .unwrap_or(ObjectKind::Endpoint),
        },
        E_RIGHTS_ESCALATION => IpcError::RightsEscalation {
            excess: Rights::from_bits_truncate(detail as u8),
        },
        E_ALREADY_BADGED => IpcError::AlreadyBadged,
        E_PAYLOAD_TOO_LARGE => IpcError::PayloadTooLarge {
            len: high,
            max: low,
        },
        E_TOO_MANY_CAPS => IpcError::TooManyCaps { count: low },
        E_DUPLICATE_CAP => IpcError::DuplicateCap,
        E_NO_ROOM => IpcError::NoRoom,
        E_OUT_OF_RESOURCES => IpcError::OutOfResources,
        E_MALFORMED => IpcError::Malformed,
        E_OUT_OF_RANGE => IpcError::OutOfRange {
            offset: high,
            len: low,
        },
        E_BAD_ADDRESS => IpcError::BadAddress,
        E_UNKNOWN_SYSCALL => IpcError::UnknownSyscall,
        _ => IpcError::Unsupported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_numbers_round_trip_and_others_name_nothing() {
        use crate::inspect::Query;
        for query in [
            Query::Tasks,
            Query::Graph,
            Query::Memory,
            Query::Stats,
            Query::Bench,
        ] {
            assert_eq!(inspect_query(inspect_number(query)), Some(query));
        }
        assert_eq!(inspect_query(5), None);
        assert_eq!(inspect_query(u64::MAX), None);
    }

    #[test]
    fn every_call_is_found_by_its_number_in_order_and_others_are_none() {
        for call in Syscall::ALL {
            assert_eq!(Syscall::from_number(call as u64), Some(call));
        }
        assert!(
            Syscall::ALL
                .windows(2)
                .all(|w| (w[0] as u64) < (w[1] as u64))
        );
        assert_eq!(
            Syscall::from_number(Syscall::InjectFault as u64),
            Some(Syscall::InjectFault)
        );
        for gap in [Syscall::ALL.len() as u64, 30, u64::MAX] {
            assert_eq!(Syscall::from_number(gap), None);
        }
    }

    #[test]
    fn widths_are_their_size_in_bytes_and_other_numbers_name_none() {
        use crate::mmio::Width;
        for width in [Width::U8, Width::U16, Width::U32, Width::U64] {
            assert_eq!(decode_width(encode_width(width)), Some(width));
        }
        for bad in [0, 3, 5, 16, u64::MAX] {
            assert_eq!(decode_width(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_exit_cause_survives_the_page_and_other_words_name_none() {
        use crate::inspect::ExitCause;
        let causes = [
            ExitCause::Stopped,
            ExitCause::Exception { vector: 0 },
            ExitCause::Exception { vector: 14 },
            ExitCause::Exception { vector: 255 },
            ExitCause::OverBudget,
            ExitCause::Fatal,
            ExitCause::BadFrame,
        ];
        for cause in causes {
            assert_eq!(decode_cause(encode_cause(cause)), Some(cause));
        }
        for word in [5, 0x100, 0x203, 0x1_0001, u32::MAX] {
            assert_eq!(decode_cause(word), None, "{word:#x}");
        }
    }

    #[test]
    fn every_error_survives_the_registers() {
        let errors = [
            IpcError::MailboxFull,
            IpcError::DeadTask,
            IpcError::InvalidCap,
            IpcError::MissingRights {
                missing: Rights::WRITE | Rights::GRANT,
            },
            IpcError::WrongKind {
                found: ObjectKind::Timer,
            },
            IpcError::RightsEscalation {
                excess: Rights::EXEC,
            },
            IpcError::AlreadyBadged,
            IpcError::PayloadTooLarge {
                len: 5000,
                max: 4096,
            },
            IpcError::TooManyCaps { count: 9 },
            IpcError::DuplicateCap,
            IpcError::NoRoom,
            IpcError::OutOfResources,
            IpcError::Malformed,
            IpcError::OutOfRange {
                offset: 7,
                len: 4096,
            },
            IpcError::Unsupported,
            IpcError::BadAddress,
            IpcError::UnknownSyscall,
        ];
        for error in errors {
            let (code, detail) = encode_error(error);
            assert_ne!(code, 0, "{error:?} must not read as success");
            assert_eq!(decode_error(code, detail), Some(error));
        }
        assert_eq!(decode_error(0, 99), None);
        assert_eq!(decode_error(999, 0), Some(IpcError::Unsupported));
    }

    #[test]
    fn grant_records_round_trip_and_refuse_bad_names() {
        let cap = CapRef::from_raw(0x0000_0002_0000_0005);
        let record = encode_grant("console", cap).unwrap();
        assert_eq!(decode_grant(&record), Some(("console", cap)));
        assert!(encode_grant("", cap).is_none());
        assert!(encode_grant(&"x".repeat(GRANT_NAME + 1), cap).is_none());
        let full = "y".repeat(GRANT_NAME);
        let record = encode_grant(&full, cap).unwrap();
        assert_eq!(decode_grant(&record), Some((full.as_str(), cap)));
        let mut bad = record;
        bad[0] = 0xff;
        assert_eq!(decode_grant(&bad), None);
        assert_eq!(decode_grant(&[0; GRANT_RECORD]), None);
    }
}
