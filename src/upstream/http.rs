//! `OpenAiCompatible`: a provider for any OpenAI-compatible HTTP API (OpenAI, Azure OpenAI,
//! vLLM, Ollama, Together, Groq, OpenRouter). One pooled reqwest client per provider and serving
//! worker (a pooled connection is driven by the runtime that opened it, so sharing one pool
//! between workers would hand every call to another thread); maps
//! every failure to a `FailureKind`. The API key lives only in a sensitive default header and
//! in a `Secret` used to scrub upstream messages; it is never logged or put in an error.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::api::{ChatCompletion, ChatRequest, RawBody};
use crate::upstream::{
    AuthMode, ChunkStream, Error, FailureKind, HttpSettings, Provider, Secret, UpstreamError, sse,
};

/// Longest upstream body excerpt kept in an error message.
const MESSAGE_EXCERPT: usize = 300;

/// A provider speaking the OpenAI HTTP API at a configured base URL.
pub struct OpenAiCompatible {
    name: String,
    /// Index `runtime::worker_index() % len`; slot 0 is built at once (it validates the
    /// settings), the others on first use.
    clients: Box<[std::sync::OnceLock<reqwest::Client>]>,
    builder: ClientRecipe,
    chat_url: Url,
    embeddings_url: Url,
    timeout: Duration,
    secret: Option<Secret>,
}

// ---- OpenAiCompatible
impl OpenAiCompatible {
    /// Builds the provider and its connection pool. `api_key` is the value of the variable
    /// named by `api_key_env` (read by the caller), sent as set by `auth`.
    ///
    /// # Errors
    /// `InvalidBaseUrl`, `InvalidHeader` (bad static header or unencodable key; the value is
    /// never shown), `HttpClient` when the TLS backend cannot start.
    pub fn try_new(s: &HttpSettings, api_key: Option<Secret>) -> Result<Self, Error> {
        let chat_url = endpoint(s, "chat/completions")?;
        let embeddings_url = endpoint(s, "embeddings")?;
        let builder = ClientRecipe {
            headers: default_headers(s, api_key.as_ref())?,
            pool_idle_timeout: s.pool_idle_timeout,
            pool_max_idle_per_host: s.pool_max_idle_per_host,
            connect_timeout: s.connect_timeout,
        };
        let first = builder.build().map_err(|source| Error::HttpClient {
            provider: s.name.clone(),
            source,
        })?;
        let clients: Box<[_]> = (0..crate::runtime::slots().max(1))
            .map(|_| std::sync::OnceLock::new())
            .collect();
        let _ = clients[0].set(first);
        Ok(Self {
            name: s.name.clone(),
            clients,
            builder,
            chat_url,
            embeddings_url,
            timeout: s.timeout,
            secret: api_key,
        })
    }

    /// This worker's client.
    fn client(&self) -> &reqwest::Client {
        let slot = &self.clients[crate::runtime::worker_index() % self.clients.len()];
        slot.get_or_init(|| {
            // Slot 0 was built from the same recipe, so this cannot fail for a new reason;
            // should it anyway, that client serves this worker too.
            self.builder.build().unwrap_or_else(|e| {
                tracing::warn!(provider = %self.name, error = %e, "per-worker HTTP client");
                self.clients[0].get().cloned().unwrap_or_default()
            })
        })
    }

    fn error(&self, kind: FailureKind, message: &str) -> UpstreamError {
        let message = match &self.secret {
            Some(s) => s.redact(message),
            None => message.to_owned(),
        };
        UpstreamError::new(self.name.as_str(), kind, message)
    }

    fn transport_error(&self, e: &reqwest::Error) -> UpstreamError {
        let kind = if e.is_connect() {
            FailureKind::Connect
        } else if e.is_timeout() {
            FailureKind::Timeout
        } else if e.is_request() {
            // Failed while sending (connection reset, closed before the answer).
            FailureKind::Connect
        } else {
            FailureKind::Protocol
        };
        // `without_url`: the URL may carry query parameters; keep messages minimal.
        let mut e_str = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            if !e_str.is_empty() {
                e_str.push_str(": ");
            }
            e_str.push_str(&s.to_string());
            source = s.source();
        }
        self.error(kind, &e_str)
    }

    fn timeout_error(&self) -> UpstreamError {
        let msg = format!(
            "no answer within {}",
            crate::types::duration::format(self.timeout)
        );
        self.error(FailureKind::Timeout, &msg)
    }

    /// Sends and waits for the answer's headers within the timeout.
    async fn send(&self, url: &Url, body: Vec<u8>) -> Result<reqwest::Response, UpstreamError> {
        tokio::time::timeout(self.timeout, self.send_unbounded(url, body))
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))
    }

    /// `send` for callers that bound the whole exchange themselves (one timer, not two).
    async fn send_unbounded(
        &self,
        url: &Url,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, UpstreamError> {
        tracing::debug!(provider = %self.name, path = url.path(), "upstream call");
        self.client()
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e.without_url()))
    }

    /// Sends and reads the whole body within one timeout; non-2xx statuses become errors.
    async fn post_json(&self, url: &Url, body: Vec<u8>) -> Result<Bytes, UpstreamError> {
        let call = async {
            let resp = self.send_unbounded(url, body).await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e.without_url()))?;
            if status.is_success() {
                Ok(bytes)
            } else {
                Err(self.status_error(status, &headers, &bytes))
            }
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))
    }

    fn status_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        let text = String::from_utf8_lossy(body);
        let text = match &self.secret {
            Some(s) => s.redact(&text),
            None => text.into_owned(),
        };
        let json: Option<Value> = serde_json::from_str(&text).ok().filter(Value::is_object);
        let upstream_msg = json
            .as_ref()
            .and_then(|j| j.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(MESSAGE_EXCERPT).collect());
        let code = status.as_u16();
        let kind = match code {
            429 => FailureKind::RateLimited,
            500..=599 => FailureKind::ServerError,
            400..=499 => FailureKind::ClientError,
            _ => FailureKind::Protocol,
        };
        tracing::debug!(provider = %self.name, status = code, "upstream error status");
        let mut err = self.error(kind, &format!("HTTP {code}: {upstream_msg}"));
        err.status = Some(code);
        if let Some(after) = retry_after(headers) {
            err.retry_after = Some(after);
        }
        if kind == FailureKind::ClientError {
            err.client_body = json.map(Box::new);
        }
        err
    }
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.name)
            .field("chat_url", &self.chat_url.as_str())
            .field("timeout", &self.timeout)
            .field("api_key", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

#[async_trait::async_trait]
impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatCompletion, UpstreamError> {
        let body = request_body(req, false).map_err(|e| self.error(FailureKind::Protocol, &e))?;
        let bytes = self.post_json(&self.chat_url, body).await?;
        let mut completion: ChatCompletion = serde_json::from_slice(&bytes).map_err(|e| {
            let msg = format!("unparseable completion: {e}");
            self.error(FailureKind::Protocol, &msg)
        })?;
        completion.raw = RawBody(Some(bytes));
        Ok(completion)
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChunkStream, UpstreamError> {
        let body = request_body(req, true).map_err(|e| self.error(FailureKind::Protocol, &e))?;
        let resp = self.send(&self.chat_url, body).await?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let read = tokio::time::timeout(self.timeout, resp.bytes()).await;
            let bytes = match read {
                Ok(Ok(b)) => b,
                _ => Bytes::new(),
            };
            return Err(self.status_error(status, &headers, &bytes));
        }
        Ok(sse::chunk_stream(
            &self.name,
            resp.bytes_stream(),
            self.timeout,
        ))
    }

    async fn embeddings(&self, body: &Value) -> Result<Value, UpstreamError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| self.error(FailureKind::Protocol, &e.to_string()))?;
        let bytes = self.post_json(&self.embeddings_url, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let msg = format!("unparseable embeddings answer: {e}");
            self.error(FailureKind::Protocol, &msg)
        })
    }
}

/// What every client of one provider is built from.
struct ClientRecipe {
    headers: HeaderMap,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    connect_timeout: Duration,
}

impl ClientRecipe {
    fn build(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .tcp_nodelay(true)
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .connect_timeout(self.connect_timeout)
            .build()
    }
}

fn endpoint(s: &HttpSettings, path: &str) -> Result<Url, Error> {
    let bad = |reason: String| Error::InvalidBaseUrl {
        provider: s.name.clone(),
        url: s.base_url.clone(),
        reason,
    };
    let mut url = Url::parse(&format!("{}/{path}", s.base_url.trim_end_matches('/')))
        .map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https".to_owned()));
    }
    if !s.query.is_empty() {
        url.query_pairs_mut().extend_pairs(s.query.iter());
    }
    Ok(url)
}

fn default_headers(s: &HttpSettings, key: Option<&Secret>) -> Result<HeaderMap, Error> {
    let bad = |header: &str| Error::InvalidHeader {
        provider: s.name.clone(),
        header: header.to_owned(),
    };
    let mut map = HeaderMap::new();
    for (k, v) in &s.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad(k))?;
        let value = HeaderValue::from_str(v).map_err(|_| bad(k))?;
        map.insert(name, value);
    }
    if let Some(key) = key {
        let (name, raw) = match s.auth {
            AuthMode::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
            AuthMode::ApiKeyHeader => (HeaderName::from_static("api-key"), key.expose().to_owned()),
        };
        let mut value = HeaderValue::from_str(&raw).map_err(|_| bad(name.as_str()))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// The request as JSON bytes with `stream` forced to match the call (unknown fields
/// untouched). Serialised straight to bytes, once; the request is only copied when its stream
/// flags must change.
fn request_body(req: &ChatRequest, stream: bool) -> Result<Vec<u8>, String> {
    let fits = req.stream == stream && (stream || req.stream_options.is_none());
    let json = if fits {
        serde_json::to_vec(req)
    } else {
        let mut r = req.clone();
        r.stream = stream;
        if !stream {
            r.stream_options = None;
        }
        serde_json::to_vec(&r)
    };
    json.map_err(|e| e.to_string())
}

/// `retry-after-ms` (Azure) or `retry-after` in seconds; HTTP dates are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let num = |name: &str| -> Option<f64> {
        let v: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
        (v.is_finite() && v >= 0.0).then_some(v)
    };
    num("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| num("retry-after").map(Duration::from_secs_f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str) -> HttpSettings {
        toml::from_str(&format!("name = 'p'\nbase_url = '{base}'\n")).unwrap()
    }

    #[test]
    fn endpoints_join_paths_and_static_query() {
        let mut s = settings("https://x.openai.azure.com/openai/deployments/d/");
        s.query.insert("api-version".into(), "2024-10-21".into());
        assert_eq!(
            endpoint(&s, "chat/completions").unwrap().as_str(),
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert!(matches!(
            endpoint(&settings("ftp://x"), "embeddings"),
            Err(Error::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn auth_header_is_sensitive_and_debug_hides_the_key() {
        let s = settings("http://127.0.0.1:1/v1");
        let key = Secret::new("sk-very-secret");
        let h = default_headers(&s, Some(&key)).unwrap();
        assert!(h[AUTHORIZATION].is_sensitive());
        let p = OpenAiCompatible::try_new(&s, Some(key)).unwrap();
        assert!(!format!("{p:?}").contains("sk-very-secret"));
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut date = HeaderMap::new();
        date.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&date), None);
    }

    #[test]
    fn body_keeps_unknown_fields_and_forces_stream_flag() {
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,
            "stream_options":{"include_usage":true},"service_tier":"flex"}))
        .unwrap();
        let parse = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap();
        let plain = parse(request_body(&req, false).unwrap());
        assert_eq!(plain["service_tier"], "flex");
        assert!(plain.get("stream").is_none() && plain.get("stream_options").is_none());
        let streamed = parse(request_body(&req, true).unwrap());
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"]["include_usage"], true);
    }
}
