//! Stored values: `CachedAnswer`, the in-process entry with its weight and TTL, and the
//! versioned, lz4-compressed encoding used in Redis.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Error;
use crate::api::ChatCompletion;
use crate::types::{MicroUsd, ModelId};

/// A cached chat answer: the completion as the upstream sent it, plus what it cost and
/// which model produced it, so hits can report savings. The proxy replays `completion` as
/// a JSON body or re-chunks it into a well-formed SSE stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The completion (a stream is stored after assembly into one completion).
    pub completion: ChatCompletion,
    /// What the original call cost.
    pub cost: MicroUsd,
    /// The concrete model that answered.
    pub model: ModelId,
    /// When the answer was stored (wall clock, comparable across replicas).
    pub stored_at: DateTime<Utc>,
}

/// Format byte in front of every Redis value; bump when the encoding changes.
const FORMAT_V1: u8 = 1;
/// Bookkeeping bytes counted per in-process entry besides its payload (key, moka's node,
/// access order and expiry entries, allocator rounding), so `max_bytes` bounds real memory.
/// Measured: filling a 32 MiB cache with ~1 KB answers grew the gateway's RSS by ~680 bytes
/// per entry more than their payload (benches/load/README.md, run 4).
const ENTRY_OVERHEAD: usize = 700;

/// An in-process entry: the value, its weight in bytes and its time to live.
#[derive(Debug, Clone)]
pub(crate) struct MemEntry {
    pub(crate) value: MemValue,
    pub(crate) weight: u32,
    pub(crate) ttl: Duration,
}

/// The in-process value of a namespace.
#[derive(Debug, Clone)]
pub(crate) enum MemValue {
    /// A chat answer as its JSON: the weight is then the real payload size (a parsed
    /// completion takes about twice its JSON in small allocations), at the price of a parse
    /// (microseconds) per hit.
    Answer(Bytes),
    Blob(Bytes),
}

// ---- MemEntry ----

impl MemEntry {
    /// An entry weighing `payload_len` plus fixed overhead (saturating at `u32::MAX`).
    pub(crate) fn new(value: MemValue, payload_len: usize, ttl: Duration) -> MemEntry {
        let weight = u32::try_from(payload_len.saturating_add(ENTRY_OVERHEAD)).unwrap_or(u32::MAX);
        MemEntry { value, weight, ttl }
    }
}

/// Serialises an answer to JSON (its size is the entry weight; Redis stores it compressed).
pub(crate) fn answer_json(answer: &CachedAnswer) -> Result<Vec<u8>, Error> {
    encode_answer(
        &answer.completion,
        answer.cost,
        &answer.model,
        answer.stored_at,
    )
}

/// The JSON of a `CachedAnswer` made of these parts, without building one (no copy of the
/// completion). When the completion carries the provider's bytes they are spliced in as they
/// are, instead of serialising the parsed value again.
///
/// # Errors
/// `Encode` when serialisation fails.
pub fn encode_answer(
    completion: &ChatCompletion,
    cost: MicroUsd,
    model: &ModelId,
    stored_at: DateTime<Utc>,
) -> Result<Vec<u8>, Error> {
    /// `CachedAnswer` by reference; same field names, so the same JSON.
    #[derive(Serialize)]
    struct Parts<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        completion: Option<&'a ChatCompletion>,
        cost: MicroUsd,
        model: &'a ModelId,
        stored_at: DateTime<Utc>,
    }
    let encode_err = |e: serde_json::Error| Error::Encode {
        reason: e.to_string(),
    };
    let Some(raw) = &completion.raw.0 else {
        let parts = Parts {
            completion: Some(completion),
            cost,
            model,
            stored_at,
        };
        return serde_json::to_vec(&parts).map_err(encode_err);
    };
    let rest = serde_json::to_vec(&Parts {
        completion: None,
        cost,
        model,
        stored_at,
    })
    .map_err(encode_err)?;
    // `rest` is `{"cost":...}`: put `"completion":<raw>,` right after its brace.
    let mut out = Vec::with_capacity(raw.len() + rest.len() + 16);
    out.extend_from_slice(b"{\"completion\":");
    out.extend_from_slice(raw);
    out.push(b',');
    out.extend_from_slice(rest.get(1..).unwrap_or_default());
    Ok(out)
}

/// Redis value: format byte, then lz4 block with the uncompressed size prepended.
pub(crate) fn encode_redis(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 16);
    out.push(FORMAT_V1);
    out.extend_from_slice(&lz4_flex::compress_prepend_size(payload));
    out
}

/// Inverse of `encode_redis`. Errors on an unknown format byte or a corrupt block.
pub(crate) fn decode_redis(value: &[u8]) -> Result<Vec<u8>, Error> {
    match value.split_first() {
        Some((&FORMAT_V1, block)) => {
            lz4_flex::decompress_size_prepended(block).map_err(|e| Error::Encode {
                reason: e.to_string(),
            })
        }
        _ => Err(Error::Encode {
            reason: "unknown cache value format".to_owned(),
        }),
    }
}

/// Parses an answer from its JSON.
pub(crate) fn answer_from_json(json: &[u8]) -> Result<CachedAnswer, Error> {
    serde_json::from_slice(json).map_err(|e| Error::Encode {
        reason: e.to_string(),
    })
}
