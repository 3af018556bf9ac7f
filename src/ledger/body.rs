//! Record bodies: what a request, an upstream attempt, a task outcome, an alert or an admin
//! action leaves in the ledger. Plain data; `None`/empty fields are omitted from the JSON.
//!
//! Enums that other modules own the meaning of (failure kinds, error kinds, alert kinds) are
//! stored as snake_case strings: this module may not depend on `upstream`, `budget` or `proxy`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{lenient_f64, ts_micros};
use crate::types::{MicroUsd, ModelId, Tier, Tokens, WorkflowId};

/// One gateway request (exactly one per request: cache hits, errors and escalations included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Gateway request id (also sent to the client).
    pub request_id: String,
    /// Workflow (cost envelope) the request was charged to.
    pub workflow: WorkflowId,
    /// Client task id, when the client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Client step name within the task, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Route (routing table entry) used, when routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The `model` field the client asked for.
    pub requested_model: ModelId,
    /// What the router decided and why.
    pub decision: RoutingDecision,
    /// The model that produced the answer (none for errors before any answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelId>,
    /// Provider of the answering model (none when no upstream answered, e.g. budget denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// HTTP status returned to the client.
    pub status: u16,
    /// How the request ended.
    pub outcome: RequestOutcome,
    /// The proxy's error kind label (snake_case), for failed requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Tokens billed for the answer.
    #[serde(default)]
    pub tokens: TokenCounts,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
    /// What this request cost (all attempts).
    pub cost_micros: MicroUsd,
    /// For cache hits: what the request would have cost upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_have_cost_micros: Option<MicroUsd>,
    /// What the request would have cost on the strongest tier ("baseline" for savings reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_cost_micros: Option<MicroUsd>,
    /// Wall time in the gateway, milliseconds.
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub latency_ms: f64,
    /// Time spent waiting on upstreams, milliseconds (none when no upstream was called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<f64>,
    /// Number of upstream attempts (0 for cache hits and denials).
    pub attempts: u32,
    /// Escalation reasons, in order (snake_case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<String>,
    /// Cache lookup result, when the cache was consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheInfo>,
    /// Context compression, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionInfo>,
    /// Budget reservation and settlement, when a budget applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetInfo>,
    /// Hex sha256 of the canonical messages.
    pub prompt_hash: String,
    /// Redacted request/response, only when `store_bodies = "redacted"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Whether the client asked for a streamed response.
    #[serde(default)]
    pub stream: bool,
    /// Whether the client went away before the response was complete.
    #[serde(default)]
    pub client_disconnected: bool,
}

/// The router's decision for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Tier chosen first (0 = cheapest).
    pub tier: Tier,
    /// Why (snake_case reason, e.g. `classifier`, `pinned_model`, `rule:long_context`).
    pub reason: String,
    /// Classifier difficulty score, when the classifier ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Version of the classifier (or routing table) that decided.
    pub classifier_version: String,
}

/// Token counts of a request or attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Prompt tokens.
    pub input: Tokens,
    /// Completion tokens.
    pub output: Tokens,
    /// Prompt tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cached_input: Tokens,
}

/// Cache lookup result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// Hit, miss or bypass.
    pub status: CacheStatus,
    /// Why (e.g. `non_deterministic`, `no_store_header`), when there is a reason to give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Context compression summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressionInfo {
    /// Prompt tokens before compression.
    pub tokens_before: Tokens,
    /// Prompt tokens after compression.
    pub tokens_after: Tokens,
    /// Money saved by sending fewer tokens, at the answering model's price.
    pub saved_micros: MicroUsd,
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

/// One upstream attempt of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Request the attempt belongs to.
    pub request_id: String,
    /// 1-based attempt number within the request.
    pub attempt_no: u32,
    /// Provider name from config.
    pub provider: String,
    /// Model called.
    pub model: ModelId,
    /// When the attempt started (stored at µs precision).
    #[serde(with = "ts_micros")]
    pub started: DateTime<Utc>,
    /// Attempt duration, milliseconds.
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub latency_ms: f64,
    /// How the attempt ended.
    pub outcome: AttemptOutcome,
    /// `upstream::FailureKind` in snake_case, for failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// Upstream HTTP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Tokens billed for this attempt.
    #[serde(default)]
    pub tokens: TokenCounts,
    /// What this attempt cost.
    pub cost_micros: MicroUsd,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
    /// Why the next attempt escalated away from this one, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_reason: Option<String>,
}

/// How an upstream attempt ended. Unknown values read as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The upstream answered.
    Ok,
    /// The upstream failed (see `failure_kind`).
    Failed,
    /// The attempt was abandoned (client gone, hedged attempt lost).
    Cancelled,
    /// A value this version does not know.
    #[serde(other)]
    Other,
}

/// The end of a client task (a multi-request workflow run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcomeRecord {
    /// Workflow of the task.
    pub workflow: WorkflowId,
    /// Client task id.
    pub task_id: String,
    /// How the task ended.
    pub status: TaskStatus,
    /// Client-reported quality in [0, 1], when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Who reported the outcome.
    pub source: OutcomeSource,
}

/// Task end state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The task succeeded.
    Completed,
    /// The task failed.
    Failed,
    /// The task stopped without a verdict.
    Abandoned,
}

/// Who reported a task outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// The client, through the outcome endpoint.
    Client,
    /// The gateway, after the task went idle.
    IdleTimeout,
}

/// A budget or cost alert that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Workflow the alert is about.
    pub workflow: WorkflowId,
    /// Alert kind as named by the budget module (snake_case).
    pub alert_kind: String,
    /// Threshold crossed (unit given by `alert_kind`: a ratio or micro-dollars).
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub threshold: f64,
    /// Observed value, same unit as `threshold`.
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub value: f64,
    /// Human-readable text as delivered.
    pub message: String,
    /// Sinks the alert was delivered to (e.g. `log`, `webhook:ops`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered_to: Vec<String>,
}

/// An administrative action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    /// What was done.
    pub action: AdminAction,
    /// Workflow affected, when the action is scoped to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowId>,
    /// Who did it (admin token name, `sighup`, ...; never a secret).
    pub actor: String,
    /// Free-form detail (e.g. number of cache entries purged).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Administrative actions. Unknown values read as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    /// Kill switch turned on (requests refused).
    KillSwitchOn,
    /// Kill switch turned off.
    KillSwitchOff,
    /// Cache entries purged.
    CachePurge,
    /// Configuration reloaded.
    ConfigReload,
    /// A budget limit changed or was reset by an admin.
    BudgetOverride,
    /// A value this version does not know.
    #[serde(other)]
    Other,
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

impl AttemptRecord {
    /// A successful attempt with zero tokens and cost; fill in the rest.
    pub fn new(
        request_id: impl Into<String>,
        attempt_no: u32,
        provider: impl Into<String>,
        model: ModelId,
        started: DateTime<Utc>,
    ) -> Self {
        Self {
            request_id: request_id.into(),
            attempt_no,
            provider: provider.into(),
            model,
            started,
            latency_ms: 0.0,
            outcome: AttemptOutcome::Ok,
            failure_kind: None,
            http_status: None,
            tokens: TokenCounts::default(),
            cost_micros: MicroUsd::ZERO,
            usage_source: UsageSource::None,
            escalation_reason: None,
        }
    }
}

impl AdminRecord {
    /// An action by `actor` with no workflow scope and no detail.
    pub fn new(action: AdminAction, actor: impl Into<String>) -> Self {
        Self {
            action,
            workflow: None,
            actor: actor.into(),
            detail: String::new(),
        }
    }
}
