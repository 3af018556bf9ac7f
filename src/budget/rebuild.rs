//! Rebuilding budget state at start from spend events the integrator derives from the ledger.
//!
//! Rule: memory state is rebuilt from the ledger on every start. Redis is authoritative when it
//! holds state: `RedisStore::begin_rebuild` claims a per-month marker key with `SET NX`, and only
//! the replica that claims it (i.e. Redis had no state for this month: first start, or Redis lost
//! its data) applies events; everyone else skips, so nothing is counted twice. Within one rebuild
//! events are deduplicated by `request_id`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::{BudgetStore, StoreError};
use crate::types::{MicroUsd, WorkflowId};

/// Events older than this are ignored (they cannot touch a current window or a retained task).
const HORIZON_DAYS: i64 = 62;

/// One past model call, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendEvent {
    /// When the call was settled.
    pub ts: DateTime<Utc>,
    /// Budget bucket.
    pub workflow: WorkflowId,
    /// Task id, if any; each event with a task id counts one step.
    pub task_id: Option<String>,
    /// Actual cost.
    pub cost: MicroUsd,
    /// Request id; duplicates are applied once.
    pub request_id: String,
}

/// Whether a rebuild applies events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildMode {
    /// The store is empty for this period: apply the events.
    Apply,
    /// The store already holds authoritative state: skip the events.
    Skip,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Whether events were applied.
    pub mode: RebuildMode,
    /// Events applied.
    pub applied: u64,
    /// Events dropped as repeated request ids.
    pub duplicates: u64,
    /// Events too old (or in the future) to matter.
    pub out_of_range: u64,
}

/// Rebuilds current day, month and task spend and step counts from `events`. Pass only events
/// of model calls (not cache hits) so that step counts match. A restart inside a month keeps the
/// month's spend because the ledger holds it. Afterwards, replay the ledger's task outcomes with
/// `TaskTracker::record_outcome` (ignoring `OutcomeAlreadyRecorded`), or finished tasks will be
/// swept as abandoned once idle.
///
/// # Errors
/// `StoreError` when the store fails; a partial rebuild may then have been applied.
pub async fn rebuild(
    store: &dyn BudgetStore,
    events: impl Iterator<Item = SpendEvent>,
    now: DateTime<Utc>,
) -> Result<RebuildReport, StoreError> {
    let mode = store.begin_rebuild(now).await?;
    let mut report = RebuildReport {
        mode,
        applied: 0,
        duplicates: 0,
        out_of_range: 0,
    };
    if mode == RebuildMode::Skip {
        return Ok(report);
    }
    let oldest = now - Duration::days(HORIZON_DAYS);
    let mut seen = HashSet::new();
    for ev in events {
        if ev.ts < oldest || ev.ts > now {
            report.out_of_range += 1;
            continue;
        }
        if !seen.insert(ev.request_id.clone()) {
            report.duplicates += 1;
            continue;
        }
        store.apply_spend(&ev, now).await?;
        report.applied += 1;
    }
    Ok(report)
}
