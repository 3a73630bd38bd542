//! A Region's bytes as a slice: `Syscall::Region` maps the region into
//! this program's domain and answers with its address and length, which
//! become a `&[u8]` (or `&mut [u8]`) borrowed from the context, as the
//! ring-0 `Context::region` hands out.
//!
//! The borrow is tied to the context, so it ends with the handler. What
//! it cannot rule out (as in ring 0): another task revoking the region
//! while a preempted handler still reads it; the read then faults and the
//! task is stopped, which is the kernel's job to report.

use mealy_protocol::abi::Syscall;
use mealy_protocol::{CapRef, IpcError};

use crate::syscall::Kernel;

fn map<K: Kernel>(kernel: &K, cap: CapRef, writable: bool) -> Result<(usize, usize), IpcError> {
    let (address, len) = kernel
        .syscall(
            Syscall::Region,
            [cap.to_raw(), u64::from(writable), 0, 0, 0, 0],
        )
        .result()?;
    let address = usize::try_from(address).map_err(|_| IpcError::BadAddress)?;
    let len = usize::try_from(len).map_err(|_| IpcError::BadAddress)?;
    if address == 0 || address.checked_add(len).is_none() || len > isize::MAX as usize {
        return Err(IpcError::BadAddress);
    }
    Ok((address, len))
}

/// The bytes of the region `cap` names, readable.
pub fn region<K: Kernel>(kernel: &K, cap: CapRef) -> Result<&[u8], IpcError> {
    let (address, len) = map(kernel, cap, false)?;
    // SAFETY: `Kernel`'s contract: `len` bytes at `address` are mapped
    // readable for this program while `cap` is held; they were checked
    // non-null and in range above. Writes to them go only through
    // `region_mut`, which needs `&mut` of the same kernel handle.
    Ok(unsafe { core::slice::from_raw_parts(address as *const u8, len) })
}

/// The bytes of the region `cap` names, writable.
pub fn region_mut<K: Kernel>(kernel: &mut K, cap: CapRef) -> Result<&mut [u8], IpcError> {
    let (address, len) = map(kernel, cap, true)?;
    // SAFETY: as in `region`, mapped writable; the `&mut` borrow of the
    // kernel handle keeps any other slice from this context from living
    // at the same time.
    Ok(unsafe { core::slice::from_raw_parts_mut(address as *mut u8, len) })
}
