//! The boot task list as a whole system on the host: every service,
//! driver and the shell spawned from `tasks::boot_list` on a `HostPlatform`
//! whose COM1 and PS/2 ports are scripted, so a keystroke's way in and the
//! answer's way out run through the real scheduler and capabilities.

mod common;

use common::host_platform;
use mealy_caps::{DeviceRange, Rights};
use mealy_fbcon::Geometry;
use mealy_kernel::sched::{
    CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_kernel::tasks::{
    COM1, COM1_IRQ, PINGER_ROUNDS, TASKS, boot_list, boot_list_for, boot_stages,
};
use mealy_protocol::StateMachine;

static PENDING: PendingInterrupts = PendingInterrupts::new();

/// The boot list on an idle host, then COM1 scripted: its line status
/// reads `status` in turn (idle after that), its data port `data`.
/// Returns COM1's first port too.
fn boot_with_com1(status: &[u8], data: &[u8]) -> (Scheduler<HostPlatform>, u16) {
    // Its own interrupt board: a line posted here must reach this
    // test's serial task, not another test's.
    let pending = Box::leak(Box::new(PendingInterrupts::new()));
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
fn written_to_com1(sched: &Scheduler<HostPlatform>, base: u16) -> Vec<u8> {
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
    let output = mealy_protocol::terminal::Output { text };
    sched
        .act_as(shell, |cx| {
            mealy_protocol::send(cx, terminal, &mut buffer, &output, &[])
        })
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
    let done = format!("pinger: {PINGER_ROUNDS} round trips");
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
    let expected = format!("pinger: {PINGER_ROUNDS} round trips, 0 mismatches");
    assert!(
        sched.platform().logged(&expected),
        "{:?}",
        sched.platform().log_lines
    );
}

#[test]
fn revoking_a_kernel_original_takes_the_endpoint_from_its_holder() {
    use mealy_kernel::sched::KERNEL_TASK;
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
    sched.spawn_all(&boot_list_for(Some(geometry))).unwrap();
    sched.run_until_idle(100_000);
    let fbcon = sched.task_by_name("fbcon").unwrap();
    let framebuffer = sched
        .grants(fbcon)
        .iter()
        .find(|grant| grant.name == mealy_fbcon::GRANT_FRAMEBUFFER)
        .unwrap()
        .cap;
    let lit = |sched: &mut Scheduler<mealy_kernel::sched::HostPlatform>| {
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
    use mealy_kernel::scenarios::probe::{self, Probe};
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
        .map(|task| {
            grant(task.name)
                .endpoint_to(task.name)
                .rights(Rights::WRITE)
        })
        .collect();
    list.push(TaskSpec::new(probe::NAME, make_probe).caps(Vec::leak(endpoints)));
    let mut platform = host_platform();
    platform.framebuffer_len = Some(256 * 64);
    let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
    sched.spawn_all(&list).unwrap();
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
        let heard = format!("ping: {}: ", task.name);
        assert!(sched.platform().logged(&heard), "{heard} {log:?}");
    }
    assert!(sched.platform().logged("ping: done"), "{log:?}");
}
