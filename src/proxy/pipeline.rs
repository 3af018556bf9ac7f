//! The request pipeline. Stages run in this order; each lives in the module that owns its
//! concept, and this file only orchestrates:
//!
//! 1. parse — read the body under the size limit, parse and validate the JSON (`body`, `api`)
//! 2. identify workflow — virtual key or header, task and step (`budget::KeyRing`)
//! 3. reserve budget — worst-case estimate reserved against every envelope it touches (`budget`)
//! 4. cache lookup — safety policy, canonical key, two-tier store (`cache`)
//! 5. compress — shrink long context to the workflow's budget (`compress`)
//! 6. route — concrete model, or the routing table's decision (`router`)
//! 7. call upstream — retries, fallback to the next model, cascade escalation (`upstream`, `router`)
//! 8. price and commit — usage from the provider or tiktoken, cost, settle the reservation (`pricing`, `budget`)
//! 9. append to ledger — one request record plus one per attempt (`ledger`)
//! 10. cache store — when the policy allows (`cache`)
//! 11. respond — JSON or SSE, with `x-purser-*` headers
//!
//! Streaming responses settle at the end of the stream or when the client disconnects (a drop
//! guard in `stream`), so every request gets exactly one ledger record.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::body::{parse_json, read_limited};
use super::ctx::RequestCtx;
use super::error::ProxyError;
use super::stream::{StreamParts, stream_response};
use crate::api::{ChatCompletion, ChatRequest};
use crate::config::{ConfigHandle, ModelEntry, ServerSettings, Snapshot};
use crate::ledger::{
    AttemptOutcome, AttemptRecord, LedgerHandle, RecordBody, RequestOutcome, TokenCounts,
    UsageSource,
};
use crate::metrics::{Metrics, usd};
use crate::pricing::TokenUsage;
use crate::types::{MicroUsd, ModelId, Tokens};
use crate::upstream::{AttemptReport, CallResult, FailureKind, call_chat, call_stream};

/// Handles every pipeline stage needs; built once in `app.rs`.
#[derive(Clone)]
pub struct PipelineParts {
    /// Current configuration.
    pub config: Arc<ConfigHandle>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Ledger writer.
    pub ledger: LedgerHandle,
    /// Server settings (limits, timeouts).
    pub server: ServerSettings,
    /// Budget and task state (in-process or Redis).
    pub budget: Arc<dyn crate::budget::BudgetStore>,
    /// The response cache (none when `cache.mode = "off"`).
    pub cache: Option<Arc<crate::cache::ResponseCache>>,
    /// History summaries, by content hash (each prefix is summarised once).
    pub summaries: Arc<dyn crate::compress::SummaryStore>,
    /// Alert delivery (webhooks, ledger, metrics).
    pub notifier: crate::alert::Notifier,
    /// Where the ledger file is (reports read it).
    pub ledger_path: std::path::PathBuf,
    /// Cached cost reports for the polled report endpoint.
    pub reports: Arc<crate::report::http::ReportCache>,
    /// Kill switches flipped through the admin API.
    pub kill_switches: Arc<super::KillSwitches>,
}

/// The orchestrator of the stages above.
#[derive(Clone)]
pub struct Pipeline {
    pub(crate) parts: Arc<PipelineParts>,
    /// Tasks that write a request's ledger record after its handler returned (client gone,
    /// stream ended); shutdown waits for them.
    tasks: tokio_util::task::TaskTracker,
}

/// Owns a request's context while its handler runs. If the handler future is dropped (the
/// client went away), `Drop` writes the request's record as cancelled; dropping the future
/// has already dropped, and so cancelled, any upstream call.
pub(crate) struct PendingRequest {
    pipeline: Pipeline,
    ctx: Option<RequestCtx>,
}

impl PendingRequest {
    pub(crate) fn new(pipeline: Pipeline, ctx: RequestCtx) -> Self {
        pipeline.parts.metrics.in_flight.inc();
        Self {
            pipeline,
            ctx: Some(ctx),
        }
    }

    pub(crate) fn ctx(&mut self) -> &mut RequestCtx {
        // Invariant: `ctx` is only taken by `take`, which consumes `self`.
        self.ctx.get_or_insert_with(unreachable_ctx)
    }

    pub(crate) fn take(mut self) -> RequestCtx {
        self.ctx.take().unwrap_or_else(unreachable_ctx)
    }
}

fn unreachable_ctx() -> RequestCtx {
    RequestCtx::detached()
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        self.pipeline.parts.metrics.in_flight.dec();
        let Some(mut ctx) = self.ctx.take() else {
            return;
        };
        if ctx.handed_off {
            return;
        }
        ctx.record.client_disconnected = true;
        let p = self.pipeline.clone();
        // 499: nginx's "client closed request"; nobody receives it, the ledger records it.
        self.pipeline.spawn_tracked(async move {
            p.finish(
                &mut ctx,
                499,
                RequestOutcome::Cancelled,
                Some("client_disconnected"),
            )
            .await;
        });
    }
}

/// Where a request goes: the models to try in order (primary, then fallbacks).
pub(crate) struct Plan {
    pub route: Option<String>,
    pub candidates: Vec<ModelEntry>,
    /// Tier of each candidate.
    pub tiers: Vec<crate::types::Tier>,
    /// Upper bound on answers tried (cascade).
    pub max_attempts: u32,
    /// Set in cascade mode: judges each answer before the next tier is tried.
    pub escalation: Option<crate::router::Escalation>,
    /// The route's strongest model: what "always strong" would have cost.
    pub baseline: Option<ModelEntry>,
}

impl Pipeline {
    /// Builds the pipeline from its parts.
    pub fn new(parts: PipelineParts) -> Self {
        Self {
            parts: Arc::new(parts),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    /// The tracker of record-writing tasks (see the field).
    pub fn tasks(&self) -> &tokio_util::task::TaskTracker {
        &self.tasks
    }

    /// Runs a task that finishes a request's record, tracked so shutdown waits for it.
    pub(crate) fn spawn_tracked<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(f);
    }

    /// `POST /v1/chat/completions`: always answers (an error body on failure) and always
    /// leaves exactly one ledger record, also when the client disconnects mid-request.
    pub(crate) async fn chat(&self, headers: HeaderMap, body: Body) -> Response {
        // A client with one answer in flight often sends the next soon: keep this worker awake.
        crate::runtime::touch();
        let snapshot = self.parts.config.snapshot();
        let mut pending = PendingRequest::new(self.clone(), RequestCtx::new(snapshot, &headers));
        let timeout = self.parts.server.request_timeout;
        let inner = self.chat_inner(pending.ctx(), &headers, body);
        let result = tokio::time::timeout(timeout, inner).await;
        let mut ctx = pending.take();
        let result = result.unwrap_or_else(|_| {
            Err(ProxyError::Upstream(crate::upstream::UpstreamError::new(
                "gateway",
                FailureKind::Timeout,
                "request timeout exceeded",
            )))
        });
        match result {
            Ok(resp) if ctx.handed_off => resp,
            Ok(resp) => {
                let outcome = if ctx.cache_hit {
                    RequestOutcome::CacheHit
                } else {
                    RequestOutcome::Ok
                };
                self.finish(&mut ctx, 200, outcome, None).await;
                resp
            }
            Err(e) => self.fail(ctx, e).await,
        }
    }

    async fn chat_inner(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, ProxyError> {
        // 2. identify: before parsing, as auth does not depend on the body.
        self.identify(ctx, headers)?;
        // 1. parse
        let len = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = read_limited(body, len, self.parts.server.max_body_bytes).await?;
        let mut req: ChatRequest = parse_json(&bytes)?;
        ctx.record.requested_model = ModelId::new(&req.model);
        ctx.record.stream = req.stream;
        ctx.record.prompt_hash = prompt_hash(&req);
        req.validate()?;
        // 6. route
        let mut plan = self.plan(ctx, headers, &req, crate::router::BudgetPressure::Normal)?;
        ctx.record.route = plan.route.clone();
        ctx.baseline = plan.baseline.clone();
        // 4. cache lookup (after routing: the key holds the concrete model)
        if let Some(hit) = self.cache_lookup(ctx, headers, &req, &plan).await {
            return Ok(hit);
        }
        // 5. compress
        self.compress(ctx, headers, &mut req).await?;
        // 3. reserve the worst case against every envelope
        if let Some(envelope) = ctx.envelope.clone() {
            let cap = Self::cap_output(&envelope, &mut req);
            let enc = plan.candidates[0].price.encoding;
            // Compression already counted long requests exactly; don't tokenize them twice.
            let input = match ctx.counted_input {
                Some((e, tokens)) if e == enc => tokens,
                _ => super::envelope::input_estimate(&req, enc),
            };
            let (worst, cheapest) = (plan.dearest().clone(), plan.cheapest().clone());
            if self.reserve(ctx, &worst, &cheapest, input, cap).await? {
                plan = match plan.route {
                    Some(_) => self.plan(
                        ctx,
                        headers,
                        &req,
                        crate::router::BudgetPressure::ForceCheapest,
                    )?,
                    None => plan,
                };
                plan.downgrade();
            }
        }
        // 7. call upstream
        // A cascade holds a streamed answer until the judge accepts it (`stream_cascade =
        // "hold"`; "route_only" routes decided to stream without the cascade).
        let held = req.stream && plan.escalation.is_some();
        if req.stream && !held {
            return self.stream(ctx, req, plan).await;
        }
        // The client's own request is only needed to replay a held answer as a stream.
        let client_req = held.then(|| req.clone());
        if held {
            req.stream = false;
            req.stream_options = None;
        }
        let (completion, model) = self.call_upstream(ctx, &req, &plan).await?;
        // 8. price and settle
        let usage = usage_of(&completion, &req, &model);
        self.settle(ctx, &model, &usage);
        self.settle_budget(ctx).await;
        // 10. cache store
        if let Some(job) = self.cache_store(ctx, Some(&completion)) {
            job.run_or_spawn().await;
        }
        if let Some(client_req) = client_req {
            return Ok(super::cache_stage::replay_stream(
                ctx,
                &client_req,
                &completion,
                &plan,
            ));
        }
        Ok(respond_json(ctx, &completion, &plan))
    }

    /// Tries each candidate in order, each with its provider's retries and breaker. In cascade
    /// mode an answer the judge doubts moves on to the next tier's models, at most
    /// `max_attempts` answers; the doubted answers are paid for and recorded.
    async fn call_upstream(
        &self,
        ctx: &mut RequestCtx,
        req: &ChatRequest,
        plan: &Plan,
    ) -> Result<(ChatCompletion, ModelEntry), ProxyError> {
        let mut last: Option<ProxyError> = None;
        let mut answers = 0u32;
        let mut i = 0;
        while i < plan.candidates.len() {
            let m = &plan.candidates[i];
            if i > 0 {
                self.count_fallback(plan);
            }
            let handle = ctx.snapshot.providers.handle(&m.provider).ok_or_else(|| {
                ProxyError::Internal(format!("provider `{}` missing", m.provider))
            })?;
            let mut up = req.clone();
            up.model = m.upstream_model.clone();
            let started = tokio::time::Instant::now();
            let CallResult { result, attempts } = call_chat(handle, &up).await;
            ctx.upstream_time += started.elapsed();
            self.record_attempts(ctx, m, &attempts);
            let c = match result {
                Ok(c) => c,
                Err(e) if e.kind == FailureKind::ClientError => return Err(e.into()),
                Err(e) => {
                    last = Some(e.into());
                    i += 1;
                    continue;
                }
            };
            answers += 1;
            let next_tier = plan
                .tiers
                .iter()
                .skip(i + 1)
                .position(|t| *t > plan.tiers[i])
                .map(|p| p + i + 1);
            let doubt = match next_tier {
                Some(_) if answers < plan.max_attempts => self.judge(plan, req, &c),
                _ => None,
            };
            match (doubt, next_tier) {
                (Some(reason), Some(next)) => {
                    self.pay_escalated(ctx, &c, req, m, reason);
                    i = next;
                }
                _ => return Ok((c, m.clone())),
            }
        }
        Err(last.unwrap_or_else(|| ProxyError::Internal("route has no models".into())))
    }

    /// Charges a doubted cascade answer: its cost is added to the request's and its attempt
    /// records why the next tier was tried.
    fn pay_escalated(
        &self,
        ctx: &mut RequestCtx,
        c: &ChatCompletion,
        req: &ChatRequest,
        m: &ModelEntry,
        reason: &str,
    ) {
        let (u, source) = usage_of(c, req, m);
        let cost = m.price.cost(&u);
        ctx.escalated_cost = ctx.escalated_cost.saturating_add(cost);
        ctx.record.escalations.push(reason.to_owned());
        if let Some(a) = ctx.attempts.last_mut() {
            a.tokens = TokenCounts {
                input: u.input,
                output: u.output,
                cached_input: u.cached_input,
            };
            a.cost_micros = cost;
            a.usage_source = source;
            a.escalation_reason = Some(reason.to_owned());
        }
    }

    async fn stream(
        &self,
        ctx: &mut RequestCtx,
        req: ChatRequest,
        plan: Plan,
    ) -> Result<Response, ProxyError> {
        let mut up = req.clone();
        // The gateway always asks for usage so cost comes from the provider; the client only
        // sees the usage chunk if it asked for it.
        up.stream_options = Some(crate::api::StreamOptions {
            include_usage: true,
            extra: up.stream_options.map(|o| o.extra).unwrap_or_default(),
        });
        let mut last: Option<ProxyError> = None;
        for (i, m) in plan.candidates.iter().enumerate() {
            if i > 0 {
                self.count_fallback(&plan);
            }
            let handle = ctx.snapshot.providers.handle(&m.provider).ok_or_else(|| {
                ProxyError::Internal(format!("provider `{}` missing", m.provider))
            })?;
            up.model = m.upstream_model.clone();
            let started = tokio::time::Instant::now();
            let CallResult { result, attempts } = call_stream(handle, &up).await;
            ctx.upstream_time += started.elapsed();
            self.record_attempts(ctx, m, &attempts);
            match result {
                Ok(s) => {
                    let parts = StreamParts {
                        pipeline: self.clone(),
                        req,
                        model: m.clone(),
                        route: plan.route.clone(),
                    };
                    return Ok(stream_response(ctx.hand_off(), parts, s));
                }
                Err(e) if e.kind == FailureKind::ClientError => return Err(e.into()),
                Err(e) => last = Some(e.into()),
            }
        }
        Err(last.unwrap_or_else(|| ProxyError::Internal("route has no models".into())))
    }

    fn count_fallback(&self, plan: &Plan) {
        let route = plan.route.as_deref().unwrap_or("-");
        self.parts
            .metrics
            .fallbacks
            .with_label_values(&[route])
            .inc();
    }

    fn record_attempts(&self, ctx: &mut RequestCtx, m: &ModelEntry, attempts: &[AttemptReport]) {
        let metrics = &self.parts.metrics;
        for a in attempts {
            let mut rec = AttemptRecord::new(
                ctx.id.clone(),
                ctx.attempts.len() as u32 + 1,
                a.provider.clone(),
                m.id.clone(),
                a.started,
            );
            rec.latency_ms = a.latency.as_secs_f64() * 1000.0;
            metrics
                .upstream_seconds
                .with_label_values(&[&a.provider, m.id.as_str()])
                .observe(a.latency.as_secs_f64());
            if let crate::upstream::AttemptOutcome::Err { kind, status } = a.outcome {
                rec.outcome = AttemptOutcome::Failed;
                rec.failure_kind = Some(kind.as_str().to_owned());
                rec.http_status = status;
                metrics
                    .upstream_errors
                    .with_label_values(&[&a.provider, kind.as_str()])
                    .inc();
            }
            if a.attempt > 1 {
                metrics
                    .upstream_retries
                    .with_label_values(&[&a.provider])
                    .inc();
            }
            let outcome = if matches!(rec.outcome, AttemptOutcome::Ok) {
                "ok"
            } else {
                "error"
            };
            metrics
                .upstream_attempts
                .with_label_values(&[&a.provider, m.id.as_str(), outcome])
                .inc();
            ctx.attempts.push(rec);
        }
    }

    /// Prices the answer and puts model, tokens and cost on the record and the successful
    /// attempt.
    pub(crate) fn settle(
        &self,
        ctx: &mut RequestCtx,
        model: &ModelEntry,
        usage: &(TokenUsage, UsageSource),
    ) {
        let (u, source) = usage;
        let answer_cost = model.price.cost(u);
        let cost = answer_cost.saturating_add(ctx.escalated_cost);
        let tokens = TokenCounts {
            input: u.input,
            output: u.output,
            cached_input: u.cached_input,
        };
        ctx.record.model = Some(model.id.clone());
        ctx.record.provider = Some(model.provider.clone());
        ctx.record.tokens = tokens;
        self.price_compression(ctx, model);
        ctx.record.usage_source = *source;
        ctx.record.cost_micros = cost;
        if let Some(last) = ctx.attempts.last_mut() {
            last.tokens = tokens;
            last.cost_micros = answer_cost;
            last.usage_source = *source;
        }
        let baseline = ctx.baseline.as_ref().map_or(cost, |b| b.price.cost(u));
        ctx.record.baseline_cost_micros = Some(baseline);
    }

    /// Writes the ledger records and the request's metrics. Called exactly once per request.
    pub(crate) async fn finish(
        &self,
        ctx: &mut RequestCtx,
        status: u16,
        outcome: RequestOutcome,
        error_kind: Option<&str>,
    ) {
        crate::runtime::touch();
        let r = &mut ctx.record;
        r.status = status;
        r.outcome = outcome;
        r.error_kind = error_kind.map(str::to_owned);
        r.latency_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        r.attempts = ctx.attempts.len() as u32;
        if !ctx.attempts.is_empty() {
            r.upstream_ms = Some(ctx.upstream_time.as_secs_f64() * 1000.0);
        }
        self.observe(ctx);
        // The response waits until the request record and its attempts are in the file, so a
        // killed process never forgets spend a client was answered for.
        let attempts = ctx.attempts.len() as u64;
        let mut bodies: Vec<RecordBody> = ctx.attempts.drain(..).map(RecordBody::Attempt).collect();
        bodies.push(RecordBody::Request(ctx.record.clone()));
        match self.parts.ledger.append_all_written(&bodies).await {
            Ok(_) => {
                let records = &self.parts.metrics.ledger_records;
                records.with_label_values(&["request"]).inc();
                if attempts > 0 {
                    records.with_label_values(&["attempt"]).inc_by(attempts);
                }
            }
            Err(e) => tracing::error!(error = %e, "ledger append failed"),
        }
    }

    /// Appends one record (waits for channel space; never drops it).
    pub(crate) async fn append_record(&self, body: RecordBody) {
        let kind = body.kind().as_str();
        match self.parts.ledger.append(&body).await {
            Ok(()) => self
                .parts
                .metrics
                .ledger_records
                .with_label_values(&[kind])
                .inc(),
            Err(e) => tracing::error!(error = %e, "ledger append failed"),
        }
    }

    fn observe(&self, ctx: &RequestCtx) {
        let m = &self.parts.metrics;
        let r = &ctx.record;
        let wf = m.workflows.label(r.workflow.as_str());
        let model = r.model.as_ref().map(ModelId::as_str).unwrap_or("-");
        let route = r.route.as_deref().unwrap_or("-");
        let outcome = outcome_label(r.outcome);
        m.requests
            .with_label_values(&[&wf, route, model, outcome])
            .inc();
        if let Some(b) = r.baseline_cost_micros.filter(|b| b.0 > 0) {
            m.baseline_cost_usd
                .with_label_values(&[&wf])
                .inc_by(usd(b.0));
        }
        if r.cost_micros > MicroUsd::ZERO {
            m.cost_usd
                .with_label_values(&[&wf, model, route])
                .inc_by(usd(r.cost_micros.0));
            m.cost_usd_micros
                .with_label_values(&[&wf, model, route])
                .inc_by(r.cost_micros.0 as u64);
        }
        for (kind, t) in [
            ("input", r.tokens.input),
            ("output", r.tokens.output),
            ("cached_input", r.tokens.cached_input),
        ] {
            if t.0 > 0 {
                m.tokens.with_label_values(&[&wf, model, kind]).inc_by(t.0);
            }
        }
        let mode = if r.stream { "stream" } else { "json" };
        let total = ctx.started.elapsed();
        m.request_seconds
            .with_label_values(&[route, mode])
            .observe(total.as_secs_f64());
        if !ctx.attempts.is_empty() || r.attempts > 0 {
            let overhead = total.saturating_sub(ctx.upstream_time);
            m.overhead_seconds
                .with_label_values(&[mode])
                .observe(overhead.as_secs_f64());
        }
    }

    /// Turns an error into its response, after writing the ledger record.
    pub(crate) async fn fail(&self, mut ctx: RequestCtx, e: ProxyError) -> Response {
        let kind = e.kind();
        let (status, _) = e.to_status_and_body();
        let outcome = match kind {
            super::ErrorKind::BudgetExceeded => RequestOutcome::BudgetDenied,
            super::ErrorKind::Upstream | super::ErrorKind::UpstreamTimeout => {
                RequestOutcome::UpstreamError
            }
            super::ErrorKind::Internal => RequestOutcome::InternalError,
            super::ErrorKind::Unavailable => RequestOutcome::KillSwitch,
            _ => RequestOutcome::ClientError,
        };
        tracing::warn!(request_id = %ctx.id, kind = kind.label(), error = %e, "request failed");
        self.parts
            .metrics
            .errors
            .with_label_values(&[kind.label()])
            .inc();
        self.finish(&mut ctx, status.as_u16(), outcome, Some(kind.label()))
            .await;
        let mut resp = e.into_response();
        set_header(&mut resp, "x-purser-request-id", &ctx.id);
        resp
    }
}

impl Pipeline {
    /// Names a client may send as `model`, with their owner (provider or `purser`).
    pub(crate) fn model_names(&self, s: &Snapshot) -> Vec<(String, String)> {
        let routes = s
            .routing
            .route_names()
            .map(|r| (r.to_owned(), "purser".to_owned()));
        s.models
            .values()
            .map(|m| (m.id.to_string(), m.provider.clone()))
            .chain(routes)
            .collect()
    }
}

impl Plan {
    /// The candidate with the highest output price (the worst case of any attempt).
    pub(crate) fn dearest(&self) -> &ModelEntry {
        self.candidates
            .iter()
            .max_by_key(|m| (m.price.output_per_mtok, m.price.input_per_mtok))
            .unwrap_or(&self.candidates[0])
    }

    /// The candidate with the lowest output price.
    pub(crate) fn cheapest(&self) -> &ModelEntry {
        self.candidates
            .iter()
            .min_by_key(|m| (m.price.output_per_mtok, m.price.input_per_mtok))
            .unwrap_or(&self.candidates[0])
    }

    /// Keeps only the cheapest candidate (budget pressure).
    pub(crate) fn downgrade(&mut self) {
        let c = self.cheapest().clone();
        self.candidates = vec![c];
    }
}

/// Usage from the provider when it sent one, else counted with tiktoken.
pub(crate) fn usage_of(
    c: &ChatCompletion,
    req: &ChatRequest,
    m: &ModelEntry,
) -> (TokenUsage, UsageSource) {
    match c.usage {
        Some(u) => (
            TokenUsage {
                input: Tokens(u.prompt_tokens),
                cached_input: Tokens(u.cached_tokens.unwrap_or(0)),
                output: Tokens(u.completion_tokens),
            },
            UsageSource::Provider,
        ),
        None => {
            let enc = m.price.encoding;
            let output: u64 = c
                .choices
                .iter()
                .map(|ch| enc.count_message(&ch.message).0.saturating_sub(3))
                .sum();
            (
                TokenUsage {
                    input: enc.count_request(req),
                    cached_input: Tokens(0),
                    output: Tokens(output),
                },
                UsageSource::Tiktoken,
            )
        }
    }
}

/// Hex sha256 of the canonical messages (prompts are not stored by default).
fn prompt_hash(req: &ChatRequest) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(&req.messages).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

fn respond_json(ctx: &RequestCtx, c: &ChatCompletion, plan: &Plan) -> Response {
    // The provider's own bytes when we have them: nothing in the answer is rewritten, and
    // serialising the parsed value again would only cost time.
    let mut resp = match &c.raw.0 {
        Some(raw) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            raw.clone(),
        )
            .into_response(),
        None => axum::Json(c).into_response(),
    };
    purser_headers(&mut resp, ctx, plan.route.as_deref());
    resp
}

/// Adds the `x-purser-*` headers describing what happened.
pub(crate) fn purser_headers(resp: &mut Response, ctx: &RequestCtx, route: Option<&str>) {
    set_header(resp, "x-purser-request-id", &ctx.id);
    if let Some(r) = route {
        set_header(resp, "x-purser-route", r);
    }
    if let Some(m) = &ctx.record.model {
        set_header(resp, "x-purser-model", m.as_str());
    }
    set_header(
        resp,
        "x-purser-cost-usd",
        &ctx.record.cost_micros.to_usd_string(),
    );
    set_header(resp, "x-purser-workflow", ctx.record.workflow.as_str());
    super::cache_stage::cache_headers(resp, ctx);
    if let Some(c) = &ctx.record.compression {
        set_header(
            resp,
            "x-purser-tokens-before",
            &c.tokens_before.0.to_string(),
        );
        set_header(resp, "x-purser-tokens-after", &c.tokens_after.0.to_string());
    }
}

pub(crate) fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn outcome_label(o: RequestOutcome) -> &'static str {
    match o {
        RequestOutcome::Ok => "ok",
        RequestOutcome::CacheHit => "cache_hit",
        RequestOutcome::UpstreamError => "upstream_error",
        RequestOutcome::ClientError => "client_error",
        RequestOutcome::BudgetDenied => "budget_denied",
        RequestOutcome::KillSwitch => "kill_switch",
        RequestOutcome::Cancelled => "cancelled",
        RequestOutcome::InternalError => "internal_error",
        RequestOutcome::Other => "other",
    }
}
