//! The tasks Mealy starts at boot, and the capabilities each is given: the
//! kernel's equivalent of Hubris's `app.toml`, as one declarative list.
//!
//! A capability is named by what it points at (a peer task's name, an IRQ
//! line, a device range), never by a number, and a task finds it in its
//! grants by the name given here. `cargo xtask new-service NAME` adds a
//! factory and an entry at the marked places below.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_caps::{DeviceRange, Rights};
use mealy_console::{Console, badge};
use mealy_echo::Echo;
use mealy_fbcon::{Fbcon, Geometry};
use mealy_fs::Fs;
use mealy_keyboard::Keyboard;
use mealy_pinger::Pinger;
use mealy_protocol::StateMachine;
use mealy_protocol::supervision::{
    POLICY_GRANT, PolicyEntry, PolicyTable, RestartPolicy, SELF_GRANT, SUPERVISOR_NAME,
    UnsupervisedPolicy,
};
use mealy_serial::Serial;
use mealy_shell::ShellTask;
use mealy_supervisor::Supervisor;
use mealy_virtio_blk::VirtioBlk;
use spin::Once;

use crate::sched::{CapSpec, KERNEL_NAME, TaskSpec, grant};

/// COM1's eight I/O ports and its ISA interrupt line.
pub const COM1: DeviceRange = DeviceRange::Ports {
    base: 0x3f8,
    len: 8,
};
pub const COM1_IRQ: u8 = 4;

/// The i8042 PS/2 controller: data port 0x60 .. status port 0x64, and
/// the keyboard's ISA interrupt line.
pub const PS2: DeviceRange = DeviceRange::Ports { base: 0x60, len: 5 };
pub const PS2_KEYBOARD_IRQ: u8 = 1;

/// The command line of the boot module that holds the file-system image.
pub const FS_MODULE: &str = "fs";

/// Round trips the pinger makes to echo at boot, and their payload size.
pub const PINGER_ROUNDS: u32 = 100;
pub const PINGER_PAYLOAD: usize = 32;

/// The shell's handler budget: a command such as `graph --dot` or `bench`
/// is one message's work, and takes tens of milliseconds in a debug build
/// under emulation.
pub const SHELL_BUDGET_NS: u64 = 2_000_000_000;

/// A virtio-blk device PCI enumeration found and readied
/// (`set_block_device`): the physical ranges of its register blocks, its
/// notify multiplier and its MSI-X line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockDevice {
    pub common: DeviceRange,
    pub notify: DeviceRange,
    pub device: DeviceRange,
    pub notify_multiplier: u32,
    pub line: u8,
}

/// The disk, when boot found one (`set_block_device`).
static BLOCK_DEVICE: Once<BlockDevice> = Once::new();

/// Tells the task list there is a virtio-blk device: its driver starts
/// with the services, holding the device's registers, its interrupt and
/// DMA memory.
pub fn set_block_device(device: BlockDevice) {
    BLOCK_DEVICE.call_once(|| device);
}

/// The disk boot found, if any.
pub fn block_device() -> Option<BlockDevice> {
    BLOCK_DEVICE.get().copied()
}

/// The disk driver's entry for `device`: three MMIO Device capabilities
/// (registers it may read and write), the Irq of its MSI-X line, its
/// DMA memory, and its configuration (the notify multiplier) as bytes.
pub fn block_driver(device: BlockDevice) -> TaskSpec {
    let config = mealy_virtio_blk::Config {
        notify_multiplier: device.notify_multiplier,
    };
    let config: &'static [u8] = Vec::leak(config.encode().to_vec());
    let caps = Vec::from([
        grant(mealy_virtio_blk::GRANT_COMMON).device(device.common),
        grant(mealy_virtio_blk::GRANT_NOTIFY).device(device.notify),
        grant(mealy_virtio_blk::GRANT_DEVICE).device(device.device),
        grant(mealy_virtio_blk::GRANT_IRQ).irq(device.line),
        grant(mealy_virtio_blk::GRANT_DMA).dma((mealy_virtio_blk::DMA_PAGES * 4096) as u64),
        grant(mealy_virtio_blk::GRANT_CONFIG).bytes(config),
    ]);
    TaskSpec::new(mealy_virtio_blk::NAME, make_virtio_blk).caps(Vec::leak(caps))
}

fn make_virtio_blk() -> Box<dyn StateMachine> {
    Box::new(VirtioBlk::new())
}

/// The framebuffer's geometry, when the loader set one up (`set_display`).
static DISPLAY: Once<Geometry> = Once::new();

/// Whether the fs gets its image read-only (`fs=ro`: `set_fs_read_only`).
static FS_READ_ONLY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The fs's image capability when it is mounted read-only: no WRITE, so
/// neither the fs nor any file it hands out can write the image.
pub static FS_READ_ONLY_IMAGE: &[CapSpec] = &[grant(mealy_fs::IMAGE_GRANT)
    .boot_module(FS_MODULE)
    .rights(Rights::READ.union(Rights::GRANT).union(Rights::DERIVE))];

/// The fs's capabilities when there is a disk: its image (served if the
/// disk does not mount) and an endpoint to the block driver, which it
/// mounts instead and commits to on `Sync`.
pub static FS_WITH_DISK: &[CapSpec] = &[
    grant(mealy_fs::IMAGE_GRANT).boot_module(FS_MODULE),
    grant(mealy_fs::DISK_GRANT)
        .endpoint_to(mealy_virtio_blk::NAME)
        .rights(Rights::WRITE),
];

/// What the fs is granted: with a disk, its image and the driver's
/// endpoint (it mounts the disk, and serves the image if that fails);
/// under `fs=ro` only the image without WRITE, disk or not, so nothing can
/// change either; else its image.
pub fn fs_caps(disk: bool, read_only: bool) -> &'static [CapSpec] {
    match (disk, read_only) {
        (_, true) => FS_READ_ONLY_IMAGE,
        (true, false) => FS_WITH_DISK,
        (false, false) => FS_IMAGE,
    }
}

/// The fs's image, with every right: no disk.
pub static FS_IMAGE: &[CapSpec] = &[grant(mealy_fs::IMAGE_GRANT).boot_module(FS_MODULE)];

/// Makes the boot list grant the fs its image without WRITE.
pub fn set_fs_read_only() {
    FS_READ_ONLY.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// Tells the task list there is a framebuffer of `geometry`: `fbcon`
/// starts and the console shows output there too.
pub fn set_display(geometry: Geometry) {
    DISPLAY.call_once(|| geometry);
}

fn make_echo() -> Box<dyn StateMachine> {
    Box::new(Echo::new())
}

fn make_pinger() -> Box<dyn StateMachine> {
    Box::new(Pinger::new(PINGER_ROUNDS, PINGER_PAYLOAD))
}

/// The fs with its default limits (others come in a `mealy_fs::LIMITS_GRANT`).
pub fn make_fs() -> Box<dyn StateMachine> {
    Box::new(Fs::new())
}

fn make_serial() -> Box<dyn StateMachine> {
    Box::new(Serial::new())
}

fn make_keyboard() -> Box<dyn StateMachine> {
    Box::new(Keyboard::new())
}

fn make_fbcon() -> Box<dyn StateMachine> {
    // Its geometry comes as a grant (`fbcon`), in ring 0 as in ring 3.
    Box::new(Fbcon::new())
}

fn make_console() -> Box<dyn StateMachine> {
    Box::new(Console::new())
}

fn make_shell() -> Box<dyn StateMachine> {
    Box::new(ShellTask::new())
}

fn make_supervisor() -> Box<dyn StateMachine> {
    Box::new(Supervisor::new())
}

// new-service: factories above this line

/// The services started at boot.
pub static TASKS: &[TaskSpec] = &[
    TaskSpec::new("echo", make_echo),
    // A one-shot measurement at boot: a restart would only run it again.
    TaskSpec::new("pinger", make_pinger)
        .restart(RestartPolicy::Never)
        .caps(&[grant("echo")
            .endpoint_to("echo")
            .rights(Rights::WRITE)
            .badge(1)]),
    TaskSpec::new("fs", make_fs).caps(FS_IMAGE),
    // new-service: tasks above this line
];

/// The terminal's drivers: each holds its device and IRQ, and an endpoint
/// to the console whose badge says who it is.
static DRIVERS: &[TaskSpec] = &[
    TaskSpec::new("serial", make_serial).caps(&[
        grant("ports").device(COM1),
        grant("irq").irq(COM1_IRQ),
        grant("timer").timer(),
        grant("console")
            .endpoint_to("console")
            .rights(Rights::WRITE)
            .badge(badge::SERIAL),
    ]),
    TaskSpec::new("keyboard", make_keyboard).caps(&[
        grant("ports").device(PS2),
        grant("irq").irq(PS2_KEYBOARD_IRQ),
        grant("console")
            .endpoint_to("console")
            .rights(Rights::WRITE)
            .badge(badge::KEYBOARD),
    ]),
];

/// `fbcon` for a framebuffer of `geometry`: the geometry as
/// configuration bytes (`mealy_fbcon::config`'s layout; a geometry whose
/// fields do not fit is given as no bytes, which fbcon reports), and the
/// framebuffer's Region.
fn fbcon(geometry: Geometry) -> TaskSpec {
    let bytes: &'static [u8] = match geometry.encode() {
        Some(bytes) => Vec::leak(bytes.to_vec()),
        None => &[],
    };
    TaskSpec::new("fbcon", make_fbcon).caps(Vec::leak(Vec::from([
        grant(mealy_fbcon::GRANT_GEOMETRY).bytes(bytes),
        grant(mealy_fbcon::GRANT_FRAMEBUFFER)
            .framebuffer()
            .rights(Rights::READ.union(Rights::WRITE)),
    ])))
}

/// What the kernel starts: [`TASKS`]; the terminal (the drivers, `fbcon`
/// when there is a display, and the console that joins them to the
/// shell); and the shell's task, which gets an endpoint and a Task
/// capability for every other task ([`shell_caps`]), its terminal (the
/// console) and a Timer.
pub fn boot_list() -> Vec<TaskSpec> {
    boot_list_for(DISPLAY.get().copied())
}

/// [`boot_list`] for a machine with the framebuffer `display`, if any
/// (`fbcon` is then built for it: `set_display`).
pub fn boot_list_for(display: Option<Geometry>) -> Vec<TaskSpec> {
    let mut list = TASKS.to_vec();
    let read_only = FS_READ_ONLY.load(core::sync::atomic::Ordering::Relaxed);
    if let Some(device) = BLOCK_DEVICE.get() {
        list.push(block_driver(*device));
    }
    if let Some(fs) = list.iter_mut().find(|task| task.name == "fs") {
        fs.caps = fs_caps(BLOCK_DEVICE.get().is_some(), read_only);
    }
    list.extend_from_slice(DRIVERS);
    let mut console_caps = Vec::from([
        grant("shell")
            .endpoint_to(mealy_shell::NAME)
            .rights(Rights::WRITE),
        grant("serial").endpoint_to("serial").rights(Rights::WRITE),
    ]);
    if let Some(geometry) = display {
        list.push(fbcon(geometry));
        console_caps.push(grant("fbcon").endpoint_to("fbcon").rights(Rights::WRITE));
    }
    list.push(TaskSpec::new("console", make_console).caps(Vec::leak(console_caps)));
    // The supervisor comes last: it is started after every task it
    // supervises. The shell controls it too, so it is named in the
    // shell's capabilities before it is built.
    let supervisor_placeholder = TaskSpec::new(SUPERVISOR_NAME, make_supervisor);
    list.push(supervisor_placeholder);
    let mut caps = shell_caps(&list);
    list.pop();
    caps.push(
        grant(mealy_shell::TERMINAL)
            .endpoint_to("console")
            .rights(Rights::WRITE)
            .badge(badge::SHELL),
    );
    caps.push(grant(mealy_shell::TIMER).timer());
    // Its own too: `fault shell` (a test's crash of the shell) and `kill
    // shell` name it like any other task; the supervisor brings it back.
    let own: &'static str = alloc::string::String::leak(mealy_shell::task_grant(mealy_shell::NAME));
    caps.push(grant(own).control_of(mealy_shell::NAME));
    list.push(
        TaskSpec::new(mealy_shell::NAME, make_shell)
            .caps(Vec::leak(caps))
            .budget(SHELL_BUDGET_NS),
    );
    let supervisor = supervisor_spec(&list);
    list.push(supervisor);
    list
}

/// What the supervisor does when it faults itself: no one supervises it,
/// so the kernel applies this, after one report line.
pub const SUPERVISOR_POLICY: UnsupervisedPolicy = UnsupervisedPolicy::Reboot;

/// The supervisor's entry over the boot list `tasks`: a Task capability
/// for each (`task:<name>`) and for the kernel (a `Reboot` policy restarts
/// it), an endpoint to itself to name in `supervise`, and the policy
/// table (each task's [`TaskSpec::restart`]) as a `bytes` grant.
pub fn supervisor_spec(tasks: &[TaskSpec]) -> TaskSpec {
    let table = PolicyTable {
        entries: tasks
            .iter()
            .map(|task| PolicyEntry {
                task: task.name,
                policy: task.restart,
            })
            .collect(),
    };
    // Encoding a list of names and small enums into a Vec cannot fail
    // but for the heap; an empty table then says so in the supervisor's
    // one error line.
    let bytes: &'static [u8] = Vec::leak(postcard::to_allocvec(&table).unwrap_or_default());
    let mut caps = Vec::from([
        grant(POLICY_GRANT).bytes(bytes),
        grant(SELF_GRANT)
            .endpoint_to(SUPERVISOR_NAME)
            .rights(Rights::WRITE.union(Rights::DERIVE)),
    ]);
    for name in tasks.iter().map(|task| task.name).chain([KERNEL_NAME]) {
        let grant_name: &'static str = alloc::string::String::leak(mealy_shell::task_grant(name));
        caps.push(grant(grant_name).control_of(name));
    }
    TaskSpec::new(SUPERVISOR_NAME, make_supervisor)
        .caps(Vec::leak(caps))
        .unsupervised(SUPERVISOR_POLICY)
}

/// The capabilities the shell's task holds over the boot list `tasks`:
/// an endpoint to each (named after it; one it may pass on to a program
/// it runs), a Task capability for each and
/// for the kernel (`task:<name>`), and the Inspect capability.
pub fn shell_caps(tasks: &[TaskSpec]) -> Vec<CapSpec> {
    let mut caps: Vec<CapSpec> = tasks
        .iter()
        .map(|task| {
            // DERIVE and GRANT: `run` passes endpoints on to programs.
            grant(task.name)
                .endpoint_to(task.name)
                .rights(Rights::WRITE.union(Rights::DERIVE).union(Rights::GRANT))
        })
        .collect();
    for name in tasks.iter().map(|task| task.name).chain([KERNEL_NAME]) {
        let grant_name: &'static str = alloc::string::String::leak(mealy_shell::task_grant(name));
        caps.push(grant(grant_name).control_of(name));
    }
    caps.push(grant(mealy_shell::INSPECT).inspect());
    caps
}

/// [`boot_list`] in the two stages boot starts it in: the services of
/// [`TASKS`] first, which boot runs until they are idle, so what they say
/// at start comes before the prompt; then the terminal (drivers, console,
/// shell), whose peers are all there by then. A service that never went
/// idle at start would hold the prompt back: the ones in [`TASKS`] answer
/// and settle.
pub fn boot_stages() -> (Vec<TaskSpec>, Vec<TaskSpec>) {
    let mut services = boot_list();
    let terminal = services.split_off(TASKS.len() + usize::from(BLOCK_DEVICE.get().is_some()));
    (services, terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fs_gets_the_disk_only_when_there_is_one_and_not_under_fs_ro() {
        let names = |caps: &[CapSpec]| caps.iter().map(|cap| cap.name).collect::<Vec<_>>();
        assert_eq!(
            names(fs_caps(true, false)),
            [mealy_fs::IMAGE_GRANT, mealy_fs::DISK_GRANT]
        );
        assert_eq!(names(fs_caps(false, false)), [mealy_fs::IMAGE_GRANT]);
        assert_eq!(names(fs_caps(true, true)), [mealy_fs::IMAGE_GRANT]);
        assert_eq!(fs_caps(true, true), FS_READ_ONLY_IMAGE);
        // With no device found, the list has no driver and the fs no disk.
        let fs = boot_list_for(None)
            .into_iter()
            .find(|task| task.name == "fs")
            .unwrap();
        assert_eq!(names(fs.caps), [mealy_fs::IMAGE_GRANT]);
    }

    #[test]
    fn the_disk_driver_is_told_its_notify_multiplier_in_a_bytes_grant() {
        let device = BlockDevice {
            common: DeviceRange::Mmio {
                base: 0xfe00_0000,
                len: 0x1000,
            },
            notify: DeviceRange::Mmio {
                base: 0xfe00_3000,
                len: 0x1000,
            },
            device: DeviceRange::Mmio {
                base: 0xfe00_2000,
                len: 0x1000,
            },
            notify_multiplier: 4,
            line: 16,
        };
        let driver = block_driver(device);
        let config = driver
            .caps
            .iter()
            .find(|cap| cap.name == mealy_virtio_blk::GRANT_CONFIG)
            .expect("a config grant");
        let crate::sched::CapSource::Bytes { bytes } = config.source else {
            panic!("not bytes: {:?}", config.source);
        };
        assert_eq!(
            mealy_virtio_blk::Config::decode(bytes),
            Ok(mealy_virtio_blk::Config {
                notify_multiplier: 4
            })
        );
        assert_eq!(config.rights, Some(Rights::READ), "read-only");
    }
}
