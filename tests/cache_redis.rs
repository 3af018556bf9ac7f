//! Redis tier against a real Redis at 127.0.0.1:6379 (skipped with a message when absent),
//! plus degradation against a closed port and a server that never answers.
//! Each test uses its own key prefix (`purser-test-<uuid>`) and purges it at the end.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::time::Duration;

use chrono::Utc;
use purser::api::{ChatCompletion, ChatRequest};
use purser::cache::{
    CacheKey, CachedAnswer, ClientCacheDirective, KeyContext, Mode, Namespace, Policy, PurgeTarget,
    RedisStatus, RedisUrl, ResponseCache, Settings, StoreDecision,
};
use purser::types::{MicroUsd, ModelId, WorkflowId};
use serde_json::json;
use tokio::time::Instant;

const REDIS: &str = "redis://127.0.0.1:6379/";

async fn redis_up() -> bool {
    let probe = tokio::net::TcpStream::connect("127.0.0.1:6379");
    let up = matches!(
        tokio::time::timeout(Duration::from_millis(300), probe).await,
        Ok(Ok(_))
    );
    if !up {
        eprintln!(
            "SKIPPED: Redis not reachable at 127.0.0.1:6379; start redis-server to run this test"
        );
    }
    up
}

fn redis_settings(url: &str, prefix: &str) -> Settings {
    Settings {
        mode: Mode::Redis,
        redis_url: Some(RedisUrl::new(url)),
        redis_prefix: prefix.to_owned(),
        redis_timeout: purser::cache::HumanDuration(Duration::from_millis(200)),
        ..Settings::default()
    }
}

fn unique_prefix() -> String {
    format!("purser-test-{}", uuid::Uuid::new_v4().simple())
}

fn key_for(workflow: &str, question: &str) -> CacheKey {
    let req: ChatRequest = serde_json::from_value(json!({"model":"auto","temperature":0,
        "messages":[{"role":"user","content":question}]}))
    .unwrap();
    let (wf, model) = (WorkflowId(workflow.to_owned()), ModelId::new("gpt-4o-mini"));
    let ctx = KeyContext {
        workflow: &wf,
        model: &model,
        compression_version: "c1",
        routing_version: "r1",
    };
    let policy = Policy::try_new(Settings::default()).unwrap();
    policy
        .lookup_decision(&req, &ctx, ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone()
}

fn answer(text: &str) -> CachedAnswer {
    let completion: ChatCompletion = serde_json::from_value(json!({"id":"chatcmpl-r","object":"chat.completion",
        "created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":text},
        "finish_reason":"stop"}]}))
    .unwrap();
    CachedAnswer {
        completion,
        cost: MicroUsd(1234),
        model: ModelId::new("gpt-4o-mini"),
        stored_at: Utc::now(),
    }
}

async fn raw_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_replicas_share_hits_through_redis() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let s = redis_settings(REDIS, &prefix);
    let a = ResponseCache::try_new(&s).await.unwrap();
    let b = ResponseCache::try_new(&s).await.unwrap();
    assert_eq!(a.redis_status(), RedisStatus::Connected);
    let key = key_for("wf", "Capital of France?");
    assert!(b.get(&key).await.is_none());
    let stored = answer(&"Paris. ".repeat(200));
    assert!(matches!(
        a.put(&key, stored.clone(), Duration::from_secs(30)).await,
        StoreDecision::Store { .. }
    ));
    let got = b
        .get(&key)
        .await
        .expect("replica B must hit A's entry through Redis");
    assert_eq!(*got, stored);
    assert_eq!(b.stats().saved_micro_usd, MicroUsd(1234));
    // B copied it into its memory tier.
    b.sync().await;
    assert_eq!(b.stats().entries, 1);
    // Another workflow on the same Redis never sees it.
    assert!(
        b.get(&key_for("other", "Capital of France?"))
            .await
            .is_none()
    );
    assert_eq!(a.redis_errors_total() + b.redis_errors_total(), 0);
    a.purge(&PurgeTarget::All).await;
}

#[tokio::test]
async fn redis_values_are_namespaced_compressed_and_expire() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let cache = ResponseCache::try_new(&redis_settings(REDIS, &prefix))
        .await
        .unwrap();
    let key = key_for("team:x*", "q");
    let stored = answer(&"very compressible ".repeat(300));
    cache
        .put(&key, stored.clone(), Duration::from_secs(20))
        .await;
    let rkey = cache.redis_key(&key);
    assert_eq!(
        rkey,
        format!("{prefix}:cache:team%3Ax%2A:{}", key.hash_hex())
    );
    let mut conn = raw_conn().await;
    let raw: Vec<u8> = redis::cmd("GET")
        .arg(&rkey)
        .query_async(&mut conn)
        .await
        .unwrap();
    let json_len = serde_json::to_vec(&stored).unwrap().len();
    assert_eq!(raw.first(), Some(&1u8), "format byte");
    assert!(
        raw.len() * 4 < json_len,
        "lz4 should shrink {json_len} bytes, got {}",
        raw.len()
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&rkey)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 20_000, "PTTL {pttl}");
    cache.purge(&PurgeTarget::All).await;
}

#[tokio::test]
async fn purge_removes_from_redis_for_every_replica() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let s = redis_settings(REDIS, &prefix);
    let a = ResponseCache::try_new(&s).await.unwrap();
    let (k1, k2) = (key_for("wf1", "q"), key_for("wf2", "q"));
    let blob = CacheKey::for_content(&WorkflowId("wf1".into()), Namespace::Summaries, &[b"doc"]);
    a.put(&k1, answer("one"), Duration::from_secs(30)).await;
    a.put(&k2, answer("two"), Duration::from_secs(30)).await;
    a.put_blob(
        &blob,
        bytes::Bytes::from_static(b"summary"),
        Duration::from_secs(30),
    )
    .await;
    let b = ResponseCache::try_new(&s).await.unwrap();
    let report = b
        .purge(&PurgeTarget::Workflow(WorkflowId("wf1".into())))
        .await;
    assert_eq!((report.redis, report.redis_incomplete), (2, false));
    let fresh = ResponseCache::try_new(&s).await.unwrap();
    assert!(fresh.get(&k1).await.is_none());
    assert!(fresh.get_blob(&blob).await.is_none());
    assert!(fresh.get(&k2).await.is_some());
    let by_prefix = fresh
        .purge(&PurgeTarget::KeyPrefix(format!(
            "wf2:{}",
            &k2.hash_hex()[..8]
        )))
        .await;
    assert_eq!(by_prefix.redis, 1);
    let other = ResponseCache::try_new(&s).await.unwrap();
    assert!(other.get(&k2).await.is_none());
}

async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[tokio::test]
async fn unreachable_redis_degrades_to_fast_misses() {
    let port = closed_port().await;
    let mut s = redis_settings(&format!("redis://127.0.0.1:{port}/"), &unique_prefix());
    s.redis_timeout = purser::cache::HumanDuration(Duration::from_millis(50));
    let started = Instant::now();
    let cache = ResponseCache::try_new(&s).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "construction took {:?}",
        started.elapsed()
    );
    assert_eq!(cache.redis_status(), RedisStatus::Degraded);
    assert!(cache.redis_errors_total() >= 1);
    let key = key_for("wf", "q");
    let t = Instant::now();
    assert!(cache.get(&key).await.is_none());
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "miss took {:?}",
        t.elapsed()
    );
    // The in-process tier still works.
    cache.put(&key, answer("x"), Duration::from_secs(30)).await;
    assert!(cache.get(&key).await.is_some());
    assert_eq!(cache.stats().redis_status, RedisStatus::Degraded);
}

#[tokio::test]
async fn silent_redis_times_out_within_the_budget() {
    // A server that accepts connections and never replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut s = redis_settings(&format!("redis://127.0.0.1:{port}/"), &unique_prefix());
    s.redis_timeout = purser::cache::HumanDuration(Duration::from_millis(50));
    let started = Instant::now();
    let cache = ResponseCache::try_new(&s).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "construction took {:?}",
        started.elapsed()
    );
    let key = key_for("wf", "q");
    for _ in 0..3 {
        let t = Instant::now();
        assert!(cache.get(&key).await.is_none());
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "miss took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(cache.redis_status(), RedisStatus::Degraded);
    server.abort();
}
