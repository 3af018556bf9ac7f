//! The single writer: a dedicated thread owning the file, fed by a bounded channel.
//!
//! Group commit: the thread takes everything queued, assigns `seq`/`ts`/hashes in order and
//! writes the group with one `write` call. Policy `group` hands durability to a syncer thread,
//! which calls `sync_data` once per `fsync_interval` at most (at once when an appender waits
//! for it), so no write ever queues behind an fsync. Durable acks resolve after the sync
//! (policy `off`: after the write). Std threads keep blocking I/O off the runtime.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::record::{EncodedBody, RecordBody};
use super::settings::{Settings, StoreBodies};
use super::{Error, tail};

mod thread;

/// Entry point: opens (and recovers) a ledger file and starts its writer.
#[derive(Debug)]
pub struct Ledger;

/// Cheap, cloneable handle to append records. When every handle is dropped the writer flushes,
/// syncs and ends.
#[derive(Clone)]
pub struct LedgerHandle {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    store_bodies: StoreBodies,
    /// The writer's state, for appends that write from the caller's thread (set when no fsync
    /// ever runs under its lock).
    direct: Option<thread::SharedWriter>,
}

impl std::fmt::Debug for LedgerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerHandle")
            .field("store_bodies", &self.store_bodies)
            .field("direct", &self.direct.is_some())
            .finish_non_exhaustive()
    }
}

/// The running writer thread. Await [`LedgerTask::wait`] at shutdown (after
/// [`LedgerHandle::shutdown`] or dropping every handle); dropping it detaches the thread, which
/// still drains and syncs on its own.
#[derive(Debug)]
pub struct LedgerTask {
    done: oneshot::Receiver<Result<WriterStats, Error>>,
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash` (the new chain tip).
    pub hash: String,
}

/// Writer counters (monotonic since open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records written to the file.
    pub records: u64,
    /// Write calls (groups).
    pub groups: u64,
    /// `sync_data` calls.
    pub fsyncs: u64,
    /// Records accepted but not written because of an I/O error (also logged).
    pub failed_records: u64,
    /// Bytes of a torn last line removed at open.
    pub truncated_bytes: u64,
}

/// Messages to the writer thread.
#[derive(Debug)]
enum Command {
    Append {
        body: EncodedBody,
        ack: Option<oneshot::Sender<Result<Appended, Error>>>,
        /// `true`: acknowledge once written to the file (survives a process kill);
        /// `false`: once synced per the fsync policy (survives a machine crash).
        written_only: bool,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Shared counters behind [`WriterStats`].
#[derive(Debug, Default)]
struct Counters {
    records: AtomicU64,
    groups: AtomicU64,
    fsyncs: AtomicU64,
    failed_records: AtomicU64,
    truncated_bytes: AtomicU64,
}

// --- Ledger ---

impl Ledger {
    /// Opens the ledger at `settings.resolve_path(data_dir)` (creating it and its directory),
    /// takes an exclusive lock on it, recovers the chain tip (truncating a torn last line, with a
    /// warning) and starts the writer thread. Blocking file I/O: call at startup.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`], [`Error::Io`], [`Error::Locked`] when another writer holds the
    /// file, [`Error::CorruptTail`] when the last complete line is unusable, [`Error::Writer`]
    /// when the thread cannot be spawned.
    pub fn open(settings: &Settings, data_dir: &Path) -> Result<(LedgerHandle, LedgerTask), Error> {
        if let Some(e) = settings.validate().into_iter().next() {
            return Err(e);
        }
        let interval = settings.fsync_interval()?;
        let path = settings.resolve_path(data_dir);
        let mut file = open_locked(&path)?;
        let tip = tail::recover(&mut file, &path)?;
        let counters = Arc::new(Counters::default());
        counters
            .truncated_bytes
            .store(tip.truncated_bytes, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(settings.channel_capacity);
        let (done_tx, done_rx) = oneshot::channel();
        let writer = thread::Writer::new(thread::WriterInit {
            file,
            path,
            policy: settings.fsync,
            interval,
            tip,
            counters: Arc::clone(&counters),
        });
        let direct = writer.direct_writes();
        let shared: thread::SharedWriter = Arc::new(std::sync::Mutex::new(writer));
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("purser-ledger".to_owned())
            .spawn(move || {
                let result = thread::run(&thread_shared, rx);
                // The receiver may be gone (task detached); nothing else to tell.
                let _ = done_tx.send(result);
            })
            .map_err(|e| Error::Writer {
                detail: format!("cannot spawn writer thread: {e}"),
            })?;
        let handle = LedgerHandle {
            tx,
            counters,
            store_bodies: settings.store_bodies,
            direct: direct.then_some(shared),
        };
        Ok((handle, LedgerTask { done: done_rx }))
    }
}

/// Creates the directory and file, locks the file exclusively and syncs the directory entry.
fn open_locked(path: &Path) -> Result<File, Error> {
    let io = |op: &'static str| {
        move |source: std::io::Error| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        std::fs::create_dir_all(dir).map_err(io("create dir"))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io("open"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(Error::Locked {
                path: path.to_path_buf(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
    }
    // Make a newly created file's directory entry durable too.
    let dir = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync dir"))?;
    Ok(file)
}

// --- LedgerHandle ---

impl LedgerHandle {
    /// Queues a record. A request's `body` is stored only with `store_bodies = "redacted"`.
    /// Waits while the channel is full (backpressure, never a silent drop).
    /// `Ok` means the writer accepted it; write errors after that are logged and counted in
    /// [`WriterStats::failed_records`]. Use [`LedgerHandle::append_acked`] to learn the outcome.
    ///
    /// # Errors
    /// [`Error::Encode`] when the body cannot be encoded; [`Error::Closed`] after shutdown.
    pub async fn append(&self, body: &RecordBody) -> Result<(), Error> {
        let body = self.encode(body)?;
        self.tx
            .send(Command::Append {
                body,
                ack: None,
                written_only: false,
            })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Queues a record without waiting (for `Drop` guards and other sync code).
    ///
    /// # Errors
    /// [`Error::ChannelFull`] when the channel is full (nothing was queued; retry with
    /// [`LedgerHandle::append`] from a task), [`Error::Encode`], [`Error::Closed`].
    pub fn try_append(&self, body: &RecordBody) -> Result<(), Error> {
        let body = self.encode(body)?;
        self.tx
            .try_send(Command::Append {
                body,
                ack: None,
                written_only: false,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::ChannelFull,
                mpsc::error::TrySendError::Closed(_) => Error::Closed,
            })
    }

    /// Appends a record and resolves once it is written and synced per the fsync policy
    /// (`off`: written to the OS only).
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Closed`], [`Error::WriteFailed`] when the write or the
    /// sync failed.
    pub async fn append_acked(&self, body: &RecordBody) -> Result<Appended, Error> {
        self.append_with_ack(body, false).await
    }

    /// Appends a record and resolves once it is written to the file, without waiting for
    /// fsync: the record survives a killed process, and the group fsync still follows within
    /// `fsync_interval`.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Closed`], [`Error::WriteFailed`] when the write failed.
    pub async fn append_written(&self, body: &RecordBody) -> Result<Appended, Error> {
        self.append_all_written(std::slice::from_ref(body)).await
    }

    /// Appends `bodies` in order, contiguously, and resolves once all are written to the file
    /// (not synced; see [`LedgerHandle::append_written`]) with where the last one landed.
    /// Records queued earlier with [`LedgerHandle::append`] may land after them.
    ///
    /// When fsync never runs under the writer's lock (policy `off`, or `group` with its syncer
    /// thread), the caller writes the group itself: one short `write` to the page cache under
    /// a mutex, instead of two thread hand-offs. Otherwise the records go through the channel.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Closed`], [`Error::WriteFailed`] when the write failed.
    pub async fn append_all_written(&self, bodies: &[RecordBody]) -> Result<Appended, Error> {
        let Some(shared) = &self.direct else {
            let Some((last, rest)) = bodies.split_last() else {
                return Err(Error::Encode {
                    detail: "no records to append".to_owned(),
                });
            };
            for b in rest {
                self.append(b).await?;
            }
            return self.append_with_ack(last, true).await;
        };
        let encoded = bodies
            .iter()
            .map(|b| self.encode(b))
            .collect::<Result<Vec<_>, _>>()?;
        if encoded.is_empty() {
            return Err(Error::Encode {
                detail: "no records to append".to_owned(),
            });
        }
        thread::lock(shared).write_direct(encoded)
    }

    async fn append_with_ack(
        &self,
        body: &RecordBody,
        written_only: bool,
    ) -> Result<Appended, Error> {
        let body = self.encode(body)?;
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(Command::Append {
                body,
                ack: Some(ack),
                written_only,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops accepting records, writes and syncs everything already queued, and resolves when
    /// that is done. Appends after this fail with [`Error::Closed`]. Calling it again (or on a
    /// writer that already stopped) returns at once.
    ///
    /// # Errors
    /// [`Error::Writer`] when the writer thread died before confirming.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown { done }).await.is_err() {
            return Ok(());
        }
        rx.await.map_err(|_| Error::Writer {
            detail: "writer ended without confirming shutdown".to_owned(),
        })
    }

    fn encode(&self, body: &RecordBody) -> Result<EncodedBody, Error> {
        body.encode(self.store_bodies).map_err(|e| Error::Encode {
            detail: e.to_string(),
        })
    }

    /// Current writer counters.
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

// --- LedgerTask ---

impl LedgerTask {
    /// Resolves when the writer thread has ended (after shutdown or when every handle was
    /// dropped), with its final counters.
    ///
    /// # Errors
    /// The error that stopped the writer, or [`Error::Writer`] if the thread panicked.
    pub async fn wait(self) -> Result<WriterStats, Error> {
        self.done.await.map_err(|_| Error::Writer {
            detail: "writer thread ended without a result (panicked)".to_owned(),
        })?
    }
}

// --- Counters ---

impl Counters {
    fn snapshot(&self) -> WriterStats {
        WriterStats {
            records: self.records.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            failed_records: self.failed_records.load(Ordering::Relaxed),
            truncated_bytes: self.truncated_bytes.load(Ordering::Relaxed),
        }
    }
}
