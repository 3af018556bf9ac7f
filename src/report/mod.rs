//! Cost reports computed from the ledger: spend, tokens, task outcomes, cost per completed task
//! and savings (routing, cache, compression), grouped by workflow, model, route or day; the
//! monthly COGS statement (`purser report`) and the JSON behind `GET /v1/reports/cost`.
//!
//! Money is summed as integer micro-dollars ([`MicroUsd`](crate::types::MicroUsd)) and printed as decimal strings with
//! six decimals, so every figure reconciles to the micro-dollar with the ledger and with
//! `purser_cost_usd_micros_total`. Ratios (cache hit ratio, escalation rate) are `f64`.
//!
//! Must not: write to the ledger, read the clock inside [`CostReport::from_records`] (the
//! "as of" time is a query field), or know how the gateway serves HTTP (the integrator maps
//! [`Error`] to status codes).
//!
//! Uses `types`, `metrics` (the cost-per-task gauge) and `ledger` (record types and the reader).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod cli;
mod cogs;
mod gauges;
pub mod http;
mod query;
mod render;
mod row;
mod tasks;

pub use cogs::{CogsFormat, CogsLine, CogsStatement};
pub use gauges::publish_cost_per_task;
pub use query::{GroupBy, ReportQuery};
pub use row::{CostReport, ReportRow, Savings};

/// Errors of the report module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter (query string or CLI flag) is missing, unknown or malformed.
    /// The integrator maps this to HTTP 400.
    #[error("invalid report parameter `{param}`: {detail}")]
    BadParameter {
        /// The parameter name as given (`group_by`, `from`, `month`, ...).
        param: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The ledger could not be opened or a line could not be decoded.
    #[error("reading the ledger {path}: {source}")]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// The ledger error.
        #[source]
        source: crate::ledger::Error,
    },
    /// Writing the report output failed.
    #[error("writing the report failed: {source}")]
    Output {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// CSV encoding failed.
    #[error("encoding the report as CSV failed: {detail}")]
    Csv {
        /// The csv crate's message.
        detail: String,
    },
    /// A setting has an invalid value.
    #[error("invalid report setting `{key}`: {detail}")]
    InvalidSetting {
        /// The key under `[report]`.
        key: &'static str,
        /// Why it is invalid.
        detail: String,
    },
}

/// Report settings (the `[report]` table).
///
/// ```toml
/// [report]
/// abandon_after = "30m"   # a task idle this long with no outcome counts as abandoned
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Idle time after a task's last request before a task with no outcome record counts as
    /// abandoned. A duration such as `"90s"`, `"30m"`, `"2h"`, `"1d"`.
    pub abandon_after: String,
}

// --- Settings ---

impl Default for Settings {
    fn default() -> Self {
        Self {
            abandon_after: "30m".to_owned(),
        }
    }
}

impl Settings {
    /// The parsed `abandon_after`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when it is not a positive duration.
    pub fn abandon_after(&self) -> Result<chrono::Duration, Error> {
        parse_duration(&self.abandon_after)
            .filter(|d| *d > chrono::Duration::zero())
            .ok_or_else(|| Error::InvalidSetting {
                key: "abandon_after",
                detail: format!(
                    "`{}` is not a positive duration like \"30m\"",
                    self.abandon_after
                ),
            })
    }
}

/// A duration setting (see `types::duration`) as a chrono span, for timestamp arithmetic.
pub(crate) fn parse_duration(s: &str) -> Option<chrono::Duration> {
    chrono::Duration::from_std(crate::types::duration::parse(s).ok()?).ok()
}

#[cfg(test)]
mod tests;
