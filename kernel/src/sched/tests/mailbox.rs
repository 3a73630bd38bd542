//! The mailbox ring and the run queue on their own: wrap-around, order,
//! payload bytes exactly as sent (inline and out of line), backpressure,
//! and a dying task's mailbox emptied.

use alloc::vec::Vec;

use mealy_caps::{CapRef, TaskId};
use mealy_protocol::{CapList, Envelope, IpcError, MAX_PAYLOAD, MessageKind};

use crate::sched::mailbox::{INLINE_PAYLOAD, LargePayload, Mailbox};
use crate::sched::run_queue::RunQueue;

fn envelope(len: usize) -> Envelope {
    Envelope {
        len: len as u16,
        ..Envelope::default()
    }
}

fn push(mailbox: &mut Mailbox, payload: &[u8]) -> Result<(), IpcError> {
    let large = LargePayload::for_payload(payload)?;
    mailbox.push(
        MessageKind::Request,
        envelope(payload.len()),
        payload,
        large,
    )
}

fn pop(mailbox: &mut Mailbox) -> Option<(MessageKind, Envelope, Vec<u8>)> {
    let mut receive = alloc::vec![0u8; MAX_PAYLOAD];
    let mut envelope = Envelope::default();
    let mut kind = MessageKind::Request;
    if !mailbox.pop_into(&mut receive, &mut envelope, &mut kind) {
        return None;
    }
    let len = usize::from(envelope.len);
    Some((kind, envelope, receive[..len].to_vec()))
}

#[test]
fn the_ring_wraps_around_in_order_many_times() {
    let mut mailbox = Mailbox::new(3).unwrap();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    // Fill and drain by different amounts so head and tail cross the end
    // of the ring at every offset.
    for round in 0..50 {
        for _ in 0..(round % 3 + 1) {
            match push(
                &mut mailbox,
                &next_in.to_le_bytes()[..(next_in % 5) as usize],
            ) {
                Ok(()) => next_in += 1,
                Err(error) => {
                    assert_eq!(error, IpcError::MailboxFull);
                    assert!(mailbox.is_full());
                    break;
                }
            }
        }
        for _ in 0..(round % 2 + 1) {
            let Some((_, _, payload)) = pop(&mut mailbox) else {
                assert!(mailbox.is_empty());
                break;
            };
            assert_eq!(payload, &next_out.to_le_bytes()[..(next_out % 5) as usize]);
            next_out += 1;
        }
        assert_eq!(mailbox.len() as u32, next_in - next_out);
    }
    assert!(next_out > 30, "the ring went round many times");
    assert_eq!(mailbox.high_water(), 3);
}

#[test]
fn every_payload_length_arrives_byte_for_byte() {
    let mut mailbox = Mailbox::new(2).unwrap();
    let bytes: Vec<u8> = (0..MAX_PAYLOAD).map(|i| (i * 13 + 1) as u8).collect();
    let lengths = (0..=INLINE_PAYLOAD + 2).chain([200, MAX_PAYLOAD - 1, MAX_PAYLOAD]);
    for len in lengths {
        // Leave an older, longer message in the slot first: stale bytes
        // past `len` must never show.
        push(&mut mailbox, &[0xee; INLINE_PAYLOAD]).unwrap();
        pop(&mut mailbox).unwrap();
        push(&mut mailbox, &bytes[..len]).unwrap();
        let (_, envelope, payload) = pop(&mut mailbox).unwrap();
        assert_eq!(usize::from(envelope.len), len);
        assert_eq!(payload, &bytes[..len], "length {len}");
    }
}

#[test]
fn a_full_ring_refuses_and_changes_nothing() {
    let mut mailbox = Mailbox::new(2).unwrap();
    push(&mut mailbox, b"a").unwrap();
    push(&mut mailbox, b"b").unwrap();
    assert_eq!(push(&mut mailbox, b"c"), Err(IpcError::MailboxFull));
    assert_eq!(mailbox.len(), 2);
    assert_eq!(pop(&mut mailbox).unwrap().2, b"a");
    assert_eq!(pop(&mut mailbox).unwrap().2, b"b");
    assert!(pop(&mut mailbox).is_none());
}

#[test]
fn notices_come_first_and_carry_no_payload() {
    let mut mailbox = Mailbox::new(4).unwrap();
    let reply = Some(CapRef::from_raw(5));
    let call = Envelope {
        reply,
        caps: CapList::EMPTY,
        ..envelope(2)
    };
    mailbox
        .push(MessageKind::Request, call, b"hi", None)
        .unwrap();
    mailbox
        .push_notice(MessageKind::Timeout, envelope(9))
        .unwrap();
    let (kind, notice, payload) = pop(&mut mailbox).unwrap();
    assert_eq!(
        (kind, notice.len, payload.len()),
        (MessageKind::Timeout, 0, 0)
    );
    let (kind, letter, payload) = pop(&mut mailbox).unwrap();
    assert_eq!(
        (kind, letter.reply, payload),
        (MessageKind::Request, reply, b"hi".to_vec())
    );
}

#[test]
fn clear_empties_both_queues_and_the_ring_still_works() {
    let mut mailbox = Mailbox::new(2).unwrap();
    push(&mut mailbox, b"x").unwrap();
    push(&mut mailbox, &[1; MAX_PAYLOAD]).unwrap();
    mailbox
        .push_notice(MessageKind::Timeout, envelope(0))
        .unwrap();
    mailbox.clear();
    assert!(mailbox.is_empty());
    assert!(pop(&mut mailbox).is_none());
    push(&mut mailbox, b"y").unwrap();
    assert_eq!(pop(&mut mailbox).unwrap().2, b"y");
}

#[test]
fn run_queue_is_fifo_across_wrap_around_and_retain() {
    let mut queue = RunQueue::new(3).unwrap();
    let mut order = Vec::new();
    for task in (0..10).map(TaskId) {
        assert!(queue.push_back(task));
        if task.0 % 2 == 1 {
            order.push(queue.pop_front().unwrap());
            order.push(queue.pop_front().unwrap());
        }
    }
    assert_eq!(order, (0..10).map(TaskId).collect::<Vec<_>>());
    for task in [7, 8, 9].map(TaskId) {
        assert!(queue.push_back(task));
    }
    assert!(
        !queue.push_back(TaskId(10)),
        "full: refused, nothing overwritten"
    );
    queue.retain(|task| task != TaskId(8));
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.pop_front(), Some(TaskId(7)));
    assert_eq!(queue.pop_front(), Some(TaskId(9)));
    assert_eq!(queue.pop_front(), None);
}
