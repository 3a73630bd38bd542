//! Host-native IPC benchmark: Mealy's call/reply round trip and one-way
//! throughput through the real scheduler, against the same ping-pong over
//! a Linux pipe, a Unix socket and a crossbeam channel between two threads,
//! all in one run.
//!
//! Mealy's round trip is the `pinger` calling the `echo` service with a
//! 32-byte postcard payload: encode, capability lookup, a fresh one-shot
//! Reply, mailbox, dispatch, decode, and the same back. Throughput is a
//! task sending bursts of one-way messages to a sink, every one
//! dispatched and decoded, with one credit message back per burst of 32.
//! The host "clock hook" is a coarse clock (an atomic a helper thread
//! updates every 100 us, like a jiffies counter), read once per dispatch;
//! a detail line also reports the round trip with a TSC clock hook (what
//! the kernel reads; `rdtsc` scaled by a factor calibrated against
//! `Instant` at start) and with a `std::time::Instant` one, whose vDSO
//! read per dispatch is an artefact of the host.
//!
//! `--profile <n>` runs only `n` Mealy round trips with the coarse clock,
//! for `valgrind --tool=callgrind`: run it with two values of `n`; the
//! difference in instructions over the difference in `n` is instructions
//! per round trip, setup cancelled out. The bench profile keeps line
//! tables (root `Cargo.toml`), so `callgrind_annotate --auto=yes` shows
//! which source lines the instructions come from; release and bench build
//! with fat LTO and one codegen unit, as the release kernel does, so this
//! measures the code the kernel runs, inlined the same way.
//!
//! Plain `Instant` timing over many iterations; each figure is the median
//! of repeated batches. Ends with exactly one summary line:
//! `ipc-roundtrip: mealy=<ns> pipe=<ns> unix=<ns> crossbeam=<ns> speedup_vs_pipe=<x> msgs_per_s=<n>`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mealy_caps::Rights;
use mealy_echo::Echo;
use mealy_kernel::sched::{
    HostClock, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_pinger::Pinger;
use mealy_protocol::{
    CapRef, Context, Grants, HandleError, Incoming, Outbox, StateMachine, decode, echo,
};

const PAYLOAD: usize = 32;
/// Data bytes that make an `echo::Request` encode to 32 bytes for the
/// two-byte sequence numbers of most of a batch.
const DATA_LEN: usize = 29;
const ROUND_TRIPS: u32 = 100_000;
const MEALY_BATCHES: usize = 15;
const FLOOD_MESSAGES: u64 = 1_000_000;
const BURST: u32 = 32;
const OS_ROUND_TRIPS: usize = 20_000;
const OS_BATCHES: usize = 5;

static PENDING: PendingInterrupts = PendingInterrupts::new();
static COARSE_NS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn coarse_clock() -> u64 {
    COARSE_NS.load(Ordering::Relaxed)
}

fn instant_clock() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Nanoseconds per TSC tick, as a 32.32 fixed-point factor.
static TSC_NS_PER_TICK: AtomicU64 = AtomicU64::new(1 << 32);

#[cfg(target_arch = "x86_64")]
fn tsc_ticks() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; every x86_64 CPU
    // has it, and it touches no memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_ticks() -> u64 {
    instant_clock()
}

fn tsc_clock() -> u64 {
    let factor = TSC_NS_PER_TICK.load(Ordering::Relaxed);
    ((u128::from(tsc_ticks()) * u128::from(factor)) >> 32) as u64
}

/// Measures the TSC against `Instant` over 20 ms.
fn calibrate_tsc() {
    let (start, ticks) = (Instant::now(), tsc_ticks());
    thread::sleep(Duration::from_millis(20));
    let ns = start.elapsed().as_nanos();
    let elapsed_ticks = u128::from(tsc_ticks().saturating_sub(ticks)).max(1);
    TSC_NS_PER_TICK.store(((ns << 32) / elapsed_ticks) as u64, Ordering::Relaxed);
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn scheduler(clock: fn() -> u64) -> Scheduler<HostPlatform> {
    let mut platform = HostPlatform::new(HostClock::Source(clock));
    platform.keep_log = false;
    let config = SchedConfig {
        budget_ns: 10_000_000,
        ..SchedConfig::default()
    };
    Scheduler::new(platform, &PENDING, config).expect("scheduler tables")
}

fn make_echo() -> Box<dyn StateMachine> {
    Box::new(Echo::new())
}

/// Round trips per batch; `--profile <n>` changes it.
static ROUNDS: AtomicU32 = AtomicU32::new(ROUND_TRIPS);

fn make_pinger() -> Box<dyn StateMachine> {
    Box::new(Pinger::new(ROUNDS.load(Ordering::Relaxed), DATA_LEN))
}

static PING_PONG: &[TaskSpec] = &[
    TaskSpec::new("pinger", make_pinger).caps(&[grant("echo")
        .endpoint_to("echo")
        .rights(Rights::WRITE)
        .badge(1)]),
    TaskSpec::new("echo", make_echo),
];

/// One batch of round trips; ns per round trip.
fn mealy_round_trip(clock: fn() -> u64) -> f64 {
    let mut sched = scheduler(clock);
    sched.spawn_all(PING_PONG).expect("task list");
    let start = Instant::now();
    let handled = sched.run_until_idle(usize::MAX);
    let elapsed = start.elapsed();
    let rounds = ROUNDS.load(Ordering::Relaxed);
    assert_eq!(handled as u32, 2 * rounds, "every ping answered");
    elapsed.as_nanos() as f64 / f64::from(rounds)
}

/// Sends bursts of `BURST` one-way messages to `sink`; the sink grants the
/// next burst with a credit message once it has handled one (flow control
/// as a real protocol does it, so the flooder never hits `MailboxFull`).
struct Flooder {
    sink: Option<CapRef>,
    outbox: Outbox<64>,
    sent: u64,
}

impl Flooder {
    fn burst(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        let sink = self.sink.ok_or(HandleError::Fatal("no sink endpoint"))?;
        for _ in 0..BURST {
            if self.sent == FLOOD_MESSAGES {
                break;
            }
            let bytes = self.outbox.encode(&echo::Request {
                seq: self.sent as u32,
                data: b"0123456789",
            })?;
            cx.send(sink, bytes, &[])?;
            self.sent += 1;
        }
        Ok(())
    }
}

impl StateMachine for Flooder {
    fn name(&self) -> &'static str {
        "flooder"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.sink = grants.get("sink");
        self.burst(cx)
    }

    fn handle(&mut self, cx: &mut dyn Context, _credit: Incoming<'_>) -> Result<(), HandleError> {
        self.burst(cx)
    }
}

/// Decodes and counts; returns a credit to the flooder after each burst.
struct Sink {
    flooder: Option<CapRef>,
    received: u64,
}

impl StateMachine for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn start(&mut self, _cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        self.flooder = grants.get("flooder");
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        let request: echo::Request<'_> = decode(msg.payload)?;
        self.received += u64::from(request.data.len() == 10);
        if self.received.is_multiple_of(u64::from(BURST)) {
            let flooder = self
                .flooder
                .ok_or(HandleError::Fatal("no flooder endpoint"))?;
            cx.send(flooder, b"", &[])?;
        }
        Ok(())
    }
}

fn make_flooder() -> Box<dyn StateMachine> {
    Box::new(Flooder {
        sink: None,
        outbox: Outbox::new(),
        sent: 0,
    })
}

fn make_sink() -> Box<dyn StateMachine> {
    Box::new(Sink {
        flooder: None,
        received: 0,
    })
}

static FLOOD: &[TaskSpec] = &[
    TaskSpec::new("flooder", make_flooder)
        .caps(&[grant("sink").endpoint_to("sink").rights(Rights::WRITE)]),
    TaskSpec::new("sink", make_sink)
        .mailbox(64)
        .caps(&[grant("flooder")
            .endpoint_to("flooder")
            .rights(Rights::WRITE)]),
];

/// One batch of one-way messages; messages per second.
fn mealy_throughput() -> f64 {
    let mut sched = scheduler(coarse_clock);
    sched.spawn_all(FLOOD).expect("task list");
    let start = Instant::now();
    sched.run_until_idle(usize::MAX);
    let elapsed = start.elapsed();
    let sink = sched.task_by_name("sink").expect("sink");
    let delivered = sched.task_info(sink).expect("sink").counters.handled;
    assert_eq!(delivered, FLOOD_MESSAGES);
    delivered as f64 / elapsed.as_secs_f64()
}

/// Ping-pong of `PAYLOAD` bytes over a pair of byte streams; ns per round trip.
fn stream_round_trip<S: Read + Write + Send + 'static>(
    (mut ping_tx, mut ping_rx): (S, S),
    (mut pong_tx, mut pong_rx): (S, S),
) -> f64 {
    let echo = thread::spawn(move || {
        let mut buffer = [0u8; PAYLOAD];
        for _ in 0..OS_ROUND_TRIPS {
            ping_rx.read_exact(&mut buffer).expect("read ping");
            pong_tx.write_all(&buffer).expect("write pong");
        }
    });
    let mut buffer = [7u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..OS_ROUND_TRIPS {
        ping_tx.write_all(&buffer).expect("write ping");
        pong_rx.read_exact(&mut buffer).expect("read pong");
    }
    let elapsed = start.elapsed();
    echo.join().expect("echo thread");
    elapsed.as_nanos() as f64 / OS_ROUND_TRIPS as f64
}

struct PipeEnd {
    reader: Option<std::io::PipeReader>,
    writer: Option<std::io::PipeWriter>,
}

impl Read for PipeEnd {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.reader.as_mut().expect("read end").read(buffer)
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("write end").write(buffer)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pipe_pair() -> (PipeEnd, PipeEnd) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    (
        PipeEnd {
            reader: None,
            writer: Some(writer),
        },
        PipeEnd {
            reader: Some(reader),
            writer: None,
        },
    )
}

fn pipe_round_trip() -> f64 {
    stream_round_trip(pipe_pair(), pipe_pair())
}

fn unix_round_trip() -> f64 {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let (a2, b2) = (a.try_clone().expect("clone"), b.try_clone().expect("clone"));
    // ping: a -> b, pong: b2 -> a2.
    stream_round_trip((a, b), (b2, a2))
}

fn crossbeam_round_trip() -> f64 {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<[u8; PAYLOAD]>(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<[u8; PAYLOAD]>(1);
    let echo = thread::spawn(move || {
        for _ in 0..OS_ROUND_TRIPS {
            let message = ping_rx.recv().expect("ping");
            pong_tx.send(message).expect("pong");
        }
    });
    let mut message = [7u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..OS_ROUND_TRIPS {
        ping_tx.send(message).expect("ping");
        message = pong_rx.recv().expect("pong");
    }
    let elapsed = start.elapsed();
    echo.join().expect("echo thread");
    elapsed.as_nanos() as f64 / OS_ROUND_TRIPS as f64
}

fn main() {
    // `--profile <n>`: see the module docs.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--profile") {
        let rounds = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        ROUNDS.store(rounds, Ordering::Relaxed);
        let ns = mealy_round_trip(coarse_clock);
        println!("profile: {rounds} round trips, {ns:.0} ns each");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and should stay quick.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let batches = |n: usize| if quick { 1 } else { n };

    let ticking = std::sync::Arc::new(AtomicBool::new(true));
    let ticker = {
        let ticking = ticking.clone();
        thread::spawn(move || {
            while ticking.load(Ordering::Relaxed) {
                COARSE_NS.store(instant_clock(), Ordering::Relaxed);
                thread::sleep(Duration::from_micros(100));
            }
        })
    };
    let encoded = mealy_protocol::encode(
        &echo::Request {
            seq: 300,
            data: &[0u8; DATA_LEN],
        },
        &mut [0u8; 64],
    )
    .map(<[u8]>::len)
    .unwrap_or(0);

    let mealy_batches: Vec<f64> = (0..batches(MEALY_BATCHES))
        .map(|_| mealy_round_trip(coarse_clock))
        .collect();
    // The spread of the batches, printed beside the median: on a shared
    // machine a neighbour's load moves them, and the range says how much.
    let fastest = mealy_batches.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = mealy_batches.iter().copied().fold(0.0, f64::max);
    let mealy = median(mealy_batches);
    calibrate_tsc();
    let mealy_tsc = median(
        (0..batches(MEALY_BATCHES))
            .map(|_| mealy_round_trip(tsc_clock))
            .collect(),
    );
    let mealy_instant = median(
        (0..batches(5))
            .map(|_| mealy_round_trip(instant_clock))
            .collect(),
    );
    let msgs_per_s = median((0..batches(7)).map(|_| mealy_throughput()).collect());
    ticking.store(false, Ordering::Relaxed);
    ticker.join().expect("ticker");

    let pipe = median(
        (0..batches(OS_BATCHES))
            .map(|_| pipe_round_trip())
            .collect(),
    );
    let unix = median(
        (0..batches(OS_BATCHES))
            .map(|_| unix_round_trip())
            .collect(),
    );
    let crossbeam = median(
        (0..batches(OS_BATCHES))
            .map(|_| crossbeam_round_trip())
            .collect(),
    );

    println!(
        "detail: payload={encoded}B round_trips_per_batch={ROUND_TRIPS} mealy_with_tsc_clock={mealy_tsc:.0}ns mealy_with_instant_clock={mealy_instant:.0}ns mealy_batches={fastest:.0}..{slowest:.0}ns os_round_trips_per_batch={OS_ROUND_TRIPS}"
    );
    println!(
        "ipc-roundtrip: mealy={mealy:.0} pipe={pipe:.0} unix={unix:.0} crossbeam={crossbeam:.0} speedup_vs_pipe={:.1} msgs_per_s={msgs_per_s:.0}",
        pipe / mealy
    );
}
