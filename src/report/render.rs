//! Output formats of a [`CostReport`]: CSV (one line per row, then the total) and JSON.

use std::io::Write;

use super::Error;
use super::row::{CostReport, ReportRow};

/// CSV header of [`CostReport::write_csv`].
const CSV_HEADER: [&str; 19] = [
    "key",
    "spend_usd",
    "requests",
    "tokens_in",
    "tokens_out",
    "completed_tasks",
    "failed_tasks",
    "abandoned_tasks",
    "task_spend_usd",
    "cost_per_completed_task_usd",
    "savings_routing_usd",
    "savings_cache_usd",
    "savings_compression_usd",
    "savings_total_usd",
    "cache_hits",
    "cache_lookups",
    "cache_hit_ratio",
    "escalated_requests",
    "escalation_rate",
];

// --- CostReport ---

impl CostReport {
    /// Writes the rows, then the `total` row, as CSV with a header. Empty cells for `None`.
    ///
    /// # Errors
    /// [`Error::Csv`] when writing fails.
    pub fn write_csv(&self, out: &mut dyn Write) -> Result<(), Error> {
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |e: csv::Error| Error::Csv {
            detail: e.to_string(),
        };
        w.write_record(CSV_HEADER).map_err(csv_err)?;
        for row in self.rows.iter().chain(std::iter::once(&self.total)) {
            w.write_record(csv_fields(row)).map_err(csv_err)?;
        }
        w.flush().map_err(|source| Error::Output { source })
    }

    /// The report as JSON (the body of `GET /v1/reports/cost`).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn csv_fields(r: &ReportRow) -> Vec<String> {
    let opt_f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    vec![
        r.key.clone(),
        r.spend_usd.clone(),
        r.requests.to_string(),
        r.tokens_in.to_string(),
        r.tokens_out.to_string(),
        r.completed_tasks.to_string(),
        r.failed_tasks.to_string(),
        r.abandoned_tasks.to_string(),
        r.task_spend_usd.clone(),
        r.cost_per_completed_task_usd.clone().unwrap_or_default(),
        r.savings.routing_usd.clone(),
        r.savings.cache_usd.clone(),
        r.savings.compression_usd.clone(),
        r.savings.total_usd.clone(),
        r.cache_hits.to_string(),
        r.cache_lookups.to_string(),
        opt_f(r.cache_hit_ratio),
        r.escalated_requests.to_string(),
        opt_f(r.escalation_rate),
    ]
}
