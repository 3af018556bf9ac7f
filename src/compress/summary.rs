//! History summaries: the `Summarizer` the integrator implements (it calls a cheap model), the
//! `SummaryStore` keyed by the sha256 of the summarised turns, an in-memory moka store, and
//! `fill_summaries`, which writes each missing summary once. The compressor itself never calls
//! a model: it only reads the store and reports which prefixes are missing.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::api::Message;

use super::Error;

/// sha256 (hex) of a run of conversation turns: role, name, text and tool calls of each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixHash(pub String);

impl fmt::Display for PrefixHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prefix of older turns that has no stored summary yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryJob {
    /// Store key.
    pub hash: PrefixHash,
    /// The turns as `role: text` paragraphs, ready to hand to a [`Summarizer`].
    pub text: String,
}

/// Writes a short summary of conversation turns (implemented by the integrator over a cheap route).
#[async_trait]
pub trait Summarizer: Send + Sync {
    /// Summarises `text` (turns as `role: text` paragraphs).
    ///
    /// # Errors
    /// `Error::Summarizer` when the model call fails; nothing is stored then.
    async fn summarize(&self, text: &str) -> Result<String, Error>;
}

/// Summaries by prefix hash. Implementations must be cheap and non-blocking (called on the
/// compression path, which runs in `spawn_blocking`).
pub trait SummaryStore: Send + Sync {
    /// The stored summary of a prefix.
    fn get(&self, hash: &PrefixHash) -> Option<String>;
    /// Stores a summary (overwrites).
    fn put(&self, hash: PrefixHash, summary: String);
}

/// In-memory store with a bounded number of entries (moka, TinyLFU eviction).
#[derive(Clone)]
pub struct MokaSummaryStore {
    cache: moka::sync::Cache<PrefixHash, Arc<str>>,
}

impl fmt::Debug for MokaSummaryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MokaSummaryStore({} entries)", self.cache.entry_count())
    }
}

// MokaSummaryStore
impl MokaSummaryStore {
    /// A store holding at most `max_entries` summaries.
    pub fn new(max_entries: u64) -> Self {
        Self {
            cache: moka::sync::Cache::new(max_entries),
        }
    }
}

impl SummaryStore for MokaSummaryStore {
    fn get(&self, hash: &PrefixHash) -> Option<String> {
        self.cache.get(hash).map(|s| s.to_string())
    }
    fn put(&self, hash: PrefixHash, summary: String) {
        self.cache.insert(hash, Arc::from(summary));
    }
}

/// Summarises every job whose prefix is not stored yet and stores the result; returns how many
/// summaries were written. A prefix already in the store is skipped (summarised once).
///
/// # Errors
/// The first summariser error; summaries written before it stay stored.
pub async fn fill_summaries(
    jobs: &[SummaryJob],
    summarizer: &dyn Summarizer,
    store: &dyn SummaryStore,
) -> Result<usize, Error> {
    let mut written = 0;
    for job in jobs {
        if store.get(&job.hash).is_some() {
            continue;
        }
        let summary = summarizer.summarize(&job.text).await?;
        store.put(job.hash.clone(), summary);
        written += 1;
    }
    Ok(written)
}

/// The hash of a run of turns.
pub(crate) fn prefix_hash(turns: &[Message]) -> PrefixHash {
    let mut h = Sha256::new();
    for m in turns {
        let role = serde_json::to_string(&m.role).unwrap_or_default();
        h.update(role.as_bytes());
        h.update([0x1f]);
        h.update(m.name.as_deref().unwrap_or("").as_bytes());
        h.update([0x1f]);
        h.update(m.text_content().as_bytes());
        h.update([0x1f]);
        if let Some(calls) = &m.tool_calls {
            h.update(serde_json::to_string(calls).unwrap_or_default().as_bytes());
        }
        h.update(m.tool_call_id.as_deref().unwrap_or("").as_bytes());
        h.update([0x1e]);
    }
    PrefixHash(hex::encode(h.finalize()))
}

/// The turns as `role: text` paragraphs (tool calls as `name(arguments)`).
pub(crate) fn prefix_text(turns: &[Message]) -> String {
    let mut out = String::new();
    for m in turns {
        let role = serde_json::to_value(m.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&role);
        out.push_str(": ");
        out.push_str(&m.text_content());
        for c in m.tool_calls.iter().flatten() {
            out.push_str(&format!(" {}({})", c.function.name, c.function.arguments));
        }
        out.push_str("\n\n");
    }
    out
}
