//! The periodic forecast: every `forecast_interval`, read what the ledger gained since the last
//! run (in `spawn_blocking`; the month's hourly spend is kept between runs), project each
//! workflow's month-end spend, publish the bounds on
//! `purser_budget_forecast_month_end_usd{workflow, bound}` and raise `forecast_overrun` when
//! the lower bound exceeds the workflow's monthly budget.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::forecast::{Forecast, HourlySpend, forecast_month_end};
use super::kind::Alert;
use super::notifier::Notifier;
use super::{Error, ForecastBound};
use crate::ledger::{self, read_records_from};
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
        let mut state = LedgerSpend::default();
        loop {
            tokio::select! {
                () = parts.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            state = run_once(&parts, std::mem::take(&mut state)).await;
        }
    })
}

/// Runs one forecast from `state` and returns the state for the next run: after a failure
/// (logged) an empty one, so the next run reads the ledger from its beginning.
async fn run_once(parts: &ForecasterParts, mut state: LedgerSpend) -> LedgerSpend {
    let path = parts.ledger_path.clone();
    let confidence = parts.confidence;
    let read = tokio::task::spawn_blocking(move || {
        // The forecast is as of after the read, so every record read is in its past.
        let r = state
            .read_new(&path, |_| true)
            .map(|()| state.forecast(Utc::now(), confidence));
        (r, state)
    })
    .await
    .map_err(|e| Error::Task {
        detail: e.to_string(),
    });
    let ((month, forecasts), state) = match read {
        Ok((Ok(f), state)) => (f, state),
        Ok((Err(e), _)) | Err(e) => {
            tracing::warn!(error = %e, "month-end forecast failed");
            return LedgerSpend::default();
        }
    };
    let budgets = (parts.budgets)();
    publish_forecasts(
        &month,
        &forecasts,
        &budgets,
        &parts.notifier,
        &parts.metrics,
    );
    state
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
    let mut spend = LedgerSpend::default();
    spend.read_new(path, |r| r.ts < as_of)?;
    Ok(spend.forecast(as_of, confidence))
}

/// The month's spend read from a ledger so far, and where reading stopped. Each
/// [`LedgerSpend::read_new`] reads only the lines appended since the previous one: the
/// forecaster's cost per run follows the traffic since the last run, not the ledger's size (the
/// 1.5 GB ledger of one load-harness run took 15.7 s of CPU to read whole; with nothing new,
/// a run reads for 30 µs).
#[derive(Debug, Default)]
pub struct LedgerSpend {
    spend: HourlySpend,
    /// Byte offset just past the last whole line read.
    offset: u64,
    /// The file that offset belongs to (inode), to notice a ledger that was replaced.
    file_id: Option<u64>,
}

// ---- LedgerSpend ----

impl LedgerSpend {
    /// Adds the request records `path` gained since the last call (those `keep` accepts).
    /// Starts over when the file is missing, shorter than what was read, or another file. A
    /// torn last line is left for the next call.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the file cannot be read or a line cannot be decoded; the state is
    /// then partly updated and should be dropped.
    pub fn read_new(
        &mut self,
        path: &std::path::Path,
        keep: impl Fn(&ledger::LedgerRecord) -> bool,
    ) -> Result<(), Error> {
        let Ok(meta) = std::fs::metadata(path) else {
            *self = LedgerSpend::default();
            return Ok(());
        };
        let file_id = Some(std::os::unix::fs::MetadataExt::ino(&meta));
        if meta.len() < self.offset || file_id != self.file_id {
            *self = LedgerSpend {
                file_id,
                ..LedgerSpend::default()
            };
        }
        let mut records =
            read_records_from(path, self.offset).map_err(|source| Error::Ledger { source })?;
        for r in records.by_ref() {
            match r {
                Ok(rec) if keep(&rec) => self.spend.add(&rec),
                Ok(_) => {}
                Err(ledger::Error::TruncatedLine { .. }) => break,
                Err(source) => return Err(Error::Ledger { source }),
            }
        }
        self.offset = records.offset();
        Ok(())
    }

    /// Forecasts every workflow with spend in the month of `as_of` from what was read, and
    /// forgets earlier months.
    pub fn forecast(&mut self, as_of: chrono::DateTime<Utc>, confidence: f64) -> MonthForecasts {
        self.spend.forget_before_month_of(as_of);
        let (month, series) = self.spend.series(as_of);
        let out = series
            .into_iter()
            .filter_map(|(w, s)| forecast_month_end(&s, confidence).map(|f| (w, f)))
            .collect();
        (month, out)
    }
}
