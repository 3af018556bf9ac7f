//! Resilience around one upstream: retry policy with full-jitter exponential backoff, the
//! circuit breaker, and the attempt loops `call_chat` / `call_stream` that report every attempt.
//! Knows nothing of routing or the ledger: it returns `AttemptReport`s for the caller to record.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::api::{ChatCompletion, ChatRequest};
use crate::upstream::{ChunkStream, FailureKind, Provider, RetrySettings, UpstreamError};

mod breaker;

pub use breaker::{BreakerPermit, BreakerState, CircuitBreaker};

/// How often and how patiently to retry one model on one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff cap of the first retry; doubles per retry.
    pub backoff_base: Duration,
    /// Largest backoff, and the largest `Retry-After` that is waited for.
    pub backoff_max: Duration,
}

/// The random source for backoff jitter; seed it in tests.
#[derive(Debug)]
pub struct Jitter(Mutex<SmallRng>);

/// Everything needed to call one upstream resiliently. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamHandle {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// Its retry policy.
    pub policy: RetryPolicy,
    /// Its circuit breaker (shared by all calls).
    pub breaker: Arc<CircuitBreaker>,
    /// Jitter source for backoff.
    pub jitter: Arc<Jitter>,
}

/// One attempt, for the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    /// Provider name.
    pub provider: String,
    /// Model as sent upstream.
    pub model: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Wall-clock start.
    pub started: DateTime<Utc>,
    /// Time to the answer (streams: to the first chunk); zero when the breaker refused.
    pub latency: Duration,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// Outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The upstream answered (streams: the first chunk arrived).
    Ok,
    /// It failed.
    Err {
        /// Failure class.
        kind: FailureKind,
        /// Upstream HTTP status, if any.
        status: Option<u16>,
    },
}

/// The final result of a resilient call and every attempt made.
pub struct CallResult<T> {
    /// The answer or the last error.
    pub result: Result<T, UpstreamError>,
    /// Every attempt, in order (at least one).
    pub attempts: Vec<AttemptReport>,
}

// ---- RetryPolicy
impl RetryPolicy {
    /// A policy from settings.
    pub fn from_settings(s: RetrySettings) -> Self {
        Self {
            max_retries: s.max_retries,
            backoff_base: s.backoff_base,
            backoff_max: s.backoff_max,
        }
    }

    /// No retries at all.
    pub fn no_retries() -> Self {
        Self {
            max_retries: 0,
            backoff_base: Duration::ZERO,
            backoff_max: Duration::ZERO,
        }
    }

    /// Failures retried on the same upstream: 429, 5xx, connect, timeout. Never client errors.
    pub fn is_retryable(kind: FailureKind) -> bool {
        matches!(
            kind,
            FailureKind::RateLimited
                | FailureKind::ServerError
                | FailureKind::Connect
                | FailureKind::Timeout
        )
    }

    /// The backoff ceiling before retry `retry` (0-based): `min(max, base * 2^retry)`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }

    /// Full jitter: uniform in `[0, backoff_cap(retry)]`.
    pub fn backoff(&self, retry: u32, jitter: &Jitter) -> Duration {
        jitter.uniform(self.backoff_cap(retry))
    }

    /// The wait before retry `retry` (0-based) after `err`, or `None` to give up: out of
    /// retries, not retryable, or a `Retry-After` longer than `backoff_max` (better to fail
    /// over than to wait).
    pub fn delay_after(
        &self,
        err: &UpstreamError,
        retry: u32,
        jitter: &Jitter,
    ) -> Option<Duration> {
        self.delay_if(err, retry, jitter, Self::is_retryable)
    }

    fn delay_if(
        &self,
        err: &UpstreamError,
        retry: u32,
        jitter: &Jitter,
        retryable: fn(FailureKind) -> bool,
    ) -> Option<Duration> {
        if retry >= self.max_retries || !retryable(err.kind) {
            return None;
        }
        match err.retry_after {
            Some(after) if err.kind == FailureKind::RateLimited => {
                (after <= self.backoff_max).then_some(after)
            }
            _ => Some(self.backoff(retry, jitter)),
        }
    }
}

// ---- Jitter
impl Jitter {
    /// Deterministic jitter for tests and benches.
    pub fn seeded(seed: u64) -> Self {
        Self(Mutex::new(SmallRng::seed_from_u64(seed)))
    }

    /// Jitter seeded from the OS.
    pub fn from_os() -> Self {
        Self(Mutex::new(SmallRng::from_os_rng()))
    }

    /// A uniform duration in `[0, max]`.
    pub fn uniform(&self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        // The lock is held only to draw one number, never across an await.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_nanos(
            rng.random_range(0..=u64::try_from(max.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

// ---- UpstreamHandle
impl UpstreamHandle {
    /// A handle with OS-seeded jitter.
    pub fn new(provider: Arc<dyn Provider>, policy: RetryPolicy, breaker: CircuitBreaker) -> Self {
        Self {
            provider,
            policy,
            breaker: Arc::new(breaker),
            jitter: Arc::new(Jitter::from_os()),
        }
    }
}

impl std::fmt::Debug for UpstreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamHandle")
            .field("provider", &self.provider.name())
            .field("policy", &self.policy)
            .field("breaker", &self.breaker.state())
            .finish()
    }
}

/// A non-streaming completion with retries and the breaker. Returns the answer or the last
/// error, plus one report per attempt. A breaker refusal of the first attempt returns
/// `CircuitOpen` and is reported as an attempt with zero latency; a refusal before a retry
/// (the breaker opened meanwhile) ends the loop with the previous error, unreported.
pub async fn call_chat(h: &UpstreamHandle, req: &ChatRequest) -> CallResult<ChatCompletion> {
    run_attempts(h, &req.model, RetryPolicy::is_retryable, || {
        h.provider.chat(req)
    })
    .await
}

/// A streaming completion with retries until the first chunk arrives: each attempt opens the
/// stream and waits for its first item; a failure (or a stream that ends or is cut before any
/// chunk) may be retried. Once a chunk has arrived the stream is returned; a later cut shows
/// up as its `Err` item (and as a breaker failure), never as a retry.
pub async fn call_stream(h: &UpstreamHandle, req: &ChatRequest) -> CallResult<ChunkStream> {
    let breaker = Arc::clone(&h.breaker);
    let mut res = run_attempts(h, &req.model, is_retryable_before_first_chunk, || {
        open_stream(h.provider.as_ref(), req)
    })
    .await;
    res.result = res.result.map(|s| {
        let watched = s.inspect(move |item| {
            if let Err(e) = item
                && CircuitBreaker::is_health_failure(e.kind)
            {
                breaker.record_failure();
            }
        });
        Box::pin(watched) as ChunkStream
    });
    res
}

fn is_retryable_before_first_chunk(kind: FailureKind) -> bool {
    RetryPolicy::is_retryable(kind) || matches!(kind, FailureKind::StreamCut)
}

async fn open_stream(p: &dyn Provider, req: &ChatRequest) -> Result<ChunkStream, UpstreamError> {
    let mut stream = p.chat_stream(req).await?;
    match stream.next().await {
        Some(Ok(first)) => Ok(Box::pin(
            futures::stream::once(async { Ok(first) }).chain(stream),
        )),
        Some(Err(e)) => Err(e),
        None => Err(UpstreamError::new(
            p.name(),
            FailureKind::StreamCut,
            "stream ended before its first chunk",
        )),
    }
}

async fn run_attempts<T, F, Fut>(
    h: &UpstreamHandle,
    model: &str,
    retryable: fn(FailureKind) -> bool,
    mut attempt: F,
) -> CallResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut attempts = Vec::new();
    let mut previous: Option<UpstreamError> = None;
    for retry in 0u32.. {
        let report = |started, latency, outcome| AttemptReport {
            provider: h.provider.name().to_owned(),
            model: model.to_owned(),
            attempt: retry + 1,
            started,
            latency,
            outcome,
        };
        let started = Utc::now();
        let Some(permit) = h.breaker.try_acquire() else {
            // Refused before a retry: the real failure says more than "circuit open".
            let err = previous.take().unwrap_or_else(|| {
                let e =
                    UpstreamError::new(h.provider.name(), FailureKind::CircuitOpen, "circuit open");
                attempts.push(report(
                    started,
                    Duration::ZERO,
                    AttemptOutcome::of::<()>(&Err(&e)),
                ));
                e
            });
            return CallResult {
                result: Err(err),
                attempts,
            };
        };
        let t0 = Instant::now();
        let result = attempt().await;
        permit.record(result.as_ref().map(|_| ()).map_err(|e| e.kind));
        attempts.push(report(
            started,
            t0.elapsed(),
            AttemptOutcome::of(&result.as_ref()),
        ));
        let err = match result {
            Ok(v) => {
                return CallResult {
                    result: Ok(v),
                    attempts,
                };
            }
            Err(e) => e,
        };
        let Some(delay) = h.policy.delay_if(&err, retry, &h.jitter, retryable) else {
            return CallResult {
                result: Err(err),
                attempts,
            };
        };
        previous = Some(err);
        tokio::time::sleep(delay).await;
    }
    // `0u32..` ends only after u32::MAX retries, which `delay_if` never allows.
    CallResult {
        result: Err(previous.unwrap_or_else(|| {
            UpstreamError::new(
                h.provider.name(),
                FailureKind::CircuitOpen,
                "retries exhausted",
            )
        })),
        attempts,
    }
}

// ---- AttemptOutcome
impl AttemptOutcome {
    fn of<T>(r: &Result<T, &UpstreamError>) -> Self {
        match r {
            Ok(_) => AttemptOutcome::Ok,
            Err(e) => AttemptOutcome::Err {
                kind: e.kind,
                status: e.status,
            },
        }
    }

    /// Whether the attempt succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, AttemptOutcome::Ok)
    }
}

#[cfg(test)]
mod tests;
