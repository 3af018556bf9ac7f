//! Budget settings: the raw serde structs read from the config file and their validated forms
//! (`BudgetConfig`, `Envelope`). Validation collects every problem with its key path.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use super::settings_error::SettingsError;
use crate::types::{MicroUsd, Tokens, WorkflowId};

/// What happens when a reservation does not fit a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// Try the cheapest tier's estimate (`ReserveRequest::downgrade_estimate`); deny if even that
    /// does not fit (or no downgrade estimate was given, or the step limit is hit).
    Downgrade,
    /// Refuse the request with a `Denial`.
    #[default]
    Deny,
    /// Always reserve; report every exceeded limit in `Reservation::over_limit`.
    AlertOnly,
}

/// Raw cost envelope as written in the config (`[budget.default_envelope]`,
/// `[budget.workflows.envelope]`). Money is a decimal dollar string such as `"12.50"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSettings {
    /// Budget for one task (all calls sharing an `x-purser-task-id`).
    pub per_task: Option<String>,
    /// Budget per UTC calendar day.
    pub daily: Option<String>,
    /// Budget per UTC calendar month.
    pub monthly: Option<String>,
    /// Maximum model calls per task.
    pub step_limit: Option<u32>,
    /// Cap on `max_tokens` the proxy forwards (and uses for the worst-case estimate).
    pub max_output_tokens: Option<u64>,
    /// Behaviour when a budget would be exceeded (default `deny`).
    #[serde(default)]
    pub on_limit: OnLimit,
    /// Soft alert thresholds as fractions of each budget (default `[0.5, 0.8, 1.0]`).
    pub thresholds: Option<Vec<f64>>,
}

/// Raw workflow entry (`[[budget.workflows]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Workflow name; also the budget bucket.
    pub name: String,
    /// Virtual key hashes, each `"sha256:<64 hex>"` (see `purser keys new`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// The workflow's cost envelope (defaults to no limits).
    #[serde(default)]
    pub envelope: EnvelopeSettings,
}

/// Raw `[budget]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether requests without a virtual key are served (default true).
    #[serde(default = "default_true")]
    pub allow_anonymous: bool,
    /// Name of the environment variable holding the admin key (the key itself never goes in a file).
    pub admin_key_env: Option<String>,
    /// Envelope of the `default` workflow (keyless requests and unknown workflow names).
    #[serde(default)]
    pub default_envelope: EnvelopeSettings,
    /// Configured workflows.
    #[serde(default)]
    pub workflows: Vec<WorkflowSettings>,
    /// A task with no activity for this long is swept as abandoned (default `"30m"`).
    #[serde(default = "default_idle")]
    pub task_idle_after: String,
    /// How long task state is kept after its last activity (default `"7d"`).
    #[serde(default = "default_retention")]
    pub task_retention: String,
    /// A reservation not settled within this time is released by the store (default `"15m"`).
    #[serde(default = "default_reservation_ttl")]
    pub reservation_ttl: String,
}

/// A validated cost envelope. Every limit present is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Per-task budget.
    pub per_task: Option<MicroUsd>,
    /// Per UTC day budget.
    pub daily: Option<MicroUsd>,
    /// Per UTC calendar month budget.
    pub monthly: Option<MicroUsd>,
    /// Maximum model calls per task.
    pub step_limit: Option<u32>,
    /// Cap on output tokens per call.
    pub max_output_tokens: Option<Tokens>,
    /// Behaviour at a limit.
    pub on_limit: OnLimit,
    /// Soft thresholds in basis points of a budget (5000 = 50%), sorted, deduplicated.
    pub thresholds_bps: Vec<u32>,
}

/// A validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Name (budget bucket).
    pub name: WorkflowId,
    /// SHA-256 digests of its virtual keys.
    pub key_hashes: Vec<[u8; 32]>,
    /// Its envelope.
    pub envelope: Arc<Envelope>,
}

/// The validated `[budget]` section.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    /// Keyless requests allowed.
    pub allow_anonymous: bool,
    /// Env var holding the admin key.
    pub admin_key_env: Option<String>,
    /// Envelope of the `default` workflow.
    pub default_envelope: Arc<Envelope>,
    /// Configured workflows (names unique, keys unique across workflows).
    pub workflows: Vec<Workflow>,
    /// Idle time after which tasks are swept as abandoned.
    pub task_idle_after: Duration,
    /// Retention of task state after last activity.
    pub task_retention: Duration,
    /// Lease of an unsettled reservation.
    pub reservation_ttl: Duration,
}

fn default_true() -> bool {
    true
}
fn default_idle() -> String {
    "30m".to_owned()
}
fn default_retention() -> String {
    "7d".to_owned()
}
fn default_reservation_ttl() -> String {
    "15m".to_owned()
}

// --- Settings ---

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_anonymous: true,
            admin_key_env: None,
            default_envelope: EnvelopeSettings::default(),
            workflows: Vec::new(),
            task_idle_after: default_idle(),
            task_retention: default_retention(),
            reservation_ttl: default_reservation_ttl(),
        }
    }
}

impl Settings {
    /// Validates into a `BudgetConfig`. `prefix` is the key path of this section (e.g. `"budget"`).
    ///
    /// # Errors
    /// Every problem found, each naming its key path.
    pub fn validate(&self, prefix: &str) -> Result<BudgetConfig, Vec<SettingsError>> {
        let mut errs = Vec::new();
        let default_envelope = self
            .default_envelope
            .validate(&format!("{prefix}.default_envelope"), &mut errs);
        let workflows = validate_workflows(&self.workflows, prefix, &mut errs);
        let dur = |name: &str, v: &str, errs: &mut Vec<SettingsError>| {
            crate::types::duration::parse(v).ok().unwrap_or_else(|| {
                errs.push(SettingsError::InvalidDuration {
                    key: format!("{prefix}.{name}"),
                    value: v.to_owned(),
                });
                Duration::ZERO
            })
        };
        let task_idle_after = dur("task_idle_after", &self.task_idle_after, &mut errs);
        let task_retention = dur("task_retention", &self.task_retention, &mut errs);
        let reservation_ttl = dur("reservation_ttl", &self.reservation_ttl, &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(BudgetConfig {
            allow_anonymous: self.allow_anonymous,
            admin_key_env: self.admin_key_env.clone(),
            default_envelope: Arc::new(default_envelope),
            workflows,
            task_idle_after,
            task_retention,
            reservation_ttl,
        })
    }
}

fn validate_workflows(
    raw: &[WorkflowSettings],
    prefix: &str,
    errs: &mut Vec<SettingsError>,
) -> Vec<Workflow> {
    let mut out: Vec<Workflow> = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let key = format!("{prefix}.workflows[{i}]");
        let dup = out.iter().any(|o| o.name.as_str() == w.name) || w.name == "default";
        if !is_valid_name(&w.name) || dup {
            errs.push(SettingsError::InvalidWorkflowName {
                key: format!("{key}.name"),
                name: w.name.clone(),
            });
        }
        let mut key_hashes = Vec::new();
        for (j, k) in w.keys.iter().enumerate() {
            let kkey = format!("{key}.keys[{j}]");
            let Some(h) = parse_key_hash(k) else {
                errs.push(SettingsError::InvalidKeyHash { key: kkey });
                continue;
            };
            let holder = out.iter().find(|o| o.key_hashes.contains(&h));
            if let Some(o) = holder {
                errs.push(SettingsError::DuplicateKeyHash {
                    key: kkey,
                    workflow: o.name.to_string(),
                });
            } else if key_hashes.contains(&h) {
                errs.push(SettingsError::DuplicateKeyHash {
                    key: kkey,
                    workflow: w.name.clone(),
                });
            } else {
                key_hashes.push(h);
            }
        }
        let envelope = w.envelope.validate(&format!("{key}.envelope"), errs);
        out.push(Workflow {
            name: WorkflowId(w.name.clone()),
            key_hashes,
            envelope: Arc::new(envelope),
        });
    }
    out
}

/// Whether `s` may be a workflow name (or task id): 1..=128 chars, no control characters.
pub(crate) fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control)
}

/// Parses `"sha256:<64 hex>"` into a digest.
pub(crate) fn parse_key_hash(s: &str) -> Option<[u8; 32]> {
    let hex_part = s.strip_prefix("sha256:")?;
    let bytes = hex::decode(hex_part).ok()?;
    bytes.try_into().ok()
}

/// Fractions in (0, 10] to sorted, deduplicated basis points; default `[0.5, 0.8, 1.0]`.
fn parse_thresholds(raw: Option<&[f64]>, key: &str, errs: &mut Vec<SettingsError>) -> Vec<u32> {
    let raw = raw.unwrap_or(&[0.5, 0.8, 1.0]);
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        if t.is_finite() && *t > 0.0 && *t <= 10.0 {
            // Bounded to (0, 100_000] by the check above, so the cast cannot truncate.
            out.push((t * 10_000.0).round() as u32);
        } else {
            errs.push(SettingsError::InvalidThreshold {
                key: format!("{key}.thresholds[{i}]"),
                value: t.to_string(),
            });
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

// --- EnvelopeSettings ---

impl EnvelopeSettings {
    /// Validates into an `Envelope`, pushing problems (with key paths under `key`) onto `errs`.
    pub fn validate(&self, key: &str, errs: &mut Vec<SettingsError>) -> Envelope {
        let money = |name: &str, v: &Option<String>, errs: &mut Vec<SettingsError>| {
            let v = v.as_deref()?;
            let key = format!("{key}.{name}");
            match MicroUsd::parse_usd(v) {
                None => errs.push(SettingsError::InvalidMoney {
                    key,
                    value: v.to_owned(),
                }),
                Some(m) if m.0 <= 0 => errs.push(SettingsError::NonPositiveBudget {
                    key,
                    value: v.to_owned(),
                }),
                Some(m) => return Some(m),
            }
            None
        };
        let per_task = money("per_task", &self.per_task, errs);
        let daily = money("daily", &self.daily, errs);
        let monthly = money("monthly", &self.monthly, errs);
        if self.step_limit == Some(0) {
            errs.push(SettingsError::ZeroLimit {
                key: format!("{key}.step_limit"),
            });
        }
        if self.max_output_tokens == Some(0) {
            errs.push(SettingsError::ZeroLimit {
                key: format!("{key}.max_output_tokens"),
            });
        }
        let thresholds_bps = parse_thresholds(self.thresholds.as_deref(), key, errs);
        Envelope {
            per_task,
            daily,
            monthly,
            step_limit: self.step_limit.filter(|s| *s > 0),
            max_output_tokens: self.max_output_tokens.filter(|t| *t > 0).map(Tokens),
            on_limit: self.on_limit,
            thresholds_bps,
        }
    }
}

// --- Envelope ---

impl Envelope {
    /// An envelope with no limits (spend is still tracked).
    pub fn unlimited() -> Self {
        Self {
            per_task: None,
            daily: None,
            monthly: None,
            step_limit: None,
            max_output_tokens: None,
            on_limit: OnLimit::Deny,
            thresholds_bps: vec![5_000, 8_000, 10_000],
        }
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
