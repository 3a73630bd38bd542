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
use mealy_serial::Serial;
use mealy_shell::ShellTask;
use spin::Once;

use crate::sched::{CapSource, CapSpec, KERNEL_NAME, TaskSpec};

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

/// The framebuffer's geometry, when the loader set one up (`set_display`).
static DISPLAY: Once<Geometry> = Once::new();

/// Whether the fs gets its image read-only (`fs=ro`: `set_fs_read_only`).
static FS_READ_ONLY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The fs's image capability when it is mounted read-only: no WRITE, so
/// neither the fs nor any file it hands out can write the image.
pub(crate) static FS_READ_ONLY_IMAGE: &[CapSpec] = &[CapSpec {
    name: mealy_fs::IMAGE_GRANT,
    source: CapSource::BootModule { cmdline: FS_MODULE },
    rights: Some(Rights::READ.union(Rights::GRANT).union(Rights::DERIVE)),
    badge: 0,
}];

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

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(Fs::new())
}

fn make_serial() -> Box<dyn StateMachine> {
    Box::new(Serial::new())
}

fn make_keyboard() -> Box<dyn StateMachine> {
    Box::new(Keyboard::new())
}

fn make_fbcon() -> Box<dyn StateMachine> {
    // Only in the list once `set_display` ran; a zero geometry would make
    // it log that it cannot draw, not fail.
    Box::new(Fbcon::new(DISPLAY.get().copied().unwrap_or(Geometry {
        width: 0,
        height: 0,
        pitch: 0,
        bpp: 0,
    })))
}

fn make_console() -> Box<dyn StateMachine> {
    Box::new(Console::new())
}

fn make_shell() -> Box<dyn StateMachine> {
    Box::new(ShellTask::new())
}

// new-service: factories above this line

/// The services started at boot.
pub static TASKS: &[TaskSpec] = &[
    TaskSpec::new("echo", make_echo),
    TaskSpec::new("pinger", make_pinger).caps(&[CapSpec::endpoint(
        "echo",
        "echo",
        Rights::WRITE,
        1,
    )]),
    TaskSpec::new("fs", make_fs).caps(&[CapSpec::full(
        mealy_fs::IMAGE_GRANT,
        CapSource::BootModule { cmdline: FS_MODULE },
    )]),
    // new-service: tasks above this line
];

/// The terminal's drivers: each holds its device and IRQ, and an endpoint
/// to the console whose badge says who it is.
static DRIVERS: &[TaskSpec] = &[
    TaskSpec::new("serial", make_serial).caps(&[
        CapSpec::device("ports", COM1),
        CapSpec::irq("irq", COM1_IRQ),
        CapSpec::timer("timer"),
        CapSpec::endpoint("console", "console", Rights::WRITE, badge::SERIAL),
    ]),
    TaskSpec::new("keyboard", make_keyboard).caps(&[
        CapSpec::device("ports", PS2),
        CapSpec::irq("irq", PS2_KEYBOARD_IRQ),
        CapSpec::endpoint("console", "console", Rights::WRITE, badge::KEYBOARD),
    ]),
];

static FBCON: TaskSpec = TaskSpec::new("fbcon", make_fbcon).caps(&[CapSpec {
    name: mealy_fbcon::GRANT_FRAMEBUFFER,
    source: CapSource::Framebuffer,
    rights: Some(Rights::READ.union(Rights::WRITE)),
    badge: 0,
}]);

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
    if FS_READ_ONLY.load(core::sync::atomic::Ordering::Relaxed)
        && let Some(fs) = list.iter_mut().find(|task| task.name == "fs")
    {
        fs.caps = FS_READ_ONLY_IMAGE;
    }
    list.extend_from_slice(DRIVERS);
    let mut console_caps = Vec::from([
        CapSpec::endpoint("shell", mealy_shell::NAME, Rights::WRITE, 0),
        CapSpec::endpoint("serial", "serial", Rights::WRITE, 0),
    ]);
    if display.is_some() {
        list.push(FBCON);
        console_caps.push(CapSpec::endpoint("fbcon", "fbcon", Rights::WRITE, 0));
    }
    list.push(TaskSpec::new("console", make_console).caps(Vec::leak(console_caps)));
    let mut caps = shell_caps(&list);
    caps.push(CapSpec::endpoint(
        mealy_shell::TERMINAL,
        "console",
        Rights::WRITE,
        badge::SHELL,
    ));
    caps.push(CapSpec::timer(mealy_shell::TIMER));
    list.push(
        TaskSpec::new(mealy_shell::NAME, make_shell)
            .caps(Vec::leak(caps))
            .budget(SHELL_BUDGET_NS),
    );
    list
}

/// The capabilities the shell's task holds over the boot list `tasks`:
/// an endpoint to each (named after it), a Task capability for each and
/// for the kernel (`task:<name>`), and the Inspect capability.
pub fn shell_caps(tasks: &[TaskSpec]) -> Vec<CapSpec> {
    let mut caps: Vec<CapSpec> = tasks
        .iter()
        .map(|task| CapSpec::endpoint(task.name, task.name, Rights::WRITE, 0))
        .collect();
    for name in tasks.iter().map(|task| task.name).chain([KERNEL_NAME]) {
        let grant: &'static str = alloc::string::String::leak(mealy_shell::task_grant(name));
        caps.push(CapSpec::task(grant, name));
    }
    caps.push(CapSpec::inspect(mealy_shell::INSPECT));
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
    let terminal = services.split_off(TASKS.len());
    (services, terminal)
}

/// A host platform whose COM1 and PS/2 controller are idle: nothing
/// received, transmitter empty (an unscripted port reads 0xff, which a
/// driver would take for endless input).
#[cfg(test)]
pub(crate) fn host_platform() -> crate::sched::HostPlatform {
    let mut platform = crate::sched::HostPlatform::manual();
    if let DeviceRange::Ports { base, .. } = COM1 {
        platform.port_default.insert(base + 5, 0x60);
    }
    // The PS/2 controller: nothing waiting.
    if let DeviceRange::Ports { base, .. } = PS2 {
        platform.port_default.insert(base + 4, 0);
    }
    platform
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{HostPlatform, PendingInterrupts, SchedConfig, Scheduler};

    static PENDING: PendingInterrupts = PendingInterrupts::new();

    /// The boot list on an idle host, then COM1 scripted: its line status
    /// reads `status` in turn (idle after that), its data port `data`.
    /// Returns COM1's first port too.
    fn boot_with_com1(status: &[u8], data: &[u8]) -> (Scheduler<HostPlatform>, u16) {
        // Its own interrupt board: a line posted here must reach this
        // test's serial task, not another test's.
        let pending = alloc::boxed::Box::leak(alloc::boxed::Box::new(PendingInterrupts::new()));
        let mut sched = Scheduler::new(host_platform(), pending, SchedConfig::default()).unwrap();
        sched.spawn_all(&boot_list()).unwrap();
        sched.run_until_idle(100_000);
        let DeviceRange::Ports { base, .. } = COM1 else {
            unreachable!()
        };
        let ports = &mut sched.platform_mut().port_input;
        ports.insert(base + 5, status.iter().copied().collect());
        ports.insert(base, data.iter().copied().collect());
        (sched, base)
    }

    /// What was written to COM1's data port, in order.
    fn written_to_com1(sched: &Scheduler<HostPlatform>, base: u16) -> alloc::vec::Vec<u8> {
        sched
            .platform()
            .port_writes
            .iter()
            .filter(|(port, _)| *port == base)
            .map(|(_, byte)| *byte)
            .collect()
    }

    /// Sends `text` to the console as the shell's task does, and runs
    /// until it has been shown.
    fn show_as_shell(sched: &mut Scheduler<HostPlatform>, text: &str) {
        let shell = sched.task_by_name(mealy_shell::NAME).unwrap();
        let terminal = sched
            .grants(shell)
            .iter()
            .find(|grant| grant.name == mealy_shell::TERMINAL)
            .unwrap()
            .cap;
        let mut buffer = [0u8; mealy_protocol::MAX_PAYLOAD];
        let payload = mealy_protocol::interface::encode_request(
            &mealy_protocol::terminal::Output { text },
            &mut buffer,
        )
        .unwrap();
        sched
            .act_as(shell, |cx| cx.send(terminal, payload, &[]))
            .unwrap()
            .unwrap();
        sched.run_until_idle(1_000);
    }

    #[test]
    fn boot_starts_the_services_and_then_the_terminal_whose_peers_exist_by_then() {
        let names = |list: &[TaskSpec]| list.iter().map(|t| t.name).collect::<Vec<_>>();
        let (services, terminal) = boot_stages();
        assert_eq!(names(&services), names(TASKS));
        let mut both = names(&services);
        both.extend(names(&terminal));
        assert_eq!(both, names(&boot_list()));
        // In two spawns, as boot does: the first settles on its own.
        let mut sched = Scheduler::new(host_platform(), &PENDING, SchedConfig::default()).unwrap();
        sched.spawn_all(&services).unwrap();
        sched.run_until_idle(100_000);
        let done = alloc::format!("pinger: {PINGER_ROUNDS} round trips");
        assert!(sched.platform().logged(&done));
        sched.spawn_all(&terminal).unwrap();
        sched.run_until_idle(100_000);
        assert!(sched.task_by_name(mealy_shell::NAME).is_some());
    }

    #[test]
    fn the_boot_task_list_spawns_and_runs_on_the_host() {
        let mut sched = Scheduler::new(host_platform(), &PENDING, SchedConfig::default()).unwrap();
        let ids = sched.spawn_all(&boot_list()).unwrap();
        assert_eq!(ids.len(), boot_list().len());
        sched.run_until_idle(100_000);
        let expected = alloc::format!("pinger: {PINGER_ROUNDS} round trips, 0 mismatches");
        assert!(
            sched.platform().logged(&expected),
            "{:?}",
            sched.platform().log_lines
        );
    }

    #[test]
    fn revoking_a_kernel_original_takes_the_endpoint_from_its_holder() {
        use crate::sched::KERNEL_TASK;
        let mut sched = Scheduler::new(host_platform(), &PENDING, SchedConfig::default()).unwrap();
        sched.spawn_all(&boot_list()).unwrap();
        sched.run_until_idle(100_000);
        let pinger = sched.task_by_name("pinger").unwrap();
        let endpoint = sched.grants(pinger)[0].cap;
        let snapshot = sched.caps().snapshot();
        let kernel = snapshot.cspace_of(KERNEL_TASK).unwrap();
        let original = snapshot
            .caps_in(kernel)
            .find(|cap| {
                snapshot
                    .children_of(cap.at)
                    .any(|child| child.cap == endpoint)
            })
            .unwrap()
            .at
            .cap;
        // Pinger's endpoint and the shell's, both minted from it.
        assert_eq!(sched.revoke(KERNEL_TASK, original), Ok(2));
        let used = sched
            .act_as(pinger, |cx| cx.send(endpoint, b"x", &[]))
            .unwrap();
        assert_eq!(used, Err(mealy_protocol::IpcError::InvalidCap));
        let shell = sched.task_by_name(mealy_shell::NAME).unwrap();
        let shells = sched
            .grants(shell)
            .iter()
            .find(|grant| grant.name == "echo")
            .unwrap()
            .cap;
        let used = sched
            .act_as(shell, |cx| cx.send(shells, b"x", &[]))
            .unwrap();
        assert_eq!(used, Err(mealy_protocol::IpcError::InvalidCap));
    }

    #[test]
    fn keystrokes_reach_the_shell_and_its_output_reaches_com1_through_the_services() {
        use mealy_protocol::terminal::Output;
        // Four bytes waiting in the UART, then its line status goes idle.
        let (mut sched, base) = boot_with_com1(&[0x61, 0x61, 0x61, 0x61], b"ps\r\n");
        let greeting = written_to_com1(&sched, base);
        assert!(greeting.ends_with(mealy_shell::PROMPT.as_bytes()));
        sched.pending().post(COM1_IRQ);
        sched.run_until_idle(10_000);
        assert_eq!(sched.platform().acked_irqs.last(), Some(&COM1_IRQ));
        // The table goes out a batch at a time (the retry timer stands in
        // for the transmitter-empty interrupt the host does not raise).
        for _ in 0..20 {
            sched.idle();
            sched.run_until_idle(1_000);
        }
        // The shell's echo, the ps table and the prompt, on COM1.
        let written = written_to_com1(&sched, base);
        let answer = String::from_utf8_lossy(&written[greeting.len()..]).into_owned();
        assert!(answer.starts_with("ps\r\nID"), "{answer:?}");
        assert!(answer.contains(" pinger "), "{answer:?}");
        assert!(answer.ends_with(mealy_shell::PROMPT), "{answer:?}");

        // Only the shell's endpoint is badged as the shell: a driver's
        // `output` is refused by the console, and nothing of it is shown.
        let serial = sched.task_by_name("serial").unwrap();
        let to_console = sched
            .grants(serial)
            .iter()
            .find(|grant| grant.name == "console")
            .unwrap()
            .cap;
        let mut buffer = [0u8; 64];
        let forged = Output { text: "forged" };
        sched
            .act_as(serial, |cx| {
                mealy_protocol::send(cx, to_console, &mut buffer, &forged, &[])
            })
            .unwrap()
            .unwrap();
        sched.run_until_idle(1_000);
        let after = written_to_com1(&sched, base);
        assert_eq!(&after[written.len()..], b"");
    }

    #[test]
    fn a_byte_that_comes_while_com1s_line_is_masked_is_still_read() {
        // 'x' waits; the driver's first look then finds the UART idle, and
        // 'y' arrives before the line is open again (its edge is lost).
        let (mut sched, base) = boot_with_com1(&[0x61, 0x60, 0x61, 0x60], b"xy");
        let before = written_to_com1(&sched, base).len();
        sched.pending().post(COM1_IRQ);
        sched.run_until_idle(1_000);
        // The shell echoes both.
        assert_eq!(&written_to_com1(&sched, base)[before..], b"xy");
    }

    #[test]
    fn output_the_uart_could_not_take_goes_out_when_the_retry_timer_fires() {
        // The transmitter is busy at the one look the driver takes.
        let (mut sched, base) = boot_with_com1(&[0x00], b"");
        let before = written_to_com1(&sched, base).len();
        show_as_shell(&mut sched, "hi\n");
        assert_eq!(
            written_to_com1(&sched, base).len(),
            before,
            "waiting, not dropped"
        );
        sched.idle(); // the host platform jumps to the timer's deadline
        sched.run_until_idle(1_000);
        assert_eq!(&written_to_com1(&sched, base)[before..], b"hi\r\n");
    }

    #[test]
    fn a_long_output_goes_out_in_batches_and_whole() {
        let (mut sched, base) = boot_with_com1(&[], b"");
        let before = written_to_com1(&sched, base).len();
        let text = "0123456789".repeat(100);
        show_as_shell(&mut sched, &text);
        let first = written_to_com1(&sched, base).len() - before;
        assert_eq!(first, mealy_serial::TRANSMIT_BATCH, "one batch per message");
        // The rest at the next looks (the host has no transmitter-empty
        // interrupt; the retry timer stands in for it).
        let mut looks = 0;
        while written_to_com1(&sched, base).len() < before + text.len() && looks < 10 {
            sched.idle();
            sched.run_until_idle(1_000);
            looks += 1;
        }
        assert_eq!(&written_to_com1(&sched, base)[before..], text.as_bytes());
        assert!(looks >= 3, "{looks} more looks for 1000 bytes");
    }

    #[test]
    fn with_a_display_the_shells_output_is_drawn_by_fbcon_too() {
        let geometry = Geometry {
            width: 64,
            height: 64,
            pitch: 256,
            bpp: 32,
        };
        let mut platform = host_platform();
        platform.framebuffer_len = Some(256 * 64);
        let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
        sched
            .spawn_all_with(&boot_list_for(Some(geometry)), |spec| {
                if spec.name == "fbcon" {
                    Box::new(Fbcon::new(geometry))
                } else {
                    (spec.factory)()
                }
            })
            .unwrap();
        sched.run_until_idle(100_000);
        let fbcon = sched.task_by_name("fbcon").unwrap();
        let framebuffer = sched.grants(fbcon)[0].cap;
        let lit = |sched: &mut Scheduler<crate::sched::HostPlatform>| {
            sched
                .act_as(fbcon, |cx| {
                    cx.region(framebuffer)
                        .map(|bytes| bytes.iter().filter(|byte| **byte != 0).count())
                })
                .unwrap()
                .unwrap()
        };
        let before = lit(&mut sched);
        let handled = sched.task_info(fbcon).unwrap().counters.handled;
        show_as_shell(&mut sched, "MW");
        assert!(lit(&mut sched) > before + 20, "glyphs were drawn");
        assert_eq!(
            sched.task_info(fbcon).unwrap().counters.handled,
            handled + 1,
            "one Output reached fbcon"
        );
    }

    #[test]
    fn the_probe_hears_from_every_boot_task() {
        use crate::probe::{self, Probe};
        fn make_probe() -> Box<dyn StateMachine> {
            Box::new(Probe::new())
        }
        // As `test=ping` builds it: the whole boot list, display included,
        // and a probe with an endpoint to every task.
        let geometry = Geometry {
            width: 64,
            height: 64,
            pitch: 256,
            bpp: 32,
        };
        let mut list = boot_list_for(Some(geometry));
        let endpoints: Vec<CapSpec> = list
            .iter()
            .map(|task| CapSpec::endpoint(task.name, task.name, Rights::WRITE, 0))
            .collect();
        list.push(TaskSpec::new(probe::NAME, make_probe).caps(Vec::leak(endpoints)));
        let mut platform = host_platform();
        platform.framebuffer_len = Some(256 * 64);
        let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
        sched
            .spawn_all_with(&list, |spec| {
                if spec.name == "fbcon" {
                    Box::new(Fbcon::new(geometry))
                } else {
                    (spec.factory)()
                }
            })
            .unwrap();
        sched.run_until_idle(100_000);
        let log = &sched.platform().log_lines;
        // Echo takes a ping for a malformed echo request: an error reply.
        assert!(
            log.iter()
                .any(|line| line.contains("ping: echo: no pong (")),
            "{log:?}"
        );
        // Every task answers or refuses; none leaves the probe waiting.
        for task in list.iter().filter(|task| task.name != probe::NAME) {
            let heard = alloc::format!("ping: {}: ", task.name);
            assert!(sched.platform().logged(&heard), "{heard} {log:?}");
        }
        assert!(sched.platform().logged("ping: done"), "{log:?}");
    }
}
