//! `/bin/escalate`: derives a capability with more rights than it holds,
//! and uses one without the right it needs. Each must fail with
//! `RightsEscalation` or `MissingRights`; logs `escalate: ok` if each did.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use mealy_program_hostile::{AtStart, Checks};
use mealy_protocol::{Context, Grants, HandleError, IpcError, Rights};

fn start(cx: &mut dyn Context, _: Grants<'_>) -> Result<(), HandleError> {
    let mut checks = Checks::new("escalate");
    let region = cx.alloc_region(4096)?;
    let read_only = cx.mint(region, Rights::READ | Rights::DERIVE, None)?;
    let got = cx.mint(read_only, Rights::READ | Rights::WRITE, None);
    checks.expect(cx, "mint WRITE from READ|DERIVE", got, |error| {
        matches!(error, IpcError::RightsEscalation { excess } if excess.contains(Rights::WRITE))
    });
    let got = cx.mint(read_only, Rights::all(), None);
    checks.expect(cx, "mint every right from READ|DERIVE", got, |error| {
        matches!(error, IpcError::RightsEscalation { .. })
    });
    let got = cx.subregion(read_only, 0, 4096, Rights::READ | Rights::WRITE);
    checks.expect(
        cx,
        "writable subregion of a read-only region",
        got,
        |error| matches!(error, IpcError::RightsEscalation { .. }),
    );
    let got = cx.region_mut(read_only).map(|bytes| bytes.len());
    checks.expect(cx, "write mapping of a read-only region", got, |error| {
        matches!(error, IpcError::MissingRights { missing } if missing.contains(Rights::WRITE))
    });
    let no_derive = cx.mint(region, Rights::READ, None)?;
    let got = cx.mint(no_derive, Rights::READ, None);
    checks.expect(cx, "mint without DERIVE", got, |error| {
        matches!(error, IpcError::MissingRights { missing } if missing.contains(Rights::DERIVE))
    });
    checks.finish(cx)
}

mealy_user::program!(AtStart::new("escalate", start));
