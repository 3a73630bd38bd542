//! The `test=NAME` scenarios (`cmdline.rs` lists them): each exercises one
//! part of the kernel in QEMU and ends the run with a status, so the host
//! tests in `tests/` can check it from outside. They live in the kernel
//! image, chosen by the command line, so those tests go through the real
//! boot path; nothing in the product calls into them.
//!
//! | file | scenarios |
//! |---|---|
//! | `mod.rs` | choosing one; `boot`, `panic`, `divide-error`, `invalid-opcode` |
//! | `devices.rs` | `echo` (COM1's IRQ through the I/O APIC), `timer`, `shutdown` |
//! | `memory.rs` | `page-fault` (a region's guard page), `exhaust` |
//! | `ipc.rs` | `ipc` (round trips), `ping` (the probe against the boot list) |
//! | `bench.rs` | `bench`: the numbers `cargo xtask bench` reports |
//! | `user.rs` | `user`: a raw ring-3 program (`program/testdata/ring3.rs`); `churn`: a thousand spawns and stops |
//! | `probe.rs` | the probe task `ping` spawns (portable, host-tested too) |
//! | `disk.rs` | `disk`: the virtio-blk driver and the disk check |
//! | `disk_check.rs` | the task `disk` spawns: write, flush, read back (portable, host-tested) |
//! | `soak.rs` | `soak`: echo killed or faulted 100 times under a full-rate caller; nothing lost, memory back at baseline |
//!
//! The measurement `ipc` and `bench` print is the product's own
//! (`crate::bench`), which the shell's `bench` runs too.

pub mod disk_check;
pub mod probe;
pub mod soak;

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod devices;
#[cfg(target_os = "none")]
mod disk;
#[cfg(target_os = "none")]
mod ipc;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod user;

#[cfg(target_os = "none")]
use crate::arch::x86_64::memory::KernelMemory;
#[cfg(target_os = "none")]
use crate::arch::x86_64::qemu::{self, ExitStatus};
#[cfg(target_os = "none")]
use crate::cmdline::TestScenario;

/// Runs `scenario`; never returns.
#[cfg(target_os = "none")]
pub fn run(
    scenario: TestScenario,
    memory: Option<&'static KernelMemory>,
    fs_image: Option<&'static [u8]>,
) -> ! {
    use crate::arch::x86_64::fault;
    match scenario {
        TestScenario::Boot => qemu::exit(ExitStatus::Success),
        TestScenario::Panic => panic!("deliberate panic (test=panic)"),
        TestScenario::Echo => devices::echo_one_line(),
        TestScenario::PageFault => memory::fault_on_guard_page(memory),
        TestScenario::DivideError => fault::provoke_divide_error(),
        TestScenario::InvalidOpcode => fault::provoke_invalid_opcode(),
        TestScenario::Timer => devices::check_timer(),
        TestScenario::Exhaust => memory::exhaust(memory),
        TestScenario::Shutdown => devices::shut_down(),
        TestScenario::Ipc => ipc::round_trips(memory),
        TestScenario::Ping => ipc::ping_every_task(memory),
        TestScenario::Bench => bench::run(memory, fs_image),
        TestScenario::User => user::run_raw_program(memory),
        TestScenario::Churn => user::spawn_and_stop_many(memory, fs_image),
        TestScenario::Disk => disk::check(memory),
        TestScenario::Soak => soak::run(memory, fs_image),
    }
}

/// The memory manager, which the scenario needs; without it, a failure.
#[cfg(target_os = "none")]
fn require_memory(memory: Option<&'static KernelMemory>) -> &'static KernelMemory {
    match memory {
        Some(memory) => memory,
        None => {
            crate::println!("scenario: no memory manager (see the error above)");
            qemu::exit(ExitStatus::Failure)
        }
    }
}
