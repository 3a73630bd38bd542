//! Scheduler and IPC tests: a host scheduler with a manual clock, and a
//! `Recorder` state machine that keeps everything it receives where the
//! test can read it.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use mealy_caps::{Badge, CapRef, Limits, TaskId};
use mealy_protocol::{Context, HandleError, Incoming, MessageKind, StateMachine, decode};

use super::{HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec};

mod dispatch;
mod exchange;
mod handoff;
mod ipc;
mod kernel_events;
mod mailbox;
mod properties;
mod replies;
mod restart;
mod spawn;
mod transfer;

/// One received message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Received {
    pub kind: MessageKind,
    pub badge: Option<Badge>,
    pub reply: Option<CapRef>,
    pub caps: Vec<CapRef>,
    pub payload: Vec<u8>,
}

/// What a `Recorder` does with a message besides recording it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Behaviour {
    /// Nothing.
    Record,
    /// Answer calls with the same payload.
    Echo,
    /// Decode the payload as a `u32`; reject it as malformed otherwise.
    Strict,
    /// Fail fatally.
    Crash,
    /// As `Record`, but says it runs in ring 3 (the kernel then treats it
    /// as a program: `inject_fault` reaches it).
    User,
}

pub(super) type Log = Rc<RefCell<Vec<Received>>>;

pub(super) struct Recorder {
    pub log: Log,
    pub behaviour: Behaviour,
}

impl StateMachine for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn ring(&self) -> u8 {
        if self.behaviour == Behaviour::User {
            3
        } else {
            0
        }
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        self.log.borrow_mut().push(Received {
            kind: msg.kind,
            badge: msg.badge(),
            reply: msg.reply(),
            caps: msg.caps().to_vec(),
            payload: msg.payload.to_vec(),
        });
        match self.behaviour {
            Behaviour::Record | Behaviour::User => Ok(()),
            Behaviour::Echo => {
                if let Some(reply) = msg.reply() {
                    cx.reply(reply, msg.payload, &[])?;
                }
                Ok(())
            }
            Behaviour::Strict => {
                let _: u32 = decode(msg.payload)?;
                Ok(())
            }
            Behaviour::Crash => Err(HandleError::Fatal("asked to crash")),
        }
    }
}

/// A test world: the scheduler and each task's received log.
pub(super) struct World {
    pub sched: Scheduler<HostPlatform>,
    pub logs: Vec<Log>,
}

pub(super) fn config() -> SchedConfig {
    SchedConfig {
        max_tasks: 16,
        cap_limits: Limits {
            max_cspaces: 32,
            max_cspace_slots: 1024,
            max_objects: 1024,
            max_caps: 4096,
        },
        kernel_cspace_slots: 256,
        budget_ns: 1_000,
    }
}

pub(super) fn new_scheduler() -> Scheduler<HostPlatform> {
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    Scheduler::new(HostPlatform::manual(), pending, config()).expect("tables fit")
}

fn unused_factory() -> Box<dyn StateMachine> {
    Box::new(Recorder {
        log: Log::default(),
        behaviour: Behaviour::Record,
    })
}

/// A spec whose machine the world replaces with a `Recorder`.
pub(super) const fn recorder(name: &'static str) -> TaskSpec {
    TaskSpec::new(name, unused_factory)
}

/// Spawns `specs`, each as a `Recorder` with the behaviour paired with it.
pub(super) fn world(specs: &[(TaskSpec, Behaviour)]) -> World {
    let mut sched = new_scheduler();
    let logs: Vec<Log> = specs.iter().map(|_| Log::default()).collect();
    let list: Vec<TaskSpec> = specs.iter().map(|(spec, _)| *spec).collect();
    let mut next = 0;
    sched
        .spawn_all_with(&list, |_| {
            let (log, behaviour) = (logs[next].clone(), specs[next].1);
            next += 1;
            Box::new(Recorder { log, behaviour })
        })
        .expect("task list is valid");
    World { sched, logs }
}

impl World {
    /// The grant `name` of task `task`.
    pub fn grant(&self, task: TaskId, name: &str) -> CapRef {
        self.sched
            .grants(task)
            .iter()
            .find(|grant| grant.name == name)
            .map(|grant| grant.cap)
            .expect("granted")
    }

    pub fn received(&self, task: usize) -> Vec<Received> {
        self.logs[task].borrow().clone()
    }

    pub fn run(&mut self) -> usize {
        self.sched.run_until_idle(100_000)
    }

    /// Acts as task `task`.
    pub fn act<R>(&mut self, task: TaskId, act: impl FnOnce(&mut dyn Context) -> R) -> R {
        self.sched.act_as(task, act).expect("task alive")
    }
}
