//! `Sync` on the data disk: the fs's whole tree committed as the next
//! generation of the disk format by a [`CommitPlan`], its steps sent to
//! the block driver as asynchronous `block` calls, one answer per
//! message, so no handler waits for the device.
//!
//! **Snapshot.** At the start the tree is listed as [`Change`]s in the
//! order `CommitPlan::replace` wants: `Mkdir` for each directory (parents
//! first), `Keep` for each clean file (with the catalog entry it has on
//! the disk, which [`Disk::entries`] keeps by node, so a rename or a
//! removal needs no log), `Write` for each dirty one, whose bytes are
//! copied out of its Region then. Those files are marked clean at once: a
//! change made while the commit runs (requests are served meanwhile)
//! marks the file dirty again, and the next sync writes it. If the commit
//! fails they are marked dirty again, and the disk's committed state is
//! [`CommitPlan::abandon`]ed, so the retry touches neither generation's
//! blocks.
//!
//! **Issue order.** A `Write` step is one `block::Write` per block, at
//! most [`IN_FLIGHT`] at once, each from its own one-page buffer (the
//! driver copies a buffer when it handles the request, which is after
//! this handler returns, so a buffer is reused only once its write is
//! answered). Writes of consecutive `Write` steps go out together; a
//! `Flush` step is sent only once every earlier write is answered, and
//! nothing after it before the flush is. Only after the last flush, which
//! follows the superblock's write, is the commit durable: then
//! [`CommitPlan::finish`] gives the new committed state and every `Sync`
//! waiting for it is answered. Syncs that come while a commit runs wait
//! for the next commit, which starts when this one ends.
//!
//! Every answer from the driver is checked: an error, a failed call or an
//! answer that does not decode fails the commit with an `FsError`, never a
//! panic.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use mealy_protocol::block::{self, BlockError, Flush};
use mealy_protocol::fs::{FsError, Sync, Synced};
use mealy_protocol::{Answer, CallError, CapRef, Context, Incoming, Outbox, Pending};

use super::disk_mount::IN_FLIGHT;
use crate::disk::{
    BLOCK, Change, CommitError, CommitPlan, Committed, Entry, FileEntry, Step, Write,
};
use crate::tree::NodeId;

/// A change of the snapshot, owning its path and (for a write) bytes, so
/// the commit can outlive the message that started it.
#[derive(Debug)]
enum Owned {
    Mkdir(String),
    Keep(String, FileEntry),
    Write(String, Vec<u8>),
}

impl Owned {
    fn borrow(&self) -> Change<'_> {
        match self {
            Owned::Mkdir(path) => Change::Mkdir { path },
            Owned::Keep(path, file) => Change::Keep { path, file },
            Owned::Write(path, data) => Change::Write { path, data },
        }
    }
}

/// The tree as a commit sees it: what [`super::Fs`] lists at the start.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    changes: Vec<Owned>,
    /// The nodes whose bytes this commit writes, with their paths.
    written: Vec<(NodeId, String)>,
    bytes: u64,
}

impl Snapshot {
    pub(super) fn mkdir(&mut self, path: String) {
        self.changes.push(Owned::Mkdir(path));
    }

    pub(super) fn keep(&mut self, path: String, file: FileEntry) {
        self.changes.push(Owned::Keep(path, file));
    }

    pub(super) fn write(&mut self, node: NodeId, path: String, data: Vec<u8>) {
        self.bytes += data.len() as u64;
        self.written.push((node, path.clone()));
        self.changes.push(Owned::Write(path, data));
    }

    /// The nodes whose bytes it writes.
    pub(super) fn written(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.written.iter().map(|(node, _)| *node)
    }
}

/// A block write or flush sent to the driver, not yet answered.
#[derive(Clone, Copy, Debug)]
enum Sent {
    Write {
        pending: Pending<block::Write>,
        buffer: usize,
    },
    Flush(Pending<Flush>),
}

/// A commit in progress.
#[derive(Debug)]
struct Commit {
    /// Which commit this is, so answers to an abandoned one are told apart.
    id: u64,
    plan: CommitPlan,
    snapshot: Snapshot,
    /// The `Sync`s answered when it ends.
    answers: Vec<Answer<Sync>>,
    /// The next step not yet wholly sent, and the next block of it.
    step: usize,
    block: u64,
    /// A flush is in flight: nothing more goes out until it is answered.
    flushing: bool,
}

/// How a commit ended, for [`super::Fs`] to settle the tree.
#[derive(Debug)]
pub(super) enum Ended {
    Durable { generation: u64 },
    Failed { snapshot: Snapshot, error: FsError },
}

/// A commit that could not start: the snapshot and syncs back, and why.
pub(super) type Refused = (Snapshot, Vec<Answer<Sync>>, FsError);

/// The data disk the fs mounted, and its commits.
#[derive(Debug)]
pub(super) struct Disk {
    endpoint: CapRef,
    buffers: [CapRef; IN_FLIGHT],
    /// Buffers lent with a request not yet answered.
    busy: [bool; IN_FLIGHT],
    pub(super) committed: Committed,
    pub(super) read_only: bool,
    /// The entry each clean file has in the committed catalog, by node.
    pub(super) entries: BTreeMap<NodeId, FileEntry>,
    /// A directory was made, removed or moved, or a file removed or
    /// moved, since the last commit: the next sync commits even if no
    /// file is dirty.
    pub(super) namespace_changed: bool,
    commit: Option<Commit>,
    /// Syncs that came while a commit ran: the next commit answers them.
    queued: Vec<Answer<Sync>>,
    /// Requests in flight, by commit id (a failed commit's answers still
    /// come, and free their buffers).
    sent: Vec<(u64, Sent)>,
    commits: u64,
    outbox: Outbox<64>,
}

impl Disk {
    pub(super) fn new(
        endpoint: CapRef,
        buffers: [CapRef; IN_FLIGHT],
        committed: Committed,
        read_only: bool,
    ) -> Self {
        Self {
            endpoint,
            buffers,
            busy: [false; IN_FLIGHT],
            committed,
            read_only,
            entries: BTreeMap::new(),
            namespace_changed: false,
            commit: None,
            queued: Vec::new(),
            sent: Vec::new(),
            commits: 0,
            outbox: Outbox::new(),
        }
    }

    /// Whether a commit is running (a new `Sync` then waits for the next).
    pub(super) fn committing(&self) -> bool {
        self.commit.is_some()
    }

    /// Queues a `Sync` for the commit after the running one.
    pub(super) fn queue(&mut self, answer: Answer<Sync>) {
        self.queued.push(answer);
    }

    /// The syncs queued meanwhile, for the next commit.
    pub(super) fn take_queued(&mut self) -> Vec<Answer<Sync>> {
        core::mem::take(&mut self.queued)
    }

    /// Plans the commit of `snapshot` and sends its first requests;
    /// `answers` are answered when it ends. On a refusal nothing was sent
    /// and the snapshot comes back with the error.
    pub(super) fn start(
        &mut self,
        cx: &mut dyn Context,
        snapshot: Snapshot,
        answers: Vec<Answer<Sync>>,
    ) -> Result<Option<Ended>, Refused> {
        let changes: Vec<Change<'_>> = snapshot.changes.iter().map(Owned::borrow).collect();
        let plan = match CommitPlan::replace(&self.committed, &changes) {
            Ok(plan) => plan,
            Err(error) => {
                drop(changes);
                return Err((snapshot, answers, plan_error(error)));
            }
        };
        drop(changes);
        self.commits += 1;
        self.commit = Some(Commit {
            id: self.commits,
            plan,
            snapshot,
            answers,
            step: 0,
            block: 0,
            flushing: false,
        });
        Ok(self.pump(cx))
    }

    /// Passes one message to the running commit: `None` if it is no
    /// answer to a request of the disk's (the caller handles it), else
    /// how the commit ended, if it did.
    pub(super) fn on_message(
        &mut self,
        cx: &mut dyn Context,
        msg: &Incoming<'_>,
    ) -> Option<Option<Ended>> {
        let (at, outcome) = self.sent.iter().enumerate().find_map(|(at, (_, sent))| {
            let outcome = match sent {
                Sent::Write { pending, .. } => pending.answer(msg)?.map(|_| ()),
                Sent::Flush(pending) => pending.answer(msg)?.map(|_| ()),
            };
            Some((at, outcome))
        })?;
        let (id, sent) = self.sent.swap_remove(at);
        if let Sent::Write { buffer, .. } = sent
            && let Some(busy) = self.busy.get_mut(buffer)
        {
            *busy = false;
        }
        let Some(commit) = self.commit.as_mut().filter(|commit| commit.id == id) else {
            // An answer to a commit that already failed: its buffer is
            // free, and a commit started since may have waited for it.
            return Some(self.pump(cx));
        };
        if let Err(error) = outcome {
            return Some(Some(self.fail(cx, call_error(error))));
        }
        if let Sent::Flush(_) = sent {
            commit.flushing = false;
        }
        Some(self.pump(cx))
    }

    /// Sends what the plan allows next; ends the commit if it is done or
    /// a request cannot be sent.
    fn pump(&mut self, cx: &mut dyn Context) -> Option<Ended> {
        loop {
            // No commit (it ended): nothing to send.
            let commit = self.commit.as_mut()?;
            if commit.flushing {
                return None;
            }
            let id = commit.id;
            let in_flight = self.sent.iter().any(|(sent_by, _)| *sent_by == id);
            let Some(step) = commit.plan.steps().get(commit.step).copied() else {
                if in_flight {
                    return None;
                }
                return Some(self.finish(cx));
            };
            match step {
                Step::Flush => {
                    if in_flight {
                        return None;
                    }
                    match mealy_protocol::call(cx, self.endpoint, self.outbox.space(), &Flush, &[])
                    {
                        Ok(pending) => self.sent.push((id, Sent::Flush(pending))),
                        Err(_) => return Some(self.fail(cx, FsError::DiskGone)),
                    }
                    commit.flushing = true;
                    commit.step += 1;
                    return None;
                }
                Step::Write(write) => {
                    // Every buffer lent: the next answer frees one.
                    let buffer = self.busy.iter().position(|busy| !busy)?;
                    let Some(one) = write.block(commit.block) else {
                        commit.step += 1;
                        commit.block = 0;
                        continue;
                    };
                    if let Err(error) = self.send_block(cx, one, buffer) {
                        return Some(self.fail(cx, error));
                    }
                    if let Some(commit) = self.commit.as_mut() {
                        commit.block += 1;
                    }
                }
            }
        }
    }

    /// Fills buffer `buffer` with block write `one` of the running commit
    /// and sends it.
    fn send_block(
        &mut self,
        cx: &mut dyn Context,
        one: Write,
        buffer: usize,
    ) -> Result<(), FsError> {
        let commit = self.commit.as_ref().ok_or(FsError::Unplannable)?;
        let region = *self.buffers.get(buffer).ok_or(FsError::Kernel)?;
        let changes: Vec<Change<'_>> = commit.snapshot.changes.iter().map(Owned::borrow).collect();
        let bytes = cx.region_mut(region).map_err(|_| FsError::Kernel)?;
        let out = bytes.get_mut(..BLOCK).ok_or(FsError::Kernel)?;
        commit.plan.fill(&one, &changes, out).map_err(plan_error)?;
        let lent = cx.copy(region).map_err(|_| FsError::Kernel)?;
        let request = block::Write { block: one.block };
        match mealy_protocol::call(cx, self.endpoint, self.outbox.space(), &request, &[lent]) {
            Ok(pending) => {
                self.busy[buffer] = true;
                self.sent.push((commit.id, Sent::Write { pending, buffer }));
                Ok(())
            }
            Err(_) => {
                let _ = cx.drop_cap(lent);
                Err(FsError::DiskGone)
            }
        }
    }

    /// Every step answered: the new generation is durable; every `Sync`
    /// of the commit is answered.
    fn finish(&mut self, cx: &mut dyn Context) -> Ended {
        let Some(commit) = self.commit.take() else {
            return Ended::Failed {
                snapshot: Snapshot::default(),
                error: FsError::Unplannable,
            };
        };
        self.committed = commit.plan.finish();
        let generation = self.committed.generation;
        for (node, path) in &commit.snapshot.written {
            if let Some(Entry::File(file)) = self.committed.catalog.get(path) {
                self.entries.insert(*node, file.clone());
            }
        }
        let synced = Synced {
            files: u32::try_from(commit.snapshot.written.len()).unwrap_or(u32::MAX),
            bytes: commit.snapshot.bytes,
            generation: Some(generation),
        };
        for answer in commit.answers {
            // A caller that died meanwhile has no one to tell.
            let _ = answer.send(cx, self.outbox.space(), &synced, &[]);
        }
        Ended::Durable { generation }
    }

    /// The running commit failed: the committed state becomes what a
    /// retry plans from, and every `Sync` of it gets `error`.
    fn fail(&mut self, cx: &mut dyn Context, error: FsError) -> Ended {
        let Some(commit) = self.commit.take() else {
            return Ended::Failed {
                snapshot: Snapshot::default(),
                error,
            };
        };
        self.committed = commit.plan.abandon(&self.committed);
        for answer in commit.answers {
            let _ = answer.fail(cx, self.outbox.space(), error);
        }
        Ended::Failed {
            snapshot: commit.snapshot,
            error,
        }
    }

    /// Answers `answers` with `error` (a commit that could not start).
    pub(super) fn refuse(
        &mut self,
        cx: &mut dyn Context,
        answers: Vec<Answer<Sync>>,
        error: FsError,
    ) {
        for answer in answers {
            let _ = answer.fail(cx, self.outbox.space(), error);
        }
    }

    /// Answers `answers` with `synced` (nothing needed writing).
    pub(super) fn answer(
        &mut self,
        cx: &mut dyn Context,
        answers: Vec<Answer<Sync>>,
        synced: Synced,
    ) {
        for answer in answers {
            let _ = answer.send(cx, self.outbox.space(), &synced, &[]);
        }
    }
}

/// A plan the fs could not make, as the `Sync` caller sees it.
fn plan_error(error: CommitError) -> FsError {
    match error {
        CommitError::NoSpace { needed, free } => FsError::DiskFull { needed, free },
        _ => FsError::Unplannable,
    }
}

/// A block request that failed, as the `Sync` caller sees it.
fn call_error(error: CallError<BlockError>) -> FsError {
    match error {
        CallError::Service(error) => FsError::Disk(error),
        CallError::Failed(_) => FsError::DiskGone,
        // The driver's answer did not decode: treat it as the device's
        // failure, not as success.
        CallError::Malformed(_) => FsError::Disk(BlockError::Device),
    }
}
