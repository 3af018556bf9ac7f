//! Budget windows: which UTC day and calendar month a moment falls in, the store keys of each
//! window (without the store's prefix) and when a window's state may expire.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};

/// Day windows are kept this long after the day ends (late settles still land).
const DAY_GRACE_DAYS: u64 = 2;
/// Month windows are kept this long after the month ends.
const MONTH_GRACE_DAYS: u64 = 7;

/// Keys of every window a request touches. Keys look like `{wf}:month:2026-11`; the braces make
/// all keys of one workflow share a Redis Cluster hash slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowKeys {
    pub(crate) month_label: String,
    pub(crate) day_label: String,
    pub(crate) month: String,
    pub(crate) day: String,
    /// `{wf}:task:{id}` when the request has a task id.
    pub(crate) task: Option<String>,
    /// `{wf}:steps:{id}` when the request has a task id.
    pub(crate) steps: Option<String>,
    /// Unix seconds after which the month window may be dropped.
    pub(crate) month_expire_at: i64,
    /// Unix seconds after which the day window may be dropped.
    pub(crate) day_expire_at: i64,
}

impl WindowKeys {
    /// Keys for `workflow` (and `task_id`) at `now`.
    pub(crate) fn at(workflow: &str, task_id: Option<&str>, now: DateTime<Utc>) -> Self {
        let date = now.date_naive();
        let month_label = date.format("%Y-%m").to_string();
        let day_label = date.format("%Y-%m-%d").to_string();
        Self {
            month: format!("{{{workflow}}}:month:{month_label}"),
            day: format!("{{{workflow}}}:day:{day_label}"),
            task: task_id.map(|t| task_key(workflow, t)),
            steps: task_id.map(|t| steps_key(workflow, t)),
            month_label,
            day_label,
            month_expire_at: month_end(date).saturating_add(days_secs(MONTH_GRACE_DAYS)),
            day_expire_at: day_end(date).saturating_add(days_secs(DAY_GRACE_DAYS)),
        }
    }
}

/// Key of a task's spend window.
pub(crate) fn task_key(workflow: &str, task_id: &str) -> String {
    format!("{{{workflow}}}:task:{task_id}")
}

/// Key of a task's step counter.
pub(crate) fn steps_key(workflow: &str, task_id: &str) -> String {
    format!("{{{workflow}}}:steps:{task_id}")
}

fn days_secs(days: u64) -> i64 {
    i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX)
}

/// Unix seconds of the first instant after `date`'s day.
fn day_end(date: NaiveDate) -> i64 {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    next.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// Unix seconds of the first instant of the month after `date`'s month.
fn month_end(date: NaiveDate) -> i64 {
    let first = date.with_day(1).unwrap_or(date);
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    next.and_time(NaiveTime::MIN).and_utc().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn month_and_day_boundaries_are_utc() {
        let before = WindowKeys::at("w", None, at("2026-11-30T23:59:59.999Z"));
        let after = WindowKeys::at("w", None, at("2026-12-01T00:00:00Z"));
        assert_eq!(before.month, "{w}:month:2026-11");
        assert_eq!(before.day, "{w}:day:2026-11-30");
        assert_eq!(after.month, "{w}:month:2026-12");
        assert_eq!(after.day, "{w}:day:2026-12-01");
        // 23:30 at UTC-5 on Nov 30 is already December in UTC.
        let offset: DateTime<chrono::FixedOffset> = "2026-11-30T19:30:00-05:00".parse().unwrap();
        let k = WindowKeys::at("w", None, offset.with_timezone(&Utc));
        assert_eq!(k.month_label, "2026-12");
    }

    #[test]
    fn expiry_follows_window_end_plus_grace() {
        let k = WindowKeys::at("w", Some("t1"), at("2026-12-31T10:00:00Z"));
        assert_eq!(
            k.month_expire_at,
            at("2027-01-08T00:00:00Z").timestamp(),
            "month ends Jan 1 + 7 days grace"
        );
        assert_eq!(k.day_expire_at, at("2027-01-03T00:00:00Z").timestamp());
        assert_eq!(k.task.as_deref(), Some("{w}:task:t1"));
        assert_eq!(k.steps.as_deref(), Some("{w}:steps:t1"));
    }
}
