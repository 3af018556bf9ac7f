//! What a report covers: workflow filter, time window, grouping and the "as of" time used to
//! decide idle tasks. Parsed from a query string (`GET /v1/reports/cost?...`) or built in code.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::{Error, parse_duration};
use crate::types::WorkflowId;

/// Default idle time before a task with no outcome counts as abandoned.
const DEFAULT_ABANDON_AFTER_SECS: i64 = 30 * 60;

/// How report rows are keyed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row per workflow.
    #[default]
    Workflow,
    /// One row per answering model (`(none)` for requests no model answered).
    Model,
    /// One row per route (`(none)` for unrouted requests).
    Route,
    /// One row per UTC day (`YYYY-MM-DD`).
    Day,
}

/// The scope of a report. Build with [`ReportQuery::default`] and struct update syntax, or
/// parse a query string with [`ReportQuery::parse_query`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportQuery {
    /// Only this workflow, when set.
    pub workflow: Option<WorkflowId>,
    /// Inclusive start of the window (record `ts`), when set.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end of the window, when set.
    pub to: Option<DateTime<Utc>>,
    /// Row key.
    pub group_by: GroupBy,
    /// A task with no outcome record whose last request is older than this (relative to
    /// `as_of`) counts as abandoned.
    #[serde(with = "duration_secs")]
    pub abandon_after: chrono::Duration,
    /// "Now" for the idle rule. `None`: the latest `ts` in the ledger (deterministic replay).
    pub as_of: Option<DateTime<Utc>>,
}

// --- GroupBy ---

impl GroupBy {
    /// The snake_case name (`workflow`, `model`, `route`, `day`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Workflow => "workflow",
            GroupBy::Model => "model",
            GroupBy::Route => "route",
            GroupBy::Day => "day",
        }
    }

    /// Parses a snake_case name.
    ///
    /// # Errors
    /// [`Error::BadParameter`] naming `group_by`.
    pub fn parse(s: &str) -> Result<GroupBy, Error> {
        match s {
            "workflow" => Ok(GroupBy::Workflow),
            "model" => Ok(GroupBy::Model),
            "route" => Ok(GroupBy::Route),
            "day" => Ok(GroupBy::Day),
            other => Err(bad(
                "group_by",
                format!("`{other}` is not one of workflow, model, route, day"),
            )),
        }
    }
}

// --- ReportQuery ---

impl Default for ReportQuery {
    /// Everything, grouped by workflow, 30 minutes of idle time, as of the ledger's end.
    fn default() -> Self {
        Self {
            workflow: None,
            from: None,
            to: None,
            group_by: GroupBy::Workflow,
            abandon_after: chrono::Duration::seconds(DEFAULT_ABANDON_AFTER_SECS),
            as_of: None,
        }
    }
}

impl ReportQuery {
    /// Parses a URL query string (without the leading `?`), percent-decoded. Parameters:
    /// `workflow`, `group_by` (workflow|model|route|day), `from` / `to` (RFC 3339 or
    /// `YYYY-MM-DD`, UTC midnight), `month` (`YYYY-MM`, sets `from`/`to`; not with them),
    /// `abandon_after` (e.g. `30m`). An empty string gives [`ReportQuery::default`].
    ///
    /// # Errors
    /// [`Error::BadParameter`] naming the first unknown, repeated or malformed parameter, or
    /// `from`/`to` when the window is empty.
    pub fn parse_query(qs: &str) -> Result<ReportQuery, Error> {
        let mut q = ReportQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in form_urlencoded::parse(qs.as_bytes()) {
            if seen.iter().any(|k| *k == key) {
                return Err(bad(&key, "given more than once".to_owned()));
            }
            seen.push(key.to_string());
            q.apply(&key, &value)?;
        }
        if seen.iter().any(|k| k == "month") && seen.iter().any(|k| k == "from" || k == "to") {
            return Err(bad("month", "cannot be combined with from/to".to_owned()));
        }
        q.check_window()?;
        Ok(q)
    }

    /// Sets `from`/`to` to the UTC calendar month `YYYY-MM`.
    ///
    /// # Errors
    /// [`Error::BadParameter`] naming `month`.
    pub fn with_month(mut self, month: &str) -> Result<ReportQuery, Error> {
        let (from, to) = month_bounds(month)?;
        self.from = Some(from);
        self.to = Some(to);
        Ok(self)
    }

    /// Whether a record time falls in `[from, to)`.
    pub fn contains(&self, ts: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| ts >= f) && self.to.is_none_or(|t| ts < t)
    }

    /// Whether a workflow passes the filter.
    pub fn accepts_workflow(&self, w: &WorkflowId) -> bool {
        self.workflow.as_ref().is_none_or(|f| f == w)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), Error> {
        match key {
            "workflow" if !value.is_empty() => self.workflow = Some(WorkflowId(value.to_owned())),
            "workflow" => return Err(bad(key, "must not be empty".to_owned())),
            "group_by" => self.group_by = GroupBy::parse(value)?,
            "from" => self.from = Some(parse_time(key, value)?),
            "to" => self.to = Some(parse_time(key, value)?),
            "month" => {
                let (from, to) = month_bounds(value)?;
                self.from = Some(from);
                self.to = Some(to);
            }
            "abandon_after" => {
                self.abandon_after = parse_duration(value)
                    .filter(|d| *d > chrono::Duration::zero())
                    .ok_or_else(|| bad(key, format!("`{value}` is not a duration like 30m")))?;
            }
            other => {
                return Err(bad(
                    other,
                    "unknown parameter (known: workflow, group_by, from, to, month, abandon_after)"
                        .to_owned(),
                ));
            }
        }
        Ok(())
    }

    fn check_window(&self) -> Result<(), Error> {
        match (self.from, self.to) {
            (Some(f), Some(t)) if f >= t => Err(bad("to", "must be after `from`".to_owned())),
            _ => Ok(()),
        }
    }
}

/// `[first instant of month, first instant of next month)` for `YYYY-MM`.
pub(crate) fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let err = || bad("month", format!("`{month}` is not a month like 2026-11"));
    let (y, m) = month.trim().split_once('-').ok_or_else(err)?;
    let y: i32 = y.parse().map_err(|_| err())?;
    let m: u32 = m.parse().map_err(|_| err())?;
    let start = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(err)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .ok_or_else(err)?;
    Ok((midnight(start), midnight(next)))
}

/// The `YYYY-MM` of a time.
pub(crate) fn month_of(ts: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", ts.year(), ts.month())
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&NaiveDateTime::from(d))
}

fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(midnight)
        .map_err(|_| bad(key, format!("`{value}` is not RFC 3339 or YYYY-MM-DD")))
}

fn bad(param: &str, detail: String) -> Error {
    Error::BadParameter {
        param: param.to_owned(),
        detail,
    }
}

/// Serializes a duration as whole seconds.
mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &chrono::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<chrono::Duration, D::Error> {
        let secs = i64::deserialize(d)?;
        chrono::Duration::try_seconds(secs)
            .ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}
