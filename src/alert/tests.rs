use chrono::{Duration, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::ledger::{LedgerRecord, RecordBody, RequestRecord};
use crate::types::{MicroUsd, ModelId, WorkflowId};

const NOVEMBER_HOURS: u32 = 30 * 24;

fn series(hourly: impl IntoIterator<Item = i64>) -> SpendSeries {
    SpendSeries {
        hourly: hourly.into_iter().map(MicroUsd).collect(),
        current_hour: MicroUsd::ZERO,
        hours_in_month: NOVEMBER_HOURS,
    }
}

/// Would an alert fire: the forecast's lower bound over the budget.
fn overruns(s: &SpendSeries, budget: MicroUsd) -> bool {
    forecast_month_end(s, 0.95).unwrap().lower_usd > budget
}

#[test]
fn flat_spend_projects_linearly_and_does_not_alert_under_budget() {
    // $0.01 per hour for 100 hours: $7.20 over 720 hours, exactly (zero residuals).
    let s = series(std::iter::repeat_n(10_000, 100));
    let f = forecast_month_end(&s, 0.95).unwrap();
    assert_eq!(f.point_usd, MicroUsd(7_200_000));
    assert_eq!(f.lower_usd, f.point_usd);
    assert!(!overruns(&s, MicroUsd(10_000_000)));
    assert!(overruns(&s, MicroUsd(7_000_000)));
}

#[test]
fn noisy_flat_spend_has_a_band_around_the_mean_and_no_alert() {
    let mut rng = SmallRng::seed_from_u64(7);
    let s = series((0..200).map(|_| 10_000 + rng.random_range(-3_000..=3_000)));
    let f = forecast_month_end(&s, 0.95).unwrap();
    assert!(
        f.lower_usd < f.point_usd && f.point_usd < f.upper_usd,
        "{f:?}"
    );
    let expected = 7_200_000.0;
    assert!(
        (f.point_usd.0 as f64 - expected).abs() / expected < 0.05,
        "{f:?}"
    );
    assert!(!overruns(&s, MicroUsd(9_000_000)));
}

#[test]
fn rising_spend_alerts_before_the_budget_is_spent() {
    // Spend grows by $0.0005 per hour each hour, with noise; after 5 days about $15 is spent,
    // the month would end near $130.
    let mut rng = SmallRng::seed_from_u64(11);
    let s = series((0..120).map(|h| 500 * h + rng.random_range(-2_000..=2_000)));
    let spent: i64 = s.hourly.iter().map(|m| m.0).sum();
    let budget = MicroUsd(60_000_000);
    assert!(spent < budget.0);
    assert!(overruns(&s, budget));
    let f = forecast_month_end(&s, 0.95).unwrap();
    assert!(f.point_usd.0 > 100_000_000, "{f:?}");
}

#[test]
fn alert_uses_the_lower_bound_not_the_point() {
    // Few, very noisy hours: the point is over the budget, the lower bound is not.
    let s = series([50_000, 10_000, 90_000, 30_000, 70_000]);
    let f = forecast_month_end(&s, 0.95).unwrap();
    let budget = MicroUsd(f.point_usd.0 - 1);
    assert!(f.point_usd > budget);
    assert!(f.lower_usd < budget && !overruns(&s, budget), "{f:?}");
}

#[test]
fn bounds_never_drop_below_spend_so_far() {
    // Falling spend projects negative hours: clamped at what is already spent.
    let mut s = series((0..50).map(|h| 50_000 - 1_000 * h));
    s.current_hour = MicroUsd(123);
    let spent: i64 = s.hourly.iter().map(|m| m.0).sum::<i64>() + 123;
    let f = forecast_month_end(&s, 0.95).unwrap();
    assert!(f.lower_usd.0 >= spent && f.point_usd.0 >= spent, "{f:?}");
    assert_eq!(forecast_month_end(&series([1, 2]), 0.95), None);
    assert_eq!(forecast_month_end(&series([1, 2, 3]), 1.0), None);
}

#[test]
fn month_spend_series_buckets_requests_by_hour_and_workflow() {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let as_of = start + Duration::minutes(3 * 60 + 30);
    let rec = |seq, minutes, wf: &str, cost| {
        let mut r = RequestRecord::new("r", WorkflowId(wf.into()), ModelId::new("m"));
        r.cost_micros = MicroUsd(cost);
        LedgerRecord {
            schema_version: 1,
            seq,
            ts: start + Duration::minutes(minutes),
            kind: crate::ledger::RecordKind::Request,
            prev_hash: String::new(),
            hash: String::new(),
            body: RecordBody::Request(r),
        }
    };
    let records = vec![
        rec(1, -5, "a", 1_000),
        rec(2, 10, "a", 1),
        rec(3, 50, "a", 2),
        rec(4, 130, "b", 7),
        rec(5, 200, "a", 5),
        rec(6, 240, "a", 1_000),
    ];
    let (month, map) = month_spend_series(records, as_of);
    assert_eq!(month, "2026-11");
    let a = &map[&WorkflowId("a".into())];
    assert_eq!(a.hourly, vec![MicroUsd(3), MicroUsd(0), MicroUsd(0)]);
    assert_eq!(a.current_hour, MicroUsd(5));
    assert_eq!(a.hours_in_month, 720);
    assert_eq!(map[&WorkflowId("b".into())].hourly[2], MicroUsd(7));
}

#[test]
fn webhook_bodies_and_ledger_record() {
    let alert = Alert::threshold_crossed(
        WorkflowId("support".into()),
        "2026-11",
        80,
        MicroUsd(8_100_000),
        MicroUsd(10_000_000),
    );
    let slack = alert.webhook_body(WebhookFormat::Slack);
    assert_eq!(slack.as_object().unwrap().len(), 1);
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("$8.100000 of its $10.000000")
    );
    let generic = alert.webhook_body(WebhookFormat::Generic);
    assert_eq!(generic["kind"], "threshold_crossed");
    assert_eq!(generic["detail"]["pct"], 80);
    assert_eq!(generic["threshold"], 0.8);
    let rec = alert.to_record(vec!["webhook:ops".into()]);
    assert_eq!(rec.alert_kind, "threshold_crossed");
    assert!((rec.value - 0.81).abs() < 1e-12);
    assert_ne!(
        alert.dedupe_key(),
        Alert::threshold_crossed(
            WorkflowId("support".into()),
            "2026-11",
            100,
            MicroUsd(1),
            MicroUsd(1)
        )
        .dedupe_key()
    );
}

#[test]
fn settings_parse_validate_and_hide_urls() {
    let s: Settings = toml::from_str(
        r#"
webhooks = [{ name = "ops", url = "https://hooks.example/T0/secret", format = "generic" }, { url = "http://x" }]
dedupe_window = "1h"
forecast_interval = "5m"
"#,
    )
    .unwrap();
    assert!(s.validate().is_empty());
    assert_eq!(s.webhooks[1].format, WebhookFormat::Slack);
    assert_eq!(s.webhooks[1].display_name(1), "webhook1");
    assert!(!format!("{s:?}").contains("secret"));
    assert!(!serde_json::to_string(&s).unwrap().contains("secret"));
    assert!(toml::from_str::<Settings>("webhook = []").is_err());
    let bad: Settings = toml::from_str(
        "dedupe_window = \"soon\"\nforecast_interval = \"0s\"\nwebhooks = [{ url = \"ftp://x\" }]",
    )
    .unwrap();
    let keys: Vec<String> = bad
        .validate()
        .into_iter()
        .map(|e| match e {
            Error::InvalidSetting { key, .. } => key,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        keys,
        ["dedupe_window", "forecast_interval", "webhooks[0].url"]
    );
}

#[test]
fn crossed_thresholds_fire_once_per_crossing() {
    let limit = MicroUsd(10_000_000);
    let t = [100, 80];
    assert_eq!(
        crossed_thresholds(MicroUsd(7_999_999), MicroUsd(8_000_000), limit, &t),
        [80]
    );
    assert!(crossed_thresholds(MicroUsd(8_000_000), MicroUsd(9_000_000), limit, &t).is_empty());
    assert_eq!(
        crossed_thresholds(MicroUsd(0), MicroUsd(12_000_000), limit, &t),
        [80, 100]
    );
    assert!(crossed_thresholds(MicroUsd(0), MicroUsd(5), MicroUsd(0), &t).is_empty());
}
