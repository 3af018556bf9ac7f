//! The writer thread's loop: batch, sequence, write, sync, acknowledge.

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

/// The state owned by the writer thread.
pub(super) struct Writer {
    file: File,
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
        Self {
            file: init.file,
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
        }
    }

    /// Runs until the channel is closed and drained, then syncs and reports.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) -> Result<WriterStats, Error> {
        while let Some(first) = self.next_command(&mut rx) {
            let batch = self.collect(first, &mut rx);
            self.write_group(batch, &mut rx);
            let interval_passed = self
                .dirty_since
                .is_some_and(|t| t.elapsed() >= self.interval);
            if self.policy == FsyncPolicy::EveryRecord
                || (self.policy == FsyncPolicy::Group && interval_passed)
            {
                self.sync();
            }
        }
        // Channel closed and empty: make everything durable, whatever the policy.
        self.sync();
        for w in self.shutdown_waiters.drain(..) {
            let _ = w.send(());
        }
        match self.poisoned.take() {
            None => Ok(self.counters.snapshot()),
            Some(detail) => Err(Error::WriteFailed { detail }),
        }
    }

    /// The next command; syncs first when the queue has run dry with writes pending.
    fn next_command(&mut self, rx: &mut mpsc::Receiver<Command>) -> Option<Command> {
        loop {
            if self.policy == FsyncPolicy::Off || self.dirty_since.is_none() {
                return rx.blocking_recv();
            }
            match rx.try_recv() {
                Ok(cmd) => return Some(cmd),
                Err(TryRecvError::Empty) => self.sync(),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// `first` plus whatever is already queued, up to the group limits.
    fn collect(&self, first: Command, rx: &mut mpsc::Receiver<Command>) -> Vec<Command> {
        let max = match self.policy {
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

    /// Sequences the batch into the buffer, writes it with one call, then commits the tip.
    fn write_group(&mut self, batch: Vec<Command>, rx: &mut mpsc::Receiver<Command>) {
        let group = self.sequence(batch, rx);
        if group.records == 0 {
            return;
        }
        if let Some(detail) = self.poisoned.clone() {
            rx.close();
            self.fail(group, &detail);
            return;
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => self.commit(group),
            Err(e) => self.recover_write_error(group, &e),
        }
    }

    /// Builds the lines of `batch` into `self.buf`; handles shutdown requests.
    fn sequence(&mut self, batch: Vec<Command>, rx: &mut mpsc::Receiver<Command>) -> Group {
        self.buf.clear();
        let mut group = Group {
            acks: GroupAcks::default(),
            records: 0,
            seq: self.seq,
            hash: self.hash.clone(),
        };
        for cmd in batch {
            match cmd {
                Command::Shutdown { done } => {
                    // Refuse new senders; what is queued is still received and written.
                    rx.close();
                    self.shutdown_waiters.push(done);
                }
                Command::Append {
                    body,
                    ack,
                    written_only,
                } => {
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
            }
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
        if let Err(e2) = self.file.set_len(self.len) {
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
        match self.file.sync_data() {
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
