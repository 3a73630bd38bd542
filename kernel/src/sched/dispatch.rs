//! The dispatch loop: deliver pending interrupts and expired timers, take
//! the task at the head of the run queue, hand it exactly one message, run
//! its handler to completion, and put it back at the tail if more messages
//! wait. Round robin with one message per dispatch is the whole fairness
//! policy: a busy task cannot starve another, and a slow handler is
//! reported (a log line and a counter) when it overruns the budget, not
//! preempted, since handlers run to completion by design.
//!
//! The clock is read once per dispatch, after the handler (and once as
//! `run_until_idle` starts); the time since the previous read is charged
//! to the task, so the (small) cost of picking it counts as its own. (On
//! the host VM this read is the largest single cost of a round trip when
//! it is a real clock: see `benches/ipc.rs`.)
//!
//! The message's kind, envelope and payload are copied out of the mailbox,
//! once, into the scheduler's current delivery area, which the handler
//! borrows (its `Incoming` is a kind and two references): the kernel
//! tables, the sender's mailbox included, stay free for the handler's own
//! sends. (Safe Rust cannot lend the handler the slot itself while it may
//! send to its own mailbox.) A message handed off by the previous handler
//! (`handoff.rs`) is already in the other area and is not copied at all:
//! the two areas swap roles. That is what a call and its reply take, and it
//! cut a dispatch from about 180 to about 125 instructions on the host.

use mealy_caps::TaskId;
use mealy_protocol::inspect::{ExitCause, Fault};
use mealy_protocol::{CallFailure, CapRef, HandleError, MessageKind};

use super::context::TaskContext;
use super::pending::LIFECYCLE_LINE;
use super::platform::Platform;
use super::run_queue::RunQueue;
use super::scheduler::Scheduler;
use super::state::SchedStats;
use super::task::{Task, TaskState};

impl<P: Platform> Scheduler<P> {
    /// Runs forever: dispatch while anything is ready, otherwise idle
    /// through the platform until an interrupt or timer makes work.
    pub fn run(&mut self) -> ! {
        loop {
            self.run_until_idle(usize::MAX);
            self.idle();
        }
    }

    /// Dispatches until nothing is ready or `max` messages were handled;
    /// returns how many were. The loop `run`, boot and the kernel's run
    /// loop use: it has `dispatch_at` inlined, and carries the clock from
    /// one dispatch to the next.
    #[inline(never)]
    pub fn run_until_idle(&mut self, max: usize) -> usize {
        let mut handled = 0;
        let mut now = self.platform.now_ns();
        while handled < max {
            let Some(end) = self.dispatch_at(now) else {
                break;
            };
            now = end;
            handled += 1;
        }
        handled
    }

    /// Asks the platform to idle until something happens.
    pub fn idle(&mut self) {
        self.kernel.stats.idles += 1;
        let deadline = self.kernel.timers.earliest_ns();
        self.platform.idle(self.pending, deadline);
    }

    /// Delivers one message to one task. Returns `false` if nothing was
    /// ready (after delivering interrupts and due timers). Loops should
    /// call `run_until_idle`, which reads the clock once per dispatch
    /// rather than twice.
    pub fn dispatch_one(&mut self) -> bool {
        let now = self.platform.now_ns();
        self.dispatch_at(now).is_some()
    }

    /// `dispatch_one`, started at `started` (the clock as the previous
    /// dispatch ended, or fresh): returns the clock as this one ended, or
    /// `None` if nothing was ready. Inlined into `run_until_idle`, so
    /// back-to-back dispatches cost no call, return or register save (31
    /// instructions of a host round trip).
    #[inline(always)]
    fn dispatch_at(&mut self, started: u64) -> Option<u64> {
        self.deliver_kernel_events(started);
        let id = match self.kernel.handed_to.take() {
            // A message handed off into the lane (`handoff.rs`): its task
            // was first in line; the lane becomes the current area.
            Some(id) => {
                let Some(task) = self.kernel.tasks.get_mut(id) else {
                    return Some(started);
                };
                if !task.mailbox.take_handed_off() {
                    // Never: `kill` clears both. Were it so, the task must
                    // not stay Queued off the run queue.
                    if task.state == TaskState::Queued {
                        Self::settle(task, &mut self.kernel.run_queue, id);
                    }
                    return Some(started);
                }
                self.deliveries.swap();
                self.kernel.stats.handed_off += 1;
                task.state = TaskState::Running;
                id
            }
            None => {
                let id = self.kernel.run_queue.pop_front()?;
                let Some(task) = self.kernel.tasks.get_mut(id) else {
                    return Some(started);
                };
                let area = self.deliveries.current_mut();
                if !task
                    .mailbox
                    .pop_into(&mut area.payload[..], &mut area.envelope, &mut area.kind)
                {
                    if task.state == TaskState::Queued {
                        task.state = TaskState::Idle;
                    }
                    return Some(started);
                }
                task.state = TaskState::Running;
                id
            }
        };
        let (current, lane) = self.deliveries.split();
        let result = match self.machines.get_mut(id) {
            Some(Some(machine)) => {
                let mut cx = TaskContext {
                    kernel: &mut self.kernel,
                    platform: &mut self.platform,
                    task: id,
                    lane: Some(lane),
                };
                machine.handle(&mut cx, current.incoming())
            }
            _ => Ok(()),
        };
        let now = self.platform.now_ns();
        let elapsed = now.saturating_sub(started);
        match result {
            // The common case: one task lookup charges it and requeues it.
            Ok(()) => {
                if let Some(task) = self.kernel.tasks.get_mut(id) {
                    Self::account(task, &mut self.kernel.stats, &mut self.platform, elapsed);
                    if task.state == TaskState::Running {
                        Self::settle(task, &mut self.kernel.run_queue, id);
                    }
                }
            }
            Err(error) => {
                if let Some(task) = self.kernel.tasks.get_mut(id) {
                    Self::account(task, &mut self.kernel.stats, &mut self.platform, elapsed);
                }
                // The current area still holds the message: only a
                // dispatch changes it.
                let reply = self.deliveries.current_mut().envelope.reply;
                self.handler_failed(id, error, reply);
                if let Some(task) = self.kernel.tasks.get_mut(id)
                    && task.state == TaskState::Running
                {
                    Self::settle(task, &mut self.kernel.run_queue, id);
                }
            }
        }
        Some(now)
    }

    /// After its handler: a task with more mail goes back on the run
    /// queue, otherwise it idles.
    #[inline]
    fn settle(task: &mut Task, run_queue: &mut RunQueue, id: TaskId) {
        if task.mailbox.is_empty() {
            task.state = TaskState::Idle;
        } else {
            task.state = TaskState::Queued;
            // Never refused: the ring holds every task, each at most once.
            run_queue.push_back(id);
        }
    }

    /// Charges `elapsed` to the task and reports a budget overrun.
    #[inline]
    fn account(task: &mut Task, stats: &mut SchedStats, platform: &mut P, elapsed: u64) {
        stats.dispatched += 1;
        task.counters.handled += 1;
        task.counters.busy_ns += elapsed;
        let budget_ns = task.budget_ns;
        if elapsed > budget_ns {
            task.counters.budget_overruns += 1;
            stats.budget_overruns += 1;
            let name = task.name;
            platform.log(
                "kernel",
                format_args!("{name}: handler ran {elapsed} ns, over the {budget_ns} ns budget"),
            );
        }
    }

    /// What follows a handler's error. Malformed: the caller (if it
    /// called, and the Reply is still unanswered) gets `CallFailed {
    /// Malformed }`, and the task keeps running. Ipc: logged and counted.
    /// Fatal: the task is faulted and its capabilities revoked.
    pub(crate) fn handler_failed(&mut self, id: TaskId, error: HandleError, reply: Option<CapRef>) {
        let Some(task) = self.kernel.tasks.get_mut(id) else {
            return;
        };
        let name = task.name;
        match error {
            HandleError::Malformed(_) => task.counters.malformed += 1,
            HandleError::Ipc(_) => task.counters.errors += 1,
            HandleError::Fatal(_) | HandleError::Stopped => {}
        }
        if error != HandleError::Stopped {
            self.platform.log("kernel", format_args!("{name}: {error}"));
        }
        match error {
            HandleError::Malformed(_) => {
                let Some(reply) = reply else { return };
                // Only if the handler did not already answer, drop or move it.
                if let Some(pending) = task.replies.take(reply) {
                    self.kernel.fail_call(pending, CallFailure::Malformed);
                }
            }
            HandleError::Ipc(_) => {}
            HandleError::Fatal(_) | HandleError::Stopped => {
                // A program knows its fault; for anything else the error
                // is all there is.
                let fault = self
                    .machines
                    .get(id)
                    .and_then(|machine| machine.as_ref())
                    .and_then(|machine| machine.fault())
                    .unwrap_or(Fault {
                        cause: ExitCause::Fatal,
                        address: 0,
                    });
                self.kernel.kill(id, TaskState::Faulted, &mut self.platform);
                if let Some(machine) = self.machines.get_mut(id) {
                    *machine = None;
                }
                self.kernel.report_exit(id, fault);
            }
        }
    }

    /// Turns pending interrupts and due timers into notices.
    #[inline]
    fn deliver_kernel_events(&mut self, now: u64) {
        if self.pending.any() {
            let kernel = &mut self.kernel;
            let platform = &mut self.platform;
            let mut lifecycle = false;
            self.pending.take_each(|line| {
                if line == LIFECYCLE_LINE {
                    lifecycle = true;
                    return;
                }
                match kernel.irq_routes.get(usize::from(line)).copied().flatten() {
                    Some(route) => {
                        kernel.notify(route.task, MessageKind::Interrupt { line }, route.badge)
                    }
                    None => {
                        kernel.stats.unrouted_interrupts += 1;
                        platform.log("kernel", format_args!("interrupt {line}: no task holds it"));
                    }
                }
            });
            if lifecycle {
                self.settle_lifecycle();
            }
        }
        if self.kernel.timers.due(now) {
            while let Some((task, badge)) = self.kernel.timers.pop_due(now) {
                self.kernel.notify(task, MessageKind::Timeout, badge);
            }
        }
    }
}
