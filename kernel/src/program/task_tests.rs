//! The user task on the host: a scripted CPU plays the program (each
//! `run` returns the next system call, fault or interrupt of the script
//! and records the registers the kernel resumed it with), over the real
//! scheduler, the real domain page tables and the real checked copies.
//! Every hostile argument the system-call layer checks is tried here.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;

use alloc::string::String;
use mealy_caps::{Rights, TaskId};
use mealy_protocol::abi::{self, Syscall, page};
use mealy_protocol::inspect::{ExitCause, Fault};
use mealy_protocol::{IpcError, StateMachine};
use x86_64::structures::paging::{Page, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

use super::task::{USER_BUDGET_NS, USER_REGION_QUOTA};
use super::{Exit, UserCpu, UserTask};
use crate::mem::Owner;
use crate::mem::address_space::AddressSpace;
use crate::mem::domain::PhysAccess;
use crate::mem::frame::FrameAllocator;
use crate::mem::system::MemorySystem;
use crate::mem::testing::{HashMapMapper, VecMemory, usable};
use crate::sched::{
    HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, TaskState, grant,
};
use crate::trap::TrapFrame;

static PROGRAM: &[u8] = include_bytes!("testdata/ring3.elf");

type TestSystem = MemorySystem<VecMemory, HashMapMapper>;

#[derive(Clone, Copy, Debug)]
enum Step {
    Call(Syscall, [u64; 6]),
    Raw(u64, [u64; 6]),
    /// A call whose first argument is what system call `from` returned
    /// in `rdx` (an address the host heap chose).
    CallWithResult {
        call: Syscall,
        from: usize,
        args: [u64; 5],
    },
    Fault {
        vector: u64,
        cr2: u64,
    },
    Tick,
}

/// Plays the program: one script step per `run`.
struct ScriptedCpu {
    root: PhysFrame,
    /// The kernel's view of memory (`kernel_translate` reads its tables).
    memory: &'static TestSystem,
    /// What `kernel_translate` answers for a page outside `memory`: the
    /// host platform's Regions live on the host heap, so a domain maps
    /// them to this one frame, and checked copies have a frame to read.
    scratch: PhysFrame,
    script: RefCell<VecDeque<Step>>,
    /// The frame as each `run` got it: the previous call's results.
    seen: RefCell<Vec<TrapFrame>>,
}

impl UserCpu for ScriptedCpu {
    fn run(&self, frame: &mut TrapFrame, _root: PhysFrame) -> Exit {
        self.seen.borrow_mut().push(*frame);
        let step = self
            .script
            .borrow_mut()
            .pop_front()
            .unwrap_or(Step::Call(Syscall::Done, [0; 6]));
        let set = |frame: &mut TrapFrame, number: u64, args: [u64; 6]| {
            frame.rax = number;
            [
                frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
            ] = args;
        };
        match step {
            Step::Call(call, args) => {
                set(frame, call as u64, args);
                Exit::Syscall
            }
            Step::CallWithResult { call, from, args } => {
                let first = self.seen.borrow().get(from + 1).map_or(0, |seen| seen.rdx);
                let [a1, a2, a3, a4, a5] = args;
                set(frame, call as u64, [first, a1, a2, a3, a4, a5]);
                Exit::Syscall
            }
            Step::Raw(number, args) => {
                set(frame, number, args);
                Exit::Syscall
            }
            Step::Fault { vector, cr2 } => {
                frame.rip = frame.rip.wrapping_add(0x10);
                Exit::Exception {
                    vector,
                    error_code: 0,
                    cr2,
                }
            }
            Step::Tick => Exit::Interrupt { vector: 0x20 },
        }
    }

    fn arm_budget(&self, _ns: u64) {}

    fn kernel_root(&self) -> PhysFrame {
        self.root
    }

    fn kernel_translate(&self, address: VirtAddr) -> Option<PhysFrame> {
        let page = Page::containing_address(address);
        self.memory
            .with_mapper(|mapper| mapper.pages.get(&page).map(|(frame, _)| *frame))
            .or(Some(self.scratch))
    }
}

struct Rig {
    sched: Scheduler<HostPlatform>,
    cpu: &'static ScriptedCpu,
    memory: &'static TestSystem,
    user: TaskId,
    peer: TaskId,
    message_area: u64,
}

fn unused() -> Box<dyn StateMachine> {
    Box::new(mealy_echo::Echo::new())
}

const PEER: TaskSpec = TaskSpec::new("peer", unused);
const USER: TaskSpec = TaskSpec::new("user", unused).caps(&[
    grant("peer")
        .endpoint_to("peer")
        .rights(Rights::WRITE.union(Rights::DERIVE)),
    grant("inspect").inspect(),
]);

/// A world with an echo task (`peer`) and the user task, whose start
/// upcall plays `start`; the manual clock moves `step_ns` per read.
fn rig_with(start: &[Step], step_ns: u64) -> Rig {
    rig_of(USER, start, step_ns)
}

/// [`rig_with`] for a user task granted what `user` lists.
fn rig_of(user: TaskSpec, start: &[Step], step_ns: u64) -> Rig {
    let map = [usable(1 << 20, 2048)];
    let allocator = FrameAllocator::new(&map, VecMemory::covering(&map)).expect("frames");
    let memory: &'static TestSystem = Box::leak(Box::new(MemorySystem::new(
        allocator,
        AddressSpace::lower_half(),
        HashMapMapper::default(),
    )));
    let root = memory.allocate_table().expect("root");
    let cpu: &'static ScriptedCpu = Box::leak(Box::new(ScriptedCpu {
        root,
        memory,
        scratch: memory.allocate_table().expect("scratch"),
        script: RefCell::new(start.iter().copied().collect()),
        seen: RefCell::new(Vec::new()),
    }));
    let pending: &'static PendingInterrupts = Box::leak(Box::new(PendingInterrupts::new()));
    let mut platform = HostPlatform::manual();
    platform.set_step(step_ns);
    let mut sched = Scheduler::new(platform, pending, SchedConfig::default()).expect("tables");
    let mut message_area = 0;
    let ids = sched
        .spawn_all_with(&[PEER, user], |spec| {
            if spec.name == "user" {
                let task =
                    UserTask::load("user", PROGRAM, memory, memory, cpu, Owner(2)).expect("loads");
                message_area = task.message_area();
                Box::new(task)
            } else {
                Box::new(mealy_echo::Echo::new())
            }
        })
        .expect("spawns");
    Rig {
        sched,
        cpu,
        memory,
        user: ids[1],
        peer: ids[0],
        message_area,
    }
}

fn rig(start: &[Step]) -> Rig {
    rig_with(start, 1)
}

impl Rig {
    /// `rax` and `rdx` as the task saw them after its `n`th system call.
    fn result(&self, n: usize) -> (u64, u64) {
        let seen = self.cpu.seen.borrow();
        (seen[n + 1].rax, seen[n + 1].rdx)
    }

    fn error(&self, n: usize) -> Option<IpcError> {
        let (rax, rdx) = self.result(n);
        abi::decode_error(rax, rdx)
    }

    fn state(&self) -> TaskState {
        self.sched.task_info(self.user).expect("task").state
    }

    fn logged(&self, text: &str) -> bool {
        self.sched.platform().logged(text)
    }

    /// Reads the task's memory at `address` through the kernel's mapping.
    fn read(&self, address: u64, out: &mut [u8]) {
        let page = Page::containing_address(VirtAddr::new(address));
        let frame = self
            .memory
            .with_mapper(|mapper| mapper.pages.get(&page).map(|(frame, _)| *frame))
            .expect("mapped");
        let phys = PhysAddr::new(frame.start_address().as_u64() + address % 4096);
        self.memory.read(phys, out).expect("readable");
    }

    fn field(&self, offset: usize) -> u64 {
        let mut bytes = [0u8; 8];
        self.read(self.message_area + offset as u64, &mut bytes);
        u64::from_le_bytes(bytes)
    }
}

/// What a fresh rig's message area and first grant are (the allocators
/// are deterministic, so a script can name them).
fn layout() -> (u64, u64) {
    let rig = rig(&[]);
    (rig.message_area, rig.sched.grants(rig.user)[0].cap.to_raw())
}

const PAYLOAD: u64 = page::PAYLOAD as u64;

#[test]
fn the_start_upcall_carries_the_grants() {
    let rig = rig(&[]);
    assert_eq!(rig.field(page::KIND) as u32, abi::UPCALL_START);
    assert_eq!(
        rig.field(page::PAYLOAD_LEN) as u32 as usize,
        2 * abi::GRANT_RECORD
    );
    let mut record = [0u8; abi::GRANT_RECORD];
    rig.read(rig.message_area + PAYLOAD, &mut record);
    assert_eq!(
        abi::decode_grant(&record).map(|(name, _)| name),
        Some("peer")
    );
    // The entry got the message area in rdi and a stack.
    let first = rig.cpu.seen.borrow()[0];
    assert_eq!(first.rdi, rig.message_area);
    assert_ne!(first.rsp, 0);
    assert_eq!(rig.state(), TaskState::Idle);
}

#[test]
fn a_log_call_copies_from_the_tasks_memory() {
    let (area, _) = layout();
    let rig = rig(&[Step::Call(Syscall::Log, [area + PAYLOAD, 4, 0, 0, 0, 0])]);
    assert_eq!(rig.error(0), None);
    assert!(
        rig.logged("user: peer"),
        "{:?}",
        rig.sched.platform().log_lines
    );
}

#[test]
fn hostile_arguments_come_back_as_errors() {
    let (area, _) = layout();
    let forged = 0xdead_0000_0007;
    let steps = [
        Step::Raw(999, [0; 6]),
        Step::Call(Syscall::Log, [0xffff_ffff_8000_0000, 8, 0, 0, 0, 0]),
        Step::Call(Syscall::Log, [0, 8, 0, 0, 0, 0]),
        Step::Call(Syscall::Log, [area, 1 << 40, 0, 0, 0, 0]),
        Step::Call(Syscall::Send, [forged, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::Send, [forged, area, 5000, 0, 0, 0]),
        Step::Call(Syscall::Send, [forged, area, 1, area, 5, 0]),
        Step::Call(Syscall::Send, [forged, 0xffff_8000_0000_0000, 16, 0, 0, 0]),
        Step::Call(Syscall::Mint, [forged, 0x1ff, 0, 0, 0, 0]),
        Step::Call(Syscall::PortRead, [forged, 0x1_0000, 0, 0, 0, 0]),
        Step::Call(Syscall::Drop, [forged, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::RestartTask, [forged, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::Supervise, [forged, forged, 0, 0, 0, 0]),
        Step::Call(Syscall::RestartTask, [area, 0, 0, 0, 0, 0]),
        // The token cannot go into its read-only message area: the
        // handler ends with that error, which is logged.
        Step::Call(Syscall::CallDone, [forged, 0, 0, 0, 0, area]),
    ];
    let rig = rig(&steps);
    let expected = [
        IpcError::UnknownSyscall,
        IpcError::BadAddress,
        IpcError::BadAddress,
        IpcError::PayloadTooLarge {
            len: u32::MAX,
            max: 512,
        },
        IpcError::InvalidCap,
        IpcError::PayloadTooLarge {
            len: 5000,
            max: 4096,
        },
        IpcError::TooManyCaps { count: 5 },
        IpcError::BadAddress,
        IpcError::Malformed,
        IpcError::OutOfRange {
            offset: 0x1_0000,
            len: 0,
        },
        IpcError::InvalidCap,
        IpcError::InvalidCap,
        IpcError::InvalidCap,
        IpcError::InvalidCap,
    ];
    for (n, error) in expected.iter().enumerate() {
        assert_eq!(rig.error(n), Some(*error), "call {n}: {:?}", steps[n]);
    }
    // Nothing but the results comes back: the scratch registers are zero.
    let after = rig.cpu.seen.borrow()[1];
    assert_eq!((after.rdi, after.r8, after.r9, after.r10), (0, 0, 0, 0));
    assert_eq!(rig.state(), TaskState::Idle);
    assert!(rig.logged("an address the task's domain does not map"));
}

#[test]
fn a_real_capability_works_and_rights_never_grow() {
    let (area, peer) = layout();
    let rig = rig(&[
        Step::Call(Syscall::Send, [peer, area + PAYLOAD, 0, 0, 0, 0]),
        Step::Call(
            Syscall::Mint,
            [peer, Rights::all().bits().into(), 0, 0, 0, 0],
        ),
        Step::Call(
            Syscall::Mint,
            [peer, Rights::WRITE.bits().into(), 7, 0, 0, 0],
        ),
        Step::Call(Syscall::TaskId, [0; 6]),
    ]);
    assert_eq!(rig.error(0), None, "an empty send to the peer");
    assert!(matches!(
        rig.error(1),
        Some(IpcError::RightsEscalation { .. })
    ));
    assert_eq!(rig.error(2), None, "a badged copy with the same rights");
    assert_eq!(rig.result(3), (0, u64::from(rig.user.0)));
}

#[test]
fn a_fault_stops_only_the_task_with_one_line() {
    let mut rig = rig(&[Step::Fault {
        vector: 14,
        cr2: 0xffff_ffff_8000_0000,
    }]);
    assert_eq!(rig.state(), TaskState::Faulted);
    let lines: Vec<&String> = rig
        .sched
        .platform()
        .log_lines
        .iter()
        .filter(|line| line.contains("user"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("stopped: page fault (#PF) reading 0xffffffff80000000"));
    // `ps` and a supervisor learn the fault and the address touched.
    assert_eq!(
        rig.sched.task_info(rig.user).unwrap().last_fault,
        Some(Fault {
            cause: ExitCause::Exception { vector: 14 },
            address: 0xffff_ffff_8000_0000,
        })
    );
    let peer = rig.peer;
    assert!(rig.sched.act_as(peer, |cx| cx.task_id()).is_some());
}

#[test]
fn a_handler_over_its_budget_is_stopped_by_the_timer() {
    // The clock moves a sixth of the budget per read.
    let rig = rig_with(&[Step::Tick; 12], USER_BUDGET_NS / 6);
    assert_eq!(rig.state(), TaskState::Faulted);
    let budget = alloc::format!("over its {} ms budget", USER_BUDGET_NS / 1_000_000);
    assert!(rig.logged(&budget), "{:?}", rig.sched.platform().log_lines);
    let fault = rig.sched.task_info(rig.user).unwrap().last_fault;
    assert_eq!(fault.map(|fault| fault.cause), Some(ExitCause::OverBudget));
}

#[test]
fn a_panic_ends_the_task_and_a_stop_returns_its_memory() {
    let rig = rig(&[Step::Call(Syscall::Done, [abi::DONE_FATAL, 0, 0, 0, 0, 0])]);
    assert_eq!(rig.state(), TaskState::Faulted);
    let fault = rig.sched.task_info(rig.user).unwrap().last_fault;
    assert_eq!(fault.map(|fault| fault.cause), Some(ExitCause::Fatal));
    // Its page tables and regions went back: the same load and stop again
    // ends where it began.
    let before = rig.memory.frame_stats().free;
    let mut again = None;
    let task = UserTask::load("again", PROGRAM, rig.memory, rig.memory, rig.cpu, Owner(3)).unwrap();
    again.replace(task);
    assert!(rig.memory.frame_stats().free < before);
    drop(again);
    assert_eq!(rig.memory.frame_stats().free, before);
}

#[test]
fn a_program_cannot_hold_more_regions_than_its_quota() {
    let half = USER_REGION_QUOTA / 2;
    let rig = rig(&[
        Step::Call(Syscall::AllocRegion, [half, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::AllocRegion, [half, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::AllocRegion, [4096, 0, 0, 0, 0, 0]),
    ]);
    assert_eq!(rig.error(0), None);
    assert_eq!(rig.error(1), None);
    assert_eq!(rig.error(2), Some(IpcError::OutOfResources));
    // Dropping one makes room again.
    let first = rig.result(0).1;
    let rig = self::rig(&[
        Step::Call(Syscall::AllocRegion, [half, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::AllocRegion, [half, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::Drop, [first, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::AllocRegion, [4096, 0, 0, 0, 0, 0]),
    ]);
    assert_eq!(
        rig.error(2),
        None,
        "the first region's ref is the same in a fresh rig"
    );
    assert_eq!(rig.error(3), None);
}

#[test]
fn a_region_revoked_while_the_task_waits_is_unmapped_before_its_next_upcall() {
    let (area, peer) = layout();
    let setup = [
        Step::Call(Syscall::AllocRegion, [4096, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::Copy, [0, 0, 0, 0, 0, 0]),
    ];
    // The allocators are deterministic: learn the refs and the address.
    let dry = rig(&setup[..1]);
    let parent = dry.result(0).1;
    let dry = rig(&[setup[0], Step::Call(Syscall::Copy, [parent, 0, 0, 0, 0, 0])]);
    let child = dry.result(1).1;
    let mut rig = rig(&[
        setup[0],
        Step::Call(Syscall::Copy, [parent, 0, 0, 0, 0, 0]),
        Step::Call(Syscall::Region, [child, 1, 0, 0, 0, 0]),
        Step::CallWithResult {
            call: Syscall::Log,
            from: 2,
            args: [4, 0, 0, 0, 0],
        },
        // The peer's answer brings the task back for a second upcall.
        Step::Call(Syscall::Call, [peer, area + PAYLOAD, 0, 0, 0, 0]),
        Step::Call(Syscall::Done, [abi::DONE_OK, 0, 0, 0, 0, 0]),
        Step::CallWithResult {
            call: Syscall::Log,
            from: 2,
            args: [4, 0, 0, 0, 0],
        },
    ]);
    assert_eq!(rig.error(3), None, "the mapped copy is readable");
    // Someone else (here the kernel, for the task) revokes the copy.
    let user = rig.user;
    assert_eq!(
        rig.sched.revoke(user, mealy_caps::CapRef::from_raw(parent)),
        Ok(1)
    );
    rig.sched.run_until_idle(100);
    assert_eq!(rig.error(6), Some(IpcError::BadAddress));
}

#[test]
fn inspect_writes_the_report_where_the_task_can_write_and_refuses_the_rest() {
    let (area, _) = layout();
    let dry = rig(&[]);
    let inspect = dry.sched.grants(dry.user)[1].cap.to_raw();
    // A page of the task's stack, well below the entry's stack pointer.
    let buffer = (dry.cpu.seen.borrow()[0].rsp - 8192) & !0xfff;
    let call = |query: u64, out: u64, len: u64| {
        Step::Call(Syscall::Inspect, [inspect, query, out, len, 0, 0])
    };
    let rig = rig(&[
        Step::Call(
            Syscall::Inspect,
            [0xdead_0000_0007, abi::INSPECT_STATS, buffer, 4096, 0, 0],
        ),
        call(99, buffer, 4096),
        call(abi::INSPECT_STATS, buffer, 1),
        call(abi::INSPECT_STATS, area, 4096),
        call(abi::INSPECT_STATS, 0xffff_ffff_8000_0000, 4096),
        call(abi::INSPECT_TASKS, buffer, 4096),
    ]);
    assert_eq!(rig.error(0), Some(IpcError::InvalidCap));
    assert_eq!(rig.error(1), Some(IpcError::Malformed));
    assert!(
        matches!(rig.error(2), Some(IpcError::PayloadTooLarge { max: 1, len }) if len > 1),
        "{:?}",
        rig.error(2)
    );
    assert_eq!(rig.error(3), Some(IpcError::BadAddress), "read-only area");
    assert_eq!(rig.error(4), Some(IpcError::BadAddress), "kernel address");
    assert_eq!(rig.error(5), None);
    let len = rig.result(5).1 as usize;
    let mut bytes = alloc::vec![0u8; len];
    rig.read(buffer, &mut bytes);
    match mealy_protocol::inspect::Report::decode(&bytes) {
        Ok(mealy_protocol::inspect::Report::Tasks(rows)) => {
            let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
            assert!(
                names.contains(&"user") && names.contains(&"peer"),
                "{names:?}"
            );
            assert!(rows.iter().any(|row| row.name == "user" && row.ring == 3));
        }
        other => panic!("not a task list: {other:?}"),
    }
}

/// A ring-0 task that fails fatally on any message.
struct Crashy;

impl StateMachine for Crashy {
    fn name(&self) -> &'static str {
        "crashy"
    }

    fn handle(
        &mut self,
        _: &mut dyn mealy_protocol::Context,
        _: mealy_protocol::Incoming<'_>,
    ) -> Result<(), mealy_protocol::HandleError> {
        Err(mealy_protocol::HandleError::Fatal("asked to crash"))
    }
}

#[test]
fn a_ring_3_supervisor_reads_a_task_exited_notice_from_its_message_area() {
    const VICTIM: TaskSpec = TaskSpec::new("victim", unused);
    const BOSS: TaskSpec = TaskSpec::new("boss", unused).caps(&[
        grant("victim").control_of("victim"),
        grant("to-victim").endpoint_to("victim"),
        grant("to-user").endpoint_to("user").badge(9),
    ]);
    let mut rig = rig(&[]);
    let ids = rig
        .sched
        .spawn_all_with(&[VICTIM, BOSS], |spec| {
            if spec.name == "victim" {
                Box::new(Crashy)
            } else {
                unused()
            }
        })
        .expect("spawns");
    let (victim, boss) = (ids[0], ids[1]);
    let cap = |rig: &Rig, name: &str| {
        rig.sched
            .grants(boss)
            .iter()
            .find(|grant| grant.name == name)
            .unwrap()
            .cap
    };
    let (task, to_victim, to_user) = (
        cap(&rig, "victim"),
        cap(&rig, "to-victim"),
        cap(&rig, "to-user"),
    );
    let done = rig.sched.act_as(boss, |cx| {
        cx.supervise(task, to_user)?;
        cx.send(to_victim, b"crash", &[])
    });
    assert_eq!(done, Some(Ok(())));
    rig.sched.run_until_idle(100);
    assert_eq!(rig.field(page::KIND) as u32, abi::UPCALL_TASK_EXITED);
    assert_eq!(rig.field(page::DETAIL) as u32, victim.0);
    assert_eq!(rig.field(page::TOKEN), 0, "no address");
    assert_eq!(rig.field(page::BADGE), 9);
    assert_eq!(
        abi::decode_cause(rig.field(page::CAUSE) as u32),
        Some(ExitCause::Fatal)
    );
    assert_eq!(rig.state(), TaskState::Idle, "the supervisor goes on");
}

/// A driver's grants: an MMIO range with every right and read-only, and
/// two ordinary (not DMA) Regions, one without MAP.
const DRIVER: TaskSpec = TaskSpec::new("user", unused).caps(&[
    grant("bar").device(mealy_caps::DeviceRange::Mmio {
        base: 0xfe00_0000,
        len: 0x1000,
    }),
    grant("bar-ro")
        .device(mealy_caps::DeviceRange::Mmio {
            base: 0xfe00_0000,
            len: 0x1000,
        })
        .rights(Rights::READ),
    grant("region").region(4096),
    grant("region-no-map")
        .region(4096)
        .rights(Rights::READ.union(Rights::WRITE)),
]);

#[test]
fn mmio_and_region_phys_calls_check_every_argument() {
    let granted = rig_of(DRIVER, &[], 1);
    let cap = |name: &str| {
        granted
            .sched
            .grants(granted.user)
            .iter()
            .find(|grant| grant.name == name)
            .map(|grant| grant.cap.to_raw())
            .expect("granted")
    };
    let (bar, bar_ro) = (cap("bar"), cap("bar-ro"));
    let (region, no_map) = (cap("region"), cap("region-no-map"));
    let forged = 0xdead_0000_0007;
    let out_of_range = |offset| IpcError::OutOfRange {
        offset,
        len: 0x1000,
    };
    let cases: [(Syscall, [u64; 4], IpcError); 17] = [
        (Syscall::MmioRead, [forged, 0, 1, 0], IpcError::InvalidCap),
        (Syscall::MmioRead, [bar, 0, 3, 0], IpcError::Malformed),
        (Syscall::MmioRead, [bar, 0, 0, 0], IpcError::Malformed),
        (
            Syscall::MmioRead,
            [bar, 0, u64::MAX, 0],
            IpcError::Malformed,
        ),
        (Syscall::MmioRead, [bar, 0x1000, 1, 0], out_of_range(0x1000)),
        (Syscall::MmioRead, [bar, 0xffc, 8, 0], out_of_range(0xffc)),
        (Syscall::MmioRead, [bar, 2, 4, 0], out_of_range(2)),
        (
            Syscall::MmioRead,
            [region, 0, 1, 0],
            IpcError::WrongKind {
                found: mealy_caps::ObjectKind::Region,
            },
        ),
        // Every check passed: the host platform maps no device memory.
        (Syscall::MmioRead, [bar, 0x14, 1, 0], IpcError::Unsupported),
        (
            Syscall::MmioWrite,
            [bar_ro, 0, 1, 1],
            IpcError::MissingRights {
                missing: Rights::WRITE,
            },
        ),
        (Syscall::MmioWrite, [bar, 0, 7, 0], IpcError::Malformed),
        (
            Syscall::MmioWrite,
            [bar, 0, 1, 0x100],
            IpcError::OutOfRange {
                offset: 0x100,
                len: 0xff,
            },
        ),
        (Syscall::RegionPhys, [forged, 0, 0, 0], IpcError::InvalidCap),
        (
            Syscall::RegionPhys,
            [region, 4096, 0, 0],
            IpcError::OutOfRange {
                offset: 4096,
                len: 4096,
            },
        ),
        (
            Syscall::RegionPhys,
            [no_map, 0, 0, 0],
            IpcError::MissingRights {
                missing: Rights::MAP,
            },
        ),
        (
            Syscall::RegionPhys,
            [bar, 0, 0, 0],
            IpcError::WrongKind {
                found: mealy_caps::ObjectKind::Device,
            },
        ),
        // Not DMA memory: no physical address to learn.
        (
            Syscall::RegionPhys,
            [region, 0, 0, 0],
            IpcError::Unsupported,
        ),
    ];
    let steps: Vec<Step> = cases
        .iter()
        .map(|(call, [a, b, c, d], _)| Step::Call(*call, [*a, *b, *c, *d, 0, 0]))
        .collect();
    let rig = rig_of(DRIVER, &steps, 1);
    for (n, (call, args, error)) in cases.iter().enumerate() {
        assert_eq!(rig.error(n), Some(*error), "call {n}: {call:?} {args:x?}");
    }
    assert_eq!(rig.state(), TaskState::Idle, "no argument faults the task");
}
