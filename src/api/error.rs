//! The OpenAI error body. Built only by `proxy::error`; defined here so clients and tests share it.

use serde::{Deserialize, Serialize};

/// `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// OpenAI's error fields; `param` and `code` are `null` when not applicable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Safe to show to the client.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending parameter.
    pub param: Option<String>,
    /// Machine-readable code, e.g. `model_not_found`.
    pub code: Option<String>,
}
