//! `Context::subregion`: a Region capability for a page-aligned sub-range
//! of a region, sharing its memory (how the fs hands out a file's pages).
//!
//! The capability side is `CapSystem::derive_region` (a new Region object
//! whose capability is a child of the source's, so revoke reaches it).
//! The kernel adds the page rule (a Region is whole pages, so it can be
//! mapped on its own in phase 2) and tells the platform that one more
//! object now shares the backing memory (`Platform::share_region`), which
//! is released only when the last object over it is.

use mealy_caps::{CapRef, Object, Rights};
use mealy_protocol::IpcError;

use super::context::TaskContext;
use super::platform::Platform;

/// The granule of a sub-range.
pub(crate) const PAGE: u64 = 4096;

pub(crate) fn derive<P: Platform>(
    cx: &mut TaskContext<'_, P>,
    cap: CapRef,
    offset: u64,
    len: u64,
    rights: Rights,
) -> Result<CapRef, IpcError> {
    let out_of_range = IpcError::out_of_range(offset, len);
    if !offset.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) {
        return Err(out_of_range);
    }
    let cspace = cx.kernel.task(cx.task)?.cspace;
    let (derived, object) = cx
        .kernel
        .caps
        .derive_region(cspace, cap, offset, len, rights)
        .map_err(|error| match error {
            mealy_caps::CapError::OutOfRange => out_of_range,
            other => other.into(),
        })?;
    let Object::Region { base, len } = object else {
        return Err(IpcError::WrongKind {
            found: object.kind(),
        });
    };
    if !cx.platform.share_region(base, len) {
        // No memory behind it: undo, so nothing dangles.
        // The object is forgotten without a release: the platform never
        // counted it.
        let _ = cx.kernel.caps.drop_cap(cspace, derived);
        return Err(IpcError::Unsupported);
    }
    Ok(derived)
}
