//! What an alert is about ([`AlertKind`]), the alert itself ([`Alert`]), its webhook bodies,
//! its de-duplication key and its ledger record.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::forecast::Forecast;
use super::settings::WebhookFormat;
use crate::ledger::AlertRecord;
use crate::types::{MicroUsd, WorkflowId};

/// Alert kinds. Units of an alert's `threshold`/`value` depend on the kind (see each variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AlertKind {
    /// Spend reached `pct` percent of a budget window. threshold/value: ratios (0.8, 0.83).
    ThresholdCrossed {
        /// The threshold in percent (80, 100, ...).
        pct: u32,
    },
    /// A task reached its step (request) limit. threshold/value: step counts.
    StepLimitHit,
    /// The month-end forecast's lower bound exceeds the monthly budget. threshold/value:
    /// micro-dollars (limit, lower bound).
    ForecastOverrun,
    /// Cost per completed task jumped over its trailing level. threshold/value: micro-dollars.
    CostPerTaskJump,
    /// A request was refused because the budget could not cover it. threshold/value:
    /// micro-dollars (remaining, needed).
    BudgetDenied,
    /// The escalation rate spiked. threshold/value: ratios.
    EscalationSpike,
}

/// One alert, ready to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Workflow the alert is about.
    pub workflow: WorkflowId,
    /// What happened.
    #[serde(flatten)]
    pub kind: AlertKind,
    /// The period it is about (`2026-11` for a month, `2026-11-25` for a day, a task id).
    /// Part of the de-duplication key.
    pub window: String,
    /// The threshold crossed (unit: see [`AlertKind`]).
    pub threshold: f64,
    /// The observed value (same unit).
    pub value: f64,
    /// Human-readable text.
    pub message: String,
}

/// Thresholds (percent of `limit`) that spend crossed going from `before` to `after`, in
/// ascending order: call after each budget commit and raise
/// [`Alert::threshold_crossed`] for each. A zero or negative limit crosses nothing.
pub fn crossed_thresholds(
    before: MicroUsd,
    after: MicroUsd,
    limit: MicroUsd,
    thresholds_pct: &[u32],
) -> Vec<u32> {
    if limit.0 <= 0 {
        return Vec::new();
    }
    // spend >= pct% of limit  <=>  spend * 100 >= pct * limit (exact in i128).
    let reached = |spend: MicroUsd, pct: u32| {
        i128::from(spend.0) * 100 >= i128::from(pct) * i128::from(limit.0)
    };
    let mut out: Vec<u32> = thresholds_pct
        .iter()
        .copied()
        .filter(|&p| !reached(before, p) && reached(after, p))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

// --- AlertKind ---

impl AlertKind {
    /// The snake_case name (`threshold_crossed`, ...), also the `kind` label of
    /// `purser_alerts_total` and `alert_kind` in the ledger.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::ThresholdCrossed { .. } => "threshold_crossed",
            AlertKind::StepLimitHit => "step_limit_hit",
            AlertKind::ForecastOverrun => "forecast_overrun",
            AlertKind::CostPerTaskJump => "cost_per_task_jump",
            AlertKind::BudgetDenied => "budget_denied",
            AlertKind::EscalationSpike => "escalation_spike",
        }
    }
}

// --- Alert ---

impl Alert {
    /// Spend of `window` reached `pct`% of `limit`.
    pub fn threshold_crossed(
        workflow: WorkflowId,
        window: &str,
        pct: u32,
        spent: MicroUsd,
        limit: MicroUsd,
    ) -> Alert {
        let ratio = if limit.0 > 0 {
            spent.0 as f64 / limit.0 as f64
        } else {
            0.0
        };
        Alert {
            message: format!(
                "Purser: workflow `{workflow}` spent ${spent} of its ${limit} budget for {window} ({:.1}%, threshold {pct}%)",
                ratio * 100.0
            ),
            workflow,
            kind: AlertKind::ThresholdCrossed { pct },
            window: window.to_owned(),
            threshold: f64::from(pct) / 100.0,
            value: ratio,
        }
    }

    /// The forecast's lower bound for `month` exceeds `limit`.
    pub fn forecast_overrun(
        workflow: WorkflowId,
        month: &str,
        forecast: &Forecast,
        limit: MicroUsd,
    ) -> Alert {
        Alert {
            message: format!(
                "Purser: workflow `{workflow}` is projected to spend ${} in {month} (at least ${}, at most ${}), over its ${limit} budget",
                forecast.point_usd, forecast.lower_usd, forecast.upper_usd
            ),
            workflow,
            kind: AlertKind::ForecastOverrun,
            window: month.to_owned(),
            threshold: limit.0 as f64,
            value: forecast.lower_usd.0 as f64,
        }
    }

    /// A request needing `needed` was refused with `remaining` left in `window`.
    pub fn budget_denied(
        workflow: WorkflowId,
        window: &str,
        needed: MicroUsd,
        remaining: MicroUsd,
    ) -> Alert {
        Alert {
            message: format!(
                "Purser: workflow `{workflow}` refused a request needing ${needed}; ${remaining} left for {window}"
            ),
            workflow,
            kind: AlertKind::BudgetDenied,
            window: window.to_owned(),
            threshold: remaining.0 as f64,
            value: needed.0 as f64,
        }
    }

    /// Task `task_id` reached `limit` steps.
    pub fn step_limit_hit(workflow: WorkflowId, task_id: &str, limit: u32, steps: u32) -> Alert {
        Alert {
            message: format!(
                "Purser: task `{task_id}` of workflow `{workflow}` hit its step limit ({steps} of {limit})"
            ),
            workflow,
            kind: AlertKind::StepLimitHit,
            window: task_id.to_owned(),
            threshold: f64::from(limit),
            value: f64::from(steps),
        }
    }

    /// Cost per completed task in `window` is over `level` (its trailing level × factor).
    pub fn cost_per_task_jump(
        workflow: WorkflowId,
        window: &str,
        level: MicroUsd,
        current: MicroUsd,
    ) -> Alert {
        Alert {
            message: format!(
                "Purser: workflow `{workflow}` cost per completed task is ${current} in {window}, over its alert level ${level}"
            ),
            workflow,
            kind: AlertKind::CostPerTaskJump,
            window: window.to_owned(),
            threshold: level.0 as f64,
            value: current.0 as f64,
        }
    }

    /// Key for de-duplication: workflow, kind (with its parameters), window and threshold.
    pub(crate) fn dedupe_key(&self) -> String {
        format!(
            "{}\u{1f}{:?}\u{1f}{}\u{1f}{}",
            self.workflow, self.kind, self.window, self.threshold
        )
    }

    /// The webhook body in `format`.
    pub fn webhook_body(&self, format: WebhookFormat) -> Value {
        match format {
            WebhookFormat::Slack => json!({ "text": self.message }),
            WebhookFormat::Generic => json!({
                "source": "purser",
                "workflow": self.workflow,
                "kind": self.kind.name(),
                "detail": self.kind,
                "window": self.window,
                "threshold": self.threshold,
                "value": self.value,
                "message": self.message,
            }),
        }
    }

    /// The ledger record of this alert, delivered to `delivered_to` (e.g. `webhook:ops`).
    pub fn to_record(&self, delivered_to: Vec<String>) -> AlertRecord {
        AlertRecord {
            workflow: self.workflow.clone(),
            alert_kind: self.kind.name().to_owned(),
            threshold: self.threshold,
            value: self.value,
            message: self.message.clone(),
            delivered_to,
        }
    }
}
