//! End-to-end use of the upstream module as the integrator wires it: settings TOML →
//! `Providers` → `call_chat` / `call_stream` against the simulated provider.
#![expect(
    clippy::unwrap_used,
    reason = "integration test helpers: a failed unwrap is a failed test"
)]

use futures::StreamExt;
use purser::api::ChatRequest;
use purser::tokenizer::Encoding;
use purser::upstream::{AttemptOutcome, FailureKind, Providers, Settings, call_chat, call_stream};
use serde_json::json;

const CONFIG: &str = r#"
[[providers]]
name = "simulated"
kind = "simulated"
models = [
  { name = "gpt-4o-mini", quality = 0.75, output_tokens = 60, chunk_size = 3 },
  { name = "gpt-4o", quality = 0.9, output_tokens = 80, first_token_latency = "200ms", per_token_latency = "5ms" },
]
replay = [{ path = "does/not/exist.csv", responses = { "gpt-4o" = "x_response" } }]
retry = { max_retries = 1, backoff_base = "10ms", backoff_max = "100ms" }
circuit_breaker = { failure_threshold = 3, cooldown = "5s" }
"#;

fn providers() -> Providers {
    let settings: Settings = toml::from_str(CONFIG).unwrap();
    Providers::try_new(&settings.providers).unwrap()
}

fn req(v: serde_json::Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn chat_through_the_registry_reports_one_attempt() {
    let p = providers();
    let h = p.handle("simulated").unwrap();
    let r =
        req(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}]}));
    let res = call_chat(h, &r).await;
    let c = res.result.unwrap();
    assert_eq!(res.attempts.len(), 1);
    assert_eq!(res.attempts[0].outcome, AttemptOutcome::Ok);
    assert_eq!(res.attempts[0].provider, "simulated");
    let u = c.usage.unwrap();
    assert_eq!(
        u.prompt_tokens,
        Encoding::for_model("gpt-4o-mini").count_request(&r).0
    );
}

#[tokio::test(start_paused = true)]
async fn stream_through_the_registry_with_usage_and_paused_latency() {
    let p = providers();
    let h = p.handle("simulated").unwrap();
    let r = req(
        json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Summarise the history of Rome"}]}),
    );
    let t0 = tokio::time::Instant::now();
    let res = call_stream(h, &r).await;
    // The first item (role chunk) is peeked before returning, without waiting.
    assert_eq!(res.attempts.len(), 1);
    let chunks: Vec<_> = res.result.unwrap().map(Result::unwrap).collect().await;
    let usage = chunks.last().unwrap().usage.unwrap().unwrap();
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter().filter_map(|ch| ch.delta.content.clone()))
        .collect();
    assert_eq!(
        usage.completion_tokens,
        Encoding::for_model("gpt-4o").count(&text).0
    );
    let expected = 200 + 5 * usage.completion_tokens;
    assert_eq!(t0.elapsed(), std::time::Duration::from_millis(expected));
}

#[tokio::test]
async fn unknown_model_is_a_client_error_without_retries() {
    let p = providers();
    let h = p.handle("simulated").unwrap();
    let r = req(json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}));
    let res = call_chat(h, &r).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::ClientError);
    assert_eq!(res.attempts.len(), 1);
}
