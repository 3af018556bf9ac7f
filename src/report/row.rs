//! Report rows: integer accumulation per group, then formatting into [`ReportRow`]s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::query::{GroupBy, ReportQuery};
use super::tasks::TaskBook;
use crate::ledger::{
    CacheStatus, LedgerRecord, RecordBody, RequestOutcome, RequestRecord, TaskStatus,
};
use crate::types::{MicroUsd, WorkflowId};

/// Key of requests no model answered / that were not routed.
const NONE_KEY: &str = "(none)";

/// A cost report: one row per group plus a total row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// How rows are keyed.
    pub group_by: GroupBy,
    /// Workflow filter, when one was given.
    pub workflow: Option<WorkflowId>,
    /// Window start (inclusive), when bounded.
    pub from: Option<DateTime<Utc>>,
    /// Window end (exclusive), when bounded.
    pub to: Option<DateTime<Utc>>,
    /// "Now" used for the idle-task rule (`None` when the ledger had no records).
    pub as_of: Option<DateTime<Utc>>,
    /// Rows sorted by key.
    pub rows: Vec<ReportRow>,
    /// Sum of all rows (key `total`).
    pub total: ReportRow,
}

/// One group's figures. Money fields are decimal USD strings with six decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Group key (workflow, model, route or `YYYY-MM-DD`).
    pub key: String,
    /// Spend of the requests in the window.
    pub spend_usd: String,
    /// The same in integer micro-dollars (for reconciliation).
    pub spend_micros: i64,
    /// Requests in the window (every outcome, cache hits and denials included).
    pub requests: u64,
    /// Prompt tokens billed.
    pub tokens_in: u64,
    /// Completion tokens billed.
    pub tokens_out: u64,
    /// Tasks that ended completed in the window.
    pub completed_tasks: u64,
    /// Tasks that ended failed in the window.
    pub failed_tasks: u64,
    /// Tasks abandoned in the window (explicitly or idle past `abandon_after`).
    pub abandoned_tasks: u64,
    /// Whole spend of the tasks that ended in the window (all statuses, all their requests).
    pub task_spend_usd: String,
    /// `task_spend / completed_tasks`, rounded half up to the micro-dollar; `None` with no
    /// completed task.
    pub cost_per_completed_task_usd: Option<String>,
    /// Savings against always using the strongest tier.
    pub savings: Savings,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache lookups (hits plus misses; bypasses excluded).
    pub cache_lookups: u64,
    /// `cache_hits / cache_lookups`; `None` with no lookup.
    pub cache_hit_ratio: Option<f64>,
    /// Requests that escalated at least once.
    pub escalated_requests: u64,
    /// `escalated_requests / requests`; `None` with no request.
    pub escalation_rate: Option<f64>,
}

/// Savings split, decimal USD strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Savings {
    /// Baseline cost minus actual cost of routed, non-cached requests (negative when
    /// escalations cost more than the strong tier would have).
    pub routing_usd: String,
    /// What cache hits would have cost upstream.
    pub cache_usd: String,
    /// Money saved by compression.
    pub compression_usd: String,
    /// Sum of the three.
    pub total_usd: String,
}

/// Integer sums of one group.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowAcc {
    pub(crate) spend: MicroUsd,
    pub(crate) requests: u64,
    pub(crate) tokens_in: u64,
    pub(crate) tokens_out: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) abandoned: u64,
    pub(crate) task_spend: MicroUsd,
    pub(crate) routing_saved: MicroUsd,
    pub(crate) cache_saved: MicroUsd,
    pub(crate) compression_saved: MicroUsd,
    pub(crate) cache_hits: u64,
    pub(crate) cache_lookups: u64,
    pub(crate) escalated: u64,
}

// --- CostReport ---

impl CostReport {
    /// Builds the report from ledger records in file order. Requests count when their `ts` is
    /// in the window; tasks count when they ended in the window (see module `tasks` rules:
    /// first outcome wins, idle tasks are abandoned at `last request + abandon_after`).
    /// Attempt, alert and admin records are ignored. Never fails; never reads the clock.
    pub fn from_records(
        records: impl IntoIterator<Item = LedgerRecord>,
        query: &ReportQuery,
    ) -> CostReport {
        let mut groups: BTreeMap<String, RowAcc> = BTreeMap::new();
        let mut tasks = TaskBook::default();
        let mut latest: Option<DateTime<Utc>> = None;
        for rec in records {
            latest = latest.max(Some(rec.ts));
            match rec.body {
                RecordBody::Request(r) if query.accepts_workflow(&r.workflow) => {
                    let key = request_key(query.group_by, rec.ts, &r);
                    if query.contains(rec.ts) {
                        groups.entry(key.clone()).or_default().add_request(&r);
                    }
                    if let Some(task) = r.task_id.clone() {
                        tasks.observe_request((r.workflow, task), rec.ts, r.cost_micros, key);
                    }
                }
                RecordBody::TaskOutcome(t) if query.accepts_workflow(&t.workflow) => {
                    tasks.observe_outcome((t.workflow, t.task_id), t.status, rec.ts);
                }
                _ => {}
            }
        }
        let as_of = query.as_of.or(latest);
        if let Some(now) = as_of {
            for t in tasks.ended(now, query.abandon_after) {
                if !query.contains(t.ended) {
                    continue;
                }
                let key = match query.group_by {
                    GroupBy::Workflow => t.workflow.0.clone(),
                    GroupBy::Day => day_key(t.ended),
                    GroupBy::Model | GroupBy::Route => t.last_key.unwrap_or(NONE_KEY).to_owned(),
                };
                groups.entry(key).or_default().add_task(t.status, t.spend);
            }
        }
        let total = groups.values().fold(RowAcc::default(), |a, b| a.merge(b));
        CostReport {
            group_by: query.group_by,
            workflow: query.workflow.clone(),
            from: query.from,
            to: query.to,
            as_of,
            rows: groups.iter().map(|(k, acc)| acc.to_row(k)).collect(),
            total: total.to_row("total"),
        }
    }

    /// The row with this key, if any.
    pub fn row(&self, key: &str) -> Option<&ReportRow> {
        self.rows.iter().find(|r| r.key == key)
    }
}

fn request_key(group_by: GroupBy, ts: DateTime<Utc>, r: &RequestRecord) -> String {
    match group_by {
        GroupBy::Workflow => r.workflow.0.clone(),
        GroupBy::Model => r.model.as_ref().map_or(NONE_KEY, |m| m.as_str()).to_owned(),
        GroupBy::Route => r.route.as_deref().unwrap_or(NONE_KEY).to_owned(),
        GroupBy::Day => day_key(ts),
    }
}

fn day_key(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d").to_string()
}

// --- RowAcc ---

impl RowAcc {
    fn add_request(&mut self, r: &RequestRecord) {
        self.spend = self.spend.saturating_add(r.cost_micros);
        self.requests += 1;
        self.tokens_in = self.tokens_in.saturating_add(r.tokens.input.0);
        self.tokens_out = self.tokens_out.saturating_add(r.tokens.output.0);
        let status = r.cache.as_ref().map(|c| c.status);
        let hit = status == Some(CacheStatus::Hit) || r.outcome == RequestOutcome::CacheHit;
        if hit {
            self.cache_hits += 1;
            let would = r.would_have_cost_micros.unwrap_or(MicroUsd::ZERO);
            self.cache_saved = self.cache_saved.saturating_add(would);
        }
        if hit || status == Some(CacheStatus::Miss) {
            self.cache_lookups += 1;
        }
        if let (false, Some(_), Some(base)) = (hit, &r.route, r.baseline_cost_micros) {
            let saved = base.saturating_sub(r.cost_micros);
            self.routing_saved = self.routing_saved.saturating_add(saved);
        }
        if let Some(c) = &r.compression {
            self.compression_saved = self.compression_saved.saturating_add(c.saved_micros);
        }
        if !r.escalations.is_empty() {
            self.escalated += 1;
        }
    }

    fn add_task(&mut self, status: TaskStatus, spend: MicroUsd) {
        match status {
            TaskStatus::Completed => self.completed += 1,
            TaskStatus::Failed => self.failed += 1,
            TaskStatus::Abandoned => self.abandoned += 1,
        }
        self.task_spend = self.task_spend.saturating_add(spend);
    }

    pub(crate) fn merge(self, o: &RowAcc) -> RowAcc {
        RowAcc {
            spend: self.spend.saturating_add(o.spend),
            requests: self.requests + o.requests,
            tokens_in: self.tokens_in.saturating_add(o.tokens_in),
            tokens_out: self.tokens_out.saturating_add(o.tokens_out),
            completed: self.completed + o.completed,
            failed: self.failed + o.failed,
            abandoned: self.abandoned + o.abandoned,
            task_spend: self.task_spend.saturating_add(o.task_spend),
            routing_saved: self.routing_saved.saturating_add(o.routing_saved),
            cache_saved: self.cache_saved.saturating_add(o.cache_saved),
            compression_saved: self.compression_saved.saturating_add(o.compression_saved),
            cache_hits: self.cache_hits + o.cache_hits,
            cache_lookups: self.cache_lookups + o.cache_lookups,
            escalated: self.escalated + o.escalated,
        }
    }

    pub(crate) fn to_row(self, key: &str) -> ReportRow {
        let total_saved = self
            .routing_saved
            .saturating_add(self.cache_saved)
            .saturating_add(self.compression_saved);
        ReportRow {
            key: key.to_owned(),
            spend_usd: self.spend.to_usd_string(),
            spend_micros: self.spend.0,
            requests: self.requests,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            completed_tasks: self.completed,
            failed_tasks: self.failed,
            abandoned_tasks: self.abandoned,
            task_spend_usd: self.task_spend.to_usd_string(),
            cost_per_completed_task_usd: per_task(self.task_spend, self.completed)
                .map(MicroUsd::to_usd_string),
            savings: Savings {
                routing_usd: self.routing_saved.to_usd_string(),
                cache_usd: self.cache_saved.to_usd_string(),
                compression_usd: self.compression_saved.to_usd_string(),
                total_usd: total_saved.to_usd_string(),
            },
            cache_hits: self.cache_hits,
            cache_lookups: self.cache_lookups,
            cache_hit_ratio: ratio(self.cache_hits, self.cache_lookups),
            escalated_requests: self.escalated,
            escalation_rate: ratio(self.escalated, self.requests),
        }
    }
}

/// `spend / n` rounded half away from zero, in micro-dollars; `None` when `n == 0`.
pub(crate) fn per_task(spend: MicroUsd, n: u64) -> Option<MicroUsd> {
    if n == 0 {
        return None;
    }
    let (s, n) = (i128::from(spend.0), i128::from(n));
    let q = (2 * s.abs() + n) / (2 * n);
    let q = if s < 0 { -q } else { q };
    i64::try_from(q).ok().map(MicroUsd)
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}
