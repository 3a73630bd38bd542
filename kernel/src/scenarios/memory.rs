//! Scenarios for the memory manager on the machine: a write past a
//! region must fault on its guard page (`test=page-fault`), and running out
//! of frames and heap must be an error value the kernel survives
//! (`test=exhaust`).

use alloc::vec::Vec;

use super::require_memory;
use crate::arch::x86_64::fault;
use crate::arch::x86_64::memory::{self, KernelMemory};
use crate::arch::x86_64::qemu::{self, ExitStatus};
use crate::mem::{Owner, Permissions, Region};
use crate::println;

/// `test=page-fault`: map a 4-page region, use it, then write one byte
/// past its end: the report must name the region's guard page.
pub(super) fn fault_on_guard_page(memory: Option<&'static KernelMemory>) -> ! {
    let memory = require_memory(memory);
    let region = match Region::new_mapped(memory, 4, 1, Owner(0), Permissions::KERNEL_DATA) {
        Ok(region) => region,
        Err(error) => {
            println!("page-fault: cannot map a region: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    };
    let range = region.range();
    println!(
        "page-fault: region {:#x}..{:#x} mapped; writing past its end",
        range.start().as_u64(),
        range.end().as_u64()
    );
    fault::provoke_page_fault(range.end().as_u64())
}

/// `test=exhaust`: take every free frame, then grow the heap until it is
/// refused. Both must end in an error value, and the kernel must go on.
pub(super) fn exhaust(memory: Option<&'static KernelMemory>) -> ! {
    let memory = require_memory(memory);
    let mut taken = Vec::new();
    if taken
        .try_reserve_exact(memory.frame_stats().free as usize)
        .is_err()
    {
        println!("exhaust: no heap for the frame list");
        qemu::exit(ExitStatus::Failure)
    }
    // After the list's own heap growth, which is not given back.
    let before = memory.frame_stats();
    let error = loop {
        match memory.with_frames(|frames| frames.allocate()) {
            Ok(frame) => taken.push(frame),
            Err(error) => break error,
        }
    };
    println!(
        "exhaust: frames ran out after {} allocations: {error}",
        taken.len()
    );
    for frame in taken.drain(..) {
        if let Err(error) = memory.with_frames(|frames| frames.free(frame)) {
            println!("exhaust: freeing a frame failed: {error}");
            qemu::exit(ExitStatus::Failure)
        }
    }
    let after = memory.frame_stats();
    println!(
        "exhaust: frames free before {} after {}",
        before.free, after.free
    );

    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() || chunks.try_reserve(1).is_err() {
            break;
        }
        // Reserved, not written: the heap must grow (map) for it, which
        // is what runs out; touching every byte only costs emulation time.
        chunk.push(0xa5);
        chunks.push(chunk);
    }
    match memory::last_heap_failure() {
        Some(failure) => println!(
            "exhaust: heap refused after {} MiB: {failure}",
            (chunks.len() * CHUNK) >> 20
        ),
        None => println!("exhaust: heap refused with no recorded failure"),
    }
    let grown_to = memory::heap_stats().mapped_bytes;
    drop(chunks);
    let mut probe: Vec<u8> = Vec::new();
    let still_works = probe.try_reserve_exact(4096).is_ok();
    println!(
        "exhaust: heap mapped {} MiB; after freeing, a 4 KiB allocation {}",
        grown_to >> 20,
        if still_works { "succeeds" } else { "fails" }
    );
    if still_works && after.free == before.free {
        println!("exhaust: ok, the kernel is still running");
        qemu::exit(ExitStatus::Success)
    }
    qemu::exit(ExitStatus::Failure)
}
