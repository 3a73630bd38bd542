//! The kernel's tables as the shell's tests see them: [`FakeKernel`] is
//! a `FakeContext` (it derefs to one, and forwards every `Context`
//! operation to it) that also keeps its inspect answers current within a
//! step, as the kernel's are: a program `spawn` started shows at once in
//! the task table (ring 3, ids from [`FIRST_PROGRAM`]) and its Task
//! capability in the shell's CSpace of the capability graph; `stop_task`
//! through that capability stops it (a second is `DeadTask`). The graph
//! also shows the Regions the fs handed the shell
//! ([`FakeKernel::show_regions`]).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::{Deref, DerefMut};

use mealy_caps::{Badge, CapRef, Object, Rights, TaskId};
use mealy_protocol::inspect::{Query, Report};
use mealy_protocol::testing::FakeContext;
use mealy_protocol::{CallToken, Context, IpcError};

use crate::fake_fs::CAPACITY;
use crate::fake_system::{all_tasks, graph_holding};
use crate::system::{TaskRow, TaskStatus};

/// The id the first program spawned gets; the boot tasks are 1 to 3 and
/// the shell is 4.
pub const FIRST_PROGRAM: u32 = 5;

/// A program the fake kernel started.
#[derive(Debug)]
struct FakeProgram {
    id: u32,
    name: String,
    control: CapRef,
    stopped: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct FakeKernel {
    pub fake: FakeContext,
    /// Regions of the fs's the shell may hold.
    regions: Vec<CapRef>,
    programs: Vec<FakeProgram>,
}

impl FakeKernel {
    pub fn new(fake: FakeContext) -> Self {
        Self {
            fake,
            regions: Vec::new(),
            programs: Vec::new(),
        }
    }

    /// Shows those of `regions` the shell still holds in its CSpace.
    pub fn show_regions(&mut self, regions: &[CapRef]) {
        self.regions = regions.to_vec();
        self.refresh();
    }

    /// The inspect answers for the tables as they are now. The task table
    /// is left as the test set it until a program has started.
    fn refresh(&mut self) {
        let region = Object::Region {
            base: 0,
            len: CAPACITY as u64,
        };
        let regions = self.regions.iter().map(|&cap| (cap, region));
        let programs = self.programs.iter().map(|program| {
            let task = Object::Task {
                task: TaskId(program.id),
            };
            (program.control, task)
        });
        let held: Vec<(CapRef, Rights, Object)> = regions
            .chain(programs)
            .filter_map(|(cap, object)| Some((cap, self.fake.rights(cap)?, object)))
            .collect();
        let graph = Report::Graph(graph_holding(&held));
        self.fake.answer_inspect(Query::Graph, graph);
        if self.programs.is_empty() {
            return;
        }
        let mut tasks = all_tasks();
        tasks.extend(self.programs.iter().map(|program| TaskRow {
            id: program.id,
            ring: 3,
            name: program.name.clone(),
            state: if program.stopped {
                TaskStatus::Stopped
            } else {
                TaskStatus::Idle
            },
            mailbox_depth: 0,
            mailbox_high_water: 0,
            handled: 1,
            time_ns: 700,
            restarts: 0,
            last_fault: None,
        }));
        self.fake.answer_inspect(Query::Tasks, Report::Tasks(tasks));
    }
}

impl Deref for FakeKernel {
    type Target = FakeContext;

    fn deref(&self) -> &FakeContext {
        &self.fake
    }
}

impl DerefMut for FakeKernel {
    fn deref_mut(&mut self) -> &mut FakeContext {
        &mut self.fake
    }
}

impl Context for FakeKernel {
    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(&str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        let control = self.fake.spawn(program, name, grants)?;
        self.programs.push(FakeProgram {
            id: FIRST_PROGRAM + self.programs.len() as u32,
            name: name.to_string(),
            control,
            stopped: false,
        });
        self.refresh();
        Ok(control)
    }

    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let program = self.programs.iter().position(|p| p.control == task);
        if program.is_some_and(|index| self.programs[index].stopped) {
            return Err(IpcError::DeadTask);
        }
        self.fake.stop_task(task)?;
        if let Some(index) = program {
            self.programs[index].stopped = true;
            self.refresh();
        }
        Ok(())
    }

    fn restart_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        self.fake.restart_task(task)?;
        if let Some(program) = self.programs.iter_mut().find(|p| p.control == task) {
            program.stopped = false;
            self.refresh();
        }
        Ok(())
    }

    fn inject_fault(
        &mut self,
        task: CapRef,
        kind: mealy_protocol::supervision::FaultKind,
    ) -> Result<(), IpcError> {
        self.fake.inject_fault(task, kind)
    }

    // Everything else is the FakeContext's.

    fn task_id(&self) -> TaskId {
        self.fake.task_id()
    }

    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        self.fake.send(to, payload, caps)
    }

    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError> {
        self.fake.call(to, payload, caps)
    }

    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError> {
        self.fake.reply(reply, payload, caps)
    }

    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError> {
        self.fake.mint(cap, rights, badge)
    }

    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError> {
        self.fake.copy(cap)
    }

    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError> {
        self.fake.drop_cap(cap)
    }

    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError> {
        self.fake.revoke(cap)
    }

    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError> {
        self.fake.revoke_in(task, slot)
    }

    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError> {
        self.fake.inspect(inspect, query)
    }

    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError> {
        self.fake.alloc_region(len)
    }

    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        self.fake.subregion(cap, offset, len, rights)
    }

    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError> {
        self.fake.region(cap)
    }

    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError> {
        self.fake.region_mut(cap)
    }

    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError> {
        self.fake.port_read(device, offset)
    }

    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError> {
        self.fake.port_write(device, offset, value)
    }

    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError> {
        self.fake.irq_ack(irq)
    }

    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError> {
        self.fake.set_timer(timer, after_ns)
    }

    fn now_ns(&self) -> u64 {
        self.fake.now_ns()
    }

    fn log(&mut self, line: fmt::Arguments<'_>) {
        self.fake.log(line)
    }
}
