//! The one place where errors become HTTP responses: every failure maps to a status and OpenAI's
//! error body. The mapping has no side effects; the handler logs and counts once, by `ErrorKind`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::{ErrorBody, ErrorDetail, ValidationError};
use crate::upstream::{FailureKind, UpstreamError};

/// Closed set of error kinds, used as the `kind` label of `purser_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Body is not valid JSON (or not UTF-8).
    InvalidJson,
    /// A field has the wrong type or value.
    InvalidRequest,
    /// Missing or wrong key.
    Unauthorized,
    /// Key valid but not allowed.
    Forbidden,
    /// Unknown model or route.
    ModelNotFound,
    /// Unknown path or resource.
    NotFound,
    /// Wrong HTTP method.
    MethodNotAllowed,
    /// Body over the limit.
    PayloadTooLarge,
    /// A budget or step limit denied the request.
    BudgetExceeded,
    /// The request conflicts with current state (e.g. outcome posted twice).
    Conflict,
    /// Upstream failed after retries and fallbacks.
    Upstream,
    /// Upstream timed out.
    UpstreamTimeout,
    /// Upstream rejected the request as invalid (forwarded as is).
    UpstreamClient,
    /// Workflow stopped by kill switch, or not ready.
    Unavailable,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::BudgetExceeded => "budget_exceeded",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Upstream => "upstream",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamClient => "upstream_client",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Every error a request can end with. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Malformed JSON.
    #[error("We could not parse the JSON body of your request: {detail}")]
    InvalidJson {
        /// serde's description (line, column).
        detail: String,
    },
    /// A field is invalid.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// Missing or wrong credentials.
    #[error("{message}")]
    Unauthorized {
        /// What is wrong, without echoing the key.
        message: String,
    },
    /// Not allowed.
    #[error("{message}")]
    Forbidden {
        /// Why.
        message: String,
    },
    /// Unknown model.
    #[error("The model `{model}` does not exist or you do not have access to it.")]
    ModelNotFound {
        /// The name the client sent.
        model: String,
    },
    /// Unknown resource.
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// Wrong method on a known path.
    #[error("Method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
    },
    /// Body over the configured limit.
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A budget denied the request.
    #[error("{message}")]
    BudgetExceeded {
        /// Which limit and how much remains.
        message: String,
        /// e.g. `budget_exceeded:monthly`.
        code: String,
        /// Remaining budget in USD, for a header.
        remaining_usd: Option<String>,
    },
    /// State conflict.
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// Upstream failure after retries and fallbacks.
    #[error("{0}")]
    Upstream(UpstreamError),
    /// Workflow stopped or gateway not ready.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// Unexpected internal state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<UpstreamError> for ProxyError {
    fn from(e: UpstreamError) -> Self {
        ProxyError::Upstream(e)
    }
}

impl ProxyError {
    /// The closed kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProxyError::InvalidJson { .. } => ErrorKind::InvalidJson,
            ProxyError::Invalid(_) => ErrorKind::InvalidRequest,
            ProxyError::Unauthorized { .. } => ErrorKind::Unauthorized,
            ProxyError::Forbidden { .. } => ErrorKind::Forbidden,
            ProxyError::ModelNotFound { .. } => ErrorKind::ModelNotFound,
            ProxyError::NotFound { .. } => ErrorKind::NotFound,
            ProxyError::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            ProxyError::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            ProxyError::BudgetExceeded { .. } => ErrorKind::BudgetExceeded,
            ProxyError::Conflict { .. } => ErrorKind::Conflict,
            ProxyError::Upstream(e) => match e.kind {
                FailureKind::Timeout => ErrorKind::UpstreamTimeout,
                FailureKind::ClientError => ErrorKind::UpstreamClient,
                _ => ErrorKind::Upstream,
            },
            ProxyError::Unavailable { .. } => ErrorKind::Unavailable,
            ProxyError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// HTTP status and OpenAI error body. Pure: no logging, no metrics.
    pub fn to_status_and_body(&self) -> (StatusCode, Value) {
        if let ProxyError::Upstream(e) = self
            && e.kind == FailureKind::ClientError
            && let Some(body) = forwardable_body(e)
        {
            let status = e
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            return (status, body);
        }
        let (status, kind, param, code) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                message: self.client_message(),
                kind: kind.to_owned(),
                param,
                code,
            },
        };
        (status, serde_json::to_value(body).unwrap_or(Value::Null))
    }

    fn client_message(&self) -> String {
        match self {
            // Upstream details (bodies, hosts) stay in logs.
            ProxyError::Upstream(e) => match e.kind {
                FailureKind::Timeout => "The upstream model provider timed out.".to_owned(),
                FailureKind::CircuitOpen => {
                    "The upstream model provider is unavailable (circuit open).".to_owned()
                }
                _ => "The upstream model provider failed to answer.".to_owned(),
            },
            ProxyError::Internal(_) => "The server had an error processing your request.".into(),
            other => other.to_string(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<String>, Option<String>) {
        use StatusCode as S;
        let inv = "invalid_request_error";
        match self {
            ProxyError::InvalidJson { .. } => {
                (S::BAD_REQUEST, inv, None, Some("invalid_json".into()))
            }
            ProxyError::Invalid(v) => (
                S::BAD_REQUEST,
                inv,
                v.param.clone(),
                Some("invalid_value".into()),
            ),
            ProxyError::Unauthorized { .. } => (
                S::UNAUTHORIZED,
                "authentication_error",
                None,
                Some("invalid_api_key".into()),
            ),
            ProxyError::Forbidden { .. } => (S::FORBIDDEN, "permission_error", None, None),
            ProxyError::ModelNotFound { .. } => (
                S::NOT_FOUND,
                inv,
                Some("model".into()),
                Some("model_not_found".into()),
            ),
            ProxyError::NotFound { code, .. } => (S::NOT_FOUND, inv, None, Some((*code).into())),
            ProxyError::MethodNotAllowed { .. } => (S::METHOD_NOT_ALLOWED, inv, None, None),
            ProxyError::PayloadTooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                inv,
                None,
                Some("request_too_large".into()),
            ),
            ProxyError::BudgetExceeded { code, .. } => (
                S::TOO_MANY_REQUESTS,
                "insufficient_quota",
                None,
                Some(code.clone()),
            ),
            ProxyError::Conflict { code, .. } => (S::CONFLICT, inv, None, Some((*code).into())),
            ProxyError::Upstream(e) => match e.kind {
                FailureKind::Timeout => (
                    S::GATEWAY_TIMEOUT,
                    "api_error",
                    None,
                    Some("upstream_timeout".into()),
                ),
                FailureKind::RateLimited => (
                    S::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    None,
                    Some("upstream_rate_limited".into()),
                ),
                _ => (
                    S::BAD_GATEWAY,
                    "api_error",
                    None,
                    Some("upstream_error".into()),
                ),
            },
            ProxyError::Unavailable { code, .. } => (
                S::SERVICE_UNAVAILABLE,
                "api_error",
                None,
                Some((*code).into()),
            ),
            ProxyError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "api_error", None, None),
        }
    }
}

/// An upstream 4xx body is forwarded only when it is OpenAI-shaped.
fn forwardable_body(e: &UpstreamError) -> Option<Value> {
    let b = e.client_body.as_ref()?;
    b.get("error")?.get("message")?.as_str()?;
    Some(Value::clone(b))
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, body) = self.to_status_and_body();
        let mut resp = (status, axum::Json(body)).into_response();
        if let ProxyError::BudgetExceeded {
            remaining_usd: Some(r),
            ..
        } = &self
            && let Ok(v) = HeaderValue::from_str(r)
        {
            resp.headers_mut()
                .insert("x-purser-budget-remaining-usd", v);
        }
        resp.extensions_mut().insert(self.kind());
        resp
    }
}

#[cfg(test)]
mod tests;
