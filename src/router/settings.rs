//! Routing table file schema (`routes/*.toml`) and per-workflow routing overrides.
//! Raw serde structs only; `RoutingTable::try_new` validates them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::ModelId;

/// The router's view of a routes file: its `[[route]]` tables. Other top-level tables
/// (`[workflow.*]`: budgets, keys, cache, and `routing` = [`WorkflowRouting`]) belong to the
/// config schema, so they are ignored here; each route itself denies unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutesFile {
    /// Routes, looked up by name.
    #[serde(default)]
    pub route: Vec<RouteSettings>,
}

/// One route (a virtual model name such as `purser/auto`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Name clients put in `model`.
    pub name: String,
    /// Tiers from cheapest to strongest (2 or more); each lists models, first = primary, rest =
    /// fallbacks in order.
    pub tiers: Vec<Vec<ModelId>>,
    /// Classifier artifact, relative to the routes folder.
    pub classifier: String,
    /// One threshold per tier boundary, ascending: score ≥ `thresholds[i]` leaves tier `i`.
    pub thresholds: Vec<f64>,
    /// Route once, or try cheap first and escalate on a bad answer.
    #[serde(default)]
    pub mode: RouteMode,
    /// Upstream attempts per request, escalations and fallbacks included.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Scores within this distance below a threshold go to the stronger tier.
    #[serde(default)]
    pub conservative_margin: f64,
    /// What cascade mode does with `stream: true` requests.
    #[serde(default)]
    pub stream_cascade: StreamCascade,
    /// Answer checks used in cascade mode.
    #[serde(default)]
    pub escalation: EscalationSettings,
}

/// Route or cascade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteMode {
    /// Pick a tier from the classifier and call it (fallbacks only on upstream failure).
    #[default]
    Route,
    /// Start at the routed tier and escalate when `Escalation::judge` rejects the answer.
    Cascade,
}

/// Cascade behaviour for streaming requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamCascade {
    /// Buffer the cheap answer, judge it, then stream the accepted one.
    #[default]
    Hold,
    /// Do not cascade streams: route once.
    RouteOnly,
}

/// One answer check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationCheck {
    /// `finish_reason = "length"`.
    Length,
    /// Empty content or a refusal.
    Refusal,
    /// JSON that does not validate against `response_format` or a tool's parameters.
    Schema,
    /// Mean token logprob below `min_mean_logprob`.
    Logprob,
    /// Wrong `<<a*b=c>>` annotations or "a op b = c" statements.
    Arithmetic,
    /// Learned verifier score above `verifier_threshold`.
    Verifier,
}

/// Cascade answer checks and their thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationSettings {
    /// Checks to run, in order; the first that fails decides.
    #[serde(default = "all_checks")]
    pub checks: Vec<EscalationCheck>,
    /// Escalate when the mean token logprob is below this.
    #[serde(default = "default_logprob")]
    pub min_mean_logprob: f64,
    /// Escalate when the verifier's P(answer wrong) is above this.
    #[serde(default = "default_verifier")]
    pub verifier_threshold: f64,
}

/// Per-workflow routing overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRouting {
    /// Always use this model.
    #[serde(default)]
    pub pin: Option<ModelId>,
    /// Tier indexes (0 = cheapest) this workflow may not use.
    #[serde(default)]
    pub forbid_tiers: Vec<u8>,
    /// `x-purser-step` value → tier index (e.g. `plan = 1`, `execute = 0`).
    #[serde(default)]
    pub step_tiers: BTreeMap<String, u8>,
    /// Emergency override, set by an operator.
    #[serde(default)]
    pub kill_switch: Option<KillSwitch>,
}

/// Operator kill switch for a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitch {
    /// Pin every request to `model`, or stop routing (requests fail).
    pub mode: KillSwitchMode,
    /// The model for `mode = "pin"`.
    #[serde(default)]
    pub model: Option<ModelId>,
    /// Who set it.
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: chrono::DateTime<chrono::Utc>,
}

/// Kill switch action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillSwitchMode {
    /// Send everything to one model.
    Pin,
    /// Refuse to route.
    Stop,
}

/// Budget state passed in by the budget stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPressure {
    /// Route normally.
    #[default]
    Normal,
    /// The workflow is near its envelope: use the cheapest allowed tier.
    ForceCheapest,
}

fn default_attempts() -> u32 {
    2
}

fn all_checks() -> Vec<EscalationCheck> {
    vec![
        EscalationCheck::Length,
        EscalationCheck::Refusal,
        EscalationCheck::Schema,
        EscalationCheck::Logprob,
        EscalationCheck::Arithmetic,
        EscalationCheck::Verifier,
    ]
}

fn default_logprob() -> f64 {
    -1.0
}

fn default_verifier() -> f64 {
    0.5
}

impl Default for EscalationSettings {
    fn default() -> Self {
        EscalationSettings {
            checks: all_checks(),
            min_mean_logprob: default_logprob(),
            verifier_threshold: default_verifier(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_file_parses_and_rejects_unknown_keys() {
        let text = r#"
            [[route]]
            name = "purser/auto"
            tiers = [["cheap-a", "cheap-b"], ["strong-a"]]
            classifier = "models/router-v1.json.gz"
            thresholds = [0.4]
            mode = "cascade"
            stream_cascade = "route_only"

            [workflow.support]
            budget = { monthly = "5.00" }
        "#;
        let f: RoutesFile = toml::from_str(text).unwrap();
        assert_eq!(f.route[0].mode, RouteMode::Cascade);
        assert_eq!(f.route[0].max_attempts, 2);
        assert_eq!(f.route[0].stream_cascade, StreamCascade::RouteOnly);
        let w: WorkflowRouting = toml::from_str(
            r#"forbid_tiers = [1]
            step_tiers = { plan = 1 }
            kill_switch = { mode = "pin", model = "cheap-a", set_by = "ops", set_at = "2026-01-01T00:00:00Z" }"#,
        )
        .unwrap();
        assert_eq!(w.kill_switch.as_ref().unwrap().mode, KillSwitchMode::Pin);
        assert!(toml::from_str::<WorkflowRouting>("forbid = [1]").is_err());
        let bad = text.replace("thresholds", "threshold");
        assert!(toml::from_str::<RoutesFile>(&bad).is_err());
    }
}
