//! Streaming responses: forwards upstream chunks as SSE in OpenAI's format, hides the usage
//! chunk unless the client asked for it, and settles the request (price, ledger, metrics) when
//! the stream ends, is cut, or the client disconnects (the guard's `Drop`).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;

use super::ctx::RequestCtx;
use super::pipeline::{Pipeline, purser_headers};
use super::sse;
use crate::api::{ChatChoice, ChatChunk, ChatCompletion, ChatRequest, Message, Role, Usage};
use crate::config::ModelEntry;
use crate::ledger::{RequestOutcome, UsageSource};
use crate::pricing::TokenUsage;
use crate::types::Tokens;
use crate::upstream::ChunkStream;

/// What a stream needs besides its context.
pub(crate) struct StreamParts {
    pub pipeline: Pipeline,
    pub req: ChatRequest,
    pub model: ModelEntry,
    pub route: Option<String>,
}

/// Settles the request exactly once, whenever the body is dropped.
struct Settlement {
    ctx: Option<RequestCtx>,
    parts: StreamParts,
    text: String,
    usage: Option<Usage>,
    finished: bool,
    cut: bool,
    /// Fields of the last chunk, to assemble a completion for the cache.
    last: Option<(String, i64, String)>,
    finish_reason: Option<String>,
    /// Only single-choice text answers are assembled for the cache.
    cacheable_shape: bool,
}

impl Settlement {
    fn observe(&mut self, chunk: &ChatChunk) {
        self.last = Some((chunk.id.clone(), chunk.created, chunk.model.clone()));
        for ch in &chunk.choices {
            if ch.index != 0 || ch.delta.tool_calls.is_some() {
                self.cacheable_shape = false;
            }
            if ch.finish_reason.is_some() {
                self.finish_reason = ch.finish_reason.clone();
            }
            if let Some(t) = &ch.delta.content {
                self.text.push_str(t);
            }
            for call in ch.delta.tool_calls.iter().flatten() {
                if let Some(f) = &call.function {
                    self.text.push_str(f.name.as_deref().unwrap_or(""));
                    self.text.push_str(f.arguments.as_deref().unwrap_or(""));
                }
            }
        }
        if let Some(Some(u)) = chunk.usage {
            self.usage = Some(u);
        }
    }

    fn usage(&self) -> (TokenUsage, UsageSource) {
        match self.usage {
            Some(u) => (
                TokenUsage {
                    input: Tokens(u.prompt_tokens),
                    cached_input: Tokens(u.cached_tokens.unwrap_or(0)),
                    output: Tokens(u.completion_tokens),
                },
                UsageSource::Provider,
            ),
            // Cut or usage-less streams are still charged: what was generated, counted locally.
            None => {
                let enc = self.parts.model.price.encoding;
                (
                    TokenUsage {
                        input: enc.count_request(&self.parts.req),
                        cached_input: Tokens(0),
                        output: enc.count(&self.text),
                    },
                    UsageSource::Tiktoken,
                )
            }
        }
    }
}

impl Settlement {
    /// The streamed answer as one completion, when it is a single-choice text answer.
    fn assembled(&self, usage: Usage) -> Option<ChatCompletion> {
        let (id, created, model) = self.last.clone()?;
        (self.finished && self.cacheable_shape).then(|| ChatCompletion {
            id,
            object: "chat.completion".into(),
            created,
            model,
            choices: vec![ChatChoice {
                index: 0,
                message: Message::text(Role::Assistant, self.text.clone()),
                finish_reason: self.finish_reason.clone(),
                logprobs: None,
            }],
            usage: Some(usage),
            extra: serde_json::Map::new(),
            raw: crate::api::RawBody::default(),
        })
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        let Some(mut ctx) = self.ctx.take() else {
            return;
        };
        let usage = self.usage();
        let pipeline = self.parts.pipeline.clone();
        pipeline.settle(&mut ctx, &self.parts.model, &usage);
        let u = &usage.0;
        let assembled = self.assembled(Usage::new(u.input.0, u.output.0));
        if let Some(job) = pipeline.cache_store(&mut ctx, assembled.as_ref()) {
            job.spawn();
        }
        ctx.record.client_disconnected = !self.finished && !self.cut;
        let (status, outcome, kind) = if self.finished {
            (200, RequestOutcome::Ok, None)
        } else if self.cut {
            (200, RequestOutcome::UpstreamError, Some("stream_cut"))
        } else {
            (200, RequestOutcome::Cancelled, Some("client_disconnected"))
        };
        // Drop cannot await: the ledger append runs as its own task (the ledger's bounded
        // channel applies backpressure there, never here).
        pipeline.clone().spawn_tracked(async move {
            pipeline.settle_budget(&mut ctx).await;
            pipeline.finish(&mut ctx, status, outcome, kind).await;
        });
    }
}

/// Builds the SSE response for an upstream stream that already yielded its first chunk.
pub(crate) fn stream_response(
    mut ctx: RequestCtx,
    parts: StreamParts,
    upstream: ChunkStream,
) -> Response {
    ctx.record.model = Some(parts.model.id.clone());
    ctx.record.provider = Some(parts.model.provider.clone());
    let include_usage = parts.req.wants_stream_usage();
    let route = parts.route.clone();
    let mut headers_resp = Response::new(Body::empty());
    purser_headers(&mut headers_resp, &ctx, route.as_deref());
    let mut guard = Settlement {
        ctx: Some(ctx),
        parts,
        text: String::new(),
        usage: None,
        finished: false,
        cut: false,
        last: None,
        finish_reason: None,
        cacheable_shape: true,
    };
    let body = async_stream::stream! {
        let mut upstream = upstream;
        while let Some(item) = upstream.next().await {
            match item {
                Ok(mut chunk) => {
                    guard.observe(&chunk);
                    let is_usage_only = chunk.choices.is_empty() && chunk.usage.is_some();
                    if is_usage_only && !include_usage {
                        continue;
                    }
                    // The gateway asks the provider for usage; a client that asked too gets
                    // the provider's chunk unchanged (one line, so it frames as one event).
                    let raw = chunk.raw.0.take().filter(|r| include_usage && !r.contains(&b'\n'));
                    if let Some(raw) = raw {
                        yield Ok::<_, std::convert::Infallible>(sse::encode_raw(&raw));
                        continue;
                    }
                    chunk.usage = if include_usage { Some(chunk.usage.flatten()) } else { None };
                    yield Ok(sse::encode(&chunk));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "upstream stream cut");
                    guard.cut = true;
                    let err = super::ProxyError::Upstream(e);
                    let (_, body) = err.to_status_and_body();
                    yield Ok(sse::encode_error(&body));
                    break;
                }
            }
        }
        if !guard.cut {
            guard.finished = true;
            // An SSE comment (ignored by OpenAI clients) tells the final cost to those who look.
            let (u, _) = guard.usage();
            let cost = guard.parts.model.price.cost(&u);
            yield Ok(bytes::Bytes::from(format!(": x-purser-cost-usd {}\n\n", cost.to_usd_string())));
            yield Ok(bytes::Bytes::from_static(sse::DONE));
        }
        drop(guard);
    };
    let mut resp = Response::new(Body::from_stream(body));
    *resp.headers_mut() = headers_resp.headers().clone();
    let h = resp.headers_mut();
    // Unknown until the stream ends; the final SSE comment and the ledger carry it.
    h.remove("x-purser-cost-usd");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
