//! `test=soak`: supervision under fire. A caller keeps [`WINDOW`] calls
//! in flight at all times, spread over two ring-3 services ([`TARGETS`]:
//! two instances of `/bin/echo`), while, at pseudo-random moments (a
//! seeded xorshift, seed printed), it kills one of them or makes it fault
//! ([`DISRUPTIONS`] times in all); the ring-3 supervisor restarts each
//! every time, sometimes both at once. Every call made must come back
//! answered or `PeerDied` (or another failure, counted): none may be
//! lost. Afterwards free frames, the kernel heap, live regions and the
//! capability tables must be as they were once each had restarted.
//!
//! [`SoakCaller`] is portable and host-tested; `run` (machine only)
//! builds the scheduler, runs it and judges.

use alloc::vec::Vec;

use mealy_protocol::echo::Request;
use mealy_protocol::supervision::FaultKind;
use mealy_protocol::{
    CallFailure, CallToken, CapRef, Context, Grants, HandleError, Incoming, MessageKind,
    StateMachine, encode,
};

/// Calls kept in flight.
pub const WINDOW: usize = 4;
/// The services called and disrupted: each an endpoint grant and a Task
/// grant.
pub const TARGETS: [(&str, &str); 2] = [("echo", "task:echo"), ("echo-b", "task:echo-b")];
/// Kills and faults in all.
pub const DISRUPTIONS: u32 = 100;
/// One event in this many starts a disruption.
const ODDS: u64 = 12;

/// The faults the soak injects: every kind but `Loop`, which waits for
/// the budget timer and would make the soak a test of the clock.
const FAULTS: [FaultKind; 6] = [
    FaultKind::PageFault,
    FaultKind::GeneralProtection,
    FaultKind::InvalidOpcode,
    FaultKind::DivideError,
    FaultKind::StackOverflow,
    FaultKind::Panic,
];

/// What the soak counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls the kernel accepted.
    pub made: u64,
    pub answered: u64,
    pub peer_died: u64,
    /// Calls failed any other way (malformed, dropped).
    pub other: u64,
    /// Calls refused at once (echo down between a kill and its restart):
    /// an error the caller saw, not a call made.
    pub refused: u64,
    pub kills: u32,
    pub faults: u32,
}

impl Counts {
    /// Calls made that never came back.
    pub fn lost(&self) -> u64 {
        self.made - (self.answered + self.peer_died + self.other).min(self.made)
    }
}

/// The caller: grants each of [`TARGETS`] (an endpoint and a Task
/// capability) and `self` (an endpoint to itself, to come back when a
/// service is down).
pub struct SoakCaller {
    rng: u64,
    /// Each target's endpoint and Task capability, as granted.
    targets: Vec<(CapRef, Option<CapRef>)>,
    me: Option<CapRef>,
    in_flight: Vec<CallToken>,
    retry_queued: bool,
    seq: u32,
    pub counts: Counts,
    /// Every disruption made and every call back: the soak is over.
    pub finished: bool,
}

impl SoakCaller {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: seed | 1,
            targets: Vec::with_capacity(TARGETS.len()),
            me: None,
            in_flight: Vec::with_capacity(WINDOW),
            retry_queued: false,
            seq: 0,
            counts: Counts::default(),
            finished: false,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn disruptions(&self) -> u32 {
        self.counts.kills + self.counts.faults
    }

    fn disrupt(&mut self, cx: &mut dyn Context) {
        let roll = self.next();
        let controls: Vec<CapRef> = self.targets.iter().filter_map(|(_, c)| *c).collect();
        let Some(&control) = controls.get((roll >> 32) as usize % controls.len().max(1)) else {
            return;
        };
        let result = if roll.is_multiple_of(3) {
            cx.stop_task(control).map(|()| self.counts.kills += 1)
        } else {
            let kind = FAULTS[(roll / 3) as usize % FAULTS.len()];
            cx.inject_fault(control, kind)
                .map(|()| self.counts.faults += 1)
        };
        // Down already, or its mailbox full: another moment will do.
        let _ = result;
    }

    /// Disrupts now and then, and fills the window.
    fn pump(&mut self, cx: &mut dyn Context) {
        if self.disruptions() < DISRUPTIONS && self.next().is_multiple_of(ODDS) {
            self.disrupt(cx);
        }
        if self.targets.is_empty() {
            return;
        }
        while self.disruptions() < DISRUPTIONS && self.in_flight.len() < WINDOW {
            self.seq = self.seq.wrapping_add(1);
            let (echo, _) = self.targets[self.seq as usize % self.targets.len()];
            let mut buffer = [0u8; 64];
            let Ok(bytes) = encode(
                &Request {
                    seq: self.seq,
                    data: b"soak",
                },
                &mut buffer,
            ) else {
                return;
            };
            match cx.call(echo, bytes, &[]) {
                Ok(token) => {
                    self.counts.made += 1;
                    self.in_flight.push(token);
                }
                Err(_) => {
                    self.counts.refused += 1;
                    self.come_back(cx);
                    break;
                }
            }
        }
        if self.in_flight.is_empty() && self.disruptions() < DISRUPTIONS {
            self.come_back(cx);
        }
        if self.disruptions() >= DISRUPTIONS && self.in_flight.is_empty() && !self.finished {
            self.finished = true;
        }
    }

    /// Sends itself a message, to run again after whatever is queued
    /// (the supervisor's restart).
    fn come_back(&mut self, cx: &mut dyn Context) {
        if let (Some(me), false) = (self.me, self.retry_queued)
            && cx.send(me, b"again", &[]).is_ok()
        {
            self.retry_queued = true;
        }
    }

    fn settle(&mut self, token: CallToken) -> bool {
        let Some(at) = self.in_flight.iter().position(|t| *t == token) else {
            return false;
        };
        self.in_flight.swap_remove(at);
        true
    }
}

impl StateMachine for SoakCaller {
    fn name(&self) -> &'static str {
        "soak"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        for (endpoint, control) in TARGETS {
            if let Some(endpoint) = grants.get(endpoint) {
                self.targets.push((endpoint, grants.get(control)));
            }
        }
        self.me = grants.get("self");
        self.pump(cx);
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        match msg.kind {
            MessageKind::Reply { token } if self.settle(token) => self.counts.answered += 1,
            MessageKind::CallFailed {
                token,
                reason: CallFailure::PeerDied,
            } if self.settle(token) => self.counts.peer_died += 1,
            MessageKind::CallFailed { token, .. } if self.settle(token) => self.counts.other += 1,
            MessageKind::Request => self.retry_queued = false,
            _ => {}
        }
        self.pump(cx);
        Ok(())
    }
}

#[cfg(target_os = "none")]
pub(super) use machine::run;

#[cfg(target_os = "none")]
mod machine {
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use core::cell::RefCell;

    use mealy_caps::Rights;
    use mealy_protocol::supervision::{
        POLICY_GRANT, PolicyEntry, PolicyTable, RestartPolicy, SELF_GRANT,
    };
    use mealy_protocol::{Context, Grants, HandleError, Incoming, StateMachine};

    use super::{Counts, DISRUPTIONS, SoakCaller, TARGETS};
    use crate::arch::x86_64::memory::KernelMemory;
    use crate::arch::x86_64::platform::MachinePlatform;
    use crate::arch::x86_64::qemu::{self, ExitStatus};
    use crate::arch::x86_64::user::ArchCpu;
    use crate::arch::x86_64::{cpu, interrupts};
    use crate::mem::Owner;
    use crate::println;
    use crate::program::{UserTask, boot_files};
    use crate::sched::{Platform, SchedConfig, Scheduler, TaskSpec, grant};

    /// The caller, shared so the scenario reads its counts.
    struct Shared(Rc<RefCell<SoakCaller>>);

    impl StateMachine for Shared {
        fn name(&self) -> &'static str {
            "soak"
        }
        fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
            self.0.borrow_mut().start(cx, grants)
        }
        fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
            self.0.borrow_mut().handle(cx, msg)
        }
    }

    static CALLER_CAPS: &[crate::sched::CapSpec] = &[
        grant("echo").endpoint_to("echo").rights(Rights::WRITE),
        grant("task:echo").control_of("echo"),
        grant("echo-b").endpoint_to("echo-b").rights(Rights::WRITE),
        grant("task:echo-b").control_of("echo-b"),
        grant("self").endpoint_to("soak").rights(Rights::WRITE),
    ];

    fn unused() -> Box<dyn StateMachine> {
        Box::new(mealy_echo::Echo::new())
    }

    fn fail(why: core::fmt::Arguments<'_>) -> ! {
        println!("soak: {why}");
        qemu::exit(ExitStatus::Failure)
    }

    pub(crate) fn run(memory: Option<&'static KernelMemory>, fs_image: Option<&'static [u8]>) -> ! {
        static CPU: ArchCpu = ArchCpu;
        let memory = super::super::require_memory(memory);
        let read = |path| match boot_files::read(fs_image, path) {
            Ok(file) => file,
            Err(error) => fail(format_args!("{path}: {error}")),
        };
        let (file, supervisor_file) = (read("/bin/echo"), read("/bin/supervisor"));
        let seed = cpu::rdtsc() ^ 0x9e37_79b9_7f4a_7c15;
        let policy = RestartPolicy::Always {
            max_restarts: 1024,
            window_ns: 1_000_000_000,
        };
        let table = PolicyTable {
            entries: TARGETS
                .iter()
                .map(|(task, _)| PolicyEntry { task, policy })
                .collect(),
        };
        let bytes: &'static [u8] =
            alloc::vec::Vec::leak(postcard::to_allocvec(&table).unwrap_or_default());
        let supervisor_caps = alloc::vec::Vec::leak(alloc::vec![
            grant(POLICY_GRANT).bytes(bytes),
            grant(SELF_GRANT)
                .endpoint_to("supervisor")
                .rights(Rights::WRITE.union(Rights::DERIVE)),
            grant("task:echo").control_of("echo"),
            grant("task:echo-b").control_of("echo-b"),
        ]);
        let specs = [
            TaskSpec::new("echo", unused),
            TaskSpec::new("echo-b", unused),
            TaskSpec::new("supervisor", unused).caps(supervisor_caps),
            TaskSpec::new("soak", unused).caps(CALLER_CAPS),
        ];
        let platform = MachinePlatform::new(Some(memory)).quiet();
        let config = SchedConfig {
            budget_ns: 1_000_000_000,
            ..SchedConfig::default()
        };
        let Ok(mut scheduler) = Scheduler::new(platform, &interrupts::PENDING, config) else {
            fail(format_args!("no scheduler"))
        };
        let caller = Rc::new(RefCell::new(SoakCaller::new(seed)));
        // The two services and the supervisor are ring-3 programs from
        // the boot image, as at boot; the caller is this scenario's.
        let mut loaded = 0;
        let mut index = 0;
        let spawned = scheduler.spawn_all_with(&specs, |spec| {
            index += 1;
            let program = match spec.name {
                "soak" => return Box::new(Shared(Rc::clone(&caller))),
                "supervisor" => supervisor_file,
                _ => file,
            };
            match UserTask::load(spec.name, program, memory, memory, &CPU, Owner(index - 1)) {
                Ok(task) => {
                    loaded += 1;
                    Box::new(task)
                }
                Err(_) => unused(),
            }
        });
        let ids = match spawned {
            Ok(ids) if loaded == 3 => ids,
            _ => fail(format_args!("the tasks did not start")),
        };
        for (&id, program) in ids.iter().zip([file, file, supervisor_file]) {
            scheduler.keep_program_image(id, program);
        }
        let restarts = |scheduler: &Scheduler<MachinePlatform>| {
            ids[..TARGETS.len()]
                .iter()
                .map(|&id| scheduler.task_info(id).map_or(0, |t| t.restarts))
                .collect::<alloc::vec::Vec<u32>>()
        };
        let snapshot = |scheduler: &Scheduler<MachinePlatform>| {
            let report = scheduler.platform().memory_report();
            let usage = scheduler.caps().usage();
            (
                report.as_ref().map_or(0, |r| r.frames_free),
                report.as_ref().map_or(0, |r| r.heap_used_bytes),
                report.as_ref().map_or(0, |r| r.regions.len()),
                (usage.cspaces, usage.objects, usage.caps),
            )
        };
        // The baseline: once each service has been disrupted and
        // restarted, so what is made once per task is in it.
        let mut baseline = None;
        let started = cpu::rdtsc();
        let mut rounds = 0u64;
        while !caller.borrow().finished {
            scheduler.run_until_idle(1);
            rounds += 1;
            if baseline.is_none() && restarts(&scheduler).iter().all(|&n| n >= 1) {
                scheduler.run_until_idle(usize::MAX);
                baseline = Some(snapshot(&scheduler));
            }
            if rounds > 50_000_000 {
                fail(format_args!("no end after {rounds} messages"));
            }
        }
        scheduler.run_until_idle(usize::MAX);
        let took = cpu::rdtsc().wrapping_sub(started);
        let after = snapshot(&scheduler);
        let counts: Counts = caller.borrow().counts;
        let each = restarts(&scheduler);
        let restarts: u32 = each.iter().sum();
        println!(
            "soak: seed {seed:#x}: {DISRUPTIONS} disruptions ({} kills, {} faults), {restarts} restarts (echo {}, echo-b {}); calls made {}, answered {}, peer-died {}, other errors {}, refused at once {}; lost {}; {} TSC ticks (guest instructions under -icount)",
            counts.kills,
            counts.faults,
            each[0],
            each[1],
            counts.made,
            counts.answered,
            counts.peer_died,
            counts.other,
            counts.refused,
            counts.lost(),
            took
        );
        let Some(before) = baseline else {
            fail(format_args!("a service was never restarted: {each:?}"))
        };
        println!(
            "soak: baseline -> after: frames free {} -> {}, heap used {} -> {} bytes, regions {} -> {}, cspaces/objects/caps {:?} -> {:?}",
            before.0, after.0, before.1, after.1, before.2, after.2, before.3, after.3
        );
        if counts.lost() == 0 && restarts == DISRUPTIONS && before == after {
            println!("soak: ok");
            qemu::exit(ExitStatus::Success)
        }
        fail(format_args!("FAILED"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_protocol::testing::FakeContext;
    use mealy_protocol::{Grant, IpcError};

    #[test]
    fn it_keeps_the_window_full_disrupts_and_counts_every_call_back() {
        let mut cx = FakeContext::new();
        let echo = cx.endpoint("echo");
        let task = cx.task("echo");
        let echo_b = cx.endpoint("echo-b");
        let task_b = cx.task("echo-b");
        let me = cx.endpoint("soak");
        let mut caller = SoakCaller::new(42);
        cx.start(
            &mut caller,
            &[
                Grant {
                    name: "echo",
                    cap: echo,
                },
                Grant {
                    name: "task:echo",
                    cap: task,
                },
                Grant {
                    name: "echo-b",
                    cap: echo_b,
                },
                Grant {
                    name: "task:echo-b",
                    cap: task_b,
                },
                Grant {
                    name: "self",
                    cap: me,
                },
            ],
        )
        .unwrap();
        assert_eq!(caller.in_flight.len(), WINDOW);
        let mut rounds = 0;
        while !caller.finished {
            rounds += 1;
            assert!(rounds < 100_000, "no end: {:?}", caller.counts);
            let token = caller.in_flight[0];
            let msg = if rounds % 5 == 0 {
                cx.fail_call(token, CallFailure::PeerDied)
            } else {
                cx.answer_call_bytes(token, b"x")
            };
            caller.handle(&mut cx, msg.incoming()).unwrap();
        }
        let counts = caller.counts;
        assert_eq!(counts.kills + counts.faults, DISRUPTIONS);
        assert_eq!(counts.lost(), 0);
        assert_eq!(counts.answered + counts.peer_died, counts.made);
        assert_eq!(cx.stopped.len() as u32, counts.kills);
        assert_eq!(cx.injected_faults.len() as u32, counts.faults);
        // Both services are called and both disrupted.
        for target in ["echo", "echo-b"] {
            assert!(
                cx.calls.iter().any(|call| call.to == target),
                "{target} called"
            );
            let hit = cx.stopped.contains(&target)
                || cx
                    .injected_faults
                    .iter()
                    .any(|(victim, _)| *victim == target);
            assert!(hit, "{target} disrupted");
        }
    }

    #[test]
    fn a_refused_call_is_counted_and_it_comes_back_by_itself() {
        let mut cx = FakeContext::new();
        let echo = cx.endpoint("echo");
        let me = cx.endpoint("soak");
        cx.fail(mealy_protocol::testing::Operation::Call, IpcError::DeadTask);
        let mut caller = SoakCaller::new(7);
        cx.start(
            &mut caller,
            &[
                Grant {
                    name: "echo",
                    cap: echo,
                },
                Grant {
                    name: "self",
                    cap: me,
                },
            ],
        )
        .unwrap();
        assert_eq!(caller.counts.refused, 1);
        assert_eq!(cx.sends.len(), 1, "one message to itself");
        assert!(caller.in_flight.is_empty());
    }
}
