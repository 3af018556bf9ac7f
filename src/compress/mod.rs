//! Context compression, the pipeline stage before routing: when a request is longer than a
//! threshold, rank its context (RAG documents, sections, sentences, older turns) against the
//! latest question and keep the best units that fit a token budget or ratio, in original order
//! and with their labels. Optionally replaces older turns by a cached summary.
//!
//! Owns: query extraction, unit splitting, BM25 ranking over tantivy's English analyzer, budget
//! fitting, the summary store contract, and the `compress` / `eval-compress` CLI bodies.
//! Must not: call upstream models (summaries come through [`Summarizer`], implemented by the
//! integrator), read the whole config, or do I/O outside the CLI functions.
//! Uses: `types`, `api`, `tokenizer`.
//!
//! Never dropped: system/developer messages, tool definitions, the latest user turn's question
//! (and any instructions before the context), messages after the latest user turn, pinned
//! messages; a tool call and its results are kept or dropped together.

use serde::Serialize;

use crate::api::ChatRequest;
use crate::types::Tokens;

pub mod cli;
mod compressor;
mod cue;
pub mod eval;
mod plan;
mod rank;
mod select;
mod settings;
mod summary;
mod tantivy_rank;
mod text;

#[cfg(test)]
mod tests;

pub use compressor::Compressor;
pub use settings::{Mode, Pins, Settings, SummarySettings, Target};
pub use summary::{
    MokaSummaryStore, PrefixHash, Summarizer, SummaryJob, SummaryStore, fill_summaries,
};

/// Version of the compression algorithm; part of cache keys.
pub const VERSION: &str = "compress-v1";

/// Errors of the compression module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid compress setting `{key}`: {reason}")]
    InvalidSettings {
        /// Key path, e.g. `target.ratio`.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A pin pattern is not a valid regex.
    #[error("invalid pin pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Regex error.
        reason: String,
    },
    /// The in-memory tantivy index failed (index ranker only).
    #[error("in-memory index failed: {reason}")]
    Index {
        /// tantivy's error.
        reason: String,
    },
    /// The summariser failed.
    #[error("summariser failed: {reason}")]
    Summarizer {
        /// Safe-to-log reason (no prompt text).
        reason: String,
    },
    /// A CLI input line is not a chat request.
    #[error("line {line}: not a chat request: {reason}")]
    BadInput {
        /// 1-based line number.
        line: usize,
        /// JSON error.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("i/o on {what}: {source}")]
    Io {
        /// What was read or written.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The eval dataset is not there.
    #[error("dataset not found at {path} (set PURSER_SHARED_DIR or --data)")]
    DatasetMissing {
        /// Where it was looked for.
        path: String,
    },
}

/// Sentence ranker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ranker {
    /// BM25 computed here over tantivy's analyzer output (default; no index build).
    #[default]
    Bm25,
    /// BM25 from a per-request in-RAM tantivy index (slower; kept for comparison).
    TantivyIndex,
}

/// Why the request came back as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Units were ranked and fitted to the budget.
    Compressed,
    /// Mode `off`.
    Disabled,
    /// Not longer than `threshold_tokens`.
    BelowThreshold,
    /// No compressible content (e.g. only pinned messages).
    NothingToCompress,
}

/// The result of compressing one request.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The request to send on (unknown fields preserved).
    pub request: ChatRequest,
    /// Input tokens before (`Encoding::count_request`).
    pub tokens_before: Tokens,
    /// Input tokens after.
    pub tokens_after: Tokens,
    /// Rankable units found.
    pub units_total: usize,
    /// Units kept.
    pub units_kept: usize,
    /// [`VERSION`].
    pub version: &'static str,
    /// History prefixes that would be summarised but are not in the store yet: run them through
    /// [`fill_summaries`] in the background; later requests with the same history use them.
    pub missing_summaries: Vec<SummaryJob>,
    /// Whether a stored summary replaced older turns.
    pub summary_used: bool,
    /// What happened.
    pub outcome: Outcome,
}
