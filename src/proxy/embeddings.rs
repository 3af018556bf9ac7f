//! `POST /v1/embeddings`: passed through to the model's provider, costed and ledgered like chat.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body::{parse_json, read_limited};
use super::ctx::RequestCtx;
use super::error::ProxyError;
use super::pipeline::{Pipeline, purser_headers};
use crate::api::ValidationError;
use crate::config::Snapshot;
use crate::ledger::{RequestOutcome, UsageSource};
use crate::pricing::TokenUsage;
use crate::types::{ModelId, Tokens};

fn input_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if !items.is_empty() => {
            // Arrays of strings are texts; arrays of integers are pre-tokenised input.
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Array(a) => Some(format!("{}", a.len())),
                    _ => None,
                })
                .collect();
            texts.map(|t| t.join("\n"))
        }
        _ => None,
    }
}

impl Pipeline {
    /// Handles one embeddings request end to end.
    pub(crate) async fn embeddings(&self, headers: HeaderMap, body: Body) -> Response {
        let ctx = RequestCtx::new(self.parts.config.snapshot(), &headers);
        let mut pending = super::pipeline::PendingRequest::new(self.clone(), ctx);
        let result = self.embeddings_inner(pending.ctx(), &headers, body).await;
        let mut ctx = pending.take();
        match result {
            Ok(r) => {
                self.finish(&mut ctx, 200, RequestOutcome::Ok, None).await;
                r
            }
            Err(e) => self.fail(ctx, e).await,
        }
    }

    async fn embeddings_inner(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, ProxyError> {
        let len = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = read_limited(body, len, self.parts.server.max_body_bytes).await?;
        let req: Value = parse_json(&bytes)?;
        let model = req.get("model").and_then(Value::as_str).ok_or_else(|| {
            ProxyError::Invalid(ValidationError {
                message: "you must provide a model parameter".into(),
                param: Some("model".into()),
            })
        })?;
        ctx.record.requested_model = ModelId::new(model);
        let text = req.get("input").and_then(input_text).ok_or_else(|| {
            ProxyError::Invalid(ValidationError {
                message: "'input' must be a non-empty string or array".into(),
                param: Some("input".into()),
            })
        })?;
        let entry = embedding_model(&ctx.snapshot, model)?;
        let handle = ctx
            .snapshot
            .providers
            .handle(&entry.provider)
            .ok_or_else(|| {
                ProxyError::Internal(format!("provider `{}` missing", entry.provider))
            })?;
        let mut up = req.clone();
        up["model"] = Value::String(entry.upstream_model.clone());
        let started = tokio::time::Instant::now();
        let answer = handle.provider.embeddings(&up).await;
        ctx.upstream_time += started.elapsed();
        let answer = answer?;
        let usage = match answer
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
        {
            Some(n) => (
                TokenUsage {
                    input: Tokens(n),
                    ..TokenUsage::default()
                },
                UsageSource::Provider,
            ),
            None => (
                TokenUsage {
                    input: entry.price.encoding.count(&text),
                    ..TokenUsage::default()
                },
                UsageSource::Tiktoken,
            ),
        };
        self.settle(ctx, &entry, &usage);
        let mut resp = axum::Json(answer).into_response();
        purser_headers(&mut resp, ctx, None);
        Ok(resp)
    }
}

fn embedding_model(s: &Snapshot, model: &str) -> Result<crate::config::ModelEntry, ProxyError> {
    match s.model(model) {
        Some(m) if m.is_embedding => Ok(m.clone()),
        _ => Err(ProxyError::ModelNotFound {
            model: model.to_owned(),
        }),
    }
}
