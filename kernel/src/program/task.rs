//! A user task: a program from a file, running in ring 3 in its own
//! protection domain, seen by the scheduler as one more [`StateMachine`].
//!
//! Its `handle` is the upcall loop of DESIGN.md: write the message into
//! the task's read-only message area, enter the program's entry point on
//! a fresh stack, serve its system calls (each a [`Context`] operation on
//! the scheduler's `cx`, so every capability check is the one ring-0 tasks
//! get) until it says `done`, and return. A task holds no registers
//! between messages, so a faulting handler's state is simply dropped.
//!
//! Anything else that brings the task back stops it, and only it: a CPU
//! exception in ring 3, a panic (the runtime ends with `DONE_FATAL`), a
//! handler running past its budget (the timer interrupts it). It logs one
//! line naming the task, the fault, the address and the nearest symbol,
//! and returns [`HandleError::Stopped`]: the scheduler then revokes its
//! capabilities and fails its callers with `PeerDied`, and dropping the
//! task returns its image, stack, message area and page tables.
//!
//! Memory: the image, stack and message area are [`Region`]s from the one
//! address-space allocator, so the program lives at a unique range; the
//! kernel writes them through the frame allocator's view of physical
//! memory ([`PhysAccess`]), never through the task's mappings. Regions the
//! task's capabilities grant are mapped into its domain when it asks for
//! them (`Syscall::Region`), and checked again before every upcall: one
//! whose capability is gone (dropped, revoked, moved away) is unmapped
//! before the task can run again (on one core, and with no PCID, entering
//! the domain reloads CR3, which flushes the TLB).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use mealy_caps::CapRef;
use mealy_protocol::abi::{self, page};
use mealy_protocol::inspect::{ExitCause, Fault};
use mealy_protocol::{
    CallFailure, Context, Grants, HandleError, Incoming, MAX_PAYLOAD, MessageKind, StateMachine,
};
use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, PhysFrame};

use super::elf::{self, ElfError, Limits};
use super::symbols::ProgramSymbols;
use super::syscall::{self, Outcome};
use crate::mem::domain::{Access, Domain, DomainError, PhysAccess};
use crate::mem::message_area::MessageArea;
use crate::mem::system::MemoryBackend;
use crate::mem::{Owner, PAGE_SIZE, Permissions, Region, RegionError};
use crate::trap::{TrapFrame, exception_name};

/// Why the CPU came back from ring 3 (see `arch/x86_64/user.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Syscall,
    Exception {
        vector: u64,
        error_code: u64,
        cr2: u64,
    },
    Interrupt {
        vector: u64,
    },
    BadFrame,
}

/// The machine's side of running a task: the arch layer on bare metal, a
/// script in host tests.
pub trait UserCpu {
    /// Runs `frame` on the domain `root` until the task is back.
    fn run(&self, frame: &mut TrapFrame, root: PhysFrame) -> Exit;
    /// Makes the timer interrupt the task `ns` from now at the latest.
    fn arm_budget(&self, ns: u64);
    /// The kernel's page-table root (whose upper half every domain shares).
    fn kernel_root(&self) -> PhysFrame;
    /// The frame behind `address` in the kernel's own tables.
    fn kernel_translate(&self, address: VirtAddr) -> Option<PhysFrame>;
}

/// Pages of stack a handler gets, below a guard page.
pub const STACK_PAGES: u64 = 16;
/// How long one handler may run before the timer stops the task. Ring-0
/// tasks are only reported past their budget; a ring-3 one can be
/// stopped, so it gets room for TCG's slowness (more in a debug build,
/// where the kernel's own share of a handler is several times slower).
pub const USER_BUDGET_NS: u64 = if cfg!(debug_assertions) {
    1_000_000_000
} else {
    200_000_000
};

/// How long one handler of a boot program may run before it is stopped:
/// the task list's budget for it (`budget_ns`; the shell's is longer),
/// never less than every program gets ([`USER_BUDGET_NS`]). The same at
/// boot and at each restart.
pub fn program_budget(budget_ns: Option<u64>) -> u64 {
    budget_ns.map_or(USER_BUDGET_NS, |ns| ns.max(USER_BUDGET_NS))
}

/// Bytes of Regions a program may hold that it allocated itself
/// (`alloc_region`): past this it gets `OutOfResources`, so one program
/// cannot take the machine's memory from every other task.
pub const USER_REGION_QUOTA: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    Elf(ElfError),
    Memory(RegionError),
    Domain(DomainError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf(error) => write!(f, "{error}"),
            Self::Memory(error) => write!(f, "{error}"),
            Self::Domain(error) => write!(f, "{error}"),
        }
    }
}

/// A Region a capability granted and the task asked to see.
#[derive(Clone, Copy, Debug)]
pub(super) struct Granted {
    pub cap: CapRef,
    pub base: u64,
    pub len: u64,
    pub writable: bool,
}

/// See the module documentation.
pub struct UserTask<'m> {
    name: &'static str,
    cpu: &'m dyn UserCpu,
    phys: &'m dyn PhysAccess,
    pub(super) domain: Domain<'m>,
    image: Region<'m>,
    stack: Region<'m>,
    messages: MessageArea<'m>,
    entry: u64,
    symbols: ProgramSymbols,
    pub(super) granted: Vec<Granted>,
    /// `regions_withdrawn` when `granted` was last checked.
    checked_at: Option<u64>,
    /// The capabilities the last message this task sent named (moved
    /// away if it was sent): `forget_given_up` looks only at those.
    pub(super) moved: [CapRef; mealy_protocol::MAX_CAPS],
    pub(super) moved_count: usize,
    budget_ns: u64,
    /// Where a system call's payload is copied in (made once: a page of
    /// zeroes per call would cost more than the copy).
    pub(super) payload: Box<[u8; MAX_PAYLOAD]>,
    /// Regions it allocated, with their length, for its quota.
    pub(super) allocated: Vec<(CapRef, u64)>,
    /// `regions_withdrawn` when `allocated` was last looked over.
    allocated_checked_at: Option<u64>,
    /// Bytes of Regions it may allocate ([`USER_REGION_QUOTA`] unless
    /// [`UserTask::with_region_quota`] says otherwise).
    region_quota: u64,
    /// The fault that stopped it, for the scheduler's report
    /// (`StateMachine::fault`).
    fault: Option<Fault>,
}

fn frames_of<'r>(region: &'r Region<'_>) -> impl Iterator<Item = (Page, PhysFrame)> + 'r {
    (0..region.range().pages())
        .filter_map(|index| Some((region.range().page(index)?, region.frame(index)?)))
}

impl<'m> UserTask<'m> {
    /// Loads the static-PIE ELF `file` into a fresh domain. Nothing of it
    /// is left behind on error.
    pub fn load(
        name: &'static str,
        file: &[u8],
        backend: &'m dyn MemoryBackend,
        phys: &'m dyn PhysAccess,
        cpu: &'m dyn UserCpu,
        owner: Owner,
    ) -> Result<Self, LoadError> {
        let sizing = elf::plan(file, 0, Limits::PROGRAM).map_err(LoadError::Elf)?;
        let pages = sizing.size / PAGE_SIZE;
        let image = Region::new_mapped(backend, pages, 1, owner, Permissions::KERNEL_DATA)
            .map_err(LoadError::Memory)?;
        let plan =
            elf::plan(file, image.base().as_u64(), Limits::PROGRAM).map_err(LoadError::Elf)?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(plan.size as usize).map_err(|_| {
            LoadError::Memory(RegionError::NoHeap {
                bytes: plan.size as usize,
            })
        })?;
        bytes.resize(plan.size as usize, 0);
        elf::load(file, &plan, &mut bytes).map_err(LoadError::Elf)?;
        let stack = Region::new_mapped(backend, STACK_PAGES, 1, owner, Permissions::KERNEL_DATA)
            .map_err(LoadError::Memory)?;
        let messages = Region::new_mapped(
            backend,
            MessageArea::PAGES as u64,
            1,
            owner,
            Permissions::KERNEL_DATA,
        )
        .map_err(LoadError::Memory)?;
        let messages =
            MessageArea::new(messages, phys).ok_or(LoadError::Domain(DomainError::Corrupt))?;
        let mut domain = Domain::new(phys, cpu.kernel_root()).map_err(LoadError::Domain)?;
        for (index, (page, frame)) in frames_of(&image).enumerate() {
            let offset = index as u64 * PAGE_SIZE;
            // The two plans agree on the size (it does not depend on the
            // base); a mismatch is refused, never indexed past.
            let chunk = bytes
                .get(offset as usize..(offset + PAGE_SIZE) as usize)
                .ok_or(LoadError::Elf(ElfError::ImageBufferSize {
                    expected: pages * PAGE_SIZE,
                    actual: plan.size,
                }))?;
            phys.write(frame.start_address(), chunk)
                .ok_or(LoadError::Domain(DomainError::Corrupt))?;
            let Some(segment) = plan.segments.iter().find(|segment| {
                segment.offset / PAGE_SIZE * PAGE_SIZE <= offset
                    && offset < segment.offset + segment.mem_size
            }) else {
                continue;
            };
            let access = if segment.permissions.execute {
                Access::Execute
            } else if segment.permissions.write && !plan.relro.contains(&offset) {
                Access::ReadWrite
            } else {
                Access::ReadOnly
            };
            domain
                .map(page, frame, access, true)
                .map_err(LoadError::Domain)?;
        }
        for (page, frame) in frames_of(&stack) {
            domain
                .map(page, frame, Access::ReadWrite, true)
                .map_err(LoadError::Domain)?;
        }
        for (page, frame) in frames_of(messages.region()) {
            domain
                .map(page, frame, Access::ReadOnly, true)
                .map_err(LoadError::Domain)?;
        }
        let symbols = ProgramSymbols::read(file, plan.base);
        Ok(UserTask {
            name,
            cpu,
            phys,
            domain,
            entry: plan.entry_address(),
            image,
            stack,
            messages,
            symbols,
            granted: Vec::new(),
            checked_at: None,
            moved: [CapRef::from_raw(0); mealy_protocol::MAX_CAPS],
            moved_count: 0,
            budget_ns: USER_BUDGET_NS,
            payload: Box::new([0; MAX_PAYLOAD]),
            allocated: Vec::new(),
            allocated_checked_at: None,
            region_quota: USER_REGION_QUOTA,
            fault: None,
        })
    }

    /// Where the program's image is: base and length.
    pub fn image(&self) -> (u64, u64) {
        (self.image.base().as_u64(), self.image.len_bytes())
    }

    /// Sets how many bytes of Regions it may allocate itself (a boot
    /// service may need more than [`USER_REGION_QUOTA`]:
    /// `boot_files::region_quota`).
    pub fn with_region_quota(mut self, bytes: u64) -> Self {
        self.region_quota = bytes;
        self
    }

    /// Sets how long one handler may run before the task is stopped.
    pub fn with_budget(mut self, ns: u64) -> Self {
        self.budget_ns = ns;
        self
    }

    /// Writes one message into the message area, as `abi::page` lays
    /// it out: the header fields, `caps` after them, `payload` (at most
    /// a page; the syscall layer never accepts more) on the second page.
    fn deliver(
        &mut self,
        (kind, detail, token): (u32, u32, u64),
        next_token: u64,
        msg: Option<&Incoming<'_>>,
        payload: &[u8],
    ) -> Option<()> {
        let badge = msg
            .and_then(|msg| msg.badge())
            .map_or(0, |badge| badge.get());
        let reply = msg
            .and_then(|msg| msg.reply())
            .map_or(abi::NO_CAP, CapRef::to_raw);
        let caps = msg.map_or(&[][..], |msg| msg.caps());
        if payload.len() > PAGE_SIZE as usize {
            return None;
        }
        let header = self.messages.page_mut(0)?;
        let mut put = |offset: usize, bytes: &[u8]| {
            if let Some(field) = header.get_mut(offset..offset + bytes.len()) {
                field.copy_from_slice(bytes);
            }
        };
        put(page::KIND, &kind.to_le_bytes());
        put(page::DETAIL, &detail.to_le_bytes());
        put(page::TOKEN, &token.to_le_bytes());
        put(page::BADGE, &badge.to_le_bytes());
        put(page::REPLY, &reply.to_le_bytes());
        put(page::CAP_COUNT, &(caps.len() as u32).to_le_bytes());
        put(page::PAYLOAD_LEN, &(payload.len() as u32).to_le_bytes());
        put(page::NEXT_TOKEN, &next_token.to_le_bytes());
        for (index, cap) in caps.iter().enumerate() {
            put(page::CAPS + 8 * index, &cap.to_raw().to_le_bytes());
        }
        self.messages
            .page_mut(1)?
            .get_mut(..payload.len())?
            .copy_from_slice(payload);
        Some(())
    }

    /// Unmaps granted regions whose capability no longer grants them:
    /// looks each up again, unless no Region capability anywhere was
    /// withdrawn since the last look ([`Context::regions_withdrawn`]).
    /// The TLB: the domain's root is loaded again before the task runs,
    /// and without PCID that write flushes every translation it had.
    #[inline(always)]
    pub(super) fn forget_revoked(&mut self, cx: &mut dyn Context) {
        let epoch = cx.regions_withdrawn();
        if epoch.is_some() && epoch == self.checked_at {
            return;
        }
        self.recheck_granted(cx, epoch);
    }

    /// Whether the mappings were checked since the last Region left this
    /// task's CSpace.
    pub(super) fn view_current(&self, cx: &dyn Context) -> bool {
        let epoch = cx.regions_withdrawn();
        epoch.is_some() && epoch == self.checked_at
    }

    /// [`Self::forget_revoked`] after a system call that can take away
    /// only the capabilities it names (`Drop`, or a message's moved
    /// capabilities): if the mappings were current before it
    /// (`was_current`), only mappings by `named` can have gone, and only
    /// those are looked up again; otherwise every one is. A service that
    /// lends a buffer per request (the fs's block writes) so pays for
    /// what it lends, not for every Region it has mapped.
    pub(super) fn forget_given_up(
        &mut self,
        cx: &mut dyn Context,
        named: &[CapRef],
        was_current: bool,
    ) {
        let epoch = cx.regions_withdrawn();
        if epoch.is_some() && epoch == self.checked_at {
            return;
        }
        if !was_current || epoch.is_none() {
            return self.recheck_granted(cx, epoch);
        }
        self.checked_at = epoch;
        let mut index = 0;
        while index < self.granted.len() {
            let granted = self.granted[index];
            if !named.contains(&granted.cap) || self.still_grants(cx, granted) {
                index += 1;
                continue;
            }
            self.granted.swap_remove(index);
            self.unmap_unless_granted(granted);
        }
    }

    /// Whether `granted`'s capability still grants what it mapped.
    fn still_grants(&self, cx: &mut dyn Context, granted: Granted) -> bool {
        let still = if granted.writable {
            cx.region_mut(granted.cap)
                .map(|bytes| (bytes.as_ptr() as u64, bytes.len() as u64))
        } else {
            cx.region(granted.cap)
                .map(|bytes| (bytes.as_ptr() as u64, bytes.len() as u64))
        };
        still == Ok((granted.base, granted.len))
    }

    /// Unmaps what `granted` mapped, unless another grant maps the same
    /// Region.
    fn unmap_unless_granted(&mut self, granted: Granted) {
        if self.granted.iter().any(|g| g.base == granted.base) {
            return;
        }
        for page in 0..granted.len.div_ceil(PAGE_SIZE) {
            let at = VirtAddr::new(granted.base + page * PAGE_SIZE);
            self.domain.unmap(Page::containing_address(at));
        }
    }

    /// [`Self::forget_revoked`]'s look at each mapping, out of line: the
    /// upcall's common case is the one compare.
    #[inline(never)]
    fn recheck_granted(&mut self, cx: &mut dyn Context, epoch: Option<u64>) {
        self.checked_at = epoch;
        let mut index = 0;
        while index < self.granted.len() {
            let granted = self.granted[index];
            if self.still_grants(cx, granted) {
                index += 1;
                continue;
            }
            self.granted.swap_remove(index);
            self.unmap_unless_granted(granted);
        }
    }

    /// One upcall: enter the program and serve it until it is done.
    fn upcall(&mut self, cx: &mut dyn Context) -> Result<(), HandleError> {
        self.forget_revoked(cx);
        let stack_top = self.stack.range().end().as_u64() - 8;
        let mut frame = TrapFrame {
            rip: self.entry,
            rsp: stack_top,
            rdi: self.message_area(),
            ..TrapFrame::default()
        };
        let started = cx.now_ns();
        self.cpu.arm_budget(self.budget_ns);
        loop {
            match self.cpu.run(&mut frame, self.domain.root()) {
                Exit::Syscall => match syscall::serve(self, cx, &mut frame) {
                    Outcome::Resume => {}
                    Outcome::Done(result) => return result,
                },
                Exit::Interrupt { .. } => {
                    let ran = cx.now_ns().saturating_sub(started);
                    if ran > self.budget_ns {
                        self.report(
                            cx,
                            format_args!(
                                "stopped: handler ran {} ms, over its {} ms budget, at {:#x}{}",
                                ran / 1_000_000,
                                self.budget_ns / 1_000_000,
                                frame.rip,
                                self.symbols.describe(frame.rip)
                            ),
                        );
                        return Err(self.stopped(ExitCause::OverBudget, frame.rip));
                    }
                }
                // An NMI is not the task's doing.
                Exit::Exception { vector: 2, .. } => {}
                Exit::Exception {
                    vector,
                    error_code,
                    cr2,
                } => {
                    self.report_exception(cx, &frame, vector, error_code, cr2);
                    let address = if vector == crate::trap::PAGE_FAULT {
                        cr2
                    } else {
                        frame.rip
                    };
                    let vector = u8::try_from(vector).unwrap_or(u8::MAX);
                    return Err(self.stopped(ExitCause::Exception { vector }, address));
                }
                Exit::BadFrame => {
                    self.report(
                        cx,
                        format_args!("stopped: cannot resume at {:#x}", frame.rip),
                    );
                    return Err(self.stopped(ExitCause::BadFrame, frame.rip));
                }
            }
        }
    }

    /// Records the fault that stops the task, and the error that says so.
    fn stopped(&mut self, cause: ExitCause, address: u64) -> HandleError {
        self.fault = Some(Fault { cause, address });
        HandleError::Stopped
    }

    fn report(&self, cx: &mut dyn Context, line: fmt::Arguments<'_>) {
        cx.log(line);
    }

    fn report_exception(
        &self,
        cx: &mut dyn Context,
        frame: &TrapFrame,
        vector: u64,
        error_code: u64,
        cr2: u64,
    ) {
        let (name, mnemonic) = exception_name(vector).unwrap_or(("exception", "#??"));
        let at = self.symbols.describe(frame.rip);
        if vector == crate::trap::PAGE_FAULT {
            let guard = self.stack.range().start().as_u64();
            let what = if (guard - PAGE_SIZE..guard).contains(&cr2) {
                " (stack overflow into the guard page)"
            } else {
                ""
            };
            let access = if error_code & 2 != 0 {
                "writing"
            } else if error_code & 16 != 0 {
                "executing"
            } else {
                "reading"
            };
            self.report(
                cx,
                format_args!(
                    "stopped: {name} ({mnemonic}) {access} {cr2:#x}{what} at {:#x}{at}",
                    frame.rip
                ),
            );
        } else {
            self.report(
                cx,
                format_args!(
                    "stopped: {name} ({mnemonic}, error code {error_code:#x}) at {:#x}{at}",
                    frame.rip
                ),
            );
        }
    }

    /// The address of the message area (the entry's `rdi`).
    pub fn message_area(&self) -> u64 {
        self.messages.region().base().as_u64()
    }

    /// `alloc_region` within its quota ([`USER_REGION_QUOTA`] by
    /// default): the regions it
    /// allocated and still holds (a capability it dropped or moved away no
    /// longer counts) plus `len` must fit.
    pub(super) fn alloc_region(
        &mut self,
        cx: &mut dyn Context,
        len: u64,
    ) -> Result<CapRef, mealy_protocol::IpcError> {
        // Look the list over again only when a Region left its CSpace
        // since the last look: creating many files stays linear.
        let epoch = cx.regions_withdrawn();
        if epoch.is_none() || epoch != self.allocated_checked_at {
            self.allocated.retain(|(cap, _)| cx.region(*cap).is_ok());
            self.allocated_checked_at = epoch;
        }
        let held: u64 = self.allocated.iter().map(|(_, len)| len).sum();
        let rounded = len.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE);
        if held.saturating_add(rounded) > self.region_quota {
            return Err(mealy_protocol::IpcError::OutOfResources);
        }
        let cap = cx.alloc_region(usize::try_from(len).unwrap_or(usize::MAX))?;
        self.allocated
            .try_reserve(1)
            .map_err(|_| mealy_protocol::IpcError::OutOfResources)?;
        self.allocated.push((cap, rounded));
        Ok(cap)
    }

    pub(super) fn map_granted(&mut self, granted: Granted) -> Result<(), mealy_protocol::IpcError> {
        if self.granted.iter().any(|g| {
            g.cap == granted.cap && g.base == granted.base && g.writable == granted.writable
        }) {
            return Ok(());
        }
        // A read-only mapping that becomes writable: drop the old one.
        let already = self.granted.iter().any(|g| g.base == granted.base);
        if already {
            for page in 0..granted.len.div_ceil(PAGE_SIZE) {
                let at = VirtAddr::new(granted.base + page * PAGE_SIZE);
                self.domain.unmap(Page::containing_address(at));
            }
            self.granted.retain(|g| g.base != granted.base);
        }
        let access = if granted.writable {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        };
        for page in 0..granted.len.div_ceil(PAGE_SIZE) {
            let at = VirtAddr::new(granted.base + page * PAGE_SIZE);
            let Some(frame) = self.cpu.kernel_translate(at) else {
                continue;
            };
            let copyable = self.phys.read(frame.start_address(), &mut []).is_some();
            self.domain
                .map(Page::containing_address(at), frame, access, copyable)
                .map_err(|_| mealy_protocol::IpcError::OutOfResources)?;
        }
        self.granted.push(granted);
        Ok(())
    }
}

impl StateMachine for UserTask<'_> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn ring(&self) -> u8 {
        3
    }

    fn fault(&self) -> Option<Fault> {
        self.fault
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let mut payload = Vec::new();
        for grant in grants.iter() {
            if let Some(record) = abi::encode_grant(grant.name, grant.cap) {
                payload.extend_from_slice(&record);
            }
        }
        let next_token = cx.next_call_token().map_or(0, |token| token.0);
        self.deliver((abi::UPCALL_START, 0, 0), next_token, None, &payload)
            .ok_or(HandleError::Fatal("the message area is not writable"))?;
        self.upcall(cx)
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        let (kind, detail, token) = match msg.kind {
            MessageKind::Request => (abi::UPCALL_REQUEST, 0, 0),
            MessageKind::Reply { token } => (abi::UPCALL_REPLY, 0, token.0),
            MessageKind::CallFailed { token, reason } => (
                abi::UPCALL_CALL_FAILED,
                match reason {
                    CallFailure::Malformed => abi::FAILED_MALFORMED,
                    CallFailure::PeerDied => abi::FAILED_PEER_DIED,
                    CallFailure::Dropped => abi::FAILED_DROPPED,
                    CallFailure::NotSent { .. } => abi::FAILED_NOT_SENT,
                },
                token.0,
            ),
            MessageKind::Interrupt { line } => (abi::UPCALL_INTERRUPT, u32::from(line), 0),
            MessageKind::Timeout => (abi::UPCALL_TIMEOUT, 0, 0),
            MessageKind::TaskExited { task, address, .. } => {
                (abi::UPCALL_TASK_EXITED, task.0, address)
            }
            MessageKind::InjectFault { kind } => {
                (abi::UPCALL_INJECT_FAULT, u32::from(kind as u8), 0)
            }
        };
        let next_token = cx.next_call_token().map_or(0, |token| token.0);
        self.deliver((kind, detail, token), next_token, Some(&msg), msg.payload)
            .ok_or(HandleError::Fatal("the message area is not writable"))?;
        let cause = match msg.kind {
            MessageKind::TaskExited { cause, .. } => Some(abi::encode_cause(cause)),
            MessageKind::CallFailed {
                reason: CallFailure::NotSent { code, detail },
                ..
            } => Some(abi::encode_not_sent(code, detail)),
            _ => None,
        };
        if let Some(word) = cause {
            let word = word.to_le_bytes();
            self.messages
                .page_mut(0)
                .and_then(|header| header.get_mut(page::CAUSE..page::CAUSE + 4))
                .ok_or(HandleError::Fatal("the message area is not writable"))?
                .copy_from_slice(&word);
        }
        self.upcall(cx)
    }
}
