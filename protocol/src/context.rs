//! The [`Context`] trait: everything a handler may ask of the kernel.
//!
//! The kernel implements it once (the scheduler hands a `&mut dyn Context`
//! to every handler); tests may implement it to drive a service alone.
//! Every operation names capabilities by [`CapRef`] in the calling task's
//! own CSpace and is checked there; every failure is an [`IpcError`] and
//! changes nothing.

use core::fmt;

use mealy_caps::{Badge, CapRef, Rights, TaskId};

use crate::error::IpcError;
use crate::incoming::CallToken;
use crate::inspect::{Query, Report};
use crate::mmio::Width;

/// What a running handler may do.
pub trait Context {
    /// The calling task's id.
    fn task_id(&self) -> TaskId;

    /// Sends `payload` and moves `caps` to the task behind the endpoint
    /// `to` (needs WRITE on it; GRANT on each cap). Never blocks: a full
    /// mailbox is `MailboxFull`. All or nothing: if any check fails, no
    /// capability moves and nothing is sent.
    fn send(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError>;

    /// Like `send`, and gives the receiver a one-shot Reply capability.
    /// The answer arrives later as a [`MessageKind::Reply`](crate::MessageKind::Reply)
    /// message with the returned token (or `CallFailed`).
    ///
    /// A Context may defer the call (the ring-3 runtime makes it at the
    /// handler's end, so the call and the handler's `done` are one kernel
    /// crossing): it then checks only what it can alone (payload size,
    /// capability count), returns the token the call will take, and an
    /// error the kernel finds later arrives as `CallFailed { token,
    /// reason: NotSent { .. } }` instead, carrying it. A handler
    /// that treats an `Err` from `call` and a `CallFailed` for its token
    /// alike behaves the same either way. Order is kept: a deferred call
    /// is made before anything else the handler does that another task
    /// could see. The kernel's own Context never defers.
    fn call(&mut self, to: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<CallToken, IpcError>;

    /// Answers a call through its Reply capability, which this consumes
    /// (a second reply fails with `InvalidCap`).
    fn reply(&mut self, reply: CapRef, payload: &[u8], caps: &[CapRef]) -> Result<(), IpcError>;

    /// Derives a capability with `rights` (a subset) and an optional badge
    /// from `cap`, in this task's CSpace. Needs DERIVE.
    fn mint(
        &mut self,
        cap: CapRef,
        rights: Rights,
        badge: Option<Badge>,
    ) -> Result<CapRef, IpcError>;

    /// Derives an identical capability from `cap`. Needs DERIVE.
    fn copy(&mut self, cap: CapRef) -> Result<CapRef, IpcError>;

    /// Deletes `cap`. Dropping an unanswered Reply fails the call with
    /// `CallFailure::Dropped`.
    fn drop_cap(&mut self, cap: CapRef) -> Result<(), IpcError>;

    /// Deletes every capability derived from `cap`, in every task. Returns
    /// how many were deleted.
    fn revoke(&mut self, cap: CapRef) -> Result<usize, IpcError>;

    /// Deletes every capability derived from the one in slot `slot` of the
    /// CSpace of the task that the Task capability `task` controls (needs
    /// WRITE on it). A Task capability for the kernel reaches the kernel's
    /// CSpace, where every object's original lives. Returns how many were
    /// deleted.
    fn revoke_in(&mut self, task: CapRef, slot: CapRef) -> Result<usize, IpcError>;

    /// Stops the task the Task capability `task` controls, for good (needs
    /// WRITE): its capabilities are deleted and its callers get
    /// `CallFailed { PeerDied }`. Stopping the kernel powers the machine
    /// off once every message already sent has been handled, so output on
    /// its way to a terminal is shown first. A task cannot stop itself
    /// (`Unsupported`); it returns `HandleError::Fatal` instead.
    fn stop_task(&mut self, task: CapRef) -> Result<(), IpcError>;

    /// Reads the kernel's tables through an Inspect capability (needs
    /// READ): the answer to `query`, copied out.
    fn inspect(&mut self, inspect: CapRef, query: Query) -> Result<Report, IpcError>;

    /// Allocates a fresh zeroed region of at least `len` bytes and returns
    /// a capability to it with every right.
    fn alloc_region(&mut self, len: usize) -> Result<CapRef, IpcError>;

    /// Derives a Region capability for `offset .. offset + len` of the
    /// region `cap` names, with `rights` (a subset), in this task's CSpace.
    /// Needs DERIVE; `offset` and `len` must be page-aligned and inside the
    /// region (else `OutOfRange`). The new Region is a child of `cap` in the
    /// derivation tree, so revoking `cap` revokes it; its bytes are the
    /// same memory, not a copy. The default is `Unsupported`.
    fn subregion(
        &mut self,
        cap: CapRef,
        offset: u64,
        len: u64,
        rights: Rights,
    ) -> Result<CapRef, IpcError> {
        let _ = (cap, offset, len, rights);
        Err(IpcError::Unsupported)
    }

    /// The bytes of the region `cap` names (needs READ).
    fn region(&self, cap: CapRef) -> Result<&[u8], IpcError>;

    /// The bytes of the region `cap` names, writable (needs WRITE).
    fn region_mut(&mut self, cap: CapRef) -> Result<&mut [u8], IpcError>;

    /// Reads the byte at I/O port `offset` of the port range the Device
    /// capability `device` names (needs READ). An offset outside the range
    /// is `OutOfRange`; the port is never touched then.
    fn port_read(&mut self, device: CapRef, offset: u16) -> Result<u8, IpcError>;

    /// Writes `value` to I/O port `offset` of the port range `device`
    /// names (needs WRITE), checked like `port_read`.
    fn port_write(&mut self, device: CapRef, offset: u16, value: u8) -> Result<(), IpcError>;

    /// Re-arms the interrupt line `irq` names (needs WRITE on an Irq).
    fn irq_ack(&mut self, irq: CapRef) -> Result<(), IpcError>;

    /// Arms the Timer `timer` to deliver one `Timeout` to this task after
    /// `after_ns` nanoseconds; re-arming replaces the previous deadline.
    fn set_timer(&mut self, timer: CapRef, after_ns: u64) -> Result<(), IpcError>;

    /// Nanoseconds since boot, from the kernel clock.
    fn now_ns(&self) -> u64;

    /// Writes one log line, prefixed with the task's name.
    fn log(&mut self, line: fmt::Arguments<'_>);

    /// Starts the static-PIE ELF in the Region `program` (needs READ) as
    /// a new ring-3 task called `name`, in its own protection domain, and
    /// returns a Task capability for it (READ and WRITE: `stop_task`
    /// stops it). Each of `grants` is a capability of the caller's (which
    /// needs DERIVE and GRANT on it) that the new task gets a copy of
    /// (derived from it, so revoking the caller's revokes the copy) under
    /// that name. A file that is not a loadable program is `Malformed`;
    /// the default is `Unsupported`.
    fn spawn(
        &mut self,
        program: CapRef,
        name: &str,
        grants: &[(&str, CapRef)],
    ) -> Result<CapRef, IpcError> {
        let _ = (program, name, grants);
        Err(IpcError::Unsupported)
    }

    // Device drivers (issue 17): registers, DMA memory. New operations
    // go at the end, each with a default body, so a Context that does not
    // offer them still compiles.

    /// Reads the register of `width` at byte `offset` of the MMIO range
    /// the Device capability `device` names (needs READ). An access that
    /// is unaligned or not wholly inside the range is `OutOfRange`, and
    /// the device is never touched then; a port range is `WrongKind`.
    fn mmio_read(&mut self, device: CapRef, offset: u64, width: Width) -> Result<u64, IpcError> {
        let _ = (device, offset, width);
        Err(IpcError::Unsupported)
    }

    /// Writes `value` (its low `width` bytes; higher bits set are
    /// `OutOfRange`) to the register at `offset` of the MMIO range
    /// `device` names (needs WRITE), checked like `mmio_read`.
    fn mmio_write(
        &mut self,
        device: CapRef,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Result<(), IpcError> {
        let _ = (device, offset, width, value);
        Err(IpcError::Unsupported)
    }

    /// The physical address of byte `offset` of the Region `cap` names,
    /// for a device to reach it by DMA: valid up to the end of that page
    /// (a Region's pages need not be contiguous). Only DMA memory answers
    /// (a Region the task list granted as such: `grant(..).dma(len)`);
    /// any other Region is `Unsupported`. Needs MAP (learning where the
    /// pages are is what mapping them needs) as well as READ and WRITE.
    fn region_phys(&self, cap: CapRef, offset: u64) -> Result<u64, IpcError> {
        let _ = (cap, offset);
        Err(IpcError::Unsupported)
    }

    /// A number that changes whenever a Region capability leaves this
    /// task's CSpace (dropped, revoked, moved, or gone with its task). A
    /// view of this task's Regions kept by capability, such as the
    /// kernel's mappings of a ring-3 task's Regions, needs checking again
    /// only when it changed; what other tasks drop does not change it.
    /// `None`, the default, means the Context cannot tell: check every
    /// time.
    fn regions_withdrawn(&self) -> Option<u64> {
        None
    }

    /// Restarts the task the Task capability `task` controls (needs
    /// WRITE), in place: its current instance, if alive, is stopped as
    /// `stop_task` would (callers with calls in flight get `CallFailed {
    /// PeerDied }`, its capabilities are deleted, queued messages
    /// dropped); then a fresh instance with the same `TaskId` and the same
    /// Endpoint object, so every client's endpoint capability reaches it,
    /// gets fresh copies of its original grants and a fresh machine (its
    /// factory, or its program file loaded again), and its `start` runs.
    /// On a Task capability to the kernel it reboots the machine, once
    /// every message already sent is handled (as `stop_task` on it powers
    /// off). Errors: the capability's (`InvalidCap`, `WrongKind`,
    /// `MissingRights`); `Unsupported` for the caller itself
    /// or a task the kernel cannot remake; `DeadTask` for one whose
    /// objects are gone; a load failure's error, with the old instance
    /// left as it was.
    fn restart_task(&mut self, task: CapRef) -> Result<(), IpcError> {
        let _ = task;
        Err(IpcError::Unsupported)
    }

    /// Makes the holder of the Endpoint `endpoint` (needs WRITE on it)
    /// the supervisor of the task `task` controls (needs WRITE): whenever
    /// an instance of that task faults or is stopped, the kernel queues
    /// that endpoint's task a [`MessageKind::TaskExited`](crate::MessageKind::TaskExited)
    /// notice, with the endpoint capability's badge. A supervised task
    /// that dies keeps its identity (id, Endpoint, Task object) so it can
    /// be restarted. Replaces any earlier supervisor. A task already dead
    /// (it faulted before its supervisor started) is reported at once.
    fn supervise(&mut self, task: CapRef, endpoint: CapRef) -> Result<(), IpcError> {
        let _ = (task, endpoint);
        Err(IpcError::Unsupported)
    }

    // Deferred calls (see `call`): what a Context that defers needs from
    // the one beneath it.

    /// The token this task's next `call` will take, if the Context can
    /// say; `None`, the default, if it cannot. The kernel can: tokens come
    /// from one counter, and on one core only the running handler's calls
    /// take them, so the answer holds until this handler calls.
    fn next_call_token(&self) -> Option<CallToken> {
        None
    }

    /// A call this task deferred under `token` (handed out as
    /// `next_call_token` said) could not be made: queues the task a
    /// `CallFailed { token, reason: NotSent }` notice, and if `token` is
    /// still the next one, uses it up, so the tokens handed out after it
    /// stay right. Nothing else changes. The default does nothing.
    fn fail_deferred_call(&mut self, token: CallToken, error: IpcError) {
        let _ = (token, error);
    }

    /// Makes the ring-3 task `task` controls (needs WRITE) commit the
    /// fault `kind` in its own context when it handles this notice (a
    /// [`MessageKind::InjectFault`](crate::MessageKind::InjectFault) the
    /// kernel queues it): a test's way to crash a chosen service a chosen
    /// way. Only holders of Task capabilities (the shell, the supervisor)
    /// can.
    ///
    /// Errors, in order: the capability's errors (`InvalidCap`,
    /// `WrongKind`, `MissingRights`); `Unsupported` for the kernel or a
    /// ring-0 task; `DeadTask`; the mailbox's (`MailboxFull`). A task may
    /// name itself: it faults after the current handler.
    fn inject_fault(
        &mut self,
        task: CapRef,
        kind: crate::supervision::FaultKind,
    ) -> Result<(), IpcError> {
        let _ = (task, kind);
        Err(IpcError::Unsupported)
    }
}
