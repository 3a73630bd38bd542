//! The framebuffer console in a real host scheduler: its framebuffer is a
//! Region the host platform backs, and a shell stand-in sends it
//! `terminal::Output`.

use mealy_caps::{CapRef, Rights};
use mealy_fbcon::screen::{BYTES_PER_PIXEL, CELL_HEIGHT, CELL_WIDTH};
use mealy_fbcon::{Fbcon, Geometry};
use mealy_kernel::sched::{
    CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_protocol::terminal::Output;
use mealy_protocol::{Context, HandleError, Incoming, Outbox, StateMachine, TaskId, encode};

const GEOMETRY: Geometry = Geometry {
    width: 320,
    height: 200,
    pitch: 320 * 4,
    bpp: 32,
};

/// A task that does nothing: the test acts as it to send.
struct Shell;

impl StateMachine for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn handle(&mut self, _cx: &mut dyn Context, _msg: Incoming<'_>) -> Result<(), HandleError> {
        Ok(())
    }
}

fn make_fbcon() -> Box<dyn StateMachine> {
    Box::new(Fbcon::new())
}

/// [`GEOMETRY`] as fbcon's configuration bytes (`mealy_fbcon::config`),
/// spelled out so the task list can be a static; checked against
/// `Geometry::encode` below.
const GEOMETRY_BYTES: [u8; 20] = [
    b'F', b'B', b'G', b'1', 0x40, 1, 0, 0, 200, 0, 0, 0, 0, 5, 0, 0, 32, 0, 0, 0,
];
const GEOMETRY_24_BITS_BYTES: [u8; 20] = [
    b'F', b'B', b'G', b'1', 0x40, 1, 0, 0, 200, 0, 0, 0, 0, 5, 0, 0, 24, 0, 0, 0,
];

fn make_shell() -> Box<dyn StateMachine> {
    Box::new(Shell)
}

static FBCON_CAPS: &[CapSpec] = &[
    grant("geometry").bytes(&GEOMETRY_BYTES),
    grant("framebuffer").region((320 * 4 * 200) as u64),
];

static FBCON_24_BITS_CAPS: &[CapSpec] = &[
    grant("geometry").bytes(&GEOMETRY_24_BITS_BYTES),
    grant("framebuffer").region((320 * 4 * 200) as u64),
];

#[test]
fn the_configuration_bytes_are_the_geometrys() {
    assert_eq!(GEOMETRY.encode(), Some(GEOMETRY_BYTES));
    let bpp_24 = Geometry {
        bpp: 24,
        ..GEOMETRY
    };
    assert_eq!(bpp_24.encode(), Some(GEOMETRY_24_BITS_BYTES));
}

static SHELL_CAPS: &[CapSpec] = &[grant("fbcon").endpoint_to("fbcon").rights(Rights::WRITE)];

static TASKS: &[TaskSpec] = &[
    TaskSpec::new("fbcon", make_fbcon).caps(FBCON_CAPS),
    TaskSpec::new("shell", make_shell).caps(SHELL_CAPS),
];

fn world(tasks: &[TaskSpec]) -> Scheduler<HostPlatform> {
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    let mut sched = Scheduler::new(HostPlatform::manual(), pending, SchedConfig::default())
        .expect("tables fit");
    sched.spawn_all(tasks).expect("task list is valid");
    sched
}

fn granted(sched: &Scheduler<HostPlatform>, task: TaskId, name: &str) -> CapRef {
    sched
        .grants(task)
        .iter()
        .find(|grant| grant.name == name)
        .map(|grant| grant.cap)
        .expect("granted")
}

/// A copy of the framebuffer's bytes, read through fbcon's own grant.
fn framebuffer(sched: &mut Scheduler<HostPlatform>) -> Vec<u8> {
    let fbcon = sched.task_by_name("fbcon").expect("alive");
    let region = granted(sched, fbcon, "framebuffer");
    sched
        .act_as(fbcon, |cx| cx.region(region).map(<[u8]>::to_vec))
        .expect("alive")
        .expect("readable")
}

/// Sends `text` from the shell to fbcon and runs the scheduler.
fn show(sched: &mut Scheduler<HostPlatform>, text: &str) {
    let shell = sched.task_by_name("shell").expect("alive");
    let fbcon = granted(sched, shell, "fbcon");
    let mut outbox: Outbox = Outbox::new();
    let output = Output { text };
    sched
        .act_as(shell, |cx| {
            mealy_protocol::send(cx, fbcon, outbox.space(), &output, &[])
        })
        .expect("alive")
        .expect("sent");
    sched.run_until_idle(1_000);
}

/// Whether any pixel of text cell `(column, row)`, cursor lines aside,
/// is lit.
fn lit(frame: &[u8], column: usize, row: usize) -> bool {
    (0..CELL_HEIGHT - 2).any(|y| {
        let line = (row * CELL_HEIGHT + y) * GEOMETRY.pitch;
        let start = line + column * CELL_WIDTH * BYTES_PER_PIXEL;
        frame[start..start + CELL_WIDTH * BYTES_PER_PIXEL]
            .iter()
            .any(|&byte| byte != 0)
    })
}

#[test]
fn output_is_drawn_in_the_framebuffer_region() {
    let mut sched = world(TASKS);
    let before = framebuffer(&mut sched);
    assert!(!lit(&before, 0, 0) && !lit(&before, 1, 0));
    show(&mut sched, "hi\nok");
    let after = framebuffer(&mut sched);
    assert!(
        lit(&after, 0, 0) && lit(&after, 1, 0),
        "\"hi\" on the first line"
    );
    assert!(
        lit(&after, 0, 1) && lit(&after, 1, 1),
        "\"ok\" on the second"
    );
    assert!(!lit(&after, 2, 0) && !lit(&after, 2, 1));
    assert_ne!(before, after);
    assert!(sched.platform().log_lines.is_empty(), "no errors");
}

#[test]
fn a_malformed_payload_is_refused_and_the_console_keeps_drawing() {
    let mut sched = world(TASKS);
    let shell = sched.task_by_name("shell").expect("alive");
    let fbcon = granted(&sched, shell, "fbcon");
    let mut buffer = [0u8; 8];
    // A length prefix promising more bytes than follow.
    let garbage = encode(&200u16, &mut buffer).expect("fits").to_vec();
    sched
        .act_as(shell, |cx| cx.send(fbcon, &garbage, &[]))
        .expect("alive")
        .expect("sent");
    sched.run_until_idle(1_000);
    let fbcon_id = sched.task_by_name("fbcon").expect("still alive");
    assert_eq!(
        sched
            .task_info(fbcon_id)
            .expect("exists")
            .counters
            .malformed,
        1
    );
    show(&mut sched, "x");
    assert!(lit(&framebuffer(&mut sched), 0, 0));
}

#[test]
fn an_unsupported_depth_is_logged_at_start_and_output_is_ignored() {
    static TASKS_24: &[TaskSpec] = &[
        TaskSpec::new("fbcon", make_fbcon).caps(FBCON_24_BITS_CAPS),
        TaskSpec::new("shell", make_shell).caps(SHELL_CAPS),
    ];
    let mut sched = world(TASKS_24);
    assert!(sched.platform().logged("24 bits per pixel"));
    show(&mut sched, "hi");
    assert!(framebuffer(&mut sched).iter().all(|&byte| byte == 0));
    assert!(sched.task_by_name("fbcon").is_some(), "still running");
}
