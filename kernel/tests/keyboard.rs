//! The keyboard driver in a real host scheduler: scripted i8042 ports, IRQ
//! 1 posted as a trap handler would, and a recorder task as the console
//! that keeps every `terminal::Input` it gets.

use std::cell::RefCell;
use std::rc::Rc;

use mealy_caps::{DeviceRange, Rights};
use mealy_kernel::sched::{
    CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_keyboard::Keyboard;
use mealy_protocol::terminal::{self, Input, Output, not_accepted};
use mealy_protocol::{Badge, Context, HandleError, Incoming, Outgoing, StateMachine, TaskId};

const DATA: u16 = 0x60;
const STATUS: u16 = 0x64;

type Typed = Rc<RefCell<Vec<Vec<u8>>>>;

/// The console stand-in: records the bytes of every `Input`.
struct Console {
    typed: Typed,
}

impl StateMachine for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        terminal::serve(self, cx, &msg)
    }
}

impl Outgoing for Console {
    fn outbox(&mut self) -> &mut [u8] {
        &mut []
    }
}

impl terminal::Server for Console {
    fn input(
        &mut self,
        _: &mut dyn Context,
        message: Input<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.typed.borrow_mut().push(message.bytes.to_vec());
        Ok(())
    }

    fn output(
        &mut self,
        _: &mut dyn Context,
        _: Output<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        Err(not_accepted())
    }
}

fn unused_factory() -> Box<dyn StateMachine> {
    Box::new(Keyboard::new())
}

static KEYBOARD_CAPS: &[CapSpec] = &[
    grant("ports").device(DeviceRange::Ports { base: 0x60, len: 5 }),
    grant("irq").irq(1),
    grant("console")
        .endpoint_to("console")
        .rights(Rights::WRITE),
];

static TASKS: &[TaskSpec] = &[
    TaskSpec::new("console", unused_factory),
    TaskSpec::new("keyboard", unused_factory).caps(KEYBOARD_CAPS),
];

/// A scheduler running `tasks` (the keyboard as itself, the console as a
/// recorder), and what the console got.
fn world(tasks: &[TaskSpec]) -> (Scheduler<HostPlatform>, Typed) {
    world_on(HostPlatform::manual(), tasks)
}

fn world_on(platform: HostPlatform, tasks: &[TaskSpec]) -> (Scheduler<HostPlatform>, Typed) {
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    let mut sched = Scheduler::new(platform, pending, SchedConfig::default()).expect("tables fit");
    let typed = Typed::default();
    sched
        .spawn_all_with(tasks, |spec| match spec.name {
            "console" => Box::new(Console {
                typed: typed.clone(),
            }),
            _ => Box::new(Keyboard::new()),
        })
        .expect("task list is valid");
    (sched, typed)
}

/// Scripts the controller to hold `scancodes`: the status port says
/// "full" before each one, then "empty".
fn script(sched: &mut Scheduler<HostPlatform>, scancodes: &[u8]) {
    let ports = &mut sched.platform_mut().port_input;
    let status = ports.entry(STATUS).or_default();
    status.extend(scancodes.iter().map(|_| 0x01));
    status.push_back(0x00);
    ports.entry(DATA).or_default().extend(scancodes);
}

#[test]
fn a_key_press_and_release_reaches_the_console_and_the_line_is_rearmed() {
    let (mut sched, typed) = world(TASKS);
    // 'h' down, 'h' up, 'i' down, 'i' up, Enter down, Enter up.
    script(&mut sched, &[0x23, 0xa3, 0x17, 0x97, 0x1c, 0x9c]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(*typed.borrow(), [b"hi\r".to_vec()]);
    assert_eq!(
        sched.platform().acked_irqs,
        [1, 1],
        "armed at start, re-armed after the interrupt"
    );
    assert!(
        sched.platform().port_writes.is_empty(),
        "the driver only reads"
    );
}

#[test]
fn shifted_and_extended_keys_arrive_as_terminal_bytes() {
    let (mut sched, typed) = world(TASKS);
    // Shift down, 'a' down/up, Shift up, then Arrow Up (E0 48 / E0 C8).
    script(
        &mut sched,
        &[0x2a, 0x1e, 0x9e, 0xaa, 0xe0, 0x48, 0xe0, 0xc8],
    );
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(*typed.borrow(), [b"A\x1b[A".to_vec()]);
    assert_eq!(
        sched.platform().acked_irqs,
        [1, 1],
        "armed at start, re-armed after the interrupt"
    );
}

#[test]
fn a_stuck_controller_is_read_a_bounded_number_of_times() {
    let (mut sched, typed) = world(TASKS);
    // Unscripted ports read 0xff: "full" for ever, and no key.
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert!(typed.borrow().is_empty());
    assert_eq!(
        sched.platform().acked_irqs,
        [1, 1],
        "armed at start, re-armed after the interrupt"
    );
}

#[test]
fn releases_alone_send_nothing_but_still_rearm_the_line() {
    let (mut sched, typed) = world(TASKS);
    script(&mut sched, &[0x9e]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert!(typed.borrow().is_empty());
    assert_eq!(
        sched.platform().acked_irqs,
        [1, 1],
        "armed at start, re-armed after the interrupt"
    );
}

#[test]
fn a_console_that_is_gone_is_logged_and_the_driver_keeps_running() {
    let (mut sched, typed) = world(TASKS);
    let console = sched.task_by_name("console").expect("spawned");
    sched.stop(console);
    script(&mut sched, &[0x1e, 0x9e]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert!(typed.borrow().is_empty());
    assert!(sched.platform().logged("typed bytes lost"));
    assert_eq!(
        sched.platform().acked_irqs,
        [1, 1],
        "armed at start, re-armed after the interrupt"
    );
    let keyboard = sched.task_by_name("keyboard");
    assert!(keyboard.is_some(), "still alive");

    // The next interrupt is handled as well.
    script(&mut sched, &[0x1e]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(sched.platform().acked_irqs, [1, 1, 1]);
}

#[test]
fn a_byte_left_in_the_controller_before_start_is_discarded() {
    let mut platform = HostPlatform::manual();
    platform
        .port_input
        .insert(STATUS, [0x01, 0x00].into_iter().collect());
    platform
        .port_input
        .insert(DATA, [0x1e].into_iter().collect());
    let (mut sched, typed) = world_on(platform, TASKS);
    assert!(
        sched.platform().port_input[&DATA].is_empty(),
        "read at start"
    );
    script(&mut sched, &[0x17, 0x97]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(*typed.borrow(), [b"i".to_vec()]);
}

#[test]
fn mouse_bytes_are_dropped() {
    let (mut sched, typed) = world(TASKS);
    let ports = &mut sched.platform_mut().port_input;
    // Status: keyboard byte, mouse byte (bit 5), keyboard byte, empty.
    ports.insert(STATUS, [0x01, 0x21, 0x01, 0x00].into_iter().collect());
    ports.insert(DATA, [0x1e, 0x30, 0x9e].into_iter().collect());
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(*typed.borrow(), [b"a".to_vec()]);
}

#[test]
fn a_missing_grant_stops_the_driver_with_a_clear_reason() {
    static NO_CONSOLE: &[TaskSpec] = &[TaskSpec::new("keyboard", unused_factory).caps(&[
        grant("ports").device(DeviceRange::Ports { base: 0x60, len: 5 }),
        grant("irq").irq(1),
    ])];
    let (sched, _) = world(NO_CONSOLE);
    assert!(sched.platform().logged("no \"console\" grant"));
    assert_eq!(sched.task_by_name("keyboard"), None::<TaskId>);
}

#[test]
fn a_key_that_comes_while_the_line_is_masked_is_still_read() {
    let (mut sched, typed) = world(TASKS);
    // 'a' down and up before the driver re-arms the line; 'b' down and up
    // land after its first look but before the line is open again, so
    // their interrupt edge is lost: only a second look finds them.
    script(&mut sched, &[0x1e, 0x9e]);
    script(&mut sched, &[0x30, 0xb0]);
    sched.pending().post(1);
    sched.run_until_idle(1_000);
    assert_eq!(*typed.borrow(), [b"ab".to_vec()]);
}
