//! Reading a ledger file into a report, and the JSON body of `GET /v1/reports/cost`.
//! Blocking file I/O: async callers run these in `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use tokio::time::Instant;

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

/// Report JSON cached per query while the ledger file keeps its size, for at most `ttl`: a
/// dashboard polling every few seconds re-reads the ledger only when it grew (a full read of
/// 100k records takes about a second) or the entry expired (so idle tasks still turn
/// abandoned). Holds at most 64 queries. Blocking like [`cost_report_json`].
#[derive(Debug)]
pub struct ReportCache {
    ttl: std::time::Duration,
    entries: Mutex<HashMap<String, CachedReport>>,
}

#[derive(Debug, Clone)]
struct CachedReport {
    ledger_len: u64,
    at: Instant,
    json: serde_json::Value,
}

/// Most queries kept before the cache is cleared.
const MAX_CACHED_QUERIES: usize = 64;

// --- ReportCache ---

impl ReportCache {
    /// An empty cache whose entries live at most `ttl`.
    pub fn new(ttl: std::time::Duration) -> ReportCache {
        ReportCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// [`cost_report_json`], or the cached answer for the same query when the ledger has the
    /// same length and the entry is younger than `ttl`.
    ///
    /// # Errors
    /// As [`cost_report_json`].
    pub fn cost_report_json(
        &self,
        ledger_path: &Path,
        query: &ReportQuery,
    ) -> Result<serde_json::Value, Error> {
        let key = serde_json::to_string(query).unwrap_or_default();
        let len = std::fs::metadata(ledger_path).map(|m| m.len()).unwrap_or(0);
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock()
            && let Some(hit) = entries.get(&key)
            && hit.ledger_len == len
            && now.duration_since(hit.at) < self.ttl
        {
            return Ok(hit.json.clone());
        }
        let json = cost_report_json(ledger_path, query)?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_CACHED_QUERIES {
                entries.clear();
            }
            let entry = CachedReport {
                ledger_len: len,
                at: now,
                json: json.clone(),
            };
            entries.insert(key, entry);
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, cost: i64) -> String {
        format!(
            "{{\"schema_version\":1,\"seq\":{seq},\"ts\":\"2026-11-02T10:00:00.000000Z\",\"kind\":\"request\",\"prev_hash\":\"x\",\"hash\":\"y\",\"body\":{{\"request_id\":\"r\",\"workflow\":\"w\",\"requested_model\":\"m\",\"decision\":{{\"tier\":0,\"reason\":\"default\",\"classifier_version\":\"\"}},\"status\":200,\"outcome\":\"ok\",\"usage_source\":\"none\",\"cost_micros\":{cost},\"latency_ms\":1.0,\"attempts\":1,\"prompt_hash\":\"\"}}}}\n"
        )
    }

    #[test]
    fn cache_serves_same_length_ledger_and_rereads_a_grown_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        std::fs::write(&path, line(1, 100)).unwrap();
        let cache = ReportCache::new(std::time::Duration::from_secs(3600));
        let q = ReportQuery::default();
        let spend = |v: serde_json::Value| v["total"]["spend_micros"].as_i64().unwrap();
        assert_eq!(spend(cache.cost_report_json(&path, &q).unwrap()), 100);
        // Same length, different content: served from the cache.
        std::fs::write(&path, line(1, 200)).unwrap();
        assert_eq!(spend(cache.cost_report_json(&path, &q).unwrap()), 100);
        // The ledger grew: read again.
        std::fs::write(&path, line(1, 200) + &line(2, 5)).unwrap();
        assert_eq!(spend(cache.cost_report_json(&path, &q).unwrap()), 205);
        // A cache with no lifetime always reads.
        let fresh = ReportCache::new(std::time::Duration::ZERO);
        std::fs::write(&path, line(1, 300) + &line(2, 5)).unwrap();
        assert_eq!(spend(fresh.cost_report_json(&path, &q).unwrap()), 305);
    }
}
