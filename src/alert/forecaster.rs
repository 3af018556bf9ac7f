//! The periodic forecast: every `forecast_interval`, read the month's spend from the ledger
//! (in `spawn_blocking`), project each workflow's month-end spend, publish the bounds on
//! `purser_budget_forecast_month_end_usd{workflow, bound}` and raise `forecast_overrun` when
//! the lower bound exceeds the workflow's monthly budget.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::forecast::{Forecast, forecast_month_end, month_spend_series};
use super::kind::Alert;
use super::notifier::Notifier;
use super::{Error, ForecastBound};
use crate::ledger::{self, read_records};
use crate::metrics::{Metrics, usd};
use crate::types::{MicroUsd, WorkflowId};

/// Current monthly budgets by workflow (read on every run, so reloads apply).
pub type BudgetSource = Arc<dyn Fn() -> BTreeMap<WorkflowId, MicroUsd> + Send + Sync>;

/// What the forecaster needs; built in `app.rs`.
pub struct ForecasterParts {
    /// The ledger file to read.
    pub ledger_path: PathBuf,
    /// Monthly budgets.
    pub budgets: BudgetSource,
    /// Period (`Settings::forecast_interval`).
    pub interval: Duration,
    /// Confidence of the interval (`Settings::forecast_confidence`).
    pub confidence: f64,
    /// Where overrun alerts go.
    pub notifier: Notifier,
    /// Where the forecast gauges go.
    pub metrics: Arc<Metrics>,
    /// Stops the loop.
    pub cancel: CancellationToken,
}

/// Starts the forecast loop (first run after one interval). The task ends when `cancel` fires;
/// await the handle at shutdown.
pub fn spawn_forecaster(parts: ForecasterParts) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(parts.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = parts.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = run_once(&parts).await {
                tracing::warn!(error = %e, "month-end forecast failed");
            }
        }
    })
}

async fn run_once(parts: &ForecasterParts) -> Result<(), Error> {
    let path = parts.ledger_path.clone();
    let confidence = parts.confidence;
    let (month, forecasts) =
        tokio::task::spawn_blocking(move || forecast_ledger(&path, Utc::now(), confidence))
            .await
            .map_err(|e| Error::Task {
                detail: e.to_string(),
            })??;
    let budgets = (parts.budgets)();
    publish_forecasts(
        &month,
        &forecasts,
        &budgets,
        &parts.notifier,
        &parts.metrics,
    );
    Ok(())
}

/// Sets `purser_budget_forecast_month_end_usd{workflow, bound}` for every forecast and queues a
/// `forecast_overrun` alert for each workflow whose lower bound exceeds its monthly budget.
/// Returns how many alerts were queued.
pub fn publish_forecasts(
    month: &str,
    forecasts: &[(WorkflowId, Forecast)],
    budgets: &BTreeMap<WorkflowId, MicroUsd>,
    notifier: &Notifier,
    metrics: &Metrics,
) -> usize {
    let mut raised = 0;
    for (workflow, f) in forecasts {
        let label = metrics.workflows.label(workflow.as_str());
        for (bound, v) in [
            (ForecastBound::Lower, f.lower_usd),
            (ForecastBound::Point, f.point_usd),
            (ForecastBound::Upper, f.upper_usd),
        ] {
            metrics
                .budget_forecast_usd
                .with_label_values(&[label.as_str(), bound.as_str()])
                .set(usd(v.0));
        }
        if let Some(limit) = budgets.get(workflow)
            && f.lower_usd > *limit
        {
            let alert = Alert::forecast_overrun(workflow.clone(), month, f, *limit);
            match notifier.notify(alert) {
                Ok(()) => raised += 1,
                Err(e) => tracing::warn!(error = %e, "forecast alert not queued"),
            }
        }
    }
    raised
}

/// A month (`YYYY-MM`) and the forecast of every workflow with spend in it.
pub type MonthForecasts = (String, Vec<(WorkflowId, Forecast)>);

/// Reads the ledger at `path` and forecasts every workflow with spend in the month of `as_of`
/// (blocking file I/O: use `spawn_blocking` from async code). A missing file gives no forecasts.
/// Workflows with fewer than 3 complete hours of history get none.
///
/// # Errors
/// [`Error::Ledger`] when the file cannot be read or a line cannot be decoded.
pub fn forecast_ledger(
    path: &std::path::Path,
    as_of: chrono::DateTime<Utc>,
    confidence: f64,
) -> Result<MonthForecasts, Error> {
    if !path.exists() {
        return Ok((String::new(), Vec::new()));
    }
    let records = read_records(path).map_err(|source| Error::Ledger { source })?;
    let mut failure = None;
    let ok = records.map_while(|r| match r {
        Ok(rec) => Some(rec),
        Err(ledger::Error::TruncatedLine { .. }) => None,
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    let (month, series) = month_spend_series(ok, as_of);
    if let Some(source) = failure {
        return Err(Error::Ledger { source });
    }
    let out = series
        .into_iter()
        .filter_map(|(w, s)| forecast_month_end(&s, confidence).map(|f| (w, f)))
        .collect();
    Ok((month, out))
}
