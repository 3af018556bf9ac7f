//! The writer thread's loop: batch, sequence, write, acknowledge; and, in `group` mode, the
//! syncer thread that makes written groups durable without ever holding up the next write.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Appended, Command, Counters, WriterStats};
use crate::ledger::Error;
use crate::ledger::chain::{self, format_ts};
use crate::ledger::record::EncodedBody;
use crate::ledger::settings::FsyncPolicy;
use crate::ledger::tail::ChainTip;

/// Most records taken into one group (bounds the write buffer and ack latency).
const MAX_GROUP_RECORDS: usize = 4096;
/// Most bytes in one group's write buffer (a group always takes at least one record).
const MAX_GROUP_BYTES: usize = 4 << 20;

/// Everything the writer starts from.
pub(super) struct WriterInit {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) policy: FsyncPolicy,
    pub(super) interval: Duration,
    pub(super) tip: ChainTip,
    pub(super) counters: Arc<Counters>,
}

/// An acknowledgement waiting for its record to become durable.
type PendingAck = (oneshot::Sender<Result<Appended, Error>>, Appended);

/// Acknowledgements of one group: resolved at write, or at sync.
#[derive(Default)]
struct GroupAcks {
    at_write: Vec<PendingAck>,
    at_sync: Vec<PendingAck>,
}

/// Work for the syncer: a group was written; `acks` wait for its fsync.
struct SyncJob {
    acks: Vec<PendingAck>,
}

/// Group commit off the write path: `fdatasync` runs on its own thread, so appenders that only
/// wait for the write (every request record) never queue behind a sync. A sync happens at the
/// latest `interval` after a write, and at once when an appender waits for durability.
struct Syncer {
    tx: std::sync::mpsc::Sender<SyncJob>,
    /// Writes not yet covered by a sync the syncer has started. Only the clean → dirty edge
    /// (or an appender waiting for durability) wakes the syncer: one wake per sync, not one
    /// per write.
    dirty: Arc<std::sync::atomic::AtomicBool>,
    join: std::thread::JoinHandle<()>,
    /// Set by the syncer when an fsync failed; the writer then stops accepting records.
    poisoned: Arc<std::sync::Mutex<Option<String>>>,
}

/// The state owned by the writer thread.
pub(super) struct Writer {
    file: Option<File>,
    path: PathBuf,
    policy: FsyncPolicy,
    interval: Duration,
    /// Chain tip of what is in the file.
    seq: u64,
    hash: String,
    /// File length of what is in the file (rollback point after a failed write).
    len: u64,
    counters: Arc<Counters>,
    buf: Vec<u8>,
    unsynced: Vec<PendingAck>,
    /// When the oldest not-yet-synced write happened.
    dirty_since: Option<Instant>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// Set after an unrecoverable I/O error: everything after it fails.
    poisoned: Option<String>,
    /// `group` policy only.
    syncer: Option<Syncer>,
    /// Set once shutdown was asked for or the thread ended: direct appends are refused.
    closed: bool,
}

/// The writer's state, shared by its thread and by appenders that write directly.
pub(super) type SharedWriter = Arc<std::sync::Mutex<Writer>>;

/// Locks the writer; a panic while it was held cannot leave a torn chain (the tip is only
/// committed after a successful write), so a poisoned lock is taken over.
pub(super) fn lock(w: &std::sync::Mutex<Writer>) -> std::sync::MutexGuard<'_, Writer> {
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs until the channel is closed and drained, then syncs and reports.
pub(super) fn run(
    shared: &SharedWriter,
    mut rx: mpsc::Receiver<Command>,
) -> Result<WriterStats, Error> {
    let policy = lock(shared).policy;
    while let Some(first) = next_command(shared, &mut rx) {
        let batch = collect(policy, first, &mut rx);
        let mut w = lock(shared);
        w.write_group(batch, &mut rx);
        let interval_passed = w.dirty_since.is_some_and(|t| t.elapsed() >= w.interval);
        if w.policy == FsyncPolicy::EveryRecord
            || (w.policy == FsyncPolicy::Group && w.syncer.is_none() && interval_passed)
        {
            w.sync();
        }
    }
    lock(shared).finish()
}

/// The next command; syncs first when the queue has run dry with inline-synced writes pending.
/// The lock is never held while waiting.
fn next_command(shared: &SharedWriter, rx: &mut mpsc::Receiver<Command>) -> Option<Command> {
    loop {
        let inline_dirty = {
            let w = lock(shared);
            w.policy != FsyncPolicy::Off && w.syncer.is_none() && w.dirty_since.is_some()
        };
        if !inline_dirty {
            return rx.blocking_recv();
        }
        match rx.try_recv() {
            Ok(cmd) => return Some(cmd),
            Err(TryRecvError::Empty) => lock(shared).sync(),
            Err(TryRecvError::Disconnected) => return None,
        }
    }
}

/// `first` plus whatever is already queued, up to the group limits.
fn collect(policy: FsyncPolicy, first: Command, rx: &mut mpsc::Receiver<Command>) -> Vec<Command> {
    let max = match policy {
        FsyncPolicy::EveryRecord => 1,
        _ => MAX_GROUP_RECORDS,
    };
    let mut batch = vec![first];
    let mut bytes = 0usize;
    while batch.len() < max && bytes < MAX_GROUP_BYTES {
        match rx.try_recv() {
            Ok(cmd) => {
                if let Command::Append { body, .. } = &cmd {
                    bytes += body.canonical.len() + 300;
                }
                batch.push(cmd);
            }
            Err(_) => break,
        }
    }
    batch
}

/// One record to sequence, with how its appender wants to hear about it.
struct Pending {
    body: EncodedBody,
    ack: Option<oneshot::Sender<Result<Appended, Error>>>,
    written_only: bool,
}

/// Records of one group, sequenced but not yet written.
struct Group {
    acks: GroupAcks,
    records: u64,
    seq: u64,
    hash: String,
}

impl Writer {
    pub(super) fn new(init: WriterInit) -> Self {
        let syncer = (init.policy == FsyncPolicy::Group)
            .then(|| Syncer::spawn(&init))
            .flatten();
        Self {
            file: Some(init.file),
            path: init.path,
            policy: init.policy,
            interval: init.interval,
            seq: init.tip.last_seq,
            hash: init.tip.last_hash,
            len: init.tip.len,
            counters: init.counters,
            buf: Vec::with_capacity(64 * 1024),
            unsynced: Vec::new(),
            dirty_since: None,
            shutdown_waiters: Vec::new(),
            poisoned: None,
            syncer,
            closed: false,
        }
    }

    /// Whether appenders may write under the lock themselves: only when no fsync ever runs
    /// under it (policy `off`, or `group` with the syncer thread).
    pub(super) fn direct_writes(&self) -> bool {
        self.policy == FsyncPolicy::Off || self.syncer.is_some()
    }

    /// Writes `bodies` as one group from the caller's thread (a `write` to the page cache, no
    /// fsync) and returns where the last one landed. Skips two thread hand-offs per request.
    pub(super) fn write_direct(&mut self, bodies: Vec<EncodedBody>) -> Result<Appended, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let appends = bodies.into_iter().map(|body| Pending {
            body,
            ack: None,
            written_only: true,
        });
        let group = self.sequence(appends);
        let last = Appended {
            seq: group.seq,
            hash: group.hash.clone(),
        };
        self.write_sequenced(group).map(|()| last)
    }

    /// Writes the sequenced group in `self.buf` with one call and commits the tip; on failure
    /// fails its acks and returns why (nothing to do for an empty group).
    fn write_sequenced(&mut self, group: Group) -> Result<(), Error> {
        if group.records == 0 {
            return Ok(());
        }
        self.adopt_syncer_failure();
        if let Some(detail) = self.poisoned.clone() {
            self.fail(group, &detail);
            return Err(Error::WriteFailed { detail });
        }
        match write_to(self.file.as_mut(), &self.buf) {
            Ok(()) => {
                self.commit(group);
                Ok(())
            }
            Err(e) => {
                let detail = format!("write to {} failed: {e}", self.path.display());
                self.recover_write_error(group, &e);
                Err(Error::WriteFailed { detail })
            }
        }
    }

    /// End of the thread: make everything durable, whatever the policy, close the file (and
    /// with it the lock, even while handles live on) and report.
    fn finish(&mut self) -> Result<WriterStats, Error> {
        self.closed = true;
        if let Some(syncer) = self.syncer.take()
            && let Some(detail) = syncer.finish()
        {
            self.poisoned.get_or_insert(detail);
        }
        self.sync();
        self.file = None;
        for w in self.shutdown_waiters.drain(..) {
            let _ = w.send(());
        }
        match self.poisoned.take() {
            None => Ok(self.counters.snapshot()),
            Some(detail) => Err(Error::WriteFailed { detail }),
        }
    }

    fn adopt_syncer_failure(&mut self) {
        if self.poisoned.is_none()
            && let Some(detail) = self.syncer.as_ref().and_then(Syncer::poisoned)
        {
            self.poisoned = Some(detail);
        }
    }

    /// Sequences the batch into the buffer, writes it with one call, then commits the tip.
    fn write_group(&mut self, batch: Vec<Command>, rx: &mut mpsc::Receiver<Command>) {
        let mut appends = Vec::with_capacity(batch.len());
        for cmd in batch {
            match cmd {
                Command::Shutdown { done } => {
                    // Refuse new senders; what is queued is still received and written.
                    rx.close();
                    self.closed = true;
                    self.shutdown_waiters.push(done);
                }
                Command::Append {
                    body,
                    ack,
                    written_only,
                } => appends.push(Pending {
                    body,
                    ack,
                    written_only,
                }),
            }
        }
        let group = self.sequence(appends.into_iter());
        // Failures are logged and counted there; acks carry them to waiting appenders.
        let _ = self.write_sequenced(group);
        if self.poisoned.is_some() {
            rx.close();
        }
    }

    /// Builds the lines of `appends` into `self.buf`, chained from the current tip.
    fn sequence(&mut self, appends: impl Iterator<Item = Pending>) -> Group {
        self.buf.clear();
        let mut group = Group {
            acks: GroupAcks::default(),
            records: 0,
            seq: self.seq,
            hash: self.hash.clone(),
        };
        for Pending {
            body,
            ack,
            written_only,
        } in appends
        {
            let seq = group.seq + 1;
            let ts = format_ts(&Utc::now());
            let canonical = body.canonical_line(seq, &ts, &group.hash);
            let hash = chain::chain_hash(&group.hash, canonical.as_bytes());
            self.buf
                .extend_from_slice(body.line(seq, &ts, &group.hash, &hash).as_bytes());
            self.buf.push(b'\n');
            if let Some(ack) = ack {
                let appended = Appended {
                    seq,
                    hash: hash.clone(),
                };
                if written_only {
                    group.acks.at_write.push((ack, appended));
                } else {
                    group.acks.at_sync.push((ack, appended));
                }
            }
            group.seq = seq;
            group.hash = hash;
            group.records += 1;
        }
        group
    }

    fn commit(&mut self, group: Group) {
        self.seq = group.seq;
        self.hash = group.hash;
        self.len += self.buf.len() as u64;
        self.counters
            .records
            .fetch_add(group.records, Ordering::Relaxed);
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        self.dirty_since.get_or_insert_with(Instant::now);
        for (ack, appended) in group.acks.at_write {
            let _ = ack.send(Ok(appended));
        }
        if self.policy == FsyncPolicy::Off {
            for (ack, appended) in group.acks.at_sync {
                let _ = ack.send(Ok(appended));
            }
        } else if let Some(syncer) = &self.syncer {
            // The syncer owns durability from here; this file's dirty mark is its business.
            self.dirty_since = None;
            syncer.submit(group.acks.at_sync);
        } else {
            self.unsynced.extend(group.acks.at_sync);
        }
    }

    /// A failed write may have left part of the group in the file: cut it back to the last good
    /// length. If even that fails the file may hold a torn line, so stop writing altogether.
    fn recover_write_error(&mut self, group: Group, e: &std::io::Error) {
        let detail = format!("write to {} failed: {e}", self.path.display());
        tracing::error!(records = group.records, error = %e, path = %self.path.display(),
            "ledger write failed; records of this group are lost");
        if let Err(e2) = closed_file(self.file.as_ref()).and_then(|f| f.set_len(self.len)) {
            tracing::error!(error = %e2, "ledger rollback failed; writer stops accepting records");
            self.poisoned = Some(format!("{detail}; rollback failed: {e2}"));
        }
        self.fail(group, &detail);
    }

    fn fail(&mut self, group: Group, detail: &str) {
        self.counters
            .failed_records
            .fetch_add(group.records, Ordering::Relaxed);
        for (ack, _) in group.acks.at_write.into_iter().chain(group.acks.at_sync) {
            let _ = ack.send(Err(Error::WriteFailed {
                detail: detail.to_owned(),
            }));
        }
    }

    /// `sync_data` if anything was written since the last sync, then resolve waiting acks.
    fn sync(&mut self) {
        if self.dirty_since.take().is_none() {
            return;
        }
        match closed_file(self.file.as_ref()).and_then(File::sync_data) {
            Ok(()) => {
                self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                for (ack, appended) in self.unsynced.drain(..) {
                    let _ = ack.send(Ok(appended));
                }
            }
            Err(e) => {
                // After a failed fsync the page cache state is unknown; retrying can report
                // success for lost data, so stop writing.
                let detail = format!("fsync of {} failed: {e}", self.path.display());
                tracing::error!(error = %e, path = %self.path.display(),
                    "ledger fsync failed; writer stops accepting records");
                for (ack, _) in self.unsynced.drain(..) {
                    let _ = ack.send(Err(Error::WriteFailed {
                        detail: detail.clone(),
                    }));
                }
                self.poisoned = Some(detail);
            }
        }
    }
}

impl Syncer {
    /// Starts the syncer on a duplicate of the file descriptor (`None`, with an error logged,
    /// when that fails: the writer then syncs inline as before).
    fn spawn(init: &WriterInit) -> Option<Self> {
        let file = match init.file.try_clone() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "ledger: cannot duplicate the file for the syncer; syncing inline");
                return None;
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<SyncJob>();
        let poisoned = Arc::new(std::sync::Mutex::new(None));
        let dirty = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = SyncLoop {
            dirty: Arc::clone(&dirty),
            file,
            path: init.path.clone(),
            interval: init.interval,
            counters: Arc::clone(&init.counters),
            poisoned: Arc::clone(&poisoned),
        };
        let join = std::thread::Builder::new()
            .name("purser-ledger-sync".to_owned())
            .spawn(move || state.run(&rx));
        match join {
            Ok(join) => Some(Self {
                tx,
                dirty,
                join,
                poisoned,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "ledger: cannot spawn the syncer; syncing inline");
                None
            }
        }
    }

    fn submit(&self, acks: Vec<PendingAck>) {
        let was_dirty = self.dirty.swap(true, Ordering::SeqCst);
        if was_dirty && acks.is_empty() {
            // A sync that has not started yet will cover this write.
            return;
        }
        if let Err(std::sync::mpsc::SendError(job)) = self.tx.send(SyncJob { acks }) {
            // The syncer is gone (it only ends when told to): nobody can vouch for durability.
            for (ack, _) in job.acks {
                let _ = ack.send(Err(Error::WriteFailed {
                    detail: "ledger syncer stopped".to_owned(),
                }));
            }
        }
    }

    fn poisoned(&self) -> Option<String> {
        self.poisoned.lock().ok().and_then(|p| p.clone())
    }

    /// Syncs what is left, stops the thread and returns the fsync error, if any.
    fn finish(self) -> Option<String> {
        let Self {
            tx, join, poisoned, ..
        } = self;
        drop(tx);
        if join.join().is_err() {
            return Some("ledger syncer panicked".to_owned());
        }
        poisoned.lock().ok().and_then(|p| p.clone())
    }
}

/// The syncer thread's state.
struct SyncLoop {
    dirty: Arc<std::sync::atomic::AtomicBool>,
    file: File,
    path: PathBuf,
    interval: Duration,
    counters: Arc<Counters>,
    poisoned: Arc<std::sync::Mutex<Option<String>>>,
}

impl SyncLoop {
    fn run(self, rx: &std::sync::mpsc::Receiver<SyncJob>) {
        use std::sync::mpsc::RecvTimeoutError;
        // Each turn: a write happened; wait for more (up to `interval`) unless someone is
        // waiting for durability, then sync once for everything written so far.
        while let Ok(first) = rx.recv() {
            let deadline = Instant::now() + self.interval;
            let mut acks = first.acks;
            let mut closing = false;
            while acks.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => acks.extend(job.acks),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        closing = true;
                        break;
                    }
                }
            }
            acks.extend(rx.try_iter().flat_map(|j| j.acks));
            self.sync(acks);
            if closing {
                break;
            }
        }
    }

    fn sync(&self, acks: Vec<PendingAck>) {
        if let Some(detail) = self.poisoned.lock().ok().and_then(|p| p.clone()) {
            fail_acks(acks, &detail);
            return;
        }
        // Cleared before the sync starts: a write that finds the flag set completed before
        // this point, so this sync covers it; a later one sets it and wakes the next turn.
        self.dirty.store(false, Ordering::SeqCst);
        match self.file.sync_data() {
            Ok(()) => {
                self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
                for (ack, appended) in acks {
                    let _ = ack.send(Ok(appended));
                }
            }
            Err(e) => {
                // After a failed fsync the page cache state is unknown; retrying can report
                // success for lost data, so the writer stops.
                let detail = format!("fsync of {} failed: {e}", self.path.display());
                tracing::error!(error = %e, path = %self.path.display(),
                    "ledger fsync failed; writer stops accepting records");
                fail_acks(acks, &detail);
                if let Ok(mut p) = self.poisoned.lock() {
                    p.get_or_insert(detail);
                }
            }
        }
    }
}

fn fail_acks(acks: Vec<PendingAck>, detail: &str) {
    for (ack, _) in acks {
        let _ = ack.send(Err(Error::WriteFailed {
            detail: detail.to_owned(),
        }));
    }
}

/// The file, or the error a write after the close gets.
fn closed_file(file: Option<&File>) -> std::io::Result<&File> {
    file.ok_or_else(|| std::io::Error::other("ledger file is closed"))
}

fn write_to(file: Option<&mut File>, buf: &[u8]) -> std::io::Result<()> {
    match file {
        Some(f) => f.write_all(buf),
        None => Err(std::io::Error::other("ledger file is closed")),
    }
}
