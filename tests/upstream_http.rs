//! Integration tests of the OpenAI-compatible HTTP provider and the resilience loops against an
//! in-process fake upstream on 127.0.0.1:0. Each scenario lives under its own path prefix and
//! counts its hits, so attempt counts can be asserted.
#![expect(
    clippy::unwrap_used,
    reason = "integration test helpers: a failed unwrap is a failed test"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use purser::api::ChatRequest;
use purser::upstream::{
    AttemptOutcome, CircuitBreaker, FailureKind, HttpSettings, Jitter, OpenAiCompatible, Provider,
    RetryPolicy, Secret, UpstreamHandle, call_chat, call_stream,
};
use serde_json::{Value, json};

/// Headers, query and body of one request the fake received.
type Seen = (HeaderMap, HashMap<String, String>, Value);

#[derive(Default)]
struct Fake {
    hits: Mutex<HashMap<String, usize>>,
    seen: Mutex<Vec<Seen>>,
    /// Lets the `abort` scenario drop the connection only after the client saw a chunk.
    release: tokio::sync::Notify,
}

type Shared = Arc<Fake>;

fn completion(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        "system_fingerprint": "fp_x"})
}

fn sse_chunk(content: &str) -> String {
    let c = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

fn sse(parts: Vec<Result<String, std::io::Error>>) -> Response {
    let body = Body::from_stream(futures::stream::iter(
        parts.into_iter().map(|p| p.map(Bytes::from)),
    ));
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn chat(
    State(fake): State<Shared>,
    Path(scenario): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let n = {
        let mut hits = fake.hits.lock().unwrap();
        let n = hits.entry(scenario.clone()).or_default();
        *n += 1;
        *n
    };
    fake.seen
        .lock()
        .unwrap()
        .push((headers, query, body.clone()));
    let ok = || axum::Json(completion("hello")).into_response();
    match (scenario.as_str(), n) {
        ("flaky500", 1) => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        ("ratelimited", 1) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after-ms", "20")],
            axum::Json(json!({"error": {"message": "slow down", "type": "rate_limit_error"}})),
        )
            .into_response(),
        ("ratelimited_long", _) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "120")],
            "no",
        )
            .into_response(),
        ("always500", _) => StatusCode::BAD_GATEWAY.into_response(),
        ("hang", _) => std::future::pending().await,
        ("badreq", _) => (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": {"message": "Invalid 'messages': empty", "type":
                "invalid_request_error", "param": "messages", "code": null}}),
            ),
        )
            .into_response(),
        ("garbage", _) => "this is not json".into_response(),
        ("echo", _) => axum::Json(completion(&body.to_string())).into_response(),
        ("cut", _) => sse(vec![Ok(sse_chunk("Hel")), Ok(sse_chunk("lo"))]),
        ("abort", _) => {
            let first =
                futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(sse_chunk("Hel")))]);
            let fail = futures::stream::once(async move {
                fake.release.notified().await;
                Err(std::io::Error::other("connection dropped"))
            });
            let body = Body::from_stream(first.chain(fail));
            ([("content-type", "text/event-stream")], body).into_response()
        }
        ("stream", _) => sse(vec![
            Ok(": keep-alive\n\n".to_owned()),
            Ok(sse_chunk("Hel")[..20].to_owned()),
            Ok(format!(
                "{}{}data: [DO",
                &sse_chunk("Hel")[20..],
                sse_chunk("lo")
            )),
            Ok("NE]\n\n".to_owned()),
        ]),
        ("flakystream", 1) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        ("flakystream", _) => sse(vec![Ok(sse_chunk("ok")), Ok("data: [DONE]\n\n".to_owned())]),
        _ => ok(),
    }
}

async fn embeddings(axum::Json(body): axum::Json<Value>) -> Response {
    axum::Json(json!({"object": "list", "model": body["model"],
        "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2}}))
    .into_response()
}

async fn start() -> (String, Shared) {
    let fake = Shared::default();
    let app = Router::new()
        .route("/{scenario}/v1/chat/completions", post(chat))
        .route("/{scenario}/v1/embeddings", post(embeddings))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn settings(base: &str, scenario: &str, extra: &str) -> HttpSettings {
    toml::from_str(&format!(
        "name = 'fake'\nbase_url = '{base}/{scenario}/v1'\ntimeout = '300ms'\nconnect_timeout = '300ms'\n{extra}"
    ))
    .unwrap()
}

fn handle_for(s: &HttpSettings, key: Option<&str>, max_retries: u32) -> UpstreamHandle {
    let provider = OpenAiCompatible::try_new(s, key.map(Secret::new)).unwrap();
    UpstreamHandle {
        provider: Arc::new(provider),
        policy: RetryPolicy {
            max_retries,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(100),
        },
        breaker: Arc::new(CircuitBreaker::new(50, Duration::from_secs(30))),
        jitter: Arc::new(Jitter::seeded(1)),
    }
}

fn req() -> ChatRequest {
    serde_json::from_value(json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"team": "a"}, "service_tier": "flex"}))
    .unwrap()
}

fn hits(fake: &Fake, scenario: &str) -> usize {
    fake.hits
        .lock()
        .unwrap()
        .get(scenario)
        .copied()
        .unwrap_or(0)
}

fn kinds(outcomes: &[purser::upstream::AttemptReport]) -> Vec<Option<(FailureKind, Option<u16>)>> {
    outcomes
        .iter()
        .map(|a| match a.outcome {
            AttemptOutcome::Ok => None,
            AttemptOutcome::Err { kind, status } => Some((kind, status)),
        })
        .collect()
}

#[tokio::test]
async fn server_error_then_success_takes_two_attempts() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "flaky500", ""), None, 2);
    let res = call_chat(&h, &req()).await;
    let c = res.result.unwrap();
    assert_eq!(c.choices[0].message.text_content(), "hello");
    assert_eq!(c.extra["system_fingerprint"], "fp_x");
    assert_eq!(hits(&fake, "flaky500"), 2);
    assert_eq!(
        kinds(&res.attempts),
        [Some((FailureKind::ServerError, Some(500))), None]
    );
    assert_eq!(res.attempts[1].attempt, 2);
    assert_eq!(res.attempts[0].provider, "fake");
    assert_eq!(res.attempts[0].model, "gpt-4o-mini");
}

#[tokio::test]
async fn rate_limit_then_success_honours_retry_after() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "ratelimited", ""), None, 2);
    let t0 = tokio::time::Instant::now();
    let res = call_chat(&h, &req()).await;
    assert!(res.result.is_ok());
    assert!(
        t0.elapsed() >= Duration::from_millis(20),
        "waited the retry-after-ms"
    );
    assert_eq!(hits(&fake, "ratelimited"), 2);
    assert_eq!(
        kinds(&res.attempts)[0],
        Some((FailureKind::RateLimited, Some(429)))
    );
}

#[tokio::test]
async fn long_retry_after_is_not_waited_for() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "ratelimited_long", ""), None, 3);
    let res = call_chat(&h, &req()).await;
    let e = res.result.unwrap_err();
    assert_eq!(
        (e.kind, e.retry_after),
        (FailureKind::RateLimited, Some(Duration::from_secs(120)))
    );
    assert_eq!(hits(&fake, "ratelimited_long"), 1);
}

#[tokio::test]
async fn hanging_upstream_times_out_on_every_attempt() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "hang", ""), None, 1);
    let res = call_chat(&h, &req()).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::Timeout);
    assert_eq!(hits(&fake, "hang"), 2);
    assert_eq!(
        kinds(&res.attempts),
        [Some((FailureKind::Timeout, None)); 2]
    );
    assert!(
        res.attempts
            .iter()
            .all(|a| a.latency >= Duration::from_millis(300))
    );
}

#[tokio::test]
async fn client_error_body_is_forwarded_and_not_retried() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "badreq", ""), None, 3);
    let res = call_chat(&h, &req()).await;
    let e = res.result.unwrap_err();
    assert_eq!((e.kind, e.status), (FailureKind::ClientError, Some(400)));
    assert_eq!(e.client_body.unwrap()["error"]["param"], "messages");
    assert_eq!(hits(&fake, "badreq"), 1);
    assert_eq!(res.attempts.len(), 1);
}

#[tokio::test]
async fn unparseable_success_is_a_protocol_error() {
    let (base, _fake) = start().await;
    let h = handle_for(&settings(&base, "garbage", ""), None, 2);
    let res = call_chat(&h, &req()).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::Protocol);
    assert_eq!(res.attempts.len(), 1);
}

#[tokio::test]
async fn refused_connection_is_a_connect_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let h = handle_for(&settings(&format!("http://{addr}"), "x", ""), None, 2);
    let res = call_chat(&h, &req()).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::Connect);
    assert_eq!(res.attempts.len(), 3);
}

#[tokio::test]
async fn breaker_opens_and_stops_calling_the_upstream() {
    let (base, fake) = start().await;
    let mut h = handle_for(&settings(&base, "always500", ""), None, 0);
    h.breaker = Arc::new(CircuitBreaker::new(3, Duration::from_secs(60)));
    for _ in 0..3 {
        assert_eq!(
            call_chat(&h, &req()).await.result.unwrap_err().kind,
            FailureKind::ServerError
        );
    }
    let res = call_chat(&h, &req()).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::CircuitOpen);
    assert_eq!(hits(&fake, "always500"), 3);
}

#[tokio::test]
async fn bearer_auth_and_unknown_fields_reach_the_upstream() {
    let (base, fake) = start().await;
    let s = settings(
        &base,
        "echo",
        "headers = { 'HTTP-Referer' = 'https://purser.dev' }",
    );
    let p = OpenAiCompatible::try_new(&s, Some(Secret::new("sk-test-abc"))).unwrap();
    let mut r = req();
    r.stream = true; // chat() must send a non-streaming request anyway
    let c = p.chat(&r).await.unwrap();
    let echoed: Value = serde_json::from_str(&c.choices[0].message.text_content()).unwrap();
    assert_eq!(echoed["metadata"], json!({"team": "a"}));
    assert_eq!(echoed["service_tier"], "flex");
    assert!(echoed.get("stream").is_none());
    let seen = fake.seen.lock().unwrap();
    let (headers, _, _) = seen.last().unwrap();
    assert_eq!(headers["authorization"], "Bearer sk-test-abc");
    assert_eq!(headers["http-referer"], "https://purser.dev");
}

#[tokio::test]
async fn azure_style_key_header_and_api_version() {
    let (base, fake) = start().await;
    let s = settings(
        &base,
        "azure",
        "auth = 'api_key_header'\nquery = { 'api-version' = '2024-10-21' }",
    );
    let p = OpenAiCompatible::try_new(&s, Some(Secret::new("az-key-123"))).unwrap();
    p.chat(&req()).await.unwrap();
    let seen = fake.seen.lock().unwrap();
    let (headers, query, _) = seen.last().unwrap();
    assert_eq!(headers["api-key"], "az-key-123");
    assert!(headers.get("authorization").is_none());
    assert_eq!(query["api-version"], "2024-10-21");
}

#[tokio::test]
async fn stream_with_split_events_and_keepalives_ends_at_done() {
    let (base, _fake) = start().await;
    let h = handle_for(&settings(&base, "stream", ""), None, 0);
    let res = call_stream(&h, &req()).await;
    assert_eq!(res.attempts.len(), 1);
    let items: Vec<_> = res.result.unwrap().collect().await;
    let text: String = items
        .into_iter()
        .map(|i| i.unwrap().choices[0].delta.content.clone().unwrap())
        .collect();
    assert_eq!(text, "Hello");
}

#[tokio::test]
async fn stream_cut_midway_is_reported_not_retried() {
    for scenario in ["cut", "abort"] {
        let (base, fake) = start().await;
        let h = handle_for(&settings(&base, scenario, ""), None, 3);
        let res = call_stream(&h, &req()).await;
        assert_eq!(res.attempts.len(), 1, "{scenario}");
        fake.release.notify_one();
        let items: Vec<_> = res.result.unwrap().collect().await;
        assert!(items[0].is_ok(), "{scenario}");
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(last.kind, FailureKind::StreamCut, "{scenario}");
        assert_eq!(hits(&fake, scenario), 1);
    }
}

#[tokio::test]
async fn stream_error_status_before_first_chunk_is_retried() {
    let (base, fake) = start().await;
    let h = handle_for(&settings(&base, "flakystream", ""), None, 2);
    let res = call_stream(&h, &req()).await;
    assert_eq!(
        kinds(&res.attempts),
        [Some((FailureKind::ServerError, Some(503))), None]
    );
    let items: Vec<_> = res.result.unwrap().collect().await;
    assert_eq!(items.len(), 1);
    assert_eq!(hits(&fake, "flakystream"), 2);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().2["stream"], true);
}

#[tokio::test]
async fn embeddings_round_trip() {
    let (base, _fake) = start().await;
    let p = OpenAiCompatible::try_new(&settings(&base, "emb", ""), None).unwrap();
    let v = p
        .embeddings(&json!({"model": "text-embedding-3-small", "input": "hi"}))
        .await
        .unwrap();
    assert_eq!(v["data"][0]["embedding"], json!([0.6, 0.8]));
}

#[tokio::test]
async fn secrets_stay_out_of_errors_and_debug() {
    let (base, _fake) = start().await;
    let p = OpenAiCompatible::try_new(
        &settings(&base, "hang", ""),
        Some(Secret::new("sk-hidden-42")),
    )
    .unwrap();
    let e = p.chat(&req()).await.unwrap_err();
    assert!(!format!("{e} {e:?} {p:?}").contains("sk-hidden-42"));
}
