//! In-process budget store: one `std::sync::Mutex` over all windows and tasks, held only for the
//! few map operations of one call (never across an `.await`; no method awaits while holding it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::check::{Decision, Snapshot, Usage, decide, newly_crossed};
use super::rebuild::{RebuildMode, SpendEvent};
use super::reservation::{
    LimitKind, Remaining, Reservation, ReserveRequest, ThresholdCrossed, WindowStatus,
};
use super::settings::{Envelope, is_valid_name};
use super::task::{TaskError, TaskStatus, TaskSummary, TaskTracker, check_outcome_input};
use super::window::WindowKeys;
use super::{BudgetStore, ReserveError, StoreError};
use crate::types::{MicroUsd, WorkflowId};

/// How often expired day/month windows are dropped.
const PRUNE_EVERY_SECS: i64 = 3600;

/// Budget state in this process. Correct for a single replica; use `RedisStore` for several.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    task_retention: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<String, Counter>,
    tasks: HashMap<String, TaskState>,
    next_prune: i64,
}

#[derive(Debug, Default)]
struct Counter {
    usage: Usage,
    fired: Vec<u32>,
    expire_at: i64,
}

#[derive(Debug)]
struct TaskState {
    workflow: WorkflowId,
    task_id: String,
    counter: Counter,
    steps: u32,
    last: DateTime<Utc>,
    outcome: Option<(TaskStatus, Option<f64>)>,
}

// --- MemoryStore ---

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Duration::from_secs(7 * 86_400))
    }
}

impl MemoryStore {
    /// An empty store keeping task state `task_retention` after its last activity.
    pub fn new(task_retention: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            task_retention,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain integers;
        // the maps are still structurally valid, so keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reserve_sync(&self, req: &ReserveRequest<'_>) -> Result<Reservation, ReserveError> {
        if req.task_id.is_some_and(|t| !is_valid_name(t)) {
            return Err(ReserveError::InvalidTaskId);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let mut r = Reservation::pending(req, id);
        let mut g = self.lock();
        g.prune(req.now);
        let snap = g.snapshot(&r.keys);
        match decide(req, &snap) {
            Decision::Deny(d) => return Err(ReserveError::Denied(d)),
            Decision::Reserve {
                amount,
                downgrade,
                over_limit,
            } => {
                r.amount = MicroUsd(amount);
                r.downgrade_required = downgrade;
                r.over_limit = over_limit;
            }
        }
        if let (Some(tk), Some(task_id)) = (&r.keys.task, req.task_id) {
            let t = g.task_entry(tk, req.workflow, task_id, req.now);
            t.steps = t.steps.saturating_add(1);
            t.last = t.last.max(req.now);
        }
        let delta = Usage {
            spent: 0,
            reserved: r.amount.0,
        };
        r.crossed = g.apply(&r, delta, req.now);
        Ok(r)
    }

    fn finish(&self, r: &Reservation, actual: i64, now: DateTime<Utc>) -> Vec<ThresholdCrossed> {
        let delta = Usage {
            spent: actual.max(0),
            reserved: -r.amount.0,
        };
        self.lock().apply(r, delta, now)
    }
}

// --- Inner ---

impl Inner {
    fn prune(&mut self, now: DateTime<Utc>) {
        let secs = now.timestamp();
        if secs >= self.next_prune {
            self.windows.retain(|_, c| c.expire_at > secs);
            self.next_prune = secs.saturating_add(PRUNE_EVERY_SECS);
        }
    }

    fn snapshot(&self, keys: &WindowKeys) -> Snapshot {
        let usage = |k: &str| self.windows.get(k).map(|c| c.usage).unwrap_or_default();
        let task = keys.task.as_deref().and_then(|k| self.tasks.get(k));
        Snapshot {
            task: task.map(|t| t.counter.usage).unwrap_or_default(),
            day: usage(&keys.day),
            month: usage(&keys.month),
            steps: task.map_or(0, |t| t.steps),
        }
    }

    fn task_entry(
        &mut self,
        key: &str,
        workflow: &WorkflowId,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> &mut TaskState {
        self.tasks
            .entry(key.to_owned())
            .or_insert_with(|| TaskState {
                workflow: workflow.clone(),
                task_id: task_id.to_owned(),
                counter: Counter::default(),
                steps: 0,
                last: now,
                outcome: None,
            })
    }

    /// Adds `delta` to every window of `target` and reports newly crossed thresholds.
    fn apply(
        &mut self,
        target: &Reservation,
        delta: Usage,
        now: DateTime<Utc>,
    ) -> Vec<ThresholdCrossed> {
        let k = &target.keys;
        let mut crossed = Vec::new();
        let mut cross = |c: &mut Counter, kind: LimitKind, limit: Option<i64>, label: &str| {
            c.usage.spent = c.usage.spent.saturating_add(delta.spent);
            c.usage.reserved = c.usage.reserved.saturating_add(delta.reserved).max(0);
            let Some(limit) = limit else { return };
            let exposure = c.usage.exposure();
            for t in newly_crossed(limit, exposure, &target.thresholds_bps, &c.fired) {
                c.fired.push(t);
                crossed.push(ThresholdCrossed {
                    workflow: target.workflow.clone(),
                    limit: kind,
                    window: label.to_owned(),
                    threshold_bps: t,
                    limit_micros: limit,
                    exposure_micros: exposure,
                });
            }
        };
        if let (Some(tk), Some(task_id)) = (&k.task, target.task_id.as_deref()) {
            let t = self.task_entry(tk, &target.workflow, task_id, now);
            cross(&mut t.counter, LimitKind::Task, target.limits.task, task_id);
        }
        let day = self.windows.entry(k.day.clone()).or_default();
        day.expire_at = k.day_expire_at;
        cross(day, LimitKind::Daily, target.limits.daily, &k.day_label);
        let month = self.windows.entry(k.month.clone()).or_default();
        month.expire_at = k.month_expire_at;
        cross(
            month,
            LimitKind::Monthly,
            target.limits.monthly,
            &k.month_label,
        );
        crossed
    }
}

fn status_of(limit: Option<MicroUsd>, usage: Option<Usage>) -> Option<WindowStatus> {
    let usage = usage.unwrap_or_default();
    limit.map(|limit| WindowStatus {
        limit,
        spent: MicroUsd(usage.spent),
        reserved: MicroUsd(usage.reserved),
    })
}

fn summary(t: &TaskState) -> TaskSummary {
    TaskSummary {
        workflow: t.workflow.clone(),
        task_id: t.task_id.clone(),
        spent: MicroUsd(t.counter.usage.spent),
        steps: t.steps,
        status: t.outcome.map(|o| o.0),
        quality: t.outcome.and_then(|o| o.1),
        last_activity: t.last,
    }
}

// --- BudgetStore for MemoryStore ---

#[async_trait]
impl BudgetStore for MemoryStore {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, ReserveError> {
        self.reserve_sync(&req)
    }

    async fn settle(
        &self,
        r: Reservation,
        actual: MicroUsd,
    ) -> Result<Vec<ThresholdCrossed>, StoreError> {
        Ok(self.finish(&r, actual.0, Utc::now()))
    }

    async fn release(&self, r: Reservation) -> Result<(), StoreError> {
        self.finish(&r, 0, Utc::now());
        Ok(())
    }

    async fn remaining(
        &self,
        workflow: &WorkflowId,
        task_id: Option<&str>,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<Remaining, StoreError> {
        let keys = WindowKeys::at(workflow.as_str(), task_id, now);
        let g = self.lock();
        let task = keys.task.as_deref().and_then(|k| g.tasks.get(k));
        Ok(Remaining {
            task: status_of(
                task_id.and(envelope.per_task),
                task.map(|t| t.counter.usage),
            ),
            daily: status_of(envelope.daily, g.windows.get(&keys.day).map(|c| c.usage)),
            monthly: status_of(
                envelope.monthly,
                g.windows.get(&keys.month).map(|c| c.usage),
            ),
        })
    }

    async fn begin_rebuild(&self, _now: DateTime<Utc>) -> Result<RebuildMode, StoreError> {
        Ok(RebuildMode::Apply)
    }

    async fn apply_spend(&self, ev: &SpendEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
        let keys = WindowKeys::at(ev.workflow.as_str(), ev.task_id.as_deref(), ev.ts);
        let current = WindowKeys::at(ev.workflow.as_str(), None, now);
        let cost = ev.cost.0.max(0);
        let mut g = self.lock();
        for (key, expire_at) in [
            (&keys.day, keys.day_expire_at),
            (&keys.month, keys.month_expire_at),
        ] {
            if *key == current.day || *key == current.month {
                let c = g.windows.entry(key.clone()).or_default();
                c.usage.spent = c.usage.spent.saturating_add(cost);
                c.expire_at = expire_at;
            }
        }
        let fresh = now
            .signed_duration_since(ev.ts)
            .to_std()
            .map_or(true, |age| age < self.task_retention);
        if let (Some(tk), Some(task_id), true) = (&keys.task, ev.task_id.as_deref(), fresh) {
            let t = g.task_entry(tk, &ev.workflow, task_id, ev.ts);
            t.counter.usage.spent = t.counter.usage.spent.saturating_add(cost);
            t.steps = t.steps.saturating_add(1);
            t.last = t.last.max(ev.ts);
        }
        Ok(())
    }

    fn finish_now(&self, r: Reservation, incurred: MicroUsd) -> Option<Reservation> {
        // Thresholds crossed here go unreported: a drop has nobody to report them to, and the
        // next settle in the window reports any later threshold.
        self.finish(&r, incurred.0, Utc::now());
        None
    }
}

// --- TaskTracker for MemoryStore ---

#[async_trait]
impl TaskTracker for MemoryStore {
    async fn record_outcome(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
        status: TaskStatus,
        quality: Option<f64>,
    ) -> Result<TaskSummary, TaskError> {
        check_outcome_input(task_id, quality)?;
        let key = super::window::task_key(workflow.as_str(), task_id);
        let mut g = self.lock();
        let Some(t) = g.tasks.get_mut(&key) else {
            return Err(TaskError::UnknownTask {
                workflow: workflow.clone(),
                task_id: task_id.to_owned(),
            });
        };
        if let Some((prev, _)) = t.outcome {
            return Err(TaskError::OutcomeAlreadyRecorded {
                task_id: task_id.to_owned(),
                status: prev,
            });
        }
        t.outcome = Some((status, quality));
        Ok(summary(t))
    }

    async fn task(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
    ) -> Result<Option<TaskSummary>, StoreError> {
        let key = super::window::task_key(workflow.as_str(), task_id);
        Ok(self.lock().tasks.get(&key).map(summary))
    }

    async fn sweep_idle(
        &self,
        now: DateTime<Utc>,
        idle_after: Duration,
    ) -> Result<Vec<TaskSummary>, StoreError> {
        let idle = chrono::Duration::from_std(idle_after).unwrap_or(chrono::Duration::MAX);
        let keep = chrono::Duration::from_std(self.task_retention).unwrap_or(chrono::Duration::MAX);
        let mut g = self.lock();
        let mut out = Vec::new();
        for t in g.tasks.values_mut() {
            let idle_enough = t.last.checked_add_signed(idle).is_some_and(|at| at <= now);
            if t.outcome.is_none() && t.counter.usage.reserved == 0 && idle_enough {
                t.outcome = Some((TaskStatus::Abandoned, None));
                out.push(summary(t));
            }
        }
        g.tasks
            .retain(|_, t| t.last.checked_add_signed(keep).is_none_or(|at| at > now));
        Ok(out)
    }
}
