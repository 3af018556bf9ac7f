//! Ledger append benchmarks.
//!
//! Measured: (1) throughput of appending 10 000 request records through the writer thread,
//! until `shutdown` returns (all written and synced), with `fsync = "group"` and, for
//! comparison, `"off"`; (2) the latency a caller sees for `append_acked` (written and
//! group-fsync'd) with 1 and 32 concurrent callers; (3) the time `append` (enqueue only)
//! takes. Input: a fixed, deterministic request record (~700 bytes per line; no randomness,
//! so no seed). Files live in a fresh temp dir (`$TMPDIR`); fsync cost depends on that
//! filesystem. Criterion's median is read from `target/criterion/*/new/estimates.json`.
#![expect(
    clippy::panic,
    reason = "bench harness: a failed setup or append must abort the run, not skew it"
)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use purser::ledger::{
    CacheInfo, CacheStatus, FsyncPolicy, Ledger, LedgerHandle, LedgerTask, RecordBody,
    RequestRecord, RoutingDecision, Settings, TokenCounts, UsageSource,
};
use purser::types::{MicroUsd, ModelId, Tier, Tokens, WorkflowId};
use tokio::runtime::Runtime;
use tokio::time::Instant;

const BATCH: u64 = 10_000;

fn body(i: u64) -> RecordBody {
    RecordBody::Request(RequestRecord {
        task_id: Some("task-42".into()),
        route: Some("default".into()),
        decision: RoutingDecision {
            tier: Tier(0),
            reason: "classifier".into(),
            score: Some(0.27),
            classifier_version: "clf-2026-01".into(),
        },
        model: Some(ModelId::new("gpt-4o-mini")),
        provider: Some("openai".into()),
        tokens: TokenCounts {
            input: Tokens(1200 + i % 100),
            output: Tokens(180),
            cached_input: Tokens(0),
        },
        usage_source: UsageSource::Provider,
        cost_micros: MicroUsd(288),
        baseline_cost_micros: Some(MicroUsd(4800)),
        latency_ms: 812.4,
        upstream_ms: Some(790.1),
        attempts: 1,
        cache: Some(CacheInfo {
            status: CacheStatus::Miss,
            reason: None,
        }),
        prompt_hash: "9f2c".repeat(16),
        ..RequestRecord::new(
            format!("req-{i:08}"),
            WorkflowId("support-bot".into()),
            ModelId::new("auto"),
        )
    })
}

fn open(dir: &tempfile::TempDir, fsync: FsyncPolicy) -> (LedgerHandle, LedgerTask) {
    let settings = Settings {
        fsync,
        ..Settings::default()
    };
    match Ledger::open(&settings, dir.path()) {
        Ok(pair) => pair,
        Err(e) => panic!("cannot open ledger: {e}"),
    }
}

/// Appends `BATCH` records and shuts down; returns the time from first append to shutdown.
async fn append_batch(fsync: FsyncPolicy, bodies: &[RecordBody]) -> Duration {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let (h, task) = open(&dir, fsync);
    let start = Instant::now();
    for b in bodies {
        if let Err(e) = h.append(b).await {
            panic!("append failed: {e}");
        }
    }
    if let Err(e) = h.shutdown().await {
        panic!("shutdown failed: {e}");
    }
    let took = start.elapsed();
    drop(task.wait().await);
    took
}

fn throughput(c: &mut Criterion, rt: &Runtime) {
    let bodies: Vec<RecordBody> = (0..BATCH).map(body).collect();
    let mut g = c.benchmark_group("ledger_append_throughput");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    for (name, fsync) in [("group", FsyncPolicy::Group), ("off", FsyncPolicy::Off)] {
        g.bench_function(BenchmarkId::new("append_10k_then_shutdown", name), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let bodies = &bodies;
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += append_batch(fsync, bodies).await;
                    }
                    total
                }
            });
        });
    }
    g.finish();
}

/// `per_task` acked appends from each of `tasks` concurrent callers; returns the mean latency
/// of one call times `tasks * per_task` (criterion divides by the iteration count).
async fn acked_latency(h: &LedgerHandle, tasks: u64, per_task: u64) -> Duration {
    let mut joins = Vec::new();
    for t in 0..tasks {
        let h = h.clone();
        joins.push(tokio::spawn(async move {
            let mut sum = Duration::ZERO;
            for i in 0..per_task {
                let b = body(t * 1_000_000 + i);
                let start = Instant::now();
                if let Err(e) = h.append_acked(&b).await {
                    panic!("append_acked failed: {e}");
                }
                sum += start.elapsed();
            }
            sum
        }));
    }
    let mut total = Duration::ZERO;
    for j in joins {
        total += j.await.unwrap_or_default();
    }
    total
}

fn latency(c: &mut Criterion, rt: &Runtime) {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let (h, task) = rt.block_on(async { open(&dir, FsyncPolicy::Group) });
    let mut g = c.benchmark_group("ledger_append_latency");
    for tasks in [1u64, 32] {
        g.bench_function(BenchmarkId::new("append_acked_group_fsync", tasks), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let h = h.clone();
                async move {
                    let per_task = iters.div_ceil(tasks);
                    let total = acked_latency(&h, tasks, per_task).await;
                    // Scale to `iters` calls so criterion reports time per call.
                    total.mul_f64(iters as f64 / (tasks * per_task) as f64)
                }
            });
        });
    }
    g.bench_function("append_enqueue_only", |b| {
        let rec = body(7);
        b.to_async(rt).iter(|| {
            let h = h.clone();
            let rec = &rec;
            async move {
                if let Err(e) = h.append(rec).await {
                    panic!("append failed: {e}");
                }
            }
        });
    });
    g.finish();
    rt.block_on(async {
        drop(h.shutdown().await);
        drop(task.wait().await);
    });
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        panic!("no runtime")
    };
    throughput(c, &rt);
    latency(c, &rt);
}

criterion_group!(ledger, benches);
criterion_main!(ledger);
