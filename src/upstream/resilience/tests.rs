use std::collections::VecDeque;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use super::*;
use crate::api::{ChatChunk, ChunkChoice, Delta};

/// A provider that plays back a script of outcomes, one per call.
struct Scripted {
    script: StdMutex<VecDeque<Result<(), UpstreamError>>>,
    calls: AtomicU32,
}

fn err(kind: FailureKind) -> UpstreamError {
    UpstreamError::new("scripted", kind, "scripted failure")
}

fn completion() -> ChatCompletion {
    serde_json::from_value(json!({"id":"c","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}))
    .unwrap()
}

fn chunk() -> ChatChunk {
    ChatChunk {
        id: "c".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: None,
            logprobs: None,
        }],
        usage: None,
        extra: Default::default(),
        raw: crate::api::RawBody::default(),
    }
}

impl Scripted {
    fn new(script: Vec<Result<(), UpstreamError>>) -> Arc<Self> {
        Arc::new(Self {
            script: StdMutex::new(script.into()),
            calls: AtomicU32::new(0),
        })
    }
    fn next(&self) -> Result<(), UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

#[async_trait::async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn chat(&self, _req: &ChatRequest) -> Result<ChatCompletion, UpstreamError> {
        self.next().map(|()| completion())
    }
    async fn chat_stream(&self, _req: &ChatRequest) -> Result<ChunkStream, UpstreamError> {
        // A stream whose first item is the scripted outcome, then a cut.
        let first = self.next().map(|()| chunk());
        let items = vec![first, Err(err(FailureKind::StreamCut))];
        Ok(Box::pin(futures::stream::iter(items)))
    }
    async fn embeddings(&self, _body: &Value) -> Result<Value, UpstreamError> {
        Ok(json!({}))
    }
}

fn handle(p: Arc<Scripted>, max_retries: u32, breaker: CircuitBreaker) -> UpstreamHandle {
    UpstreamHandle {
        provider: p,
        policy: RetryPolicy {
            max_retries,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
        },
        breaker: Arc::new(breaker),
        jitter: Arc::new(Jitter::seeded(7)),
    }
}

fn req() -> ChatRequest {
    serde_json::from_value(json!({"model":"m","messages":[{"role":"user","content":"hi"}]}))
        .unwrap()
}

fn open_breaker() -> CircuitBreaker {
    CircuitBreaker::new(100, Duration::from_secs(30))
}

#[test]
fn backoff_is_full_jitter_under_an_exponential_cap() {
    let p = RetryPolicy {
        max_retries: 10,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
    };
    assert_eq!(p.backoff_cap(0), Duration::from_millis(100));
    assert_eq!(p.backoff_cap(3), Duration::from_millis(800));
    assert_eq!(p.backoff_cap(5), Duration::from_secs(2));
    assert_eq!(p.backoff_cap(40), Duration::from_secs(2));
    let j = Jitter::seeded(1);
    let draws: Vec<Duration> = (0..200).map(|_| p.backoff(2, &j)).collect();
    assert!(draws.iter().all(|d| *d <= Duration::from_millis(400)));
    // Full jitter spreads over the whole range, not around the cap.
    assert!(draws.iter().any(|d| *d < Duration::from_millis(100)));
    assert!(draws.iter().any(|d| *d > Duration::from_millis(300)));
    // Same seed, same sequence.
    let j2 = Jitter::seeded(1);
    let again: Vec<Duration> = (0..200).map(|_| p.backoff(2, &j2)).collect();
    assert_eq!(draws, again);
}

#[test]
fn client_errors_and_protocol_failures_are_not_retried() {
    let p = RetryPolicy::from_settings(RetrySettings::default());
    let j = Jitter::seeded(0);
    assert!(
        p.delay_after(&err(FailureKind::ClientError), 0, &j)
            .is_none()
    );
    assert!(p.delay_after(&err(FailureKind::Protocol), 0, &j).is_none());
    assert!(
        p.delay_after(&err(FailureKind::ServerError), 0, &j)
            .is_some()
    );
    assert!(
        p.delay_after(&err(FailureKind::ServerError), 2, &j)
            .is_none()
    );
}

#[test]
fn retry_after_is_honoured_only_when_small() {
    let p = RetryPolicy::from_settings(RetrySettings::default());
    let j = Jitter::seeded(0);
    let small = err(FailureKind::RateLimited).with_retry_after(Duration::from_millis(1500));
    assert_eq!(
        p.delay_after(&small, 0, &j),
        Some(Duration::from_millis(1500))
    );
    let big = err(FailureKind::RateLimited).with_retry_after(Duration::from_secs(60));
    assert_eq!(p.delay_after(&big, 0, &j), None);
}

#[tokio::test(start_paused = true)]
async fn call_chat_retries_server_errors_then_succeeds() {
    let p = Scripted::new(vec![
        Err(err(FailureKind::ServerError).with_status(500)),
        Err(err(FailureKind::Timeout)),
    ]);
    let h = handle(p.clone(), 2, open_breaker());
    let t0 = Instant::now();
    let res = call_chat(&h, &req()).await;
    assert!(res.result.is_ok());
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
    let outcomes: Vec<_> = res.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            AttemptOutcome::Err {
                kind: FailureKind::ServerError,
                status: Some(500)
            },
            AttemptOutcome::Err {
                kind: FailureKind::Timeout,
                status: None
            },
            AttemptOutcome::Ok
        ]
    );
    assert_eq!(
        res.attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // Slept at most the two backoff caps (100ms + 200ms) of paused time.
    assert!(t0.elapsed() <= Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn call_chat_waits_the_retry_after() {
    let p = Scripted::new(vec![Err(
        err(FailureKind::RateLimited).with_retry_after(Duration::from_secs(1))
    )]);
    let h = handle(p.clone(), 2, open_breaker());
    let t0 = Instant::now();
    let res = call_chat(&h, &req()).await;
    assert!(res.result.is_ok());
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(res.attempts.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn call_chat_gives_up_after_max_retries_with_the_last_error() {
    let p = Scripted::new(vec![Err(err(FailureKind::Connect)); 5]);
    let h = handle(p.clone(), 2, open_breaker());
    let res = call_chat(&h, &req()).await;
    assert_eq!(res.result.unwrap_err().kind, FailureKind::Connect);
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
    assert_eq!(res.attempts.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn client_error_is_returned_after_one_attempt() {
    let body = json!({"error":{"message":"bad","type":"invalid_request_error"}});
    let p = Scripted::new(vec![Err(err(FailureKind::ClientError)
        .with_status(400)
        .with_client_body(body.clone()))]);
    let h = handle(p.clone(), 3, open_breaker());
    let res = call_chat(&h, &req()).await;
    let e = res.result.unwrap_err();
    assert_eq!(e.client_body, Some(Box::new(body)));
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn open_breaker_refuses_without_calling_the_upstream() {
    let p = Scripted::new(vec![Err(err(FailureKind::ServerError)); 10]);
    let h = handle(
        p.clone(),
        5,
        CircuitBreaker::new(2, Duration::from_secs(30)),
    );
    let first = call_chat(&h, &req()).await;
    // The breaker opened after 2 failures and cut the retries short with the real error.
    assert_eq!(first.result.unwrap_err().kind, FailureKind::ServerError);
    assert_eq!(first.attempts.len(), 2);
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
    let second = call_chat(&h, &req()).await;
    assert_eq!(second.result.unwrap_err().kind, FailureKind::CircuitOpen);
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
    assert_eq!(second.attempts.len(), 1);
    assert_eq!(second.attempts[0].latency, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn call_stream_retries_before_the_first_chunk_only() {
    let p = Scripted::new(vec![Err(err(FailureKind::ServerError).with_status(503))]);
    let h = handle(p.clone(), 2, open_breaker());
    let res = call_stream(&h, &req()).await;
    assert_eq!(res.attempts.len(), 2);
    assert!(res.attempts[1].outcome.is_ok());
    let mut s = res.result.unwrap();
    assert!(s.next().await.unwrap().is_ok());
    // The cut after the first chunk is an item, not a retry.
    assert_eq!(
        s.next().await.unwrap().unwrap_err().kind,
        FailureKind::StreamCut
    );
    assert!(s.next().await.is_none());
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cut_after_the_first_chunk_counts_against_the_breaker() {
    let p = Scripted::new(Vec::new());
    let h = handle(
        p.clone(),
        2,
        CircuitBreaker::new(1, Duration::from_secs(30)),
    );
    let res = call_stream(&h, &req()).await;
    assert_eq!(h.breaker.state(), BreakerState::Closed);
    let items: Vec<_> = res.result.unwrap().collect().await;
    assert!(items[1].is_err());
    assert_eq!(h.breaker.state(), BreakerState::Open);
}
