//! Measures one reserve + settle round trip of the budget store.
//! Input: workflow "bench" with per-task, daily and monthly limits large enough never to deny,
//! a step limit, thresholds [0.5, 0.8, 1.0]; task ids rotate over 1000 tasks; estimate 1500 µ$,
//! actual 1200 µ$; fixed clock 2027-03-15T12:00:00Z. No randomness (seed: none needed).
//! `memory`: `MemoryStore` in process. `redis`: `RedisStore` against 127.0.0.1:6379
//! (PURSER_TEST_REDIS_URL overrides) under a unique key prefix, deleted afterwards; skipped with
//! a message when Redis is unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use purser::budget::{
    BudgetStore, Envelope, MemoryStore, OnLimit, RedisOptions, RedisStore, ReserveRequest,
};
use purser::types::{MicroUsd, WorkflowId};

fn envelope() -> Envelope {
    Envelope {
        per_task: Some(MicroUsd(1_000_000_000_000)),
        daily: Some(MicroUsd(1_000_000_000_000)),
        monthly: Some(MicroUsd(1_000_000_000_000)),
        step_limit: Some(u32::MAX),
        on_limit: OnLimit::Deny,
        ..Envelope::unlimited()
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_805_112_000, 0).unwrap_or_default()
}

async fn round_trip(store: &dyn BudgetStore, env: &Envelope, wf: &WorkflowId, task: &str) {
    let req = ReserveRequest {
        workflow: wf,
        task_id: Some(task),
        estimate: MicroUsd(1_500),
        downgrade_estimate: None,
        now: now(),
        envelope: env,
    };
    if let Ok(r) = store.reserve(req).await {
        let _ = store.settle(r, MicroUsd(1_200)).await;
    }
}

fn bench_store(
    c: &mut Criterion,
    name: &str,
    rt: &tokio::runtime::Runtime,
    store: Arc<dyn BudgetStore>,
) {
    let env = envelope();
    let wf = WorkflowId("bench".to_owned());
    let tasks: Vec<String> = (0..1000).map(|i| format!("task-{i}")).collect();
    let counter = AtomicU64::new(0);
    c.bench_function(&format!("budget_reserve_settle/{name}"), |b| {
        b.to_async(rt).iter(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed) as usize % tasks.len();
            round_trip(store.as_ref(), &env, &wf, &tasks[i])
        })
    });
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    else {
        return;
    };
    bench_store(c, "memory", &rt, Arc::new(MemoryStore::default()));
    let url = std::env::var("PURSER_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("purser-bench:{}", uuid::Uuid::new_v4().simple());
    let opts = RedisOptions {
        timeout: Duration::from_secs(1),
        key_prefix: prefix.clone(),
        reservation_ttl: Duration::from_secs(900),
        task_retention: Duration::from_secs(3600),
    };
    match rt.block_on(RedisStore::connect_with(&url, opts)) {
        Ok(store) => {
            bench_store(c, "redis", &rt, Arc::new(store));
            rt.block_on(cleanup(&url, &prefix));
        }
        Err(e) => {
            eprintln!("SKIPPED budget_reserve_settle/redis: Redis unreachable at {url} ({e})")
        }
    }
}

async fn cleanup(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

criterion_group!(budget, benches);
criterion_main!(budget);
