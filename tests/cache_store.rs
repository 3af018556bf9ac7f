//! In-process tier end to end through the public API: decision → get → store → hit,
//! workflow isolation, purge, statistics, byte bound, intermediate results.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use purser::api::{ChatCompletion, ChatRequest};
use purser::cache::{
    Answer, ByteSize, CacheDecision, CacheKey, CachedAnswer, ClientCacheDirective, KeyContext,
    Namespace, Policy, PurgeTarget, RedisStatus, ResponseCache, Settings, SkipReason,
    StoreDecision,
};
use purser::types::{MicroUsd, ModelId, WorkflowId};
use serde_json::{Value, json};

fn settings() -> Settings {
    Settings::default()
}

fn completion(text: &str) -> ChatCompletion {
    serde_json::from_value(json!({"id":"chatcmpl-1","object":"chat.completion","created":1,
        "model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":text},
        "finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}))
    .unwrap()
}

fn answer(text: &str, cost: i64) -> CachedAnswer {
    CachedAnswer {
        completion: completion(text),
        cost: MicroUsd(cost),
        model: ModelId::new("gpt-4o-mini"),
        stored_at: Utc::now(),
    }
}

fn decide(
    policy: &Policy,
    body: &str,
    workflow: &str,
    directive: ClientCacheDirective,
) -> CacheDecision {
    let req: ChatRequest = serde_json::from_str(body).unwrap();
    let wf = WorkflowId(workflow.to_owned());
    let model = ModelId::new("gpt-4o-mini");
    let ctx = KeyContext {
        workflow: &wf,
        model: &model,
        compression_version: "c1",
        routing_version: "r1",
    };
    policy.lookup_decision(&req, &ctx, directive)
}

const BODY: &str = r#"{"model":"auto","temperature":0,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Capital of France?"}]}"#;
const BODY_REORDERED: &str = r#"{ "messages": [ {"content":"Be brief.","role":"system"}, {"content":"Capital of France?","role":"user"} ],
  "temperature": 0.0, "model": "auto" }"#;

/// The pipeline's cache steps: look up, and on a miss store the answer if policy allows.
async fn serve(
    cache: &ResponseCache,
    policy: &Policy,
    body: &str,
    workflow: &str,
    reply: &ChatCompletion,
) -> bool {
    let decision = decide(policy, body, workflow, ClientCacheDirective::Default);
    if let Some(key) = decision.lookup_key()
        && cache.get(key).await.is_some()
    {
        return true;
    }
    if let Some(key) = decision.store_key()
        && let StoreDecision::Store { ttl } = policy.store_decision(key, Answer::Complete(reply))
    {
        let stored = cache
            .put(
                key,
                CachedAnswer {
                    completion: reply.clone(),
                    cost: MicroUsd(250),
                    model: ModelId::new("gpt-4o-mini"),
                    stored_at: Utc::now(),
                },
                ttl,
            )
            .await;
        assert!(matches!(stored, StoreDecision::Store { .. }));
    }
    false
}

#[tokio::test]
async fn identical_deterministic_request_hits_even_with_reordered_json() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let policy = Policy::try_new(settings()).unwrap();
    let reply = completion("Paris.");
    assert!(
        !serve(&cache, &policy, BODY, "wf", &reply).await,
        "first call must miss"
    );
    assert!(
        serve(&cache, &policy, BODY, "wf", &reply).await,
        "same request must hit"
    );
    assert!(
        serve(&cache, &policy, BODY_REORDERED, "wf", &reply).await,
        "reordered JSON must hit"
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (2, 1));
    assert_eq!(stats.saved_micro_usd, MicroUsd(500));
    assert_eq!(stats.redis_status, RedisStatus::Disabled);
    let wf = &stats.workflows[&WorkflowId("wf".into())];
    assert_eq!(wf.stores, 1);
    assert!((wf.hit_ratio - 2.0 / 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn hit_returns_the_stored_completion() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let policy = Policy::try_new(settings()).unwrap();
    let key = decide(&policy, BODY, "wf", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    let stored = answer("Paris.", 99);
    cache
        .put(&key, stored.clone(), Duration::from_secs(60))
        .await;
    let got = cache.get(&key).await.unwrap();
    assert_eq!(*got, stored);
}

#[tokio::test]
async fn unsafe_requests_and_answers_never_hit() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let policy = Policy::try_new(settings()).unwrap();
    let sampled = r#"{"model":"m","temperature":0.8,"messages":[{"role":"user","content":"Capital of France?"}]}"#;
    let email = r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"Reply to jo@example.com"}]}"#;
    let card = r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"Is 4111-1111-1111-1111 valid?"}]}"#;
    for body in [sampled, email, card] {
        let reply = completion("ok");
        assert!(!serve(&cache, &policy, body, "wf", &reply).await);
        assert!(
            !serve(&cache, &policy, body, "wf", &reply).await,
            "{body} must never hit"
        );
    }
    // no-store twice: never a hit, nothing stored.
    for _ in 0..2 {
        assert_eq!(
            decide(&policy, BODY, "wf", ClientCacheDirective::NoStore),
            CacheDecision::Bypass(purser::cache::BypassReason::ClientNoStore)
        );
    }
    // Error and cut answers are not stored, so the next identical request misses.
    let key = decide(&policy, BODY, "wf", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    assert_eq!(
        policy.store_decision(&key, Answer::Error),
        StoreDecision::Skip(SkipReason::Error)
    );
    assert_eq!(
        policy.store_decision(&key, Answer::StreamCut),
        StoreDecision::Skip(SkipReason::StreamCut)
    );
    assert!(cache.get(&key).await.is_none());
    cache.sync().await;
    assert_eq!(cache.stats().entries, 0);
}

#[tokio::test]
async fn workflow_a_never_sees_workflow_b_entries() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let policy = Policy::try_new(settings()).unwrap();
    let reply = completion("Paris.");
    assert!(!serve(&cache, &policy, BODY, "team-a", &reply).await);
    assert!(serve(&cache, &policy, BODY, "team-a", &reply).await);
    assert!(
        !serve(&cache, &policy, BODY, "team-b", &reply).await,
        "B must not see A's entry"
    );
}

#[tokio::test]
async fn purge_by_workflow_and_by_key_prefix() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let policy = Policy::try_new(settings()).unwrap();
    let ka = decide(&policy, BODY, "a", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    let kb = decide(&policy, BODY, "b", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    let kab = decide(&policy, BODY, "ab", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    for k in [&ka, &kb, &kab] {
        cache.put(k, answer("x", 1), Duration::from_secs(60)).await;
    }
    let r = cache
        .purge(&PurgeTarget::Workflow(WorkflowId("a".into())))
        .await;
    assert_eq!(r.memory, 1, "workflow `a` only, not `ab`");
    assert!(cache.get(&ka).await.is_none());
    assert!(cache.get(&kab).await.is_some());
    let prefix = format!("b:{}", &kb.hash_hex()[..6]);
    assert_eq!(cache.purge(&PurgeTarget::KeyPrefix(prefix)).await.memory, 1);
    assert!(cache.get(&kb).await.is_none());
    assert_eq!(cache.purge(&PurgeTarget::All).await.memory, 1);
}

#[tokio::test]
async fn memory_tier_stays_within_max_bytes() {
    let s = Settings {
        max_bytes: ByteSize(64 << 10),
        ..settings()
    };
    let cache = ResponseCache::try_new(&s).await.unwrap();
    let wf = WorkflowId("wf".into());
    let text = "x".repeat(4000);
    for i in 0..100u32 {
        let k = CacheKey::for_content(&wf, Namespace::Summaries, &[&i.to_le_bytes()]);
        cache
            .put_blob(&k, Bytes::from(text.clone()), Duration::from_secs(60))
            .await;
    }
    cache.sync().await;
    let stats = cache.stats();
    assert!(stats.bytes <= 64 << 10, "bytes {} over bound", stats.bytes);
    assert!(stats.entries > 0 && stats.entries < 100);
}

#[tokio::test]
async fn oversized_answers_are_skipped() {
    let s = Settings {
        max_entry_bytes: ByteSize(1024),
        ..settings()
    };
    let cache = ResponseCache::try_new(&s).await.unwrap();
    let policy = Policy::try_new(s).unwrap();
    let key = decide(&policy, BODY, "wf", ClientCacheDirective::Default)
        .lookup_key()
        .unwrap()
        .clone();
    let big = answer(&"y".repeat(2000), 1);
    assert_eq!(
        cache.put(&key, big, Duration::from_secs(60)).await,
        StoreDecision::Skip(SkipReason::TooLarge)
    );
    assert!(cache.get(&key).await.is_none());
}

#[tokio::test]
async fn intermediate_results_round_trip_by_namespace() {
    let cache = ResponseCache::try_new(&settings()).await.unwrap();
    let wf = WorkflowId("wf".into());
    let body: Value = json!({"model":"text-embedding-3-small","input":"hello"});
    let k = CacheKey::for_embeddings(&wf, &body);
    assert!(cache.get_blob(&k).await.is_none());
    let value = Bytes::from_static(br#"{"data":[{"embedding":[0.1,0.2]}]}"#);
    cache
        .put_blob(&k, value.clone(), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get_blob(&k).await, Some(value));
    // A chat lookup never returns a blob, and chat keys cannot hold blobs.
    assert!(cache.get(&k).await.is_none());
    let stats = cache.stats();
    assert_eq!(stats.namespaces["emb"].hits, 1);
    assert_eq!(stats.namespaces["emb"].misses, 1);
}
