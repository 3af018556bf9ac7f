//! Event bodies other than requests: upstream attempts, task outcomes, alerts, admin actions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::body::{TokenCounts, UsageSource};
use super::chain::{lenient_f64, ts_micros};
use crate::types::{MicroUsd, ModelId, WorkflowId};

/// One upstream attempt of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based attempt number within the request.
    pub attempt_no: u32,
    /// What this attempt cost.
    pub cost_micros: MicroUsd,
    /// Why the next attempt escalated away from this one, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_reason: Option<String>,
    /// `upstream::FailureKind` in snake_case, for failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// Upstream HTTP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Attempt duration, milliseconds.
    #[serde(deserialize_with = "lenient_f64::deserialize")]
    pub latency_ms: f64,
    /// Model called.
    pub model: ModelId,
    /// How the attempt ended.
    pub outcome: AttemptOutcome,
    /// Provider name from config.
    pub provider: String,
    /// Request the attempt belongs to.
    pub request_id: String,
    /// When the attempt started (stored at µs precision).
    #[serde(with = "ts_micros")]
    pub started: DateTime<Utc>,
    /// Tokens billed for this attempt.
    #[serde(default)]
    pub tokens: TokenCounts,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
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
