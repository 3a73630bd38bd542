//! Reading the message area the kernel writes before each upcall
//! (`abi::page`): the header page (kind, detail, token, badge, reply,
//! capabilities, payload length) and the payload page.
//!
//! Pure code over a byte array, so it is tested on the host. The area
//! comes from the kernel and is trusted to be mapped, but not to be
//! well-formed: every field is checked, and a bad one is a [`PageError`],
//! never a panic or an out-of-bounds read. The runtime treats a bad page
//! as a kernel bug it cannot work around: it logs the error and ends the
//! handler with `DONE_FATAL` (see `entry.rs`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use mealy_protocol::abi::{self, page};
use mealy_protocol::{
    Badge, CallFailure, CallToken, CapList, CapRef, Envelope, Grant, MAX_CAPS, MAX_PAYLOAD,
    MessageKind, TaskId,
};

/// The whole message area: a header page and a payload page.
pub type Area = [u8; page::LEN];

/// What one upcall delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upcall<'a> {
    /// The first upcall: the grant records, still encoded.
    Start { records: &'a [u8] },
    /// Any later message.
    Message {
        kind: MessageKind,
        envelope: Envelope,
        payload: &'a [u8],
    },
}

/// Why a message area could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    UnknownKind(u32),
    UnknownFailure(u32),
    BadInterruptLine(u32),
    TooManyCaps(u32),
    PayloadTooLarge(u32),
    /// The start payload is not a whole number of grant records.
    GrantsTruncated(usize),
    /// Grant record `index` has an empty or non-UTF-8 name.
    BadGrant(usize),
    /// A `TaskExited` notice's cause word names no cause.
    UnknownCause(u32),
    /// An `InjectFault` notice names no fault kind.
    UnknownFault(u32),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind(kind) => write!(f, "unknown upcall kind {kind}"),
            Self::UnknownFailure(reason) => write!(f, "unknown call failure {reason}"),
            Self::BadInterruptLine(line) => write!(f, "interrupt line {line} out of range"),
            Self::TooManyCaps(count) => write!(f, "{count} capabilities (at most {MAX_CAPS})"),
            Self::PayloadTooLarge(len) => {
                write!(f, "payload of {len} bytes (at most {MAX_PAYLOAD})")
            }
            Self::GrantsTruncated(len) => {
                write!(f, "start payload of {len} bytes is not whole grant records")
            }
            Self::BadGrant(index) => write!(f, "grant record {index} has a bad name"),
            Self::UnknownCause(word) => write!(f, "unknown exit cause {word:#x}"),
            Self::UnknownFault(kind) => write!(f, "unknown fault kind {kind}"),
        }
    }
}

fn u32_at(area: &Area, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&area[offset..offset + 4]);
    u32::from_le_bytes(bytes)
}

fn u64_at(area: &Area, offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&area[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

/// The token the handler's next call takes (`page::NEXT_TOKEN`); 0 if
/// the kernel did not say.
pub fn next_token(area: &Area) -> u64 {
    u64_at(area, page::NEXT_TOKEN)
}

/// Reads the upcall in `area`.
pub fn decode(area: &Area) -> Result<Upcall<'_>, PageError> {
    let kind = u32_at(area, page::KIND);
    let detail = u32_at(area, page::DETAIL);
    let len = u32_at(area, page::PAYLOAD_LEN);
    if len as usize > MAX_PAYLOAD {
        return Err(PageError::PayloadTooLarge(len));
    }
    let payload = &area[page::PAYLOAD..page::PAYLOAD + len as usize];
    let token = CallToken(u64_at(area, page::TOKEN));
    let kind = match kind {
        abi::UPCALL_START => return Ok(Upcall::Start { records: payload }),
        abi::UPCALL_REQUEST => MessageKind::Request,
        abi::UPCALL_REPLY => MessageKind::Reply { token },
        abi::UPCALL_CALL_FAILED => MessageKind::CallFailed {
            token,
            reason: match detail {
                abi::FAILED_MALFORMED => CallFailure::Malformed,
                abi::FAILED_PEER_DIED => CallFailure::PeerDied,
                abi::FAILED_DROPPED => CallFailure::Dropped,
                abi::FAILED_NOT_SENT => {
                    let (code, detail) = abi::decode_not_sent(u32_at(area, page::CAUSE));
                    CallFailure::NotSent { code, detail }
                }
                other => return Err(PageError::UnknownFailure(other)),
            },
        },
        abi::UPCALL_INTERRUPT => MessageKind::Interrupt {
            line: u8::try_from(detail).map_err(|_| PageError::BadInterruptLine(detail))?,
        },
        abi::UPCALL_TIMEOUT => MessageKind::Timeout,
        abi::UPCALL_TASK_EXITED => {
            let word = u32_at(area, page::CAUSE);
            MessageKind::TaskExited {
                task: TaskId(detail),
                cause: abi::decode_cause(word).ok_or(PageError::UnknownCause(word))?,
                address: token.0,
            }
        }
        abi::UPCALL_INJECT_FAULT => MessageKind::InjectFault {
            kind: mealy_protocol::supervision::FaultKind::from_number(u64::from(detail))
                .ok_or(PageError::UnknownFault(detail))?,
        },
        other => return Err(PageError::UnknownKind(other)),
    };
    let count = u32_at(area, page::CAP_COUNT);
    if count as usize > MAX_CAPS {
        return Err(PageError::TooManyCaps(count));
    }
    let mut refs = [CapRef::from_raw(0); MAX_CAPS];
    for (index, slot) in refs.iter_mut().enumerate().take(count as usize) {
        *slot = CapRef::from_raw(u64_at(area, page::CAPS + 8 * index));
    }
    let caps =
        CapList::from_slice(&refs[..count as usize]).map_err(|_| PageError::TooManyCaps(count))?;
    let reply = match u64_at(area, page::REPLY) {
        abi::NO_CAP => None,
        raw => Some(CapRef::from_raw(raw)),
    };
    let envelope = Envelope {
        badge: Badge::new(u64_at(area, page::BADGE)),
        reply,
        caps,
        // At most MAX_PAYLOAD, checked above.
        len: len as u16,
    };
    Ok(Upcall::Message {
        kind,
        envelope,
        payload,
    })
}

/// The grants in a start upcall's `records`. `Grant` names are
/// `&'static str`, and the area is rewritten by the next upcall, so the
/// records are copied once into a leaked heap buffer that the names
/// borrow: one allocation per task, made once.
pub fn decode_grants(records: &[u8]) -> Result<Vec<Grant>, PageError> {
    if !records.len().is_multiple_of(abi::GRANT_RECORD) {
        return Err(PageError::GrantsTruncated(records.len()));
    }
    let kept: &'static [u8] = Box::leak(records.to_vec().into_boxed_slice());
    let mut grants = Vec::with_capacity(kept.len() / abi::GRANT_RECORD);
    for (index, record) in kept.chunks_exact(abi::GRANT_RECORD).enumerate() {
        let record: &'static [u8; abi::GRANT_RECORD] =
            record.try_into().map_err(|_| PageError::BadGrant(index))?;
        let (name, cap) = abi::decode_grant(record).ok_or(PageError::BadGrant(index))?;
        grants.push(Grant { name, cap });
    }
    Ok(grants)
}

/// Message areas built by hand, for this module's tests and the entry's.
#[cfg(test)]
pub(crate) mod fixtures {
    use alloc::boxed::Box;
    use alloc::vec;

    use mealy_protocol::abi::page;

    use super::Area;

    pub(crate) fn area() -> Box<Area> {
        vec![0u8; page::LEN]
            .into_boxed_slice()
            .try_into()
            .expect("page::LEN bytes")
    }

    pub(crate) fn put32(area: &mut Area, offset: usize, value: u32) {
        area[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn put64(area: &mut Area, offset: usize, value: u64) {
        area[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{area, put32, put64};
    use super::*;

    #[test]
    fn a_request_with_caps_badge_reply_and_payload() {
        let mut a = area();
        put32(&mut a, page::KIND, abi::UPCALL_REQUEST);
        put64(&mut a, page::BADGE, 7);
        put64(&mut a, page::REPLY, 0x1_0000_0003);
        put32(&mut a, page::CAP_COUNT, 2);
        put64(&mut a, page::CAPS, 11);
        put64(&mut a, page::CAPS + 8, 12);
        put32(&mut a, page::PAYLOAD_LEN, 3);
        a[page::PAYLOAD..page::PAYLOAD + 3].copy_from_slice(b"abc");
        let Ok(Upcall::Message {
            kind,
            envelope,
            payload,
        }) = decode(&a)
        else {
            panic!("not a message: {:?}", decode(&a));
        };
        assert_eq!(kind, MessageKind::Request);
        assert_eq!(envelope.badge, Badge::new(7));
        assert_eq!(envelope.reply, Some(CapRef::from_raw(0x1_0000_0003)));
        assert_eq!(
            envelope.caps.as_slice(),
            &[CapRef::from_raw(11), CapRef::from_raw(12)]
        );
        assert_eq!(envelope.len, 3);
        assert_eq!(payload, b"abc");
    }

    #[test]
    fn kernel_kinds_decode_with_their_details() {
        let mut a = area();
        put64(&mut a, page::REPLY, abi::NO_CAP);
        put64(&mut a, page::TOKEN, 9);
        let cases = [
            (
                abi::UPCALL_REPLY,
                0,
                MessageKind::Reply {
                    token: CallToken(9),
                },
            ),
            (
                abi::UPCALL_CALL_FAILED,
                abi::FAILED_DROPPED,
                MessageKind::CallFailed {
                    token: CallToken(9),
                    reason: CallFailure::Dropped,
                },
            ),
            (
                abi::UPCALL_CALL_FAILED,
                abi::FAILED_NOT_SENT,
                MessageKind::CallFailed {
                    token: CallToken(9),
                    reason: CallFailure::NotSent { code: 0, detail: 0 },
                },
            ),
            (abi::UPCALL_INTERRUPT, 4, MessageKind::Interrupt { line: 4 }),
            (abi::UPCALL_TIMEOUT, 0, MessageKind::Timeout),
        ];
        for (kind, detail, expected) in cases {
            put32(&mut a, page::KIND, kind);
            put32(&mut a, page::DETAIL, detail);
            match decode(&a) {
                Ok(Upcall::Message { kind, envelope, .. }) => {
                    assert_eq!(kind, expected);
                    assert_eq!(envelope.reply, None);
                    assert_eq!(envelope.badge, None);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_next_token_is_read_from_its_own_field() {
        let mut a = area();
        assert_eq!(next_token(&a), 0, "none said: calls are not deferred");
        put64(&mut a, page::NEXT_TOKEN, 0x1_0000_0002);
        assert_eq!(next_token(&a), 0x1_0000_0002);
        const { assert!(page::NEXT_TOKEN >= page::CAUSE + 4 && page::NEXT_TOKEN + 8 <= page::PAYLOAD) };
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mut a = area();
        put32(&mut a, page::KIND, 99);
        assert_eq!(decode(&a), Err(PageError::UnknownKind(99)));
        put32(&mut a, page::KIND, abi::UPCALL_CALL_FAILED);
        put32(&mut a, page::DETAIL, 77);
        assert_eq!(decode(&a), Err(PageError::UnknownFailure(77)));
        put32(&mut a, page::KIND, abi::UPCALL_INTERRUPT);
        put32(&mut a, page::DETAIL, 256);
        assert_eq!(decode(&a), Err(PageError::BadInterruptLine(256)));
        put32(&mut a, page::KIND, abi::UPCALL_REQUEST);
        put32(&mut a, page::CAP_COUNT, MAX_CAPS as u32 + 1);
        assert_eq!(decode(&a), Err(PageError::TooManyCaps(MAX_CAPS as u32 + 1)));
        put32(&mut a, page::CAP_COUNT, u32::MAX);
        assert_eq!(decode(&a), Err(PageError::TooManyCaps(u32::MAX)));
        put32(&mut a, page::CAP_COUNT, 0);
        for len in [MAX_PAYLOAD as u32 + 1, u32::MAX] {
            put32(&mut a, page::PAYLOAD_LEN, len);
            assert_eq!(decode(&a), Err(PageError::PayloadTooLarge(len)));
        }
        put32(&mut a, page::PAYLOAD_LEN, MAX_PAYLOAD as u32);
        assert!(decode(&a).is_ok(), "a full payload page is fine");
        put32(&mut a, page::KIND, abi::UPCALL_TASK_EXITED);
        put32(&mut a, page::CAUSE, 0x99);
        assert_eq!(decode(&a), Err(PageError::UnknownCause(0x99)));
        put32(&mut a, page::KIND, abi::UPCALL_INJECT_FAULT);
        put32(&mut a, page::DETAIL, 7);
        assert_eq!(decode(&a), Err(PageError::UnknownFault(7)));
        put32(&mut a, page::DETAIL, 3);
        assert!(matches!(
            decode(&a),
            Ok(Upcall::Message {
                kind: MessageKind::InjectFault {
                    kind: mealy_protocol::supervision::FaultKind::DivideError
                },
                ..
            })
        ));
    }

    #[test]
    fn a_task_exited_notice_names_the_task_the_cause_and_the_address() {
        use mealy_protocol::inspect::ExitCause;
        let mut a = area();
        put64(&mut a, page::REPLY, abi::NO_CAP);
        put32(&mut a, page::KIND, abi::UPCALL_TASK_EXITED);
        put32(&mut a, page::DETAIL, 5);
        put64(&mut a, page::TOKEN, 0xdead_b000);
        let cause = ExitCause::Exception { vector: 14 };
        put32(&mut a, page::CAUSE, abi::encode_cause(cause));
        match decode(&a) {
            Ok(Upcall::Message { kind, .. }) => assert_eq!(
                kind,
                MessageKind::TaskExited {
                    task: TaskId(5),
                    cause,
                    address: 0xdead_b000,
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_header_decodes_or_errs_without_panicking() {
        // A cheap sweep over the fields' interesting values.
        let values = [0u32, 1, 2, 3, 4, 5, 6, 255, 256, 4096, 4097, u32::MAX];
        let mut a = area();
        for kind in values {
            for detail in values {
                for count in values {
                    put32(&mut a, page::KIND, kind);
                    put32(&mut a, page::DETAIL, detail);
                    put32(&mut a, page::CAP_COUNT, count);
                    put32(&mut a, page::PAYLOAD_LEN, count);
                    let _ = decode(&a);
                }
            }
        }
    }

    #[test]
    fn start_payload_is_grant_records() {
        let mut a = area();
        put32(&mut a, page::KIND, abi::UPCALL_START);
        let first = abi::encode_grant("console", CapRef::from_raw(5)).unwrap();
        let second = abi::encode_grant("echo", CapRef::from_raw(6)).unwrap();
        a[page::PAYLOAD..page::PAYLOAD + 32].copy_from_slice(&first);
        a[page::PAYLOAD + 32..page::PAYLOAD + 64].copy_from_slice(&second);
        put32(&mut a, page::PAYLOAD_LEN, 64);
        let Ok(Upcall::Start { records }) = decode(&a) else {
            panic!("not a start");
        };
        let grants = decode_grants(records).unwrap();
        // Overwriting the area (the next upcall) leaves the names intact.
        a.fill(0xff);
        assert_eq!(
            grants,
            [
                Grant {
                    name: "console",
                    cap: CapRef::from_raw(5)
                },
                Grant {
                    name: "echo",
                    cap: CapRef::from_raw(6)
                }
            ]
        );
    }

    #[test]
    fn bad_grant_records_are_errors() {
        assert_eq!(decode_grants(&[]), Ok(Vec::new()));
        assert_eq!(decode_grants(&[1; 33]), Err(PageError::GrantsTruncated(33)));
        let good = abi::encode_grant("a", CapRef::from_raw(1)).unwrap();
        let mut records = good.to_vec();
        records.extend_from_slice(&[0u8; abi::GRANT_RECORD]);
        assert_eq!(decode_grants(&records), Err(PageError::BadGrant(1)));
        let mut bad_utf8 = good;
        bad_utf8[0] = 0xff;
        assert_eq!(decode_grants(&bad_utf8), Err(PageError::BadGrant(0)));
    }
}
