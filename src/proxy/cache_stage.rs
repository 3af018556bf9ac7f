//! Pipeline stages that use the response cache: the lookup (after routing, since the key holds
//! the concrete model) and the store (after a complete, safe answer), plus cache-hit responses
//! as JSON or as a replayed SSE stream.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::stream;

use super::ctx::RequestCtx;
use super::pipeline::{Pipeline, Plan, purser_headers, set_header};
use super::sse;
use crate::api::{ChatCompletion, ChatRequest};
use crate::cache::{
    Answer, CacheDecision, CacheKey, CachedAnswer, ClientCacheDirective, KeyContext, StoreDecision,
};
use crate::ledger::{CacheInfo, CacheStatus, RequestOutcome};
use crate::metrics::usd;

/// Version of the compression stage folded into cache keys: a new compressor splits entries.
pub(crate) const COMPRESSION_VERSION: &str = "compress-v1";

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl Pipeline {
    /// Stage 4: looks the request up. Returns the response on a hit; on a miss remembers the
    /// key for the store stage.
    pub(crate) async fn cache_lookup(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
        req: &ChatRequest,
        plan: &Plan,
    ) -> Option<Response> {
        let cache = self.parts.cache.as_ref()?;
        let directive = ClientCacheDirective::from_headers(
            header_str(headers, header::CACHE_CONTROL.as_str()),
            header_str(headers, "x-purser-cache"),
        );
        let snapshot = Arc::clone(&ctx.snapshot);
        let key_ctx = KeyContext {
            workflow: &ctx.record.workflow,
            model: &plan.candidates[0].id,
            compression_version: COMPRESSION_VERSION,
            routing_version: &snapshot.routing_version,
        };
        let decision = snapshot
            .cache_policy
            .lookup_decision(req, &key_ctx, directive);
        let (status, reason, key) = match decision {
            CacheDecision::Bypass(r) => (CacheStatus::Bypass, Some(r.as_str().to_owned()), None),
            CacheDecision::Refresh(k) => (
                CacheStatus::Miss,
                Some("client_no_cache".to_owned()),
                Some(k),
            ),
            CacheDecision::Use(k) => match cache.get(&k).await {
                Some(hit) => return Some(self.cache_hit(ctx, req, &hit, plan)),
                None => (CacheStatus::Miss, None, Some(k)),
            },
        };
        self.count_cache(ctx, status);
        ctx.record.cache = Some(CacheInfo { status, reason });
        ctx.cache_key = key;
        None
    }

    fn count_cache(&self, ctx: &RequestCtx, status: CacheStatus) {
        let m = &self.parts.metrics;
        let wf = m.workflows.label(ctx.record.workflow.as_str());
        m.cache_requests
            .with_label_values(&[&wf, status_label(status)])
            .inc();
    }

    fn cache_hit(
        &self,
        ctx: &mut RequestCtx,
        req: &ChatRequest,
        hit: &CachedAnswer,
        plan: &Plan,
    ) -> Response {
        self.count_cache(ctx, CacheStatus::Hit);
        let m = &self.parts.metrics;
        let wf = m.workflows.label(ctx.record.workflow.as_str());
        m.cache_saved_usd
            .with_label_values(&[&wf])
            .inc_by(usd(hit.cost.0));
        ctx.record.cache = Some(CacheInfo {
            status: CacheStatus::Hit,
            reason: None,
        });
        ctx.record.model = Some(hit.model.clone());
        ctx.record.would_have_cost_micros = Some(hit.cost);
        ctx.record.outcome = RequestOutcome::CacheHit;
        ctx.cache_hit = true;
        if req.stream {
            return replay_stream(ctx, req, &hit.completion, plan);
        }
        let mut resp = axum::Json(&hit.completion).into_response();
        purser_headers(&mut resp, ctx, plan.route.as_deref());
        resp
    }

    /// Stage 10: stores a complete answer when the policy allows; off the response path.
    pub(crate) fn cache_store(
        &self,
        ctx: &mut RequestCtx,
        completion: Option<&ChatCompletion>,
    ) -> Option<StoreJob> {
        let (Some(cache), Some(key)) = (self.parts.cache.clone(), ctx.cache_key.take()) else {
            return None;
        };
        let answer = match completion {
            Some(c) => Answer::Complete(c),
            None => Answer::StreamCut,
        };
        let decision = ctx.snapshot.cache_policy.store_decision(&key, answer);
        match (decision, completion, ctx.record.model.clone()) {
            (StoreDecision::Store { ttl }, Some(c), Some(model)) => {
                let cost = ctx.record.cost_micros;
                match crate::cache::encode_answer(c, cost, &model, chrono::Utc::now()) {
                    Ok(json) => {
                        return Some(StoreJob {
                            cache,
                            key,
                            json: json.into(),
                            ttl,
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "cache entry not encoded"),
                }
            }
            (StoreDecision::Skip(reason), _, _) => {
                if let Some(info) = ctx.record.cache.as_mut() {
                    info.reason = Some(format!("not_stored:{}", reason.as_str()));
                }
            }
            _ => {}
        }
        None
    }
}

/// An answer the policy allows to store.
pub(crate) struct StoreJob {
    cache: Arc<crate::cache::ResponseCache>,
    key: CacheKey,
    /// The `CachedAnswer` as JSON.
    json: bytes::Bytes,
    ttl: std::time::Duration,
}

impl StoreJob {
    /// Stores inline when only the in-process tier is involved (microseconds, and no task
    /// hand-off to wake another worker for); a Redis round trip goes to its own task.
    pub(crate) async fn run_or_spawn(self) {
        if self.cache.has_redis() {
            tokio::spawn(self.run());
        } else {
            self.run().await;
        }
    }

    /// Stores from sync code (a stream's drop guard).
    pub(crate) fn spawn(self) {
        tokio::spawn(self.run());
    }

    async fn run(self) {
        self.cache.put_encoded(&self.key, self.json, self.ttl).await;
    }
}

/// A whole completion sent as a well-formed SSE stream (cache hits, held cascade answers).
pub(crate) fn replay_stream(
    ctx: &RequestCtx,
    req: &ChatRequest,
    c: &ChatCompletion,
    plan: &Plan,
) -> Response {
    let chunks = sse::completion_to_chunks(c, req.wants_stream_usage());
    let events = chunks
        .iter()
        .map(sse::encode)
        .chain(std::iter::once(bytes::Bytes::from_static(sse::DONE)))
        .map(Ok::<_, std::convert::Infallible>)
        .collect::<Vec<_>>();
    let mut r = Response::new(Body::from_stream(stream::iter(events)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    purser_headers(&mut r, ctx, plan.route.as_deref());
    r
}

impl Pipeline {
    /// Copies cache statistics into their gauges (called when `/metrics` is scraped).
    pub(crate) fn refresh_gauges(&self) {
        let Some(cache) = &self.parts.cache else {
            return;
        };
        let m = &self.parts.metrics;
        let st = cache.stats();
        m.cache_entries.set(st.entries as i64);
        m.cache_bytes.set(st.bytes as i64);
        let errors = m.cache_redis_errors.with_label_values(&["any"]);
        let seen = errors.get();
        errors.inc_by(st.redis_errors_total.saturating_sub(seen));
    }
}

/// Adds `x-purser-cache` (hit, miss or bypass) and its reason.
pub(crate) fn cache_headers(resp: &mut Response, ctx: &RequestCtx) {
    if let Some(c) = &ctx.record.cache {
        set_header(resp, "x-purser-cache", status_label(c.status));
        if let Some(r) = &c.reason {
            set_header(resp, "x-purser-cache-reason", r);
        }
    }
}

fn status_label(s: CacheStatus) -> &'static str {
    match s {
        CacheStatus::Hit => "hit",
        CacheStatus::Miss => "miss",
        CacheStatus::Bypass => "bypass",
    }
}
