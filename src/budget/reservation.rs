//! Value types of the reserve / settle / release protocol: requests, reservations, denials,
//! threshold crossings and remaining-budget views. No store logic here.

use std::fmt;

use chrono::{DateTime, Utc};

use super::check::limits_of;
use super::settings::Envelope;
use super::window::WindowKeys;
use crate::types::{MicroUsd, WorkflowId};

/// Which limit a denial or threshold refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// The per-task budget.
    Task,
    /// The UTC-day budget.
    Daily,
    /// The UTC-calendar-month budget.
    Monthly,
    /// The per-task step (model call) limit.
    Steps,
}

/// A reservation request. `estimate` should be a worst-case estimate (`estimate_worst_case`)
/// so that actual cost never exceeds it.
#[derive(Debug, Clone, Copy)]
pub struct ReserveRequest<'a> {
    /// Budget bucket.
    pub workflow: &'a WorkflowId,
    /// Task id (`x-purser-task-id`), if the request belongs to a task.
    pub task_id: Option<&'a str>,
    /// Worst-case cost of the request as routed.
    pub estimate: MicroUsd,
    /// Worst-case cost at the cheapest tier; used when `on_limit = "downgrade"`.
    pub downgrade_estimate: Option<MicroUsd>,
    /// Current time; picks the day and month windows (UTC).
    pub now: DateTime<Utc>,
    /// The envelope snapshot this request runs under.
    pub envelope: &'a Envelope,
}

/// A refusal: reserving would exceed `limit`. For `LimitKind::Steps` the `*_micros` fields hold
/// step counts, not money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("budget exceeded for workflow {workflow}: {}", self.code())]
pub struct Denial {
    /// Workflow whose budget was hit.
    pub workflow: WorkflowId,
    /// Which limit.
    pub limit: LimitKind,
    /// The limit.
    pub limit_micros: i64,
    /// Settled spend in the window.
    pub spent_micros: i64,
    /// Reserved (in flight) in the window.
    pub reserved_micros: i64,
    /// What this request asked for.
    pub requested_micros: i64,
    /// `limit - spent - reserved`, never negative.
    pub remaining_micros: i64,
}

/// A soft threshold newly crossed in one window; reported once per (workflow, window, threshold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdCrossed {
    /// Workflow.
    pub workflow: WorkflowId,
    /// `Task`, `Daily` or `Monthly`.
    pub limit: LimitKind,
    /// Window label: `"2026-11"`, `"2026-11-25"` or the task id.
    pub window: String,
    /// Threshold in basis points of the budget (8000 = 80%).
    pub threshold_bps: u32,
    /// The budget.
    pub limit_micros: i64,
    /// Spent plus reserved after the operation that crossed it.
    pub exposure_micros: i64,
}

/// Money held against the budgets of one request. Not `Clone`: it is consumed exactly once by
/// `settle` or `release` (or by a `ReservationGuard` drop).
#[derive(Debug)]
pub struct Reservation {
    pub(crate) id: String,
    pub(crate) workflow: WorkflowId,
    pub(crate) task_id: Option<String>,
    pub(crate) amount: MicroUsd,
    pub(crate) keys: WindowKeys,
    pub(crate) limits: Limits,
    pub(crate) thresholds_bps: Vec<u32>,
    pub(crate) downgrade_required: bool,
    pub(crate) over_limit: Vec<Denial>,
    pub(crate) crossed: Vec<ThresholdCrossed>,
}

/// Money limits copied from the envelope at reserve time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) task: Option<i64>,
    pub(crate) daily: Option<i64>,
    pub(crate) monthly: Option<i64>,
}

/// Budget state of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStatus {
    /// The budget.
    pub limit: MicroUsd,
    /// Settled spend.
    pub spent: MicroUsd,
    /// In-flight reservations.
    pub reserved: MicroUsd,
}

/// Remaining budget of a workflow (and task), for response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Task window, when a task id and a per-task budget apply.
    pub task: Option<WindowStatus>,
    /// Today's window, when a daily budget applies.
    pub daily: Option<WindowStatus>,
    /// This month's window, when a monthly budget applies.
    pub monthly: Option<WindowStatus>,
}

// --- LimitKind ---

impl LimitKind {
    /// Stable lowercase name: `task`, `daily`, `monthly`, `steps`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Task => "task",
            LimitKind::Daily => "daily",
            LimitKind::Monthly => "monthly",
            LimitKind::Steps => "steps",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// --- Denial ---

impl Denial {
    /// Error code for the OpenAI error body: `"budget_exceeded:monthly"` etc.
    pub fn code(&self) -> String {
        format!("budget_exceeded:{}", self.limit.as_str())
    }
}

// --- Reservation ---

impl Reservation {
    /// Unique id of this reservation.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Budget bucket.
    pub fn workflow(&self) -> &WorkflowId {
        &self.workflow
    }
    /// Task id, if any.
    pub fn task_id(&self) -> Option<&str> {
        self.task_id.as_deref()
    }
    /// Money held (the estimate, or the downgrade estimate when downgraded).
    pub fn amount(&self) -> MicroUsd {
        self.amount
    }
    /// The router must force the cheapest tier: only the downgrade estimate fitted.
    pub fn is_downgrade_required(&self) -> bool {
        self.downgrade_required
    }
    /// With `on_limit = "alert_only"`: the limits this reservation exceeded (empty otherwise).
    pub fn over_limit(&self) -> &[Denial] {
        &self.over_limit
    }
    /// Thresholds newly crossed by this reservation; taking them leaves the list empty.
    pub fn take_thresholds_crossed(&mut self) -> Vec<ThresholdCrossed> {
        std::mem::take(&mut self.crossed)
    }
}

impl Reservation {
    /// A reservation of the full estimate with nothing decided yet; stores fill in the rest.
    pub(crate) fn pending(req: &ReserveRequest<'_>, id: String) -> Self {
        Self {
            id,
            workflow: req.workflow.clone(),
            task_id: req.task_id.map(str::to_owned),
            amount: MicroUsd(req.estimate.0.max(0)),
            keys: WindowKeys::at(req.workflow.as_str(), req.task_id, req.now),
            limits: limits_of(req),
            thresholds_bps: req.envelope.thresholds_bps.clone(),
            downgrade_required: false,
            over_limit: Vec::new(),
            crossed: Vec::new(),
        }
    }
}

// --- WindowStatus / Remaining ---

impl WindowStatus {
    /// `limit - spent - reserved`, floored at zero.
    pub fn remaining(&self) -> MicroUsd {
        let left = self
            .limit
            .saturating_sub(self.spent)
            .saturating_sub(self.reserved);
        MicroUsd(left.0.max(0))
    }
}

impl Remaining {
    /// The smallest remaining amount over all limited windows; `None` when nothing is limited.
    pub fn min_remaining(&self) -> Option<MicroUsd> {
        [self.task, self.daily, self.monthly]
            .iter()
            .flatten()
            .map(WindowStatus::remaining)
            .min()
    }
    /// Response headers: `x-purser-budget-remaining-usd` (the minimum) plus one per window
    /// (`-task-usd`, `-daily-usd`, `-monthly-usd`). Values are dollar strings with 6 decimals.
    pub fn header_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(m) = self.min_remaining() {
            out.push(("x-purser-budget-remaining-usd", m.to_usd_string()));
        }
        let per = [
            ("x-purser-budget-remaining-task-usd", self.task),
            ("x-purser-budget-remaining-daily-usd", self.daily),
            ("x-purser-budget-remaining-monthly-usd", self.monthly),
        ];
        for (name, w) in per {
            if let Some(w) = w {
                out.push((name, w.remaining().to_usd_string()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_code_names_the_limit() {
        let d = Denial {
            workflow: WorkflowId("w".into()),
            limit: LimitKind::Monthly,
            limit_micros: 10,
            spent_micros: 9,
            reserved_micros: 0,
            requested_micros: 5,
            remaining_micros: 1,
        };
        assert_eq!(d.code(), "budget_exceeded:monthly");
        assert!(d.to_string().contains("budget_exceeded:monthly"));
    }

    #[test]
    fn remaining_headers_report_minimum_and_floor_at_zero() {
        let r = Remaining {
            task: None,
            daily: Some(WindowStatus {
                limit: MicroUsd(5_000_000),
                spent: MicroUsd(1_000_000),
                reserved: MicroUsd(500_000),
            }),
            monthly: Some(WindowStatus {
                limit: MicroUsd(1_000_000),
                spent: MicroUsd(2_000_000),
                reserved: MicroUsd(0),
            }),
        };
        assert_eq!(r.min_remaining(), Some(MicroUsd(0)));
        let h = r.header_values();
        assert_eq!(h[0], ("x-purser-budget-remaining-usd", "0.000000".into()));
        assert!(h.contains(&("x-purser-budget-remaining-daily-usd", "3.500000".into())));
        assert_eq!(Remaining::default().header_values(), vec![]);
    }
}
