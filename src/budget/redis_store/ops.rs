//! `BudgetStore` and `TaskTracker` for `RedisStore`: argument marshalling around the Lua scripts.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::Value;

use super::{RedisStore, active_member, array, crossed, denial, int, protocol, redis_err, text};
use crate::budget::rebuild::{RebuildMode, SpendEvent};
use crate::budget::reservation::{
    Remaining, Reservation, ReserveRequest, ThresholdCrossed, WindowStatus,
};
use crate::budget::settings::{Envelope, OnLimit, is_valid_name};
use crate::budget::task::{TaskError, TaskStatus, TaskSummary, TaskTracker, check_outcome_input};
use crate::budget::window::{WindowKeys, steps_key, task_key};
use crate::budget::{BudgetStore, ReserveError, StoreError};
use crate::types::{MicroUsd, WorkflowId};

/// Tasks examined per `sweep_idle` call.
const SWEEP_BATCH: isize = 1000;

fn opt(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv(t: &[u32]) -> String {
    t.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn plus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl RedisStore {
    async fn eval(
        &self,
        op: &'static str,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        let mut conn = self.conn.clone();
        inv.invoke_async(&mut conn).await.map_err(redis_err(op))
    }

    async fn finish(
        &self,
        r: &Reservation,
        actual: i64,
    ) -> Result<Vec<ThresholdCrossed>, StoreError> {
        let k = &r.keys;
        let task = k
            .task
            .as_deref()
            .map(|t| self.key(t))
            .unwrap_or_else(|| self.key("none"));
        let task_exp = plus(Utc::now(), self.opts.task_retention).timestamp();
        let mut inv = self.scripts.settle.prepare_invoke();
        inv.key(self.key(&k.month))
            .key(self.key(&k.day))
            .key(task)
            .key(self.leases_key(r.workflow.as_str()));
        inv.arg(self.lease_member(r))
            .arg(r.amount.0)
            .arg(actual.max(0));
        inv.arg(if k.task.is_some() { "1" } else { "0" });
        inv.arg(opt(r.limits.task))
            .arg(opt(r.limits.daily))
            .arg(opt(r.limits.monthly));
        inv.arg(csv(&r.thresholds_bps))
            .arg(k.month_expire_at)
            .arg(k.day_expire_at)
            .arg(task_exp);
        let v = self.eval("settle", &inv).await?;
        crossed(r, &v).ok_or_else(|| protocol("settle", "bad threshold list"))
    }

    fn parse_reserve(&self, mut r: Reservation, v: &Value) -> Result<Reservation, ReserveError> {
        let bad = |d: &str| ReserveError::Store(protocol("reserve", d));
        let parts = array(v).ok_or_else(|| bad("not an array"))?;
        match parts {
            [flag, rest @ ..] if int(flag) == Some(0) => Err(ReserveError::Denied(
                denial(&r.workflow, rest).ok_or_else(|| bad("bad denial"))?,
            )),
            [_, amount, downgraded, over, cross] => {
                r.amount = MicroUsd(int(amount).ok_or_else(|| bad("bad amount"))?);
                r.downgrade_required = int(downgraded) == Some(1);
                let over = array(over).ok_or_else(|| bad("bad over list"))?;
                for c in over.chunks(5) {
                    r.over_limit
                        .push(denial(&r.workflow, c).ok_or_else(|| bad("bad over entry"))?);
                }
                r.crossed = crossed(&r, cross).ok_or_else(|| bad("bad thresholds"))?;
                Ok(r)
            }
            _ => Err(bad("unexpected shape")),
        }
    }
}

#[async_trait]
impl BudgetStore for RedisStore {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, ReserveError> {
        if req.task_id.is_some_and(|t| !is_valid_name(t)) {
            return Err(ReserveError::InvalidTaskId);
        }
        let wf = req.workflow.as_str();
        let env = req.envelope;
        let r = Reservation::pending(&req, uuid::Uuid::new_v4().simple().to_string());
        let k = &r.keys;
        let none = self.key("none");
        let mode = match env.on_limit {
            OnLimit::Deny => "deny",
            OnLimit::Downgrade => "downgrade",
            OnLimit::AlertOnly => "alert",
        };
        let now_ms = req.now.timestamp_millis();
        let mut inv = self.scripts.reserve.prepare_invoke();
        inv.key(self.key(&k.month)).key(self.key(&k.day));
        inv.key(
            k.task
                .as_deref()
                .map_or_else(|| none.clone(), |t| self.key(t)),
        );
        inv.key(
            k.steps
                .as_deref()
                .map_or_else(|| none.clone(), |t| self.key(t)),
        );
        inv.key(self.leases_key(wf)).key(self.active_key());
        inv.arg(r.amount.0)
            .arg(opt(req.downgrade_estimate.map(|m| m.0.max(0))));
        inv.arg(opt(r.limits.task))
            .arg(opt(r.limits.daily))
            .arg(opt(r.limits.monthly));
        inv.arg(opt(env.step_limit.map(i64::from)))
            .arg(mode)
            .arg(now_ms);
        inv.arg(plus(req.now, self.opts.reservation_ttl).timestamp_millis())
            .arg(&r.id);
        inv.arg(if req.task_id.is_some() { "1" } else { "0" })
            .arg(csv(&env.thresholds_bps));
        inv.arg(k.month_expire_at).arg(k.day_expire_at);
        inv.arg(plus(req.now, self.opts.task_retention).timestamp());
        inv.arg(active_member(wf, req.task_id.unwrap_or_default()));
        let v = self.eval("reserve", &inv).await?;
        self.parse_reserve(r, &v)
    }

    async fn settle(
        &self,
        r: Reservation,
        actual: MicroUsd,
    ) -> Result<Vec<ThresholdCrossed>, StoreError> {
        self.finish(&r, actual.0).await
    }

    async fn release(&self, r: Reservation) -> Result<(), StoreError> {
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(self.leases_key(r.workflow.as_str()))
            .arg(self.lease_member(&r));
        self.eval("release", &inv).await.map(|_| ())
    }

    async fn remaining(
        &self,
        workflow: &WorkflowId,
        task_id: Option<&str>,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<Remaining, StoreError> {
        let k = WindowKeys::at(workflow.as_str(), task_id, now);
        let task = k
            .task
            .as_deref()
            .map_or_else(|| self.key("none"), |t| self.key(t));
        let mut pipe = redis::pipe();
        for key in [task, self.key(&k.day), self.key(&k.month)] {
            pipe.cmd("HMGET").arg(key).arg("spent").arg("reserved");
        }
        let mut conn = self.conn.clone();
        let rows: Vec<(Option<i64>, Option<i64>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(redis_err("remaining"))?;
        let status = |limit: Option<MicroUsd>, i: usize| {
            let (s, r) = rows.get(i).copied().unwrap_or_default();
            limit.map(|limit| WindowStatus {
                limit,
                spent: MicroUsd(s.unwrap_or(0)),
                reserved: MicroUsd(r.unwrap_or(0)),
            })
        };
        Ok(Remaining {
            task: status(task_id.and(envelope.per_task), 0),
            daily: status(envelope.daily, 1),
            monthly: status(envelope.monthly, 2),
        })
    }

    async fn begin_rebuild(&self, now: DateTime<Utc>) -> Result<RebuildMode, StoreError> {
        let label = now.format("%Y-%m").to_string();
        let pattern = self.key(&format!("*:month:{label}"));
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(redis_err("begin_rebuild"))?;
            if !found.is_empty() {
                return Ok(RebuildMode::Skip);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // Two replicas starting on an empty Redis: only the one that sets the marker rebuilds.
        let claimed: Option<String> = redis::cmd("SET")
            .arg(self.key(&format!("rebuilt:{label}")))
            .arg(now.timestamp())
            .arg("NX")
            .arg("EX")
            .arg(62 * 86_400)
            .query_async(&mut conn)
            .await
            .map_err(redis_err("begin_rebuild"))?;
        Ok(if claimed.is_some() {
            RebuildMode::Apply
        } else {
            RebuildMode::Skip
        })
    }

    async fn apply_spend(&self, ev: &SpendEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
        let wf = ev.workflow.as_str();
        let k = WindowKeys::at(wf, ev.task_id.as_deref(), ev.ts);
        let cur = WindowKeys::at(wf, None, now);
        let keep_task = plus(ev.ts, self.opts.task_retention) > now;
        let task_id = ev
            .task_id
            .as_deref()
            .filter(|t| keep_task && is_valid_name(t));
        let mut inv = self.scripts.apply_spend.prepare_invoke();
        inv.key(if k.month == cur.month {
            self.key(&k.month)
        } else {
            String::new()
        });
        inv.key(if k.day == cur.day {
            self.key(&k.day)
        } else {
            String::new()
        });
        inv.key(
            task_id
                .map(|t| self.key(&task_key(wf, t)))
                .unwrap_or_default(),
        );
        inv.key(self.key(&steps_key(wf, task_id.unwrap_or_default())))
            .key(self.active_key());
        inv.arg(ev.cost.0.max(0))
            .arg(k.month_expire_at)
            .arg(k.day_expire_at);
        inv.arg(plus(ev.ts, self.opts.task_retention).timestamp())
            .arg(ev.ts.timestamp_millis());
        inv.arg(active_member(wf, task_id.unwrap_or_default()));
        self.eval("apply_spend", &inv).await.map(|_| ())
    }
}

#[async_trait]
impl TaskTracker for RedisStore {
    async fn record_outcome(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
        status: TaskStatus,
        quality: Option<f64>,
    ) -> Result<TaskSummary, TaskError> {
        check_outcome_input(task_id, quality)?;
        let wf = workflow.as_str();
        let mut inv = self.scripts.outcome.prepare_invoke();
        inv.key(self.key(&task_key(wf, task_id)))
            .key(self.key(&steps_key(wf, task_id)));
        inv.key(self.active_key()).arg(status.as_str());
        inv.arg(quality.map(|q| q.to_string()).unwrap_or_default())
            .arg(active_member(wf, task_id));
        let v = self.eval("record_outcome", &inv).await?;
        let bad = || TaskError::Store(protocol("record_outcome", "unexpected reply"));
        match array(&v).ok_or_else(bad)? {
            [flag] if int(flag) == Some(0) => Err(TaskError::UnknownTask {
                workflow: workflow.clone(),
                task_id: task_id.to_owned(),
            }),
            [flag, prev] if int(flag) == Some(1) => Err(TaskError::OutcomeAlreadyRecorded {
                task_id: task_id.to_owned(),
                status: text(prev).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            }),
            [_, spent, steps, last] => Ok(TaskSummary {
                workflow: workflow.clone(),
                task_id: task_id.to_owned(),
                spent: MicroUsd(int(spent).ok_or_else(bad)?),
                steps: int(steps)
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(bad)?,
                status: Some(status),
                quality,
                last_activity: ms_to_time(int(last).ok_or_else(bad)?),
            }),
            _ => Err(bad()),
        }
    }

    async fn task(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
    ) -> Result<Option<TaskSummary>, StoreError> {
        let wf = workflow.as_str();
        let mut conn = self.conn.clone();
        type Row = (Option<i64>, Option<String>, Option<String>, Option<i64>);
        let ((spent, status, quality, last), steps): (Row, Option<u32>) = redis::pipe()
            .cmd("HMGET")
            .arg(self.key(&task_key(wf, task_id)))
            .arg("spent")
            .arg("status")
            .arg("quality")
            .arg("last")
            .cmd("GET")
            .arg(self.key(&steps_key(wf, task_id)))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("task"))?;
        let Some(last) = last else { return Ok(None) };
        Ok(Some(TaskSummary {
            workflow: workflow.clone(),
            task_id: task_id.to_owned(),
            spent: MicroUsd(spent.unwrap_or(0)),
            steps: steps.unwrap_or(0),
            status: status.and_then(|s| s.parse().ok()),
            quality: quality.and_then(|q| q.parse().ok()),
            last_activity: ms_to_time(last),
        }))
    }

    async fn sweep_idle(
        &self,
        now: DateTime<Utc>,
        idle_after: Duration,
    ) -> Result<Vec<TaskSummary>, StoreError> {
        let idle = chrono::Duration::from_std(idle_after).unwrap_or(chrono::Duration::MAX);
        let cutoff = now
            .checked_sub_signed(idle)
            .map_or(i64::MIN, |c| c.timestamp_millis());
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.active_key())
            .arg("-inf")
            .arg(cutoff)
            .arg("LIMIT")
            .arg(0)
            .arg(SWEEP_BATCH)
            .query_async(&mut conn)
            .await
            .map_err(redis_err("sweep_idle"))?;
        let mut out = Vec::new();
        for m in members {
            let Some((wf, task_id)) = m.split_once('\u{1f}') else {
                continue;
            };
            let mut inv = self.scripts.abandon.prepare_invoke();
            inv.key(self.key(&task_key(wf, task_id)))
                .key(self.key(&steps_key(wf, task_id)));
            inv.key(self.active_key()).arg(&m).arg(cutoff);
            let v = self.eval("sweep_idle", &inv).await?;
            if let Some([_, spent, steps, last]) = array(&v) {
                out.push(TaskSummary {
                    workflow: WorkflowId(wf.to_owned()),
                    task_id: task_id.to_owned(),
                    spent: MicroUsd(int(spent).unwrap_or(0)),
                    steps: int(steps).and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
                    status: Some(TaskStatus::Abandoned),
                    quality: None,
                    last_activity: ms_to_time(int(last).unwrap_or(0)),
                });
            }
        }
        Ok(out)
    }
}
