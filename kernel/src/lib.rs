//! Mealy's kernel, as a library: the portable parts that are tested on the
//! host, and (on the bare-metal target only) the x86_64 architecture layer.
//!
//! The binary (`main.rs`) is a thin entry that hands the boot responses to
//! `boot`. Everything that touches hardware lives under `arch/`;
//! everything else builds and runs its tests on the host.
//!
//! May depend on `mealy-caps`, `mealy-protocol` and the services; nothing in
//! the workspace depends on the kernel.
//!
//! Everything here is product code but [`scenarios`]: the `test=NAME`
//! scenarios QEMU tests boot into, and the probe task, which the product
//! never calls (the IPC measurement they share with the shell's `bench` is
//! [`bench`](mod@bench)). Host stand-ins for the machine (`sched::HostPlatform`,
//! `mem::testing`) exist only under `cfg(test)` or the `testing` feature;
//! tests of the whole system on the host, with the services in the real
//! scheduler, are the integration tests in `kernel/tests/`.
//!
//! # Where `unsafe` may be
//!
//! The crate denies `unsafe_code`; the compiler allows it only in these
//! modules, and every block in them carries a `// SAFETY:` line:
//!
//! - `arch`: port I/O, control registers, MSRs, MMIO, the IDT and its naked
//!   trap stubs, the Limine request statics and the exported entry point.
//! - `mem::frame`: the frame allocator keeps its free lists and bitmaps in
//!   the free frames themselves, through the `PhysicalMemory` window.
//! - `mem::heap`: the kernel heap is the `GlobalAlloc`, handing out raw
//!   memory that `talc` manages.
//! - `mem::testing` (tests and benchmarks only): a host buffer standing in
//!   for physical memory implements the unsafe `PhysicalMemory` trait.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod banner;
pub mod bench;
pub mod cmdline;
pub mod inspect;
pub mod ipc;
pub mod mem;
pub mod pci;
pub mod power;
pub mod program;
pub mod scenarios;
pub mod sched;
pub mod symbols;
pub mod tasks;
pub mod trap;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod run_loop;
