//! The forecaster pieces: reading a ledger into month-end forecasts, publishing gauges and
//! overrun alerts (recorded in the ledger), and stopping the periodic task.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use purser::alert::{
    Forecast, ForecasterParts, LedgerSpend, Notifier, NotifierParts, Settings, forecast_ledger,
    publish_forecasts, spawn_forecaster,
};
use purser::ledger::{Ledger, LedgerRecord, RecordBody, RequestRecord, read_records};
use purser::metrics::Metrics;
use purser::types::{MicroUsd, ModelId, WorkflowId};
use tokio_util::sync::CancellationToken;

fn line(seq: u64, ts: DateTime<Utc>, wf: &str, cost: i64) -> String {
    let mut r = RequestRecord::new("r", WorkflowId(wf.into()), ModelId::new("m"));
    r.cost_micros = MicroUsd(cost);
    let rec = LedgerRecord {
        schema_version: 1,
        seq,
        ts,
        kind: purser::ledger::RecordKind::Request,
        prev_hash: "0".repeat(64),
        hash: "0".repeat(64),
        body: RecordBody::Request(r),
    };
    serde_json::to_string(&rec).unwrap()
}

#[test]
fn forecast_ledger_projects_each_workflow_from_hourly_spend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut seq = 0;
    for h in 0..48 {
        for (wf, cost) in [("steady", 10_000), ("growing", 1_000 * h)] {
            seq += 1;
            let ts = start + chrono::Duration::minutes(60 * h + 30);
            writeln!(f, "{}", line(seq, ts, wf, cost)).unwrap();
        }
    }
    drop(f);
    let as_of = start + chrono::Duration::hours(48);
    let (month, forecasts) = forecast_ledger(&path, as_of, 0.95).unwrap();
    assert_eq!(month, "2026-11");
    let by: BTreeMap<_, _> = forecasts.into_iter().collect();
    let steady = by[&WorkflowId("steady".into())];
    assert_eq!(steady.point_usd, MicroUsd(10_000 * 720));
    let growing = by[&WorkflowId("growing".into())];
    // Σ_{h<720} 1000·h = 1000 · 720·719/2.
    assert_eq!(growing.point_usd, MicroUsd(1_000 * 720 * 719 / 2));
    let (_, none) = forecast_ledger(&dir.path().join("absent.jsonl"), as_of, 0.95).unwrap();
    assert!(none.is_empty());
}

/// The periodic forecaster reads only what the ledger gained since its last run: reading a
/// ledger in three slices (one ending in a torn line) gives the same forecasts as reading it
/// whole, and a replaced (shorter) ledger is read again from its start.
#[test]
fn incremental_reads_match_a_whole_read_and_restart_on_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let lines: Vec<String> = (0..72)
        .flat_map(|h| {
            let ts = start + chrono::Duration::minutes(60 * h + 10);
            [("a", 5_000 + 10 * h), ("b", 700 * h)].map(|(wf, c)| (ts, wf, c))
        })
        .enumerate()
        .map(|(i, (ts, wf, c))| line(i as u64 + 1, ts, wf, c))
        .collect();
    let as_of = start + chrono::Duration::hours(72);
    let mut spend = LedgerSpend::default();
    let mut f = std::fs::File::create(&path).unwrap();
    // First slice, then a line torn mid-write: it must be read once it is whole.
    let (torn_head, torn_tail) = lines[50].split_at(40);
    for l in &lines[..50] {
        writeln!(f, "{l}").unwrap();
    }
    write!(f, "{torn_head}").unwrap();
    f.flush().unwrap();
    spend.read_new(&path, |_| true).unwrap();
    writeln!(f, "{torn_tail}").unwrap();
    for l in &lines[51..100] {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    spend.read_new(&path, |_| true).unwrap();
    for l in &lines[100..] {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    spend.read_new(&path, |_| true).unwrap();
    let whole = forecast_ledger(&path, as_of, 0.95).unwrap();
    assert_eq!(whole.1.len(), 2);
    assert_eq!(spend.forecast(as_of, 0.95), whole);
    // Nothing new: the same answer, nothing counted twice.
    spend.read_new(&path, |_| true).unwrap();
    assert_eq!(spend.forecast(as_of, 0.95), whole);
    // The ledger is replaced by a shorter one holding only workflow `a`.
    let only_a: Vec<&String> = lines.iter().step_by(2).take(60).collect();
    std::fs::write(
        &path,
        only_a.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    spend.read_new(&path, |_| true).unwrap();
    let fresh = forecast_ledger(&path, as_of, 0.95).unwrap();
    assert_eq!(fresh.1.len(), 1);
    assert_eq!(spend.forecast(as_of, 0.95), fresh);
}

#[tokio::test]
async fn overrun_publishes_gauges_and_records_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let settings = purser::ledger::Settings::default();
    let (ledger, ledger_task) = Ledger::open(&settings, dir.path()).unwrap();
    let metrics = Arc::new(Metrics::try_new(&["a".into(), "b".into()]).unwrap());
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: Settings::default(),
        ledger: Some(ledger.clone()),
        metrics: Some(Arc::clone(&metrics)),
        cancel: CancellationToken::new(),
    })
    .unwrap();
    let f = |lower, point, upper| Forecast {
        lower_usd: MicroUsd(lower),
        point_usd: MicroUsd(point),
        upper_usd: MicroUsd(upper),
    };
    let forecasts = vec![
        (
            WorkflowId("a".into()),
            f(12_000_000, 15_000_000, 18_000_000),
        ),
        (WorkflowId("b".into()), f(8_000_000, 11_000_000, 14_000_000)),
    ];
    let budgets = BTreeMap::from([
        (WorkflowId("a".into()), MicroUsd(10_000_000)),
        (WorkflowId("b".into()), MicroUsd(10_000_000)),
    ]);
    let raised = publish_forecasts("2026-11", &forecasts, &budgets, &notifier, &metrics);
    assert_eq!(raised, 1);
    drop(notifier);
    task.wait().await.unwrap();
    let text = metrics.render();
    assert!(
        text.contains("purser_budget_forecast_month_end_usd{bound=\"lower\",workflow=\"a\"} 12"),
        "{text}"
    );
    assert!(
        text.contains("purser_budget_forecast_month_end_usd{bound=\"point\",workflow=\"b\"} 11"),
        "{text}"
    );
    assert!(
        text.contains("purser_alerts_total{kind=\"forecast_overrun\",workflow=\"a\"} 1"),
        "{text}"
    );
    ledger.shutdown().await.unwrap();
    ledger_task.wait().await.unwrap();
    let alerts: Vec<_> = read_records(&settings.resolve_path(dir.path()))
        .unwrap()
        .filter_map(|r| match r.unwrap().body {
            RecordBody::Alert(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].workflow.as_str(), "a");
    assert_eq!(alerts[0].alert_kind, "forecast_overrun");
    assert_eq!(alerts[0].value, 12_000_000.0);
}

#[tokio::test(start_paused = true)]
async fn forecaster_runs_periodically_and_stops_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: Settings::default(),
        ledger: None,
        metrics: None,
        cancel: cancel.clone(),
    })
    .unwrap();
    let handle = spawn_forecaster(ForecasterParts {
        ledger_path: dir.path().join("missing.jsonl"),
        budgets: Arc::new(BTreeMap::new),
        interval: Duration::from_secs(300),
        confidence: 0.95,
        notifier,
        metrics: Arc::new(Metrics::try_new(&[]).unwrap()),
        cancel: cancel.clone(),
    });
    tokio::time::sleep(Duration::from_secs(901)).await;
    assert!(!handle.is_finished());
    cancel.cancel();
    handle.await.unwrap();
    task.wait().await.unwrap();
}
