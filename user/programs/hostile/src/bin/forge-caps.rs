//! `/bin/forge-caps`: uses capability refs it was never given (made-up
//! values, a slot far past any CSpace, `NO_CAP`) and refs gone stale (a
//! dropped Region, also after its slot is reused). Every use must fail
//! with `InvalidCap`; logs `forge-caps: ok` if each did.
//!
//! A reply or call through a forged ref is made with the raw `Reply` or
//! `Call`: the runtime's `Context::reply` and `Context::call` defer them to
//! the handler's end, where a reply's error could only reach the kernel's
//! log and a call's comes back as `CallFailed { NotSent }`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, Checks};
use mealy_protocol::abi::Syscall;
use mealy_protocol::{CapRef, Context, Grants, HandleError, IpcError, Rights};
use mealy_user::Kernel;
use mealy_user::syscall::Trap;

fn invalid(error: &IpcError) -> bool {
    *error == IpcError::InvalidCap
}

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let mut checks = Checks::new("forge-caps");
    let forged = [
        CapRef::from_raw(0xdead_beef_0000_0007),
        CapRef::from_raw(0x0000_0001_00ff_ffff),
        CapRef::from_raw(mealy_protocol::abi::NO_CAP),
    ];
    for cap in forged {
        let got = cx.send(cap, b"forged", &[]);
        checks.expect(cx, "send through a forged ref", got, invalid);
        let got = Trap
            .syscall(Syscall::Call, [cap.to_raw(), 0, 0, 0, 0, 0])
            .result();
        checks.expect(cx, "call through a forged ref", got, invalid);
        let got = cx.copy(cap);
        checks.expect(cx, "copy of a forged ref", got, invalid);
        let got = cx.mint(cap, Rights::READ, None);
        checks.expect(cx, "mint from a forged ref", got, invalid);
        let got = cx.region(cap).map(|bytes| bytes.len());
        checks.expect(cx, "region of a forged ref", got, invalid);
        let got = cx.drop_cap(cap);
        checks.expect(cx, "drop of a forged ref", got, invalid);
        let got = Trap
            .syscall(Syscall::Reply, [cap.to_raw(), 0, 0, 0, 0, 0])
            .result();
        checks.expect(cx, "reply through a forged ref", got, invalid);
    }

    let stale = cx.alloc_region(4096)?;
    cx.drop_cap(stale)?;
    let got = cx.copy(stale);
    checks.expect(cx, "copy of a dropped ref", got, invalid);
    let got = cx.region_mut(stale).map(|bytes| bytes.len());
    checks.expect(cx, "region of a dropped ref", got, invalid);
    let got = cx.drop_cap(stale);
    checks.expect(cx, "second drop", got, invalid);
    // The slot is likely reused now, under a new generation.
    let fresh = cx.alloc_region(4096)?;
    let got = cx.copy(stale);
    checks.expect(cx, "copy of a ref whose slot was reused", got, invalid);
    if let Err(error) = cx.copy(fresh) {
        cx.log(format_args!("forge-caps: FAILED: a fresh ref: {error}"));
    }
    checks.finish(cx)
}

mealy_user::program!(AtStart::new("forge-caps", start));
