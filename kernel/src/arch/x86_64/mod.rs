//! x86_64: the Limine requests, the entry points, COM1, the QEMU exit
//! device and the few CPU instructions the portable kernel needs.

pub mod cpu;
pub mod entry;
pub mod limine;
pub mod panic;
pub mod qemu;
pub mod serial;
