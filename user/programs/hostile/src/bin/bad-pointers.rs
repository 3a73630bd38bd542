//! `/bin/bad-pointers`: hands the kernel pointers it must not follow
//! (kernel addresses, unmapped and non-canonical ones, ranges that wrap)
//! and lengths past the limits. Each must come back as `BadAddress` or
//! `PayloadTooLarge`, never a kernel fault; logs `bad-pointers: ok` if
//! each did. The calls are raw (`mealy_user::syscall::Trap`): `Context`
//! only passes real slices. `Send` is checked only if the task list
//! grants an endpoint (its first grant, whatever its name); otherwise that
//! is logged.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, Checks};
use mealy_protocol::abi::Syscall;
use mealy_protocol::{Context, Grants, HandleError, IpcError, MAX_PAYLOAD};
use mealy_user::Kernel;
use mealy_user::syscall::Trap;

const KERNEL: u64 = 0xffff_ffff_8000_0000;
const UNMAPPED: u64 = 0x1000;
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;
const WRAPS: u64 = u64::MAX - 7;

fn bad_address(error: &IpcError) -> bool {
    *error == IpcError::BadAddress
}

fn too_large(error: &IpcError) -> bool {
    matches!(error, IpcError::PayloadTooLarge { .. })
}

fn bad_or_too_large(error: &IpcError) -> bool {
    bad_address(error) || too_large(error)
}

fn log(text: u64, len: u64) -> Result<(u64, u64), IpcError> {
    Trap.syscall(Syscall::Log, [text, len, 0, 0, 0, 0]).result()
}

fn send(to: u64, payload: u64, len: u64, caps: u64, count: u64) -> Result<(u64, u64), IpcError> {
    Trap.syscall(Syscall::Send, [to, payload, len, caps, count, 0])
        .result()
}

fn start(cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
    let mut checks = Checks::new("bad-pointers");
    let text = b"bad-pointers: a real line".as_ptr() as u64;
    for (what, address) in [
        ("log from kernel memory", KERNEL),
        ("log from an unmapped page", UNMAPPED),
        ("log from a non-canonical address", NON_CANONICAL),
        ("log from a range that wraps", WRAPS),
    ] {
        checks.expect(cx, what, log(address, 16), bad_address);
    }
    checks.expect(cx, "log of 1 TiB", log(text, 1 << 40), bad_or_too_large);
    checks.expect(
        cx,
        "log running off its page",
        log(text, 1 << 20),
        bad_or_too_large,
    );

    if let Some(target) = grants.iter().next().map(|grant| grant.cap) {
        let to = target.to_raw();
        let payload = [0u8; MAX_PAYLOAD + 1];
        let at = payload.as_ptr() as u64;
        checks.expect(
            cx,
            "send from kernel memory",
            send(to, KERNEL, 16, 0, 0),
            bad_address,
        );
        checks.expect(
            cx,
            "send from an unmapped page",
            send(to, UNMAPPED, 16, 0, 0),
            bad_address,
        );
        let got = send(to, at, MAX_PAYLOAD as u64 + 1, 0, 0);
        checks.expect(cx, "send of MAX_PAYLOAD + 1", got, too_large);
        checks.expect(
            cx,
            "caps from kernel memory",
            send(to, at, 1, KERNEL, 1),
            bad_address,
        );
        checks.expect(
            cx,
            "caps from an unmapped page",
            send(to, at, 1, UNMAPPED, 1),
            bad_address,
        );
    } else {
        cx.log(format_args!("bad-pointers: no grant, Send not checked"));
    }
    checks.finish(cx)
}

mealy_user::program!(AtStart::new("bad-pointers", start));
