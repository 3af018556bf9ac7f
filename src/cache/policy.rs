//! What is cacheable: client directives, the lookup and store decisions and their reasons.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::Error;
use super::key::{CacheKey, KeyContext, KeyRequest, derive_key};
use super::settings::{Mode, Settings};
use crate::api::{ChatCompletion, ChatRequest, Content, Message};
use crate::pii;
use crate::types::WorkflowId;

/// The client's caching wish, parsed from `Cache-Control` and `x-purser-cache` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCacheDirective {
    /// No directive: the workflow policy decides.
    #[default]
    Default,
    /// `Cache-Control: no-cache` (or `max-age=0`): don't serve from cache, a fresh answer may
    /// be stored.
    NoCache,
    /// `Cache-Control: no-store`: neither serve from nor write to the cache.
    NoStore,
    /// `x-purser-cache: bypass`: neither serve from nor write to the cache.
    Bypass,
}

/// Why a request does not use the cache. `as_str` gives the header/ledger value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BypassReason {
    /// Cache mode `off` or the workflow has `enabled = false`.
    Disabled,
    /// `x-purser-cache: bypass`.
    ClientBypass,
    /// `Cache-Control: no-store`.
    ClientNoStore,
    /// Neither `temperature = 0` nor a `seed`: answers are samples, not facts.
    Sampled,
    /// The PII detector found personal data or a secret in the request.
    PiiInRequest,
}

/// Why an answer is not stored. `as_str` gives the header/ledger value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Caching was switched off for the workflow since the lookup.
    Disabled,
    /// Upstream or proxy error, or an answer with no choices.
    Error,
    /// The stream ended before its final chunk (disconnect, upstream cut, timeout).
    StreamCut,
    /// `finish_reason = length` or missing: the answer is cut off.
    Truncated,
    /// `finish_reason = content_filter`.
    ContentFilter,
    /// The answer calls tools and the workflow does not allow caching that.
    ToolCalls,
    /// The PII detector found personal data or a secret in the answer.
    PiiInAnswer,
    /// The encoded entry is larger than `max_entry_bytes`.
    TooLarge,
}

/// Outcome of the lookup decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheDecision {
    /// Look this key up; on a miss, store the answer under it (after `store_decision`).
    Use(CacheKey),
    /// Client said `no-cache`: don't look up, but store the fresh answer under this key.
    Refresh(CacheKey),
    /// Don't look up and don't store.
    Bypass(BypassReason),
}

/// Outcome of the store decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDecision {
    /// Store with this time to live.
    Store {
        /// The workflow's TTL.
        ttl: Duration,
    },
    /// Don't store.
    Skip(SkipReason),
}

/// How the upstream call ended, as the store decision needs it.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A full answer: a JSON body, or a stream assembled after its final chunk and `[DONE]`.
    Complete(&'a ChatCompletion),
    /// A stream that ended early.
    StreamCut,
    /// The call failed.
    Error,
}

/// The caching policy: settings plus the decision functions. Cheap to clone (one `Arc`);
/// build a new one on config reload.
#[derive(Debug, Clone)]
pub struct Policy {
    settings: Arc<Settings>,
}

// ---- ClientCacheDirective ----

impl ClientCacheDirective {
    /// Parses header values (pass `None` for an absent header; several header lines may be
    /// joined with `,`). The strongest directive wins: bypass, then no-store, then no-cache.
    pub fn from_headers(cache_control: Option<&str>, purser_cache: Option<&str>) -> Self {
        if purser_cache.is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("bypass"))
        }) {
            return ClientCacheDirective::Bypass;
        }
        let tokens = || {
            cache_control
                .unwrap_or("")
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
        };
        if tokens().any(|t| t == "no-store") {
            ClientCacheDirective::NoStore
        } else if tokens().any(|t| t == "no-cache" || t == "max-age=0") {
            ClientCacheDirective::NoCache
        } else {
            ClientCacheDirective::Default
        }
    }
}

// ---- BypassReason ----

impl BypassReason {
    /// Short snake_case name for headers, ledger records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BypassReason::Disabled => "disabled",
            BypassReason::ClientBypass => "client_bypass",
            BypassReason::ClientNoStore => "client_no_store",
            BypassReason::Sampled => "sampled",
            BypassReason::PiiInRequest => "pii_in_request",
        }
    }
}

// ---- SkipReason ----

impl SkipReason {
    /// Short snake_case name for headers, ledger records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Disabled => "disabled",
            SkipReason::Error => "error",
            SkipReason::StreamCut => "stream_cut",
            SkipReason::Truncated => "truncated",
            SkipReason::ContentFilter => "content_filter",
            SkipReason::ToolCalls => "tool_calls",
            SkipReason::PiiInAnswer => "pii_in_answer",
            SkipReason::TooLarge => "too_large",
        }
    }
}

// ---- CacheDecision ----

impl CacheDecision {
    /// The key to look up, if any (`Use` only).
    pub fn lookup_key(&self) -> Option<&CacheKey> {
        match self {
            CacheDecision::Use(k) => Some(k),
            _ => None,
        }
    }
    /// The key to store a fresh answer under, if any (`Use` after a miss, or `Refresh`).
    pub fn store_key(&self) -> Option<&CacheKey> {
        match self {
            CacheDecision::Use(k) | CacheDecision::Refresh(k) => Some(k),
            CacheDecision::Bypass(_) => None,
        }
    }
    /// Header/ledger label: `lookup`, `client_no_cache`, or the bypass reason.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheDecision::Use(_) => "lookup",
            CacheDecision::Refresh(_) => "client_no_cache",
            CacheDecision::Bypass(r) => r.as_str(),
        }
    }
}

// ---- Policy ----

impl Policy {
    /// Builds a policy from validated settings. Errors: whatever `Settings::validate` finds.
    pub fn try_new(settings: Settings) -> Result<Policy, Error> {
        settings.validate()?;
        Ok(Policy {
            settings: Arc::new(settings),
        })
    }

    /// The settings this policy applies.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Decides whether a request may use the cache and derives its key. Checks, in order:
    /// disabled, client directive, sampling, PII in the request. Costs one PII scan of the
    /// message texts (≈ 100 µs for 16 KB), cheap enough to run inline.
    pub fn lookup_decision(
        &self,
        req: &ChatRequest,
        ctx: &KeyContext<'_>,
        directive: ClientCacheDirective,
    ) -> CacheDecision {
        let policy = self.settings.policy_for(ctx.workflow);
        if self.settings.mode == Mode::Off || !policy.enabled {
            return CacheDecision::Bypass(BypassReason::Disabled);
        }
        match directive {
            ClientCacheDirective::Bypass => {
                return CacheDecision::Bypass(BypassReason::ClientBypass);
            }
            ClientCacheDirective::NoStore => {
                return CacheDecision::Bypass(BypassReason::ClientNoStore);
            }
            ClientCacheDirective::NoCache | ClientCacheDirective::Default => {}
        }
        if !is_deterministic(req) {
            return CacheDecision::Bypass(BypassReason::Sampled);
        }
        if req.messages.iter().any(message_has_pii) {
            return CacheDecision::Bypass(BypassReason::PiiInRequest);
        }
        let key = derive_key(&KeyRequest {
            chat: req,
            ctx: *ctx,
            scope: policy.scope,
        });
        match directive {
            ClientCacheDirective::NoCache => CacheDecision::Refresh(key),
            _ => CacheDecision::Use(key),
        }
    }

    /// Lookup decision for an `/v1/embeddings` body (deterministic, so never `sampled`):
    /// disabled, client directive, then PII in any input string; else a key from
    /// `CacheKey::for_embeddings`. Store the response body with `ResponseCache::put_blob`
    /// using the workflow TTL (`settings().ttl_for`).
    pub fn embeddings_decision(
        &self,
        workflow: &WorkflowId,
        body: &serde_json::Value,
        directive: ClientCacheDirective,
    ) -> CacheDecision {
        if self.settings.mode == Mode::Off || !self.settings.policy_for(workflow).enabled {
            return CacheDecision::Bypass(BypassReason::Disabled);
        }
        match directive {
            ClientCacheDirective::Bypass => {
                return CacheDecision::Bypass(BypassReason::ClientBypass);
            }
            ClientCacheDirective::NoStore => {
                return CacheDecision::Bypass(BypassReason::ClientNoStore);
            }
            ClientCacheDirective::NoCache | ClientCacheDirective::Default => {}
        }
        if value_has_pii(body.get("input").unwrap_or(&serde_json::Value::Null)) {
            return CacheDecision::Bypass(BypassReason::PiiInRequest);
        }
        let key = CacheKey::for_embeddings(workflow, body);
        match directive {
            ClientCacheDirective::NoCache => CacheDecision::Refresh(key),
            _ => CacheDecision::Use(key),
        }
    }

    /// Decides whether an answer may be stored under `key` (from `lookup_decision`).
    /// Checks, in order: disabled, error, cut stream, no choices, finish reasons
    /// (length/missing → truncated, content_filter), tool calls, PII in the answer.
    pub fn store_decision(&self, key: &CacheKey, answer: Answer<'_>) -> StoreDecision {
        let policy = self.settings.policy_for(key.workflow());
        if self.settings.mode == Mode::Off || !policy.enabled {
            return StoreDecision::Skip(SkipReason::Disabled);
        }
        let completion = match answer {
            Answer::Complete(c) => c,
            Answer::StreamCut => return StoreDecision::Skip(SkipReason::StreamCut),
            Answer::Error => return StoreDecision::Skip(SkipReason::Error),
        };
        if let Some(reason) = answer_problem(completion, policy.allow_tool_calls) {
            return StoreDecision::Skip(reason);
        }
        StoreDecision::Store {
            ttl: self.settings.ttl_for(key.workflow()),
        }
    }
}

/// `temperature = 0`, or a `seed`, makes answers repeatable enough to cache.
fn is_deterministic(req: &ChatRequest) -> bool {
    req.temperature == Some(0.0) || req.seed.is_some()
}

fn answer_problem(c: &ChatCompletion, allow_tool_calls: bool) -> Option<SkipReason> {
    if c.choices.is_empty() {
        return Some(SkipReason::Error);
    }
    for choice in &c.choices {
        match choice.finish_reason.as_deref() {
            Some("stop") => {}
            Some("tool_calls" | "function_call") if allow_tool_calls => {}
            Some("tool_calls" | "function_call") => return Some(SkipReason::ToolCalls),
            Some("content_filter") => return Some(SkipReason::ContentFilter),
            // `length`, a missing reason, or one we don't know: not a finished answer.
            _ => return Some(SkipReason::Truncated),
        }
        let calls = choice
            .message
            .tool_calls
            .as_ref()
            .is_some_and(|t| !t.is_empty());
        if calls && !allow_tool_calls {
            return Some(SkipReason::ToolCalls);
        }
    }
    if c.choices.iter().any(|ch| message_has_pii(&ch.message)) {
        return Some(SkipReason::PiiInAnswer);
    }
    None
}

/// Scans every string in a JSON value (embeddings `input`: a string or list of strings).
fn value_has_pii(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => pii::contains_pii(s),
        serde_json::Value::Array(items) => items.iter().any(value_has_pii),
        _ => false,
    }
}

/// Scans every text a message carries: content (text parts), name, refusal, tool-call
/// arguments. Each piece is scanned on its own, without concatenating.
fn message_has_pii(m: &Message) -> bool {
    let content = match &m.content {
        Some(Content::Text(s)) => pii::contains_pii(s),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .any(pii::contains_pii),
        None => false,
    };
    content
        || m.refusal.as_deref().is_some_and(pii::contains_pii)
        || m.name.as_deref().is_some_and(pii::contains_pii)
        || m.tool_calls
            .iter()
            .flatten()
            .any(|c| pii::contains_pii(&c.function.arguments))
}
