//! Redis budget store, atomic across replicas: each operation is one Lua script over the keys of
//! one workflow (`{prefix}:{wf}:month:2026-11`, `:day:2026-11-25`, `:task:{id}`, `:steps:{id}`,
//! `:leases`). Windows carry `EXPIREAT` so old windows vanish. Every reservation is also a lease
//! in `:leases` (a sorted set scored by expiry); reserve first reaps expired leases, so money
//! held by a crashed replica comes back after `reservation_ttl`. Settle and release remove the
//! lease first, so each reservation is subtracted exactly once.
//!
//! Not Redis Cluster ready: the task-activity set `{prefix}:tasks:active` spans workflows.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::StoreError;
use super::reservation::{Denial, LimitKind, Reservation, ThresholdCrossed};
use super::settings::BudgetConfig;
use super::state::StateSettings;
use crate::types::WorkflowId;

mod ops;

const COMMON: &str = include_str!("lua/common.lua");

/// Options of a `RedisStore` (all taken from `[state]` and `[budget]` by `connect`).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Connect and response timeout per call.
    pub timeout: Duration,
    /// Prefix of every key, e.g. `purser:budget`.
    pub key_prefix: String,
    /// Lease of an unsettled reservation.
    pub reservation_ttl: Duration,
    /// Task state retention after last activity.
    pub task_retention: Duration,
}

/// Budget state in Redis, shared by every replica.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    opts: RedisOptions,
    scripts: std::sync::Arc<Scripts>,
}

struct Scripts {
    reserve: Script,
    settle: Script,
    release: Script,
    apply_spend: Script,
    outcome: Script,
    abandon: Script,
}

// --- RedisStore ---

impl RedisStore {
    /// Connects using `[state]` (`redis_url`, `redis_timeout`, `key_prefix`) and `[budget]`
    /// (`reservation_ttl`, `task_retention`).
    ///
    /// # Errors
    /// `StoreError::Protocol` if `redis_url` is missing or the timeout invalid; `StoreError::Redis`
    /// if the URL is invalid or Redis is unreachable.
    pub async fn connect(state: &StateSettings, budget: &BudgetConfig) -> Result<Self, StoreError> {
        let timeout = state
            .validate("state")
            .map_err(|errs| StoreError::Protocol {
                op: "connect",
                detail: errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
        let url = state.redis_url.as_deref().unwrap_or_default();
        let opts = RedisOptions {
            timeout,
            key_prefix: state.key_prefix.clone(),
            reservation_ttl: budget.reservation_ttl,
            task_retention: budget.task_retention,
        };
        Self::connect_with(url, opts).await
    }

    /// Connects to `url` with explicit options.
    ///
    /// # Errors
    /// `StoreError::Redis` if the URL is invalid or Redis is unreachable within the timeout.
    pub async fn connect_with(url: &str, opts: RedisOptions) -> Result<Self, StoreError> {
        let err = |source| StoreError::Redis {
            op: "connect",
            source,
        };
        let client = redis::Client::open(url).map_err(err)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(opts.timeout)
            .set_response_timeout(opts.timeout)
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(err)?;
        let script = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        let scripts = Scripts {
            reserve: script(include_str!("lua/reserve.lua")),
            settle: script(include_str!("lua/settle.lua")),
            release: script(include_str!("lua/release.lua")),
            apply_spend: script(include_str!("lua/apply_spend.lua")),
            outcome: script(include_str!("lua/outcome.lua")),
            abandon: script(include_str!("lua/abandon.lua")),
        };
        Ok(Self {
            conn,
            opts,
            scripts: std::sync::Arc::new(scripts),
        })
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.opts.key_prefix)
    }

    fn leases_key(&self, workflow: &str) -> String {
        self.key(&format!("{{{workflow}}}:leases"))
    }

    fn active_key(&self) -> String {
        self.key("tasks:active")
    }

    /// The lease member of a reservation (must match reserve.lua's construction).
    fn lease_member(&self, r: &Reservation) -> String {
        let task = r
            .keys
            .task
            .as_deref()
            .map(|t| self.key(t))
            .unwrap_or_default();
        format!(
            "{}\n{}\n{}\n{}\n{}",
            r.id,
            r.amount.0,
            self.key(&r.keys.month),
            self.key(&r.keys.day),
            task
        )
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Member of the task-activity set: workflow and task id (neither contains control characters).
fn active_member(workflow: &str, task_id: &str) -> String {
    format!("{workflow}\u{1f}{task_id}")
}

fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |source| StoreError::Redis { op, source }
}

fn protocol(op: &'static str, detail: &str) -> StoreError {
    StoreError::Protocol {
        op,
        detail: detail.to_owned(),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) => Some(a),
        Value::Nil => Some(&[]),
        _ => None,
    }
}

fn kind(v: &Value) -> Option<LimitKind> {
    match text(v)?.as_str() {
        "task" => Some(LimitKind::Task),
        "daily" => Some(LimitKind::Daily),
        "monthly" => Some(LimitKind::Monthly),
        "steps" => Some(LimitKind::Steps),
        _ => None,
    }
}

/// Parses `{kind, limit, spent, reserved, requested}` into a `Denial`.
fn denial(workflow: &WorkflowId, v: &[Value]) -> Option<Denial> {
    let [k, limit, spent, reserved, requested] = v else {
        return None;
    };
    let (limit, spent, reserved) = (int(limit)?, int(spent)?, int(reserved)?);
    Some(Denial {
        workflow: workflow.clone(),
        limit: kind(k)?,
        limit_micros: limit,
        spent_micros: spent,
        reserved_micros: reserved,
        requested_micros: int(requested)?,
        remaining_micros: limit.saturating_sub(spent.saturating_add(reserved)).max(0),
    })
}

/// Parses the flat `{kind, bps, exposure, ...}` list of crossed thresholds.
fn crossed(r: &Reservation, v: &Value) -> Option<Vec<ThresholdCrossed>> {
    let mut out = Vec::new();
    for c in array(v)?.chunks(3) {
        let [k, bps, exposure] = c else { return None };
        let limit = kind(k)?;
        let (limit_micros, window) = match limit {
            LimitKind::Task => (r.limits.task, r.task_id.clone().unwrap_or_default()),
            LimitKind::Daily => (r.limits.daily, r.keys.day_label.clone()),
            LimitKind::Monthly => (r.limits.monthly, r.keys.month_label.clone()),
            LimitKind::Steps => (None, String::new()),
        };
        out.push(ThresholdCrossed {
            workflow: r.workflow.clone(),
            limit,
            window,
            threshold_bps: u32::try_from(int(bps)?).ok()?,
            limit_micros: limit_micros?,
            exposure_micros: int(exposure)?,
        });
    }
    Some(out)
}
