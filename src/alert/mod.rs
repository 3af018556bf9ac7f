//! Alerting: alert kinds and their ledger records, the month-end burn-rate forecast, and the
//! webhook notifier (Slack-compatible or generic JSON, bounded retries, de-duplication, one
//! background task fed by a bounded channel).
//!
//! Must not: decide budgets (the budget module or the integrator raises threshold and denial
//! alerts; this module delivers and records them), hold a lock across `.await`, or show a
//! webhook URL in logs, errors or `Debug` output (Slack webhook URLs are credentials).
//!
//! Uses `types`, `metrics` (alert counter, forecast gauges) and `ledger` (alert records,
//! reading spend for the forecast).

use serde::{Deserialize, Serialize};

mod forecast;
mod forecaster;
mod kind;
mod notifier;
mod settings;

pub use forecast::{Forecast, HourlySpend, SpendSeries, forecast_month_end, month_spend_series};
pub use forecaster::{
    BudgetSource, ForecasterParts, LedgerSpend, MonthForecasts, forecast_ledger, publish_forecasts,
    spawn_forecaster,
};
pub use kind::{Alert, AlertKind, crossed_thresholds};
pub use notifier::{DeliveryStats, Notifier, NotifierParts, NotifierTask};
pub use settings::{Settings, WebhookFormat, WebhookSettings, WebhookUrl};

/// Errors of the alert module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting has an invalid value.
    #[error("invalid alerts setting `{key}`: {detail}")]
    InvalidSetting {
        /// The key under `[alerts]` (e.g. `webhooks[0].url`).
        key: String,
        /// Why it is invalid.
        detail: String,
    },
    /// The notifier's bounded queue is full; the alert was not accepted.
    #[error("alert queue is full")]
    QueueFull,
    /// The notifier task has stopped; the alert was not accepted.
    #[error("alert notifier is stopped")]
    Closed,
    /// A webhook did not accept the alert after all retries (named, never by URL).
    #[error("webhook `{webhook}` failed after {attempts} attempts: {detail}")]
    Delivery {
        /// Webhook name.
        webhook: String,
        /// Attempts made.
        attempts: u32,
        /// Last status or transport error kind.
        detail: String,
    },
    /// The ledger could not be read (forecast) or written (alert record).
    #[error("alert ledger access failed: {source}")]
    Ledger {
        /// The ledger error.
        #[source]
        source: crate::ledger::Error,
    },
    /// The background task panicked or could not be joined.
    #[error("alert task failed: {detail}")]
    Task {
        /// What happened.
        detail: String,
    },
}

/// Which bound of a forecast a gauge carries (`bound` label of
/// `purser_budget_forecast_month_end_usd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastBound {
    /// Lower prediction bound.
    Lower,
    /// Point estimate.
    Point,
    /// Upper prediction bound.
    Upper,
}

impl ForecastBound {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastBound::Lower => "lower",
            ForecastBound::Point => "point",
            ForecastBound::Upper => "upper",
        }
    }
}

#[cfg(test)]
mod tests;
