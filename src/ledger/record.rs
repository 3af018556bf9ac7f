//! The ledger line: chain header (`schema_version`, `seq`, `ts`, `kind`, `prev_hash`, `hash`)
//! plus a typed body. A line looks like
//! `{"schema_version":1,"seq":7,"ts":"…","kind":"request","prev_hash":"…","hash":"…","body":{…}}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::RequestRecord;
use super::chain::{self, ts_micros};
use super::event::{AdminRecord, AlertRecord, AttemptRecord, TaskOutcomeRecord};
use super::settings::StoreBodies;

/// One ledger line, as read back. Only the writer creates lines; this type is for readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireRecord")]
pub struct LedgerRecord {
    /// Format version of this line ([`super::SCHEMA_VERSION`] when written by this code).
    pub schema_version: u32,
    /// Position in the chain, starting at 1, contiguous.
    pub seq: u64,
    /// When the writer sequenced the record (RFC 3339, UTC, µs).
    #[serde(with = "ts_micros")]
    pub ts: DateTime<Utc>,
    /// Which body this line carries (always `body.kind()`).
    pub kind: RecordKind,
    /// `hash` of the previous line ([`super::GENESIS_HASH`] for `seq` 1).
    pub prev_hash: String,
    /// Hex sha256 of `prev_hash` followed by the canonical JSON of this line without `hash`.
    pub hash: String,
    /// The typed content.
    pub body: RecordBody,
}

/// What a ledger line records. Serialized without a tag: the tag is the line's `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "one body per request, built once and passed by reference; boxing adds an allocation for nothing"
)]
pub enum RecordBody {
    /// A gateway request.
    Request(RequestRecord),
    /// One upstream attempt.
    Attempt(AttemptRecord),
    /// The end of a client task.
    TaskOutcome(TaskOutcomeRecord),
    /// A fired alert.
    Alert(AlertRecord),
    /// An admin action.
    Admin(AdminRecord),
}

/// The `kind` of a line, naming its body type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// [`RecordBody::Request`].
    Request,
    /// [`RecordBody::Attempt`].
    Attempt,
    /// [`RecordBody::TaskOutcome`].
    TaskOutcome,
    /// [`RecordBody::Alert`].
    Alert,
    /// [`RecordBody::Admin`].
    Admin,
}

/// The on-disk shape, decoded first so the body can be parsed according to `kind`.
#[derive(Deserialize)]
struct WireRecord {
    schema_version: u32,
    seq: u64,
    #[serde(with = "ts_micros")]
    ts: DateTime<Utc>,
    kind: RecordKind,
    prev_hash: String,
    hash: String,
    body: Value,
}

/// A body already encoded as canonical JSON by the caller, so the writer thread only
/// concatenates and hashes.
#[derive(Debug)]
pub(crate) struct EncodedBody {
    pub(crate) kind: RecordKind,
    pub(crate) canonical: String,
}

// --- RecordBody ---

impl RecordBody {
    /// The kind naming this body.
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordBody::Request(_) => RecordKind::Request,
            RecordBody::Attempt(_) => RecordKind::Attempt,
            RecordBody::TaskOutcome(_) => RecordKind::TaskOutcome,
            RecordBody::Alert(_) => RecordKind::Alert,
            RecordBody::Admin(_) => RecordKind::Admin,
        }
    }

    /// Parses a body of the given kind from its JSON value.
    ///
    /// # Errors
    /// The serde_json error when the value does not match the kind's shape.
    pub fn from_value(kind: RecordKind, value: Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            RecordKind::Request => RecordBody::Request(serde_json::from_value(value)?),
            RecordKind::Attempt => RecordBody::Attempt(serde_json::from_value(value)?),
            RecordKind::TaskOutcome => RecordBody::TaskOutcome(serde_json::from_value(value)?),
            RecordKind::Alert => RecordBody::Alert(serde_json::from_value(value)?),
            RecordKind::Admin => RecordBody::Admin(serde_json::from_value(value)?),
        })
    }

    /// Encodes the body as canonical JSON (done on the caller's task, not the writer's).
    /// With `StoreBodies::Off` a request's `body` is left out even if the caller filled it.
    pub(crate) fn encode(&self, store: StoreBodies) -> Result<EncodedBody, serde_json::Error> {
        if let Some(canonical) = self.encode_direct()? {
            return Ok(EncodedBody {
                kind: self.kind(),
                canonical,
            });
        }
        let mut value = serde_json::to_value(self)?;
        if store == StoreBodies::Off
            && let Some(map) = value.as_object_mut()
            && matches!(self, RecordBody::Request(_))
        {
            map.remove("body");
        }
        Ok(EncodedBody {
            kind: self.kind(),
            canonical: chain::canonical_string(value)?,
        })
    }
}

impl RecordBody {
    /// The canonical JSON in one pass, for the two bodies written on every request: their
    /// fields (and those of their parts) are declared in alphabetical order and hold no free-form
    /// JSON, so the derived serialisation is already canonical (`direct_encoding_is_canonical`
    /// checks it). `None`: build the value tree and sort it.
    fn encode_direct(&self) -> Result<Option<String>, serde_json::Error> {
        match self {
            RecordBody::Request(r) if r.body.is_none() => serde_json::to_string(r).map(Some),
            RecordBody::Attempt(a) => serde_json::to_string(a).map(Some),
            _ => Ok(None),
        }
    }
}

impl From<RequestRecord> for RecordBody {
    fn from(r: RequestRecord) -> Self {
        RecordBody::Request(r)
    }
}

impl From<AttemptRecord> for RecordBody {
    fn from(r: AttemptRecord) -> Self {
        RecordBody::Attempt(r)
    }
}

impl From<TaskOutcomeRecord> for RecordBody {
    fn from(r: TaskOutcomeRecord) -> Self {
        RecordBody::TaskOutcome(r)
    }
}

impl From<AlertRecord> for RecordBody {
    fn from(r: AlertRecord) -> Self {
        RecordBody::Alert(r)
    }
}

impl From<AdminRecord> for RecordBody {
    fn from(r: AdminRecord) -> Self {
        RecordBody::Admin(r)
    }
}

// --- RecordKind ---

impl RecordKind {
    /// The snake_case name used in the `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Request => "request",
            RecordKind::Attempt => "attempt",
            RecordKind::TaskOutcome => "task_outcome",
            RecordKind::Alert => "alert",
            RecordKind::Admin => "admin",
        }
    }
}

// --- WireRecord ---

impl TryFrom<WireRecord> for LedgerRecord {
    type Error = String;

    fn try_from(w: WireRecord) -> Result<Self, Self::Error> {
        let body = RecordBody::from_value(w.kind, w.body)
            .map_err(|e| format!("body does not match kind `{}`: {e}", w.kind.as_str()))?;
        Ok(LedgerRecord {
            schema_version: w.schema_version,
            seq: w.seq,
            ts: w.ts,
            kind: w.kind,
            prev_hash: w.prev_hash,
            hash: w.hash,
            body,
        })
    }
}

// --- EncodedBody ---

impl EncodedBody {
    /// The canonical JSON of the line without `hash` (keys sorted: body, kind, prev_hash,
    /// schema_version, seq, ts). Must match `chain::canonical_string` of the parsed line.
    pub(crate) fn canonical_line(&self, seq: u64, ts: &str, prev_hash: &str) -> String {
        format!(
            "{{\"body\":{},\"kind\":\"{}\",\"prev_hash\":\"{prev_hash}\",\"schema_version\":{},\"seq\":{seq},\"ts\":\"{ts}\"}}",
            self.canonical,
            self.kind.as_str(),
            chain::SCHEMA_VERSION,
        )
    }

    /// The line as written (header first for humans, then `body`), without the newline.
    pub(crate) fn line(&self, seq: u64, ts: &str, prev_hash: &str, hash: &str) -> String {
        format!(
            "{{\"schema_version\":{},\"seq\":{seq},\"ts\":\"{ts}\",\"kind\":\"{}\",\"prev_hash\":\"{prev_hash}\",\"hash\":\"{hash}\",\"body\":{}}}",
            chain::SCHEMA_VERSION,
            self.kind.as_str(),
            self.canonical,
        )
    }
}
