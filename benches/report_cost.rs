// What is measured: `CostReport::from_records` (group by workflow and by model) and the
// month-end forecast (`forecast_month_end`) — the work behind `GET /v1/reports/cost`, the
// `purser report` CLI and each forecaster run, excluding file I/O and JSON decoding.
// Input: 100_000 synthetic request records over 30 days (8 workflows, 5 models, 20_000 tasks,
// a task outcome for 80% of tasks, 20% cache hits, compression on 30%), generated in memory;
// a 600-hour spend series for the forecast. `report_100k_records_from_file` also includes
// reading and decoding the same records from a JSON Lines file (what `/v1/reports/cost` does).
// Seed: SmallRng::seed_from_u64(42).
#![expect(
    clippy::unwrap_used,
    reason = "bench setup: a failure aborts the bench"
)]

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use purser::alert::{SpendSeries, forecast_month_end};
use purser::ledger::{
    CacheInfo, CacheStatus, CompressionInfo, LedgerRecord, OutcomeSource, RecordBody,
    RequestRecord, TaskOutcomeRecord, TaskStatus,
};
use purser::report::{CostReport, ReportQuery};
use purser::types::{MicroUsd, ModelId, Tokens, WorkflowId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const WORKFLOWS: [&str; 8] = [
    "support", "sales", "etl", "search", "code", "docs", "qa", "ops",
];
const MODELS: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-nano",
    "gpt-4.1-mini",
    "gpt-4.1",
];

fn records(n: usize) -> Vec<LedgerRecord> {
    let mut rng = SmallRng::seed_from_u64(42);
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut out = Vec::with_capacity(n + n / 4);
    for i in 0..n {
        let task = rng.random_range(0..20_000u32);
        let wf = WORKFLOWS[task as usize % WORKFLOWS.len()];
        let mut r = RequestRecord::new(format!("r{i}"), WorkflowId(wf.into()), ModelId::new("x"));
        r.model = Some(ModelId::new(MODELS[rng.random_range(0..MODELS.len())]));
        r.task_id = Some(format!("t{task}"));
        r.route = Some("default".into());
        r.cost_micros = MicroUsd(rng.random_range(10..50_000));
        r.baseline_cost_micros = Some(MicroUsd(60_000));
        r.tokens.input = Tokens(rng.random_range(100..4_000));
        r.tokens.output = Tokens(rng.random_range(10..800));
        let hit = rng.random_bool(0.2);
        r.cache = Some(CacheInfo {
            status: if hit {
                CacheStatus::Hit
            } else {
                CacheStatus::Miss
            },
            reason: None,
        });
        if hit {
            r.would_have_cost_micros = Some(MicroUsd(20_000));
        }
        if rng.random_bool(0.3) {
            r.compression = Some(CompressionInfo {
                tokens_before: Tokens(5_000),
                tokens_after: Tokens(2_000),
                saved_micros: MicroUsd(500),
            });
        }
        let ts = start + Duration::seconds((i as i64) * 25);
        out.push(rec(out.len() as u64 + 1, ts, r.into()));
        if i % 5 == 4 && rng.random_bool(0.8) {
            let o = TaskOutcomeRecord {
                workflow: WorkflowId(wf.into()),
                task_id: format!("t{task}"),
                status: if rng.random_bool(0.9) {
                    TaskStatus::Completed
                } else {
                    TaskStatus::Failed
                },
                quality: None,
                source: OutcomeSource::Client,
            };
            out.push(rec(out.len() as u64 + 1, ts, o.into()));
        }
    }
    out
}

fn rec(seq: u64, ts: chrono::DateTime<Utc>, body: RecordBody) -> LedgerRecord {
    LedgerRecord {
        schema_version: 1,
        seq,
        ts,
        kind: body.kind(),
        prev_hash: String::new(),
        hash: String::new(),
        body,
    }
}

fn bench(c: &mut Criterion) {
    let recs = records(100_000);
    let by_workflow = ReportQuery::default();
    let by_model = ReportQuery::parse_query("group_by=model").unwrap();
    c.bench_function("report_100k_records_by_workflow", |b| {
        b.iter(|| CostReport::from_records(recs.iter().cloned(), &by_workflow))
    });
    c.bench_function("report_100k_records_by_model", |b| {
        b.iter(|| CostReport::from_records(recs.iter().cloned(), &by_model))
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let mut text = String::new();
    for r in &recs {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    c.bench_function("report_100k_records_from_file", |b| {
        b.iter(|| CostReport::from_ledger(&path, &by_workflow).unwrap())
    });
    let mut rng = SmallRng::seed_from_u64(42);
    let series = SpendSeries {
        hourly: (0..600)
            .map(|h| MicroUsd(1_000 * h + rng.random_range(0..5_000)))
            .collect(),
        current_hour: MicroUsd::ZERO,
        hours_in_month: 720,
    };
    c.bench_function("forecast_600_hours", |b| {
        b.iter(|| forecast_month_end(&series, 0.95))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
