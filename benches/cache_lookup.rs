//! Measures the cache lookup path of a hit, in-process tier only:
//! (1) `Policy::lookup_decision` (PII scan of the messages + canonical key + sha256) followed
//!     by `ResponseCache::get` hitting a 4 KB answer; (2) the decision alone; (3) `get` alone.
//! Input: seeded generator (SmallRng seed 7): a chat request with a system prompt, 4 turns
//! (~2.5 KB of text), one tool schema, temperature 0; the stored answer has 4 KB of content.
//! Target: (1) median ≤ 50 µs.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "bench harness: a failed setup must abort the run, not skew it"
)]

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use purser::api::{ChatCompletion, ChatRequest};
use purser::cache::{
    CacheDecision, CachedAnswer, ClientCacheDirective, KeyContext, Policy, ResponseCache, Settings,
};
use purser::types::{MicroUsd, ModelId, WorkflowId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const WORDS: &[&str] = &[
    "explain",
    "the",
    "quarterly",
    "report",
    "and",
    "list",
    "three",
    "risks",
    "for",
    "our",
    "supply",
    "chain",
    "in",
    "plain",
    "language",
    "with",
    "numbers",
    "where",
    "useful",
];

fn text(rng: &mut SmallRng, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 16);
    while s.len() < bytes {
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        s.push(' ');
    }
    s
}

fn request(rng: &mut SmallRng) -> ChatRequest {
    let body = json!({
        "model": "auto", "temperature": 0, "max_tokens": 800,
        "messages": [
            {"role": "system", "content": text(rng, 800)},
            {"role": "user", "content": text(rng, 500)},
            {"role": "assistant", "content": text(rng, 600)},
            {"role": "user", "content": text(rng, 600)},
        ],
        "tools": [{"type": "function", "function": {"name": "search", "description": "search docs",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "k": {"type": "integer"}},
            "required": ["q"]}}}]
    });
    serde_json::from_value(body).unwrap()
}

fn answer(rng: &mut SmallRng) -> CachedAnswer {
    let completion: ChatCompletion =
        serde_json::from_value(json!({"id": "chatcmpl-b", "object": "chat.completion",
        "created": 1, "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": text(rng, 4096)}}],
        "usage": {"prompt_tokens": 700, "completion_tokens": 900, "total_tokens": 1600}}))
        .unwrap();
    CachedAnswer {
        completion,
        cost: MicroUsd(900),
        model: ModelId::new("gpt-4o-mini"),
        stored_at: Utc::now(),
    }
}

fn bench_lookup(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(7);
    let req = request(&mut rng);
    let stored = answer(&mut rng);
    let (wf, model) = (WorkflowId("bench".into()), ModelId::new("gpt-4o-mini"));
    let ctx = KeyContext {
        workflow: &wf,
        model: &model,
        compression_version: "c1",
        routing_version: "r1",
    };
    let policy = Policy::try_new(Settings::default()).unwrap();
    let cache = rt
        .block_on(ResponseCache::try_new(&Settings::default()))
        .unwrap();
    let CacheDecision::Use(key) = policy.lookup_decision(&req, &ctx, ClientCacheDirective::Default)
    else {
        panic!("bench request must be cacheable");
    };
    rt.block_on(cache.put(&key, stored, Duration::from_secs(3600)));
    assert!(rt.block_on(cache.get(&key)).is_some());

    c.bench_function("cache_decision_and_hit_4k_answer", |b| {
        b.to_async(&rt).iter(|| async {
            let d = policy.lookup_decision(black_box(&req), &ctx, ClientCacheDirective::Default);
            let k = d.lookup_key().unwrap();
            black_box(cache.get(k).await.unwrap())
        })
    });
    c.bench_function("cache_decision_only", |b| {
        b.iter(|| policy.lookup_decision(black_box(&req), &ctx, ClientCacheDirective::Default))
    });
    c.bench_function("cache_get_hit_only", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.get(black_box(&key)).await.unwrap()) })
    });
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
