//! Month-end spend forecast from hourly spend: an ordinary least-squares line through the
//! complete hours of the month so far, projected over the remaining hours, with a Student-t
//! prediction interval for the sum of the remaining hours.
//!
//! Model: `spend(h) = a + b·h + e`, errors independent with equal variance. For the `m`
//! remaining hours `h = n..H-1` the projected sum is `Ŝ = m·a + b·Σh` and
//! `Var(S − Ŝ) = s²·(m + m²/n + (Σ(h − x̄))² / Sxx)`; the bounds are
//! `spent + Ŝ ± t(n−2, (1+c)/2)·√Var`, each clamped so it is never below what is already spent.
//! Hourly errors are in fact correlated (daily cycles), so the band is optimistic; alerting on
//! the lower bound keeps false alarms rare.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::ledger::{LedgerRecord, RecordBody};
use crate::types::{MicroUsd, WorkflowId};

/// A month-end spend projection, in micro-dollars (Display prints dollars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    /// Projected month-end spend.
    pub point_usd: MicroUsd,
    /// Lower prediction bound (never below the spend so far).
    pub lower_usd: MicroUsd,
    /// Upper prediction bound.
    pub upper_usd: MicroUsd,
}

/// Spend of one workflow in the current month, by hour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpendSeries {
    /// Spend of each complete hour since the month started (index 0 = first hour).
    pub hourly: Vec<MicroUsd>,
    /// Spend of the current, incomplete hour.
    pub current_hour: MicroUsd,
    /// Hours in the month (672 to 744).
    pub hours_in_month: u32,
}

/// Projects month-end spend. `confidence` is the two-sided level of the interval (0.95).
/// Returns `None` with fewer than 3 complete hours (no degrees of freedom for the band) or a
/// confidence outside (0, 1).
pub fn forecast_month_end(series: &SpendSeries, confidence: f64) -> Option<Forecast> {
    let n = series.hourly.len();
    if n < 3 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let complete: i64 = series.hourly.iter().map(|m| m.0).sum();
    let spent = complete.saturating_add(series.current_hour.0);
    let horizon = usize::try_from(series.hours_in_month).ok()?.max(n);
    let m = (horizon - n) as f64;
    let nf = n as f64;
    let ys: Vec<f64> = series.hourly.iter().map(|v| v.0 as f64).collect();
    let x_mean = (nf - 1.0) / 2.0;
    let y_mean = ys.iter().sum::<f64>() / nf;
    let sxx: f64 = (0..n).map(|i| (i as f64 - x_mean).powi(2)).sum();
    let sxy: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - x_mean) * (y - y_mean))
        .sum();
    let b = sxy / sxx;
    let a = y_mean - b * x_mean;
    let sse: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (y - a - b * i as f64).powi(2))
        .sum();
    let s2 = sse / (nf - 2.0);
    // Σh over h = n..horizon-1, and Σ(h − x̄) over the same hours.
    let sum_h = (nf + horizon as f64 - 1.0) * m / 2.0;
    let sum_dev = sum_h - m * x_mean;
    let projected = m * a + b * sum_h;
    let var = s2 * (m + m * m / nf + sum_dev * sum_dev / sxx);
    let t = StudentsT::new(0.0, 1.0, nf - 2.0)
        .ok()?
        .inverse_cdf(0.5 + confidence / 2.0);
    let half = t * var.max(0.0).sqrt();
    let bound = |future: f64| {
        let total = complete as f64 + future.max(0.0);
        MicroUsd((total.round() as i64).max(spent))
    };
    Some(Forecast {
        point_usd: bound(projected),
        lower_usd: bound(projected - half),
        upper_usd: bound(projected + half),
    })
}

/// Hourly spend of every workflow in the month of `as_of`, from ledger records (requests with
/// `ts` in `[month start, as_of)`; other records are ignored). Also returns the month as
/// `YYYY-MM`.
pub fn month_spend_series(
    records: impl IntoIterator<Item = LedgerRecord>,
    as_of: DateTime<Utc>,
) -> (String, BTreeMap<WorkflowId, SpendSeries>) {
    let mut spend = HourlySpend::default();
    for rec in records.into_iter().filter(|r| r.ts < as_of) {
        spend.add(&rec);
    }
    spend.series(as_of)
}

/// Request spend by workflow and hour, added to record by record, so a periodic forecast can
/// read only what the ledger gained since its last run instead of the whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourlySpend {
    /// Workflow → start of the hour → spend in that hour.
    hours: BTreeMap<WorkflowId, BTreeMap<DateTime<Utc>, MicroUsd>>,
}

// ---- HourlySpend ----

impl HourlySpend {
    /// Adds a request record's cost to its workflow's hour (a zero cost still marks the
    /// workflow as active); other records are ignored.
    pub fn add(&mut self, rec: &LedgerRecord) {
        let RecordBody::Request(r) = &rec.body else {
            return;
        };
        let hour = rec
            .ts
            .date_naive()
            .and_hms_opt(rec.ts.hour(), 0, 0)
            .map_or(rec.ts, |h| Utc.from_utc_datetime(&h));
        let slot = self
            .hours
            .entry(r.workflow.clone())
            .or_default()
            .entry(hour)
            .or_insert(MicroUsd::ZERO);
        *slot = slot.saturating_add(r.cost_micros);
    }

    /// Forgets hours before the month of `as_of`: they can no longer enter a forecast.
    pub fn forget_before_month_of(&mut self, as_of: DateTime<Utc>) {
        let (start, _) = month_of(as_of);
        self.hours.retain(|_, hours| {
            hours.retain(|h, _| *h >= start);
            !hours.is_empty()
        });
    }

    /// The series of every workflow with request records in `[month start, as_of)`: complete
    /// hours indexed from the month's first hour, the rest in `current_hour`. Also returns the
    /// month as `YYYY-MM`.
    pub fn series(&self, as_of: DateTime<Utc>) -> (String, BTreeMap<WorkflowId, SpendSeries>) {
        let (start, next) = month_of(as_of);
        let hours_in_month = u32::try_from((next - start).num_hours()).unwrap_or(744);
        let complete = usize::try_from((as_of - start).num_hours()).unwrap_or(0);
        let mut out = BTreeMap::new();
        for (workflow, hours) in &self.hours {
            let mut months_hours = hours.range(start..as_of).peekable();
            if months_hours.peek().is_none() {
                continue;
            }
            let mut series = SpendSeries {
                hourly: vec![MicroUsd::ZERO; complete],
                current_hour: MicroUsd::ZERO,
                hours_in_month,
            };
            for (hour, spend) in months_hours {
                let i = usize::try_from((*hour - start).num_hours()).unwrap_or(0);
                match series.hourly.get_mut(i) {
                    Some(slot) => *slot = slot.saturating_add(*spend),
                    None => series.current_hour = series.current_hour.saturating_add(*spend),
                }
            }
            out.insert(workflow.clone(), series);
        }
        let label = format!("{:04}-{:02}", start.year(), start.month());
        (label, out)
    }
}

/// First instants of the month of `ts` and of the next month.
fn month_of(ts: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let (y, m) = (ts.year(), ts.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let first = |y, m| {
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d))
            .unwrap_or(ts)
    };
    (first(y, m), first(ny, nm))
}
