//! Upstream providers behind one trait: an OpenAI-compatible HTTP client (OpenAI, Azure, vLLM,
//! Ollama, Together, Groq, OpenRouter...) and the in-process `simulated` provider. Also owns
//! resilience: per-attempt timeouts, retries with jittered backoff, circuit breakers.
//! Must not know about routes, budgets or the ledger. Uses `types`, `api`, `tokenizer`, `metrics`.

use std::pin::Pin;

use futures::Stream;
use serde_json::Value;

use crate::api::{ChatChunk, ChatCompletion, ChatRequest};

/// A stream of chunks from an upstream. An `Err` item means the stream was cut.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, UpstreamError>> + Send>>;

/// Where an upstream failure came from; drives retry and escalation decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// TCP/TLS connect failed.
    Connect,
    /// The attempt exceeded its timeout.
    Timeout,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 4xx other than 429: the request itself is bad; never retried.
    ClientError,
    /// Unparseable body or broken SSE framing.
    Protocol,
    /// The stream ended before `[DONE]` / a finish reason.
    StreamCut,
    /// The circuit breaker is open for this upstream.
    CircuitOpen,
}

impl FailureKind {
    /// Whether another attempt (same or next model) may succeed.
    pub fn is_retryable(self) -> bool {
        !matches!(self, FailureKind::ClientError)
    }
}

/// An upstream failure. `message` is safe to log; `status` is the upstream HTTP status if any.
/// Never contains API keys.
#[derive(Debug, Clone, thiserror::Error)]
#[error("upstream {provider} failed ({kind:?}, status {status:?}): {message}")]
pub struct UpstreamError {
    /// Provider name from config.
    pub provider: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// Upstream HTTP status, when there was one.
    pub status: Option<u16>,
    /// Detail for logs (may include the upstream's error message, never secrets).
    pub message: String,
    /// For `ClientError`: the upstream's OpenAI error body, forwarded to the client as is.
    pub client_body: Option<Value>,
}

/// A model provider. `req.model` is the provider's own model name (already mapped from the
/// gateway's model id). Dropping a returned future or stream cancels the upstream call.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Provider name from config (used in metrics and the ledger).
    fn name(&self) -> &str;
    /// A non-streaming completion.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatCompletion, UpstreamError>;
    /// A streaming completion; the request has `stream: true` and `include_usage` set.
    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChunkStream, UpstreamError>;
    /// `POST /embeddings`, body and answer as OpenAI JSON.
    async fn embeddings(&self, body: &Value) -> Result<Value, UpstreamError>;
}
