//! The upcall path end to end over a fake kernel, with the echo service
//! as the state machine.

use alloc::boxed::Box;

use mealy_protocol::abi::{self, page};
use mealy_protocol::{CapRef, Grants, HandleError, Incoming, MAX_PAYLOAD, StateMachine};

use super::*;
use crate::page::fixtures::{area, put32, put64};
use crate::syscall::fake::FakeKernel;

fn start_area(grants: &[(&str, u64)]) -> Box<Area> {
    let mut a = area();
    put32(&mut a, page::KIND, abi::UPCALL_START);
    for (index, (name, cap)) in grants.iter().enumerate() {
        let record = abi::encode_grant(name, CapRef::from_raw(*cap)).unwrap();
        let at = page::PAYLOAD + index * abi::GRANT_RECORD;
        a[at..at + abi::GRANT_RECORD].copy_from_slice(&record);
    }
    put32(
        &mut a,
        page::PAYLOAD_LEN,
        (grants.len() * abi::GRANT_RECORD) as u32,
    );
    a
}

fn request_area(payload: &[u8], reply: Option<u64>) -> Box<Area> {
    let mut a = area();
    put32(&mut a, page::KIND, abi::UPCALL_REQUEST);
    put64(&mut a, page::REPLY, reply.unwrap_or(abi::NO_CAP));
    put32(&mut a, page::PAYLOAD_LEN, payload.len() as u32);
    a[page::PAYLOAD..page::PAYLOAD + payload.len()].copy_from_slice(payload);
    a
}

/// Logs its grants at start; answers nothing; fails on request.
struct Probe;

impl StateMachine for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        for grant in grants.iter() {
            cx.log(format_args!("{}={}", grant.name, grant.cap.to_raw()));
        }
        Ok(())
    }

    fn handle(&mut self, _: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.payload {
            b"fatal" => Err(HandleError::Fatal("asked to")),
            b"ipc" => Err(mealy_protocol::IpcError::DeadTask.into()),
            _ => Ok(()),
        }
    }
}

fn make_probe() -> Box<dyn StateMachine> {
    Box::new(Probe)
}

fn make_echo() -> Box<dyn StateMachine> {
    Box::new(Echo::new())
}

use mealy_echo::Echo;

#[test]
fn start_constructs_and_hands_over_the_grants() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    let start = start_area(&[("console", 5), ("echo", 6)]);
    let ending = upcall(&mut runtime, &kernel, &start, make_probe);
    assert_eq!(ending, Ending::Done(abi::DONE_OK));
    assert_eq!(kernel.logs(), ["console=5", "echo=6"]);
}

#[test]
fn an_echo_request_is_answered_with_reply_done() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    upcall(&mut runtime, &kernel, &start_area(&[]), make_echo);
    let mut buffer = [0u8; MAX_PAYLOAD];
    let request = mealy_protocol::echo::Request {
        seq: 7,
        data: b"ring 3",
    };
    let bytes = mealy_protocol::encode(&request, &mut buffer).unwrap();
    let ending = upcall(
        &mut runtime,
        &kernel,
        &request_area(bytes, Some(0x1_0000_0009)),
        make_echo,
    );
    let Ending::ReplyDone { args, outcome } = ending else {
        panic!("no reply: {ending:?}");
    };
    assert_eq!(outcome, abi::DONE_OK);
    assert_eq!(args[0], 0x1_0000_0009);
    assert!(kernel.calls().is_empty(), "one crossing: ReplyDone");
    let reply = runtime.pending.payload();
    assert_eq!(args[1], reply.as_ptr() as u64);
    assert_eq!(args[2], reply.len() as u64);
    let answer: mealy_protocol::echo::Reply<'_> = mealy_protocol::decode(reply).unwrap();
    assert_eq!((answer.seq, answer.data), (7, &b"ring 3"[..]));
}

#[test]
fn handler_errors_become_outcomes_and_log_lines() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    upcall(&mut runtime, &kernel, &start_area(&[]), make_probe);
    let cases = [
        (&b"fatal"[..], abi::DONE_FATAL),
        (b"ipc", abi::DONE_FAILED),
        (b"fine", abi::DONE_OK),
    ];
    for (payload, expected) in cases {
        let ending = upcall(
            &mut runtime,
            &kernel,
            &request_area(payload, None),
            make_probe,
        );
        assert_eq!(ending, Ending::Done(expected));
    }
    let expected = [
        alloc::format!("handler failed: {}", HandleError::Fatal("asked to")),
        alloc::format!(
            "handler failed: {}",
            HandleError::from(mealy_protocol::IpcError::DeadTask)
        ),
    ];
    assert_eq!(kernel.logs(), expected);
}

#[test]
fn malformed_requests_are_done_malformed() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    upcall(&mut runtime, &kernel, &start_area(&[]), make_echo);
    let ending = upcall(
        &mut runtime,
        &kernel,
        &request_area(&[0xff; 6], Some(3)),
        make_echo,
    );
    assert_eq!(ending, Ending::Done(abi::DONE_MALFORMED));
}

#[test]
fn bad_pages_and_out_of_order_upcalls_are_fatal() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    let before = upcall(&mut runtime, &kernel, &request_area(b"x", None), make_probe);
    assert_eq!(before, Ending::Done(abi::DONE_FATAL));
    let mut truncated = start_area(&[("a", 1)]);
    put32(&mut truncated, page::PAYLOAD_LEN, 5);
    let bad_start = upcall(&mut runtime, &kernel, &truncated, make_probe);
    assert_eq!(bad_start, Ending::Done(abi::DONE_FATAL));
    upcall(&mut runtime, &kernel, &start_area(&[]), make_probe);
    let again = upcall(&mut runtime, &kernel, &start_area(&[]), make_probe);
    assert_eq!(again, Ending::Done(abi::DONE_FATAL));
    let mut bad_kind = request_area(b"", None);
    put32(&mut bad_kind, page::KIND, 42);
    assert_eq!(
        upcall(&mut runtime, &kernel, &bad_kind, make_probe),
        Ending::Done(abi::DONE_FATAL)
    );
    let logs = kernel.logs();
    assert_eq!(logs.len(), 4, "{logs:?}");
    assert!(logs[0].contains("before the start"));
    assert!(logs[1].contains("bad start upcall"));
    assert!(logs[2].contains("second start"));
    assert!(logs[3].contains("unknown upcall kind 42"));
}

#[test]
fn an_inject_fault_upcall_commits_the_fault_before_the_handler_sees_it() {
    let kernel = FakeKernel::new();
    let mut runtime = Runtime::new();
    upcall(&mut runtime, &kernel, &start_area(&[]), make_probe);
    let mut a = area();
    put32(&mut a, page::KIND, abi::UPCALL_INJECT_FAULT);
    put32(&mut a, page::DETAIL, 4);
    put64(&mut a, page::REPLY, abi::NO_CAP);
    let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        upcall(&mut runtime, &kernel, &a, make_probe)
    }));
    let why = committed.expect_err("the fault is committed");
    assert_eq!(
        why.downcast_ref::<alloc::string::String>()
            .map(|s| s.as_str()),
        Some("injected fault: stack")
    );
    assert!(kernel.logs().is_empty(), "the handler never ran");
}
