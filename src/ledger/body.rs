//! The request record body and its parts (attempt, task, alert and admin bodies are in
//! `event`). Plain data; `None`/empty fields are omitted from the JSON.
//!
//! Enums that other modules own the meaning of (failure kinds, error kinds, alert kinds) are
//! stored as snake_case strings: this module may not depend on `upstream`, `budget` or `proxy`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::lenient_f64;
use crate::types::{MicroUsd, ModelId, Tier, Tokens, WorkflowId};

/// One gateway request (exactly one per request: cache hits, errors and escalations included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Number of upstream attempts (0 for cache hits and denials).
    pub attempts: u32,
    /// What the request would have cost on the strongest tier ("baseline" for savings reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_cost_micros: Option<MicroUsd>,
    /// Redacted request/response, only when `store_bodies = "redacted"` (dropped otherwise).
    /// `Some(Value::Null)` is stored as absent.
    #[serde(default, skip_serializing_if = "is_none_or_null")]
    pub body: Option<Value>,
    /// Budget reservation and settlement, when a budget applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetInfo>,
    /// Cache lookup result, when the cache was consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheInfo>,
    /// Whether the client went away before the response was complete.
    #[serde(default)]
    pub client_disconnected: bool,
    /// Context compression, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionInfo>,
    /// What this request cost (all attempts).
    pub cost_micros: MicroUsd,
    /// What the router decided and why.
    pub decision: RoutingDecision,
    /// The proxy's error kind label (snake_case), for failed requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Escalation reasons, in order (snake_case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<String>,
    /// Wall time in the gateway, milliseconds.
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub latency_ms: f64,
    /// The model that produced the answer (none for errors before any answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelId>,
    /// How the request ended.
    pub outcome: RequestOutcome,
    /// Hex sha256 of the canonical messages.
    pub prompt_hash: String,
    /// Provider of the answering model (none when no upstream answered, e.g. budget denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Gateway request id (also sent to the client).
    pub request_id: String,
    /// The `model` field the client asked for.
    pub requested_model: ModelId,
    /// Route (routing table entry) used, when routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// HTTP status returned to the client.
    pub status: u16,
    /// Client step name within the task, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Whether the client asked for a streamed response.
    #[serde(default)]
    pub stream: bool,
    /// Client task id, when the client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Tokens billed for the answer.
    #[serde(default)]
    pub tokens: TokenCounts,
    /// Time spent waiting on upstreams, milliseconds (none when no upstream was called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<f64>,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
    /// Workflow (cost envelope) the request was charged to.
    pub workflow: WorkflowId,
    /// For cache hits: what the request would have cost upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_have_cost_micros: Option<MicroUsd>,
}

/// The router's decision for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Version of the classifier (or routing table) that decided.
    pub classifier_version: String,
    /// Why (snake_case reason, e.g. `classifier`, `pinned_model`, `rule:long_context`).
    pub reason: String,
    /// Classifier difficulty score, when the classifier ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Tier chosen first (0 = cheapest).
    pub tier: Tier,
}

/// Token counts of a request or attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Prompt tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cached_input: Tokens,
    /// Prompt tokens.
    pub input: Tokens,
    /// Completion tokens.
    pub output: Tokens,
}

/// Cache lookup result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// Why (e.g. `non_deterministic`, `no_store_header`), when there is a reason to give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Hit, miss or bypass.
    pub status: CacheStatus,
}

/// Context compression summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressionInfo {
    /// Money saved by sending fewer tokens, at the answering model's price.
    pub saved_micros: MicroUsd,
    /// Prompt tokens after compression.
    pub tokens_after: Tokens,
    /// Prompt tokens before compression.
    pub tokens_before: Tokens,
}

/// Budget reservation and what was finally charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetInfo {
    /// Amount reserved before the upstream call.
    pub reserved_micros: MicroUsd,
    /// Amount committed at settlement (the rest was released).
    pub settled_micros: MicroUsd,
}

/// How a request ended. Unknown values (from newer writers) read as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// Answered by an upstream.
    Ok,
    /// Answered from the cache.
    CacheHit,
    /// All attempts failed upstream.
    UpstreamError,
    /// The request was invalid (gateway or upstream 4xx).
    ClientError,
    /// Refused because the workflow budget could not cover it.
    BudgetDenied,
    /// Refused by an admin kill switch.
    KillSwitch,
    /// The client cancelled or disconnected.
    Cancelled,
    /// A gateway bug or unexpected failure.
    InternalError,
    /// A value this version does not know.
    #[serde(other)]
    Other,
}

/// Where token counts came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider's `usage` block.
    Provider,
    /// Counted locally with tiktoken (provider sent none, e.g. cut stream).
    Tiktoken,
    /// No tokens were used or counted.
    #[default]
    None,
}

/// Cache lookup status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Looked up, not found (and maybe stored after).
    Miss,
    /// Not looked up (not cacheable).
    Bypass,
}

fn is_none_or_null(v: &Option<Value>) -> bool {
    v.as_ref().is_none_or(Value::is_null)
}

// --- constructors ---

impl RequestRecord {
    /// A record for a request with the given ids, answered `200 ok` with nothing else filled in:
    /// set the remaining public fields (struct update syntax works well).
    pub fn new(request_id: impl Into<String>, workflow: WorkflowId, requested: ModelId) -> Self {
        Self {
            request_id: request_id.into(),
            workflow,
            task_id: None,
            step: None,
            route: None,
            requested_model: requested,
            decision: RoutingDecision::default(),
            model: None,
            provider: None,
            status: 200,
            outcome: RequestOutcome::Ok,
            error_kind: None,
            tokens: TokenCounts::default(),
            usage_source: UsageSource::None,
            cost_micros: MicroUsd::ZERO,
            would_have_cost_micros: None,
            baseline_cost_micros: None,
            latency_ms: 0.0,
            upstream_ms: None,
            attempts: 0,
            escalations: Vec::new(),
            cache: None,
            compression: None,
            budget: None,
            prompt_hash: String::new(),
            body: None,
            stream: false,
            client_disconnected: false,
        }
    }
}

impl Default for RoutingDecision {
    /// Tier 0, reason `default`, no score, empty classifier version.
    fn default() -> Self {
        Self {
            tier: Tier(0),
            reason: "default".to_owned(),
            score: None,
            classifier_version: String::new(),
        }
    }
}
