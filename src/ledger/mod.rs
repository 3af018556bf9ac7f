//! The audit ledger: an append-only, hash-chained JSON Lines file with one record per request,
//! per upstream attempt, per task outcome, per alert and per admin action.
//!
//! Owns the record types ([`LedgerRecord`], [`RecordBody`] and its bodies), the single writer
//! (a dedicated thread fed by a bounded channel, with group commit and fsync), crash recovery
//! of a torn last line, the streaming reader ([`read_records`]) and chain verification
//! ([`verify`], [`cli::run_verify`]).
//!
//! Must not: update or delete records (the API can append and read, nothing else), redact
//! bodies (the caller stores what it was given), or know about budgets, routes or providers
//! beyond the plain values stored in a record.
//!
//! Uses only `types` from the crate.
//!
//! Chain: `hash = hex(sha256(prev_hash || canonical_json(record without "hash")))`, where the
//! canonical JSON is serde_json's compact form with object keys sorted at every level. The first
//! record has `seq = 1` and `prev_hash` = 64 zeros. Outside Rust, Python's
//! `json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` reproduces the
//! canonical form for ordinary records (float spellings such as `1e-7` vs `1e-07` can differ).

use std::path::PathBuf;

mod body;
mod chain;
pub mod cli;
mod event;
mod reader;
mod record;
mod settings;
mod tail;
mod writer;

pub use body::{
    BudgetInfo, CacheInfo, CacheStatus, CompressionInfo, RequestOutcome, RequestRecord,
    RoutingDecision, TokenCounts, UsageSource,
};
pub use chain::{GENESIS_HASH, SCHEMA_VERSION};
pub use event::{
    AdminAction, AdminRecord, AlertRecord, AttemptOutcome, AttemptRecord, OutcomeSource,
    TaskOutcomeRecord, TaskStatus,
};
pub use reader::{
    BreakKind, ChainBreak, Records, VerifyReport, read_records, read_records_from, verify,
};
pub use record::{LedgerRecord, RecordBody, RecordKind};
pub use settings::{FsyncPolicy, Settings, StoreBodies};
pub use writer::{Appended, Ledger, LedgerHandle, LedgerTask, WriterStats};

/// Errors of the ledger module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("ledger I/O failed ({op}) on {path}: {source}")]
    Io {
        /// What was being done (open, read, write, fsync, truncate...).
        op: &'static str,
        /// The ledger file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded as JSON (for example a non-string map key in `body`).
    #[error("ledger record could not be encoded: {detail}")]
    Encode {
        /// The serde_json error text.
        detail: String,
    },
    /// A line of the file could not be decoded into a record.
    #[error("ledger line {line} is not a valid record: {detail}")]
    Decode {
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// The last line has no terminating newline (a write in progress or a crash artifact that
    /// the next [`Ledger::open`] truncates away).
    #[error("ledger line {line} is incomplete (no trailing newline)")]
    TruncatedLine {
        /// 1-based line number in the file.
        line: u64,
    },
    /// The last complete line found at open is unusable, so the chain cannot be continued.
    /// Run `verify` on the file; the writer refuses to append after a corrupt tail.
    #[error("ledger tail at byte offset {offset} is corrupt: {detail}")]
    CorruptTail {
        /// Byte offset where the last complete line starts.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// Another process (or another `Ledger::open` in this one) holds the file's writer lock.
    #[error("ledger {path} is locked by another writer")]
    Locked {
        /// The ledger file.
        path: PathBuf,
    },
    /// A setting has an invalid value.
    #[error("invalid ledger setting `{key}`: {detail}")]
    InvalidSetting {
        /// The key under `[ledger]`.
        key: &'static str,
        /// Why it is invalid.
        detail: String,
    },
    /// The writer has stopped (after `shutdown`, or it failed); the record was not accepted.
    #[error("ledger writer is closed")]
    Closed,
    /// The bounded channel is full (only from [`LedgerHandle::try_append`]).
    #[error("ledger channel is full")]
    ChannelFull,
    /// The writer accepted the record but could not make it durable; the record is not in the
    /// file (write failed) or may not survive a crash (fsync failed). `detail` says which.
    #[error("ledger write failed: {detail}")]
    WriteFailed {
        /// What failed.
        detail: String,
    },
    /// The writer thread panicked or could not be started.
    #[error("ledger writer thread failed: {detail}")]
    Writer {
        /// What happened.
        detail: String,
    },
}

#[cfg(test)]
mod tests;
