//! x86_64: the Limine requests, the entry points, COM1, the QEMU exit
//! device and the few CPU instructions the portable kernel needs.

pub mod acpi;
pub mod apic;
pub mod clock;
pub mod cpu;
pub mod entry;
pub mod fault;
pub mod gdt;
pub mod interrupts;
pub mod ioapic;
pub mod limine;
pub mod memory;
pub mod msi;
pub mod paging;
pub mod panic;
pub mod pci;
pub mod pit;
pub mod platform;
pub mod qemu;
pub mod serial;
pub mod trap_entry;
pub mod user;
