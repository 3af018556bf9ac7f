//! Task outcomes for reports: which tasks ended in the window, how, and what they cost.
//!
//! Rules: the first outcome record per (workflow, task id) wins (the gateway's idle-timeout
//! `abandoned` record and a later client verdict never both count); a task with no outcome
//! whose last request is at least `abandon_after` before "as of" counts as abandoned at
//! `last request + abandon_after`; a task is in the window when its end time is.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::ledger::TaskStatus;
use crate::types::{MicroUsd, WorkflowId};

/// Everything seen about one task.
#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    /// Sum of the cost of all its requests (whole ledger, not just the window).
    pub(crate) spend: MicroUsd,
    /// Time of its latest request.
    pub(crate) last_request: Option<DateTime<Utc>>,
    /// Row key of its latest request (for model/route grouping).
    pub(crate) last_key: Option<String>,
    /// First outcome seen: status and record time.
    pub(crate) outcome: Option<(TaskStatus, DateTime<Utc>)>,
}

/// Tasks keyed by (workflow, task id).
#[derive(Debug, Default)]
pub(crate) struct TaskBook {
    tasks: HashMap<(WorkflowId, String), TaskState>,
}

/// A task that ended: its status, end time, spend and the key of its last request.
#[derive(Debug, Clone)]
pub(crate) struct EndedTask<'a> {
    pub(crate) workflow: &'a WorkflowId,
    pub(crate) status: TaskStatus,
    pub(crate) ended: DateTime<Utc>,
    pub(crate) spend: MicroUsd,
    pub(crate) last_key: Option<&'a str>,
}

// --- TaskBook ---

impl TaskBook {
    /// Adds a request of a task.
    pub(crate) fn observe_request(
        &mut self,
        id: (WorkflowId, String),
        ts: DateTime<Utc>,
        cost: MicroUsd,
        key: String,
    ) {
        let t = self.tasks.entry(id).or_insert_with(TaskState::empty);
        t.spend = t.spend.saturating_add(cost);
        if t.last_request.is_none_or(|l| ts >= l) {
            t.last_request = Some(ts);
            t.last_key = Some(key);
        }
    }

    /// Records an outcome; ignored when the task already has one (first wins).
    pub(crate) fn observe_outcome(
        &mut self,
        id: (WorkflowId, String),
        status: TaskStatus,
        ts: DateTime<Utc>,
    ) {
        let t = self.tasks.entry(id).or_insert_with(TaskState::empty);
        if t.outcome.is_none() {
            t.outcome = Some((status, ts));
        }
    }

    /// Tasks that ended by `as_of` (explicitly, or idle for `abandon_after`).
    pub(crate) fn ended(
        &self,
        as_of: DateTime<Utc>,
        abandon_after: chrono::Duration,
    ) -> impl Iterator<Item = EndedTask<'_>> {
        self.tasks.iter().filter_map(move |((workflow, _), t)| {
            let (status, ended) = match (t.outcome, t.last_request) {
                (Some(o), _) => o,
                (None, Some(last)) => {
                    let idle_end = last.checked_add_signed(abandon_after)?;
                    (idle_end <= as_of).then_some((TaskStatus::Abandoned, idle_end))?
                }
                (None, None) => return None,
            };
            Some(EndedTask {
                workflow,
                status,
                ended,
                spend: t.spend,
                last_key: t.last_key.as_deref(),
            })
        })
    }
}

// --- TaskState ---

impl TaskState {
    fn empty() -> Self {
        Self {
            spend: MicroUsd::ZERO,
            last_request: None,
            last_key: None,
            outcome: None,
        }
    }
}
