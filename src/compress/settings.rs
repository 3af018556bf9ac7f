//! Compression settings (one `[compress]` table per workflow), their defaults and validation.

use serde::{Deserialize, Serialize};

use crate::api::Role;

use super::Error;

/// What the compressor does for a workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Never compress.
    Off,
    /// Rank context units against the query and keep the best that fit (default).
    #[default]
    Retrieval,
    /// Retrieval, and older conversation turns replaced by a cached summary once one exists.
    RetrievalAndSummary,
}

/// How small the compressed request must get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// `{ ratio = 4.0 }`: whitespace words after ≤ words before / ratio (tokens shrink about as
    /// much). Must be ≥ 1.
    Ratio(f64),
    /// `{ budget_tokens = 2000 }`: tokens after ≤ this many.
    BudgetTokens(u64),
}

impl Default for Target {
    fn default() -> Self {
        Target::Ratio(4.0)
    }
}

/// Messages that are never compressed or dropped, in addition to the built-in rules
/// (system/developer messages, tool definitions, the latest user turn's question, everything after it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pins {
    /// Roles whose messages are kept whole, e.g. `["assistant"]`. Default: none.
    pub roles: Vec<Role>,
    /// The last N messages are kept whole. Default 0 (the latest user turn's question is always kept).
    pub last_messages: usize,
    /// A message whose text matches any of these regexes is kept whole. Default: none.
    pub patterns: Vec<String>,
}

/// History summaries (mode `retrieval_and_summary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SummarySettings {
    /// Conversation messages (before the latest user turn) always left to retrieval, never
    /// summarised. Default 4.
    pub keep_recent_messages: usize,
    /// Older messages are summarised in blocks of this many, so a prefix (and its cache key) only
    /// changes every `block_messages` turns. Default 6.
    pub block_messages: usize,
}

impl Default for SummarySettings {
    fn default() -> Self {
        Self {
            keep_recent_messages: 4,
            block_messages: 6,
        }
    }
}

/// Settings of the compression stage.
///
/// ```toml
/// [compress]
/// mode = "retrieval"            # "off" | "retrieval" | "retrieval_and_summary"
/// threshold_tokens = 2000       # compress only requests longer than this
/// target = { ratio = 4.0 }      # or target = { budget_tokens = 1500 }
/// summariser_route = "cheap"    # route the integrator uses for summaries (optional)
/// min_unit_words = 6            # shorter sentences merge into their neighbour
/// max_unit_words = 30           # longer sentences split at clause boundaries (, ; :)
/// context_window = 1           # neighbouring sentences preferred around a selected one
/// [compress.pins]
/// roles = []
/// last_messages = 0
/// patterns = []
/// [compress.summary]
/// keep_recent_messages = 4
/// block_messages = 6
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Off, retrieval only, or retrieval with history summaries. Default `retrieval`.
    pub mode: Mode,
    /// Requests with at most this many input tokens pass untouched. Default 2000.
    pub threshold_tokens: u64,
    /// Size to compress to. Default `{ ratio = 4.0 }`.
    pub target: Target,
    /// Extra pinned messages.
    pub pins: Pins,
    /// Route (tier or model) the integrator calls to write summaries. Default none.
    pub summariser_route: Option<String>,
    /// Sentences shorter than this many words are merged into the previous one. Default 6.
    pub min_unit_words: usize,
    /// Sentences longer than this many words are split at clause boundaries (`,` `;` `:`)
    /// into pieces of at least `min_unit_words`. Default 30.
    pub max_unit_words: usize,
    /// Sentences on each side of a strong sentence that inherit part of its score (0 = none). Default 1.
    pub context_window: usize,
    /// History summary settings.
    pub summary: SummarySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Retrieval,
            threshold_tokens: 2000,
            target: Target::default(),
            pins: Pins::default(),
            summariser_route: None,
            min_unit_words: 6,
            max_unit_words: 30,
            context_window: 1,
            summary: SummarySettings::default(),
        }
    }
}

// Settings
impl Settings {
    /// Checks values serde cannot: ratio ≥ 1, budget > 0, block size > 0.
    ///
    /// # Errors
    /// `Error::InvalidSettings` naming the key.
    pub fn validate(&self) -> Result<(), Error> {
        target_is_valid(self.target)?;
        if self.summary.block_messages == 0 {
            return Err(Error::InvalidSettings {
                key: "summary.block_messages",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

/// Checks one target: a finite ratio ≥ 1 or a positive budget.
pub(crate) fn target_is_valid(target: Target) -> Result<(), Error> {
    match target {
        Target::Ratio(r) if !(r.is_finite() && r >= 1.0) => Err(Error::InvalidSettings {
            key: "target.ratio",
            reason: format!("{r} is not a finite number ≥ 1"),
        }),
        Target::BudgetTokens(0) => Err(Error::InvalidSettings {
            key: "target.budget_tokens",
            reason: "must be positive".to_owned(),
        }),
        _ => Ok(()),
    }
}
