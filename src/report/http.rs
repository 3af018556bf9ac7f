//! Reading a ledger file into a report, and the JSON body of `GET /v1/reports/cost`.
//! Blocking file I/O: async callers run these in `tokio::task::spawn_blocking`.

use std::path::Path;

use chrono::Utc;

use super::Error;
use super::query::ReportQuery;
use super::row::CostReport;
use crate::ledger::{self, read_records};

// --- CostReport ---

impl CostReport {
    /// Streams the ledger at `path` into a report. A torn last line (a write in progress) ends
    /// the stream quietly; any other unreadable line is an error.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the file cannot be opened or a line cannot be decoded.
    pub fn from_ledger(path: &Path, query: &ReportQuery) -> Result<CostReport, Error> {
        let wrap = |source| Error::Ledger {
            path: path.to_path_buf(),
            source,
        };
        let records = read_records(path).map_err(wrap)?;
        let mut failure = None;
        let ok = records.map_while(|r| match r {
            Ok(rec) => Some(rec),
            Err(ledger::Error::TruncatedLine { .. }) => None,
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        let report = CostReport::from_records(ok, query);
        match failure {
            Some(e) => Err(wrap(e)),
            None => Ok(report),
        }
    }
}

/// The JSON body of `GET /v1/reports/cost?...`: [`CostReport`] serialized. When the query has
/// no `as_of`, the current time is used so idle tasks show as abandoned on a live gateway.
/// Parse the query string with [`ReportQuery::parse_query`] (its errors are HTTP 400).
///
/// # Errors
/// [`Error::Ledger`] (HTTP 500) when the ledger cannot be read. A missing ledger file (no
/// request served yet) is not an error: the report is empty.
pub fn cost_report_json(
    ledger_path: &Path,
    query: &ReportQuery,
) -> Result<serde_json::Value, Error> {
    let mut q = query.clone();
    q.as_of = q.as_of.or_else(|| Some(Utc::now()));
    if !ledger_path.exists() {
        return Ok(CostReport::from_records(Vec::new(), &q).to_json());
    }
    CostReport::from_ledger(ledger_path, &q).map(|r| r.to_json())
}
