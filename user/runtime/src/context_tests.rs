//! `SyscallContext` against a recording fake kernel: arguments in the
//! ABI's registers, errors decoded, the deferred reply and its order.

use mealy_protocol::abi::Syscall;
use mealy_protocol::{Badge, CapRef, Context, IpcError, Rights};

use super::*;
use crate::syscall::Raw;
use crate::syscall::fake::FakeKernel;

#[test]
fn send_passes_payload_and_raw_caps() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    let caps = [CapRef::from_raw(3), CapRef::from_raw(4)];
    cx.send(CapRef::from_raw(9), b"hi", &caps).unwrap();
    let (call, args) = kernel.calls.borrow()[0];
    assert_eq!(call, Syscall::Send);
    assert_eq!(args[0], 9);
    assert_eq!(args[2], 2);
    assert_eq!(args[4], 2);
    assert_eq!(kernel.bytes.borrow()[0], b"hi");
    let five = [CapRef::from_raw(1); 5];
    assert_eq!(
        cx.send(CapRef::from_raw(9), b"", &five),
        Err(IpcError::TooManyCaps { count: 5 })
    );
    assert_eq!(kernel.calls().len(), 1, "refused before the kernel");
}

#[test]
fn errors_and_results_come_back_decoded() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    kernel.answer(Raw::error(IpcError::RightsEscalation {
        excess: Rights::WRITE,
    }));
    assert_eq!(
        cx.mint(
            CapRef::from_raw(1),
            Rights::READ | Rights::WRITE,
            Badge::new(5)
        ),
        Err(IpcError::RightsEscalation {
            excess: Rights::WRITE
        })
    );
    let (_, args) = kernel.calls.borrow()[0];
    assert_eq!(args[1], u64::from((Rights::READ | Rights::WRITE).bits()));
    assert_eq!(args[2], 5);
    kernel.answer(Raw {
        code: 0,
        value: 0x2_0000_0001,
        second: 0,
    });
    assert_eq!(
        cx.copy(CapRef::from_raw(1)),
        Ok(CapRef::from_raw(0x2_0000_0001))
    );
    kernel.answer(Raw {
        code: 0,
        value: 77,
        second: 0,
    });
    assert_eq!(cx.now_ns(), 77);
}

#[test]
fn a_reply_waits_for_the_end_and_goes_out_with_reply_done() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    cx.reply(CapRef::from_raw(42), b"answer", &[CapRef::from_raw(6)])
        .unwrap();
    assert!(kernel.calls().is_empty(), "no crossing yet");
    let _ = cx.now_ns();
    assert_eq!(kernel.calls(), [Syscall::NowNs], "reads do not flush");
    let Ending::ReplyDone { args, outcome } = cx.finish(abi::DONE_OK) else {
        panic!("the reply was lost");
    };
    assert_eq!(outcome, abi::DONE_OK);
    assert_eq!(args[0], 42);
    assert_eq!(args[2], 6);
    assert_eq!(args[4], 1);
    assert_eq!(pending.payload[..6], *b"answer");
    assert_eq!(pending.caps[0], 6);
}

#[test]
fn a_later_operation_sends_the_reply_first() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    cx.reply(CapRef::from_raw(1), b"first", &[]).unwrap();
    cx.send(CapRef::from_raw(2), b"second", &[]).unwrap();
    assert_eq!(kernel.calls(), [Syscall::Reply, Syscall::Send]);
    assert_eq!(kernel.bytes.borrow()[0], b"first");
    assert_eq!(cx.finish(abi::DONE_OK), Ending::Done(abi::DONE_OK));
}

#[test]
fn a_second_reply_sends_the_first_and_a_flush_error_is_logged() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    cx.reply(CapRef::from_raw(1), b"one", &[]).unwrap();
    kernel.answer(Raw::error(IpcError::InvalidCap));
    cx.reply(CapRef::from_raw(2), b"two", &[]).unwrap();
    assert_eq!(kernel.calls(), [Syscall::Reply, Syscall::Log]);
    assert!(kernel.logs()[0].contains("deferred reply failed"));
    assert!(matches!(cx.finish(abi::DONE_OK), Ending::ReplyDone { args, .. } if args[0] == 2));
    assert!(
        SyscallContext::new(&kernel, &mut pending).finish(abi::DONE_OK)
            == Ending::Done(abi::DONE_OK),
        "a new upcall starts with no reply"
    );
}

#[test]
fn an_oversized_reply_is_refused_at_once() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    let big = [0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        cx.reply(CapRef::from_raw(1), &big, &[]),
        Err(IpcError::PayloadTooLarge { .. })
    ));
    assert_eq!(cx.finish(abi::DONE_OK), Ending::Done(abi::DONE_OK));
}

#[test]
fn regions_are_the_mapped_bytes() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    assert_eq!(cx.region(CapRef::from_raw(1)).unwrap().len(), 8192);
    cx.region_mut(CapRef::from_raw(1)).unwrap()[0] = 1;
    assert_eq!(cx.region(CapRef::from_raw(1)).unwrap()[0], 1);
    let calls = kernel.calls.borrow();
    assert_eq!(calls[0].1[1], 0, "read-only first");
    assert_eq!(calls[1].1[1], 1, "then writable");
    drop(calls);
    kernel.answer(Raw {
        code: 0,
        value: 0,
        second: 10,
    });
    assert_eq!(cx.region(CapRef::from_raw(1)), Err(IpcError::BadAddress));
    kernel.answer(Raw {
        code: 0,
        value: u64::MAX - 4,
        second: 10,
    });
    assert_eq!(cx.region(CapRef::from_raw(1)), Err(IpcError::BadAddress));
}

#[test]
fn log_lines_are_formatted_and_cut() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    cx.log(format_args!("{} ring {}", "hello from", 3));
    cx.log(format_args!("{:0width$}", 0, width = LOG_LINE * 2));
    let logs = kernel.logs();
    assert_eq!(logs[0], "hello from ring 3");
    assert_eq!(logs[1].len(), LOG_LINE);
    assert!(logs[1].ends_with("..."));
}

#[test]
fn inspect_decodes_the_report_and_asks_again_with_the_room_it_needs() {
    use mealy_protocol::inspect::{Query, Report, TaskRow, TaskStatus};
    let kernel = FakeKernel::new();
    let rows: alloc::vec::Vec<TaskRow> = (0..400)
        .map(|id| TaskRow {
            id,
            name: alloc::format!("a-task-with-a-long-name-{id}"),
            state: TaskStatus::Idle,
            ring: 3,
            mailbox_depth: 0,
            mailbox_high_water: 1,
            handled: 2,
            time_ns: 3,
            restarts: 0,
            last_fault: None,
        })
        .collect();
    let report = Report::Tasks(rows);
    let encoded = report.encode().unwrap();
    assert!(encoded.len() > 4096, "more than the first try's page");
    *kernel.report.borrow_mut() = encoded.clone();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    assert_eq!(cx.inspect(CapRef::from_raw(5), Query::Tasks), Ok(report));
    let asks: alloc::vec::Vec<[u64; 6]> = kernel
        .calls
        .borrow()
        .iter()
        .filter(|(call, _)| *call == Syscall::Inspect)
        .map(|(_, args)| *args)
        .collect();
    assert_eq!(asks.len(), 2);
    assert_eq!(asks[0][..2], [5, mealy_protocol::abi::INSPECT_TASKS]);
    assert_eq!(asks[1][3], encoded.len() as u64);
    // Bytes that are not a report, and a kernel refusal, are errors.
    *kernel.report.borrow_mut() = alloc::vec![0xff; 8];
    assert_eq!(
        cx.inspect(CapRef::from_raw(5), Query::Stats),
        Err(IpcError::Malformed)
    );
}

#[test]
fn restart_and_supervise_pass_their_caps_and_decode_errors() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    assert_eq!(cx.restart_task(CapRef::from_raw(7)), Ok(()));
    assert_eq!(
        kernel.calls.borrow()[0],
        (Syscall::RestartTask, [7, 0, 0, 0, 0, 0])
    );
    kernel.answer(Raw::error(IpcError::DeadTask));
    assert_eq!(
        cx.supervise(CapRef::from_raw(7), CapRef::from_raw(8)),
        Err(IpcError::DeadTask)
    );
    assert_eq!(
        kernel.calls.borrow()[1],
        (Syscall::Supervise, [7, 8, 0, 0, 0, 0])
    );
}

#[test]
fn mmio_and_region_phys_pass_their_arguments_and_decode_errors() {
    use mealy_protocol::mmio::Width;
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    kernel.answer(Raw {
        code: 0,
        value: 0xbeef,
        second: 0,
    });
    assert_eq!(
        cx.mmio_read(CapRef::from_raw(3), 0x14, Width::U16),
        Ok(0xbeef)
    );
    cx.mmio_write(CapRef::from_raw(3), 0x20, Width::U32, 0x1234)
        .unwrap();
    kernel.answer(Raw {
        code: 0,
        value: 0x8_1000,
        second: 0,
    });
    assert_eq!(cx.region_phys(CapRef::from_raw(5), 0x10), Ok(0x8_1000));
    let calls = kernel.calls.borrow().clone();
    assert_eq!(calls[0], (Syscall::MmioRead, [3, 0x14, 2, 0, 0, 0]));
    assert_eq!(calls[1], (Syscall::MmioWrite, [3, 0x20, 4, 0x1234, 0, 0]));
    assert_eq!(calls[2], (Syscall::RegionPhys, [5, 0x10, 0, 0, 0, 0]));
    // The kernel's refusals come back as they were sent.
    for error in [
        IpcError::InvalidCap,
        IpcError::Malformed,
        IpcError::OutOfRange {
            offset: 0x1000,
            len: 0x1000,
        },
        IpcError::MissingRights {
            missing: Rights::MAP,
        },
    ] {
        kernel.answer(Raw::error(error));
        assert_eq!(cx.mmio_read(CapRef::from_raw(3), 0, Width::U8), Err(error));
        kernel.answer(Raw::error(error));
        assert_eq!(
            cx.mmio_write(CapRef::from_raw(3), 0, Width::U8, 0),
            Err(error)
        );
        kernel.answer(Raw::error(error));
        assert_eq!(cx.region_phys(CapRef::from_raw(5), 0), Err(error));
    }
}

#[test]
fn a_register_write_sends_the_reply_first_and_region_phys_does_not() {
    use mealy_protocol::mmio::Width;
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    cx.reply(CapRef::from_raw(42), b"done", &[]).unwrap();
    let _ = cx.region_phys(CapRef::from_raw(5), 0);
    assert_eq!(kernel.calls(), [Syscall::RegionPhys]);
    cx.mmio_write(CapRef::from_raw(3), 0, Width::U8, 1).unwrap();
    assert_eq!(
        kernel.calls(),
        [Syscall::RegionPhys, Syscall::Reply, Syscall::MmioWrite],
        "the device sees the write after the client has its answer"
    );
}

#[test]
fn a_call_waits_for_the_end_and_goes_out_with_call_done_under_the_token_handed_out() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending).deferring_calls(40);
    let token = cx
        .call(CapRef::from_raw(9), b"ping", &[CapRef::from_raw(3)])
        .unwrap();
    assert_eq!(token, mealy_protocol::CallToken(40));
    assert!(kernel.calls().is_empty(), "no crossing yet");
    let _ = cx.now_ns();
    assert_eq!(kernel.calls(), [Syscall::NowNs], "reads do not flush");
    let Ending::CallDone { args, token } = cx.finish(abi::DONE_OK) else {
        panic!("the call was lost");
    };
    assert_eq!(token, 40);
    assert_eq!((args[0], args[2], args[4]), (9, 4, 1));
    assert_eq!(pending.payload(), b"ping");
}

#[test]
fn a_later_operation_makes_the_call_first_under_its_token_and_the_next_call_takes_the_next() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending).deferring_calls(7);
    assert_eq!(cx.call(CapRef::from_raw(1), b"a", &[]).unwrap().0, 7);
    cx.send(CapRef::from_raw(2), b"b", &[]).unwrap();
    assert_eq!(cx.call(CapRef::from_raw(1), b"c", &[]).unwrap().0, 8);
    // A reply after a call sends the call first, and is deferred itself.
    cx.reply(CapRef::from_raw(5), b"d", &[]).unwrap();
    let calls = kernel.calls.borrow().clone();
    assert_eq!(
        calls
            .iter()
            .map(|(call, _)| *call)
            .collect::<alloc::vec::Vec<_>>(),
        [Syscall::Call, Syscall::Send, Syscall::Call]
    );
    assert_eq!(
        (calls[0].1[0], calls[0].1[5]),
        (1, 7),
        "deferred: token in r9"
    );
    assert_eq!(calls[2].1[5], 8);
    assert_eq!(kernel.bytes.borrow()[..3], [b"a", b"b", b"c"]);
    assert!(matches!(cx.finish(abi::DONE_OK), Ending::ReplyDone { args, .. } if args[0] == 5));
}

#[test]
fn a_handler_that_fails_makes_its_call_then_ends_with_its_outcome() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending).deferring_calls(3);
    cx.call(CapRef::from_raw(1), b"x", &[]).unwrap();
    assert_eq!(
        cx.finish(abi::DONE_MALFORMED),
        Ending::Done(abi::DONE_MALFORMED)
    );
    assert_eq!(
        kernel.calls.borrow()[0],
        (Syscall::Call, kernel.calls.borrow()[0].1)
    );
    assert_eq!(kernel.calls.borrow()[0].1[5], 3);
}

#[test]
fn a_deferred_calls_error_is_logged_and_only_local_checks_are_calls_errors() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending).deferring_calls(1);
    let big = [0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        cx.call(CapRef::from_raw(1), &big, &[]),
        Err(IpcError::PayloadTooLarge { .. })
    ));
    let five = [CapRef::from_raw(1); 5];
    assert_eq!(
        cx.call(CapRef::from_raw(1), b"", &five),
        Err(IpcError::TooManyCaps { count: 5 })
    );
    // A forged endpoint is the kernel's to find: later, as CallFailed.
    assert_eq!(cx.call(CapRef::from_raw(99), b"x", &[]).unwrap().0, 1);
    kernel.answer(Raw::error(IpcError::InvalidCap));
    cx.log(format_args!("after"));
    assert_eq!(kernel.calls(), [Syscall::Call, Syscall::Log]);
    assert!(
        kernel.logs()[0].contains("after"),
        "the CallFailed carries the error: nothing logged"
    );
    assert_eq!(cx.finish(abi::DONE_OK), Ending::Done(abi::DONE_OK));
}

#[test]
fn without_a_token_calls_are_made_at_once() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    kernel.answer(Raw {
        code: 0,
        value: 12,
        second: 0,
    });
    assert_eq!(cx.call(CapRef::from_raw(1), b"x", &[]).unwrap().0, 12);
    assert_eq!(kernel.calls.borrow()[0].1[5], 0, "r9 0: not deferred");
    kernel.answer(Raw::error(IpcError::InvalidCap));
    assert_eq!(
        cx.call(CapRef::from_raw(1), b"x", &[]),
        Err(IpcError::InvalidCap)
    );
    assert_eq!(cx.finish(abi::DONE_OK), Ending::Done(abi::DONE_OK));
}

#[test]
fn spawn_passes_the_name_and_grant_records_and_refuses_what_the_kernel_would() {
    let kernel = FakeKernel::new();
    let mut pending = Deferred::new();
    let mut cx = SyscallContext::new(&kernel, &mut pending);
    kernel.answer(Raw {
        code: 0,
        value: 0x3_0000_0004,
        second: 0,
    });
    let grants = [("echo", CapRef::from_raw(5)), ("fs", CapRef::from_raw(6))];
    assert_eq!(
        cx.spawn(CapRef::from_raw(9), "hello", &grants),
        Ok(CapRef::from_raw(0x3_0000_0004))
    );
    let (call, args) = kernel.calls.borrow()[0];
    assert_eq!(call, Syscall::Spawn);
    assert_eq!(args[0], 9);
    assert_eq!((args[2], args[4]), (5, 2));
    let bytes = kernel.bytes.borrow();
    assert_eq!(bytes[0], b"hello");
    let records = &bytes[1];
    assert_eq!(records.len(), 2 * mealy_protocol::abi::GRANT_RECORD);
    let first: [u8; mealy_protocol::abi::GRANT_RECORD] = records[..32].try_into().unwrap();
    assert_eq!(
        mealy_protocol::abi::decode_grant(&first),
        Some(("echo", CapRef::from_raw(5)))
    );
    drop(bytes);
    let nine = [("a", CapRef::from_raw(1)); 9];
    assert_eq!(
        cx.spawn(CapRef::from_raw(9), "x", &nine),
        Err(IpcError::TooManyCaps { count: 9 })
    );
    let long = [("a-grant-name-longer-than-a-record", CapRef::from_raw(1))];
    assert_eq!(
        cx.spawn(CapRef::from_raw(9), "x", &long),
        Err(IpcError::Malformed)
    );
    kernel.answer(Raw::error(IpcError::Malformed));
    assert_eq!(
        cx.spawn(CapRef::from_raw(9), "x", &[]),
        Err(IpcError::Malformed)
    );
    assert_eq!(kernel.calls().len(), 2, "two refused before the kernel");
}
