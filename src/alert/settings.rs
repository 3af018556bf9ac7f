//! `[alerts]` settings.
//!
//! ```toml
//! [alerts]
//! webhooks = [
//!   { name = "finance", url = "https://hooks.slack.com/services/...", format = "slack" },
//!   { name = "pager", url = "https://example.internal/alerts", format = "generic" },
//! ]
//! dedupe_window = "1h"        # same workflow + kind + window + threshold is sent once per this
//! forecast_interval = "5m"    # how often the month-end forecast runs
//! forecast_confidence = 0.95  # two-sided prediction interval of the forecast
//! max_retries = 3             # retries per webhook after the first attempt (5xx, 429, transport)
//! backoff_base = "200ms"      # first retry delay, doubled each retry
//! backoff_max = "5s"          # retry delay cap
//! timeout = "5s"              # per webhook request
//! queue_capacity = 256        # alerts waiting for delivery before `notify` refuses
//! budget_thresholds = [80, 100]  # percent of a budget window that raise threshold_crossed
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;

/// Alert settings (the `[alerts]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where alerts go. None: alerts are only recorded in the ledger and counted.
    pub webhooks: Vec<WebhookSettings>,
    /// De-duplication window.
    pub dedupe_window: String,
    /// Forecast period.
    pub forecast_interval: String,
    /// Confidence of the forecast's prediction interval, in (0, 1).
    pub forecast_confidence: f64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First retry delay.
    pub backoff_base: String,
    /// Retry delay cap.
    pub backoff_max: String,
    /// Per-request timeout.
    pub timeout: String,
    /// Bounded queue size.
    pub queue_capacity: usize,
    /// Percentages of a budget window that raise `threshold_crossed` (see
    /// [`crossed_thresholds`](super::crossed_thresholds)).
    pub budget_thresholds: Vec<u32>,
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Name used in logs, errors and the ledger (`delivered_to = ["webhook:<name>"]`).
    /// Default: `webhook<index>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Target URL (http or https). Treated as a secret.
    pub url: WebhookUrl,
    /// Body format.
    #[serde(default)]
    pub format: WebhookFormat,
}

/// A webhook URL; `Debug`, `Display` and `Serialize` print a placeholder.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(pub String);

/// Webhook body format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"text": "..."}`, accepted by Slack, Mattermost, Rocket.Chat and most chat hooks.
    #[default]
    Slack,
    /// The whole alert as JSON (`workflow`, `kind`, `window`, `threshold`, `value`, `message`).
    Generic,
}

/// Validated durations of [`Settings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) dedupe_window: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) timeout: Duration,
}

// --- Settings ---

impl Default for Settings {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            dedupe_window: "1h".to_owned(),
            forecast_interval: "5m".to_owned(),
            forecast_confidence: 0.95,
            max_retries: 3,
            backoff_base: "200ms".to_owned(),
            backoff_max: "5s".to_owned(),
            timeout: "5s".to_owned(),
            queue_capacity: 256,
            budget_thresholds: vec![80, 100],
        }
    }
}

impl Settings {
    /// Every problem with the settings (empty when valid).
    pub fn validate(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        for (key, value) in self.durations() {
            if crate::types::duration::parse(value).is_err() {
                errors.push(invalid(
                    key,
                    format!("`{value}` is not a duration like \"5s\""),
                ));
            }
        }
        if self.forecast_interval().is_none() {
            errors.push(invalid(
                "forecast_interval",
                "must be a positive duration".to_owned(),
            ));
        }
        if !(self.forecast_confidence > 0.0 && self.forecast_confidence < 1.0) {
            errors.push(invalid(
                "forecast_confidence",
                "must be in (0, 1)".to_owned(),
            ));
        }
        if self.budget_thresholds.iter().any(|&p| p == 0 || p > 1000) {
            errors.push(invalid(
                "budget_thresholds",
                "each must be a percentage in 1..=1000".to_owned(),
            ));
        }
        if self.queue_capacity == 0 {
            errors.push(invalid("queue_capacity", "must be at least 1".to_owned()));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let url = w.url.0.as_str();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(invalid(
                    &format!("webhooks[{i}].url"),
                    "must start with http:// or https://".to_owned(),
                ));
            }
        }
        errors
    }

    /// The forecast period, when valid and positive.
    pub fn forecast_interval(&self) -> Option<Duration> {
        crate::types::duration::parse(&self.forecast_interval)
            .ok()
            .filter(|d| !d.is_zero())
    }

    /// The validated durations.
    pub(crate) fn timing(&self) -> Result<Timing, Error> {
        if let Some(e) = self.validate().into_iter().next() {
            return Err(e);
        }
        let d = |key: &str, v: &str| {
            crate::types::duration::parse(v)
                .map_err(|_| invalid(key, format!("`{v}` is not a duration")))
        };
        Ok(Timing {
            dedupe_window: d("dedupe_window", &self.dedupe_window)?,
            backoff_base: d("backoff_base", &self.backoff_base)?,
            backoff_max: d("backoff_max", &self.backoff_max)?,
            timeout: d("timeout", &self.timeout)?,
        })
    }

    fn durations(&self) -> [(&'static str, &str); 5] {
        [
            ("dedupe_window", &self.dedupe_window),
            ("forecast_interval", &self.forecast_interval),
            ("backoff_base", &self.backoff_base),
            ("backoff_max", &self.backoff_max),
            ("timeout", &self.timeout),
        ]
    }
}

fn invalid(key: &str, detail: String) -> Error {
    Error::InvalidSetting {
        key: key.to_owned(),
        detail,
    }
}

// --- WebhookSettings ---

impl WebhookSettings {
    /// The configured name, or `webhook<index>`.
    pub fn display_name(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("webhook{index}"))
    }
}

// --- WebhookUrl ---

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
