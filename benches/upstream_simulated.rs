//! What: cost of the simulated upstream per request (answer generation, tokenization, JSON
//! schema generation, stream chunking) and of the resilience wrapper around it.
//! Input: fixed prompts below; models from `Simulated::default_models()` (zero latency).
//! Seed: the simulator is seeded by a hash of each request; retry jitter uses `Jitter::seeded(1)`.
//! Run: `cargo bench --bench upstream_simulated`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use purser::api::ChatRequest;
use purser::upstream::{
    CircuitBreaker, Jitter, Provider, RetryPolicy, Simulated, SimulatedSettings, UpstreamHandle,
    call_chat,
};
use serde_json::json;

fn simulated() -> Simulated {
    let settings: SimulatedSettings = match toml::from_str("name = 'sim'") {
        Ok(s) => s,
        Err(e) => unreachable!("static settings parse: {e}"),
    };
    match Simulated::try_new(&settings) {
        Ok(s) => s,
        Err(e) => unreachable!("default models are valid: {e}"),
    }
}

fn request(v: serde_json::Value) -> ChatRequest {
    match serde_json::from_value(v) {
        Ok(r) => r,
        Err(e) => unreachable!("static request parses: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => unreachable!("runtime: {e}"),
    };
    let sim = simulated();
    let text = request(json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Explain how photosynthesis turns light into chemical energy."}]}));
    let stream = request(json!({"model": "gpt-4o-mini", "stream": true,
        "stream_options": {"include_usage": true}, "messages": [
        {"role": "user", "content": "Explain how photosynthesis turns light into chemical energy."}]}));
    let schema = request(json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "Extract the order"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "order", "schema": {
            "type": "object", "required": ["id", "items"], "properties": {
                "id": {"type": "string", "format": "uuid"},
                "items": {"type": "array", "minItems": 3, "items": {"type": "object",
                    "required": ["sku", "qty"], "properties": {
                        "sku": {"type": "string", "maxLength": 12},
                        "qty": {"type": "integer", "minimum": 1, "maximum": 9}}}}}}}}}));

    c.bench_function("simulated_chat_text_120_tokens", |b| {
        b.to_async(&rt)
            .iter(|| async { sim.chat(&text).await.is_ok() })
    });
    c.bench_function("simulated_stream_collect", |b| {
        b.to_async(&rt).iter(|| async {
            match sim.chat_stream(&stream).await {
                Ok(s) => s.count().await,
                Err(_) => 0,
            }
        })
    });
    c.bench_function("simulated_chat_json_schema", |b| {
        b.to_async(&rt)
            .iter(|| async { sim.chat(&schema).await.is_ok() })
    });
    let handle = UpstreamHandle {
        provider: Arc::new(sim.clone()),
        policy: RetryPolicy::no_retries(),
        breaker: Arc::new(CircuitBreaker::new(5, std::time::Duration::from_secs(30))),
        jitter: Arc::new(Jitter::seeded(1)),
    };
    c.bench_function("call_chat_simulated_with_breaker", |b| {
        b.to_async(&rt)
            .iter(|| async { call_chat(&handle, &text).await.attempts.len() })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
