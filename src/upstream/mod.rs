//! Upstream providers behind one trait: an OpenAI-compatible HTTP client (OpenAI, Azure, vLLM,
//! Ollama, Together, Groq, OpenRouter...) and the in-process `simulated` provider. Also owns
//! resilience: per-attempt timeouts, retries with jittered backoff, circuit breakers.
//! Must not know about routes, budgets or the ledger. Uses `types`, `api`, `tokenizer`, `metrics`.
//!
//! Entry points: build a `Providers` registry from `Settings` (`[[providers]]` TOML tables),
//! take an `UpstreamHandle` by name, and call `call_chat` / `call_stream`, which retry, consult
//! the circuit breaker and return one `AttemptReport` per attempt for the ledger. Durations in
//! settings use the reusable serde helper in `duration`.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use serde_json::Value;

use crate::api::{ChatChunk, ChatCompletion, ChatRequest};

mod http;
mod registry;
mod resilience;
mod secret;
mod settings;
mod simulated;
mod sse;

pub use http::OpenAiCompatible;
pub use registry::Providers;
pub use resilience::{
    AttemptOutcome, AttemptReport, BreakerPermit, BreakerState, CallResult, CircuitBreaker, Jitter,
    RetryPolicy, UpstreamHandle, call_chat, call_stream,
};
pub use secret::Secret;
pub use settings::{
    AuthMode, BreakerSettings, HttpSettings, ProviderSettings, ReplaySettings, RetrySettings,
    Settings, SimulatedModel, SimulatedSettings,
};
pub use simulated::Simulated;

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
    /// A stable snake_case name, for metric labels and ledger records.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::ServerError => "server_error",
            FailureKind::ClientError => "client_error",
            FailureKind::Protocol => "protocol",
            FailureKind::StreamCut => "stream_cut",
            FailureKind::CircuitOpen => "circuit_open",
        }
    }

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
    /// Boxed to keep `Result<_, UpstreamError>` small.
    pub client_body: Option<Box<Value>>,
    /// For `RateLimited`: the upstream's `Retry-After` (or `retry-after-ms`), when sent.
    pub retry_after: Option<Duration>,
}

/// Errors building providers from settings (startup only; request-time failures are
/// `UpstreamError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two providers share a name.
    #[error("provider name {name:?} is used twice")]
    DuplicateProvider {
        /// The repeated name.
        name: String,
    },
    /// `api_key_env` names a variable that is not set.
    #[error("provider {provider:?}: environment variable {env_var} is not set")]
    MissingApiKey {
        /// Provider name.
        provider: String,
        /// The variable named in `api_key_env`.
        env_var: String,
    },
    /// `base_url` does not parse or is not http(s).
    #[error("provider {provider:?}: invalid base_url {url:?}: {reason}")]
    InvalidBaseUrl {
        /// Provider name.
        provider: String,
        /// The URL as configured.
        url: String,
        /// Parser message.
        reason: String,
    },
    /// A static header (or the API key) is not a valid header value.
    #[error("provider {provider:?}: invalid header {header:?}")]
    InvalidHeader {
        /// Provider name.
        provider: String,
        /// Header name (never the value).
        header: String,
    },
    /// reqwest could not build its client (TLS backend).
    #[error("provider {provider:?}: cannot build HTTP client: {source}")]
    HttpClient {
        /// Provider name.
        provider: String,
        /// The reqwest error.
        source: reqwest::Error,
    },
    /// A simulated model is misconfigured.
    #[error("provider {provider:?}: simulated model {model:?}: {reason}")]
    InvalidSimulatedModel {
        /// Provider name.
        provider: String,
        /// Model name.
        model: String,
        /// What is wrong.
        reason: String,
    },
}

// ---- UpstreamError
impl UpstreamError {
    /// An error of `kind` with no status, body or retry hint.
    pub fn new(provider: impl Into<String>, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            kind,
            status: None,
            message: message.into(),
            client_body: None,
            retry_after: None,
        }
    }
    /// Sets the upstream HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    /// Sets the body forwarded to the client (for `ClientError`).
    pub fn with_client_body(mut self, body: Value) -> Self {
        self.client_body = Some(Box::new(body));
        self
    }
    /// Sets the upstream's retry hint.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
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
