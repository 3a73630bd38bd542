//! The tasks Mealy starts at boot, and the capabilities each is given: the
//! kernel's equivalent of Hubris's `app.toml`, as one declarative list.
//!
//! A capability is named by what it points at (a peer task's name, an IRQ
//! line, a device range), never by a number, and a task finds it in its
//! grants by the name given here. `cargo xtask new-service NAME` adds a
//! factory and an entry at the marked places below.

use alloc::boxed::Box;

use mealy_caps::Rights;
use mealy_echo::Echo;
use mealy_fs::Fs;
use mealy_pinger::Pinger;
use mealy_protocol::StateMachine;

use crate::sched::{CapSource, CapSpec, TaskSpec};

/// The command line of the boot module that holds the file-system image.
pub const FS_MODULE: &str = "fs";

/// Round trips the pinger makes to echo at boot, and their payload size.
pub const PINGER_ROUNDS: u32 = 100;
pub const PINGER_PAYLOAD: usize = 32;

fn make_echo() -> Box<dyn StateMachine> {
    Box::new(Echo::new())
}

fn make_pinger() -> Box<dyn StateMachine> {
    Box::new(Pinger::new(PINGER_ROUNDS, PINGER_PAYLOAD))
}

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(Fs::new())
}

// new-service: factories above this line

/// Every task started at boot.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{HostPlatform, PendingInterrupts, SchedConfig, Scheduler};

    static PENDING: PendingInterrupts = PendingInterrupts::new();

    #[test]
    fn the_boot_task_list_spawns_and_runs_on_the_host() {
        let mut sched =
            Scheduler::new(HostPlatform::manual(), &PENDING, SchedConfig::default()).unwrap();
        let ids = sched.spawn_all(TASKS).unwrap();
        assert_eq!(ids.len(), TASKS.len());
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
        let mut sched =
            Scheduler::new(HostPlatform::manual(), &PENDING, SchedConfig::default()).unwrap();
        sched.spawn_all(TASKS).unwrap();
        sched.run_until_idle(100_000);
        let pinger = sched.task_by_name("pinger").unwrap();
        let endpoint = sched.grants(pinger)[0].cap;
        let snapshot = sched.caps().snapshot();
        let kernel = snapshot
            .tasks
            .iter()
            .find(|t| t.task == KERNEL_TASK)
            .unwrap();
        let original = snapshot
            .caps_in(kernel.cspace)
            .find(|cap| {
                snapshot
                    .children_of(cap.at)
                    .any(|child| child.cap == endpoint)
            })
            .unwrap()
            .at
            .cap;
        assert_eq!(sched.revoke(KERNEL_TASK, original), Ok(1));
        let used = sched
            .act_as(pinger, |cx| cx.send(endpoint, b"x", &[]))
            .unwrap();
        assert_eq!(used, Err(mealy_protocol::IpcError::InvalidCap));
    }

    #[test]
    fn the_probe_reports_how_each_task_answered_a_ping() {
        use crate::probe::{self, Probe};
        fn make_probe() -> Box<dyn StateMachine> {
            Box::new(Probe::new())
        }
        static LIST: &[TaskSpec] = &[
            TaskSpec::new("echo", make_echo),
            TaskSpec::new(probe::NAME, make_probe).caps(&[CapSpec::endpoint(
                "echo",
                "echo",
                Rights::WRITE,
                0,
            )]),
        ];
        let mut sched =
            Scheduler::new(HostPlatform::manual(), &PENDING, SchedConfig::default()).unwrap();
        sched.spawn_all(LIST).unwrap();
        sched.run_until_idle(1_000);
        let log = &sched.platform().log_lines;
        // Echo takes a ping for a malformed echo request: an error reply.
        assert!(
            log.iter()
                .any(|line| line.contains("ping: echo: no pong (")),
            "{log:?}"
        );
        assert!(sched.platform().logged("ping: done"), "{log:?}");
    }
}
