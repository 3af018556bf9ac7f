//! Pipeline stages that talk to the budget module: identify the workflow (virtual key or
//! header), reserve the worst-case cost against every envelope the request touches, settle the
//! actual cost, and raise threshold alerts.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use chrono::Utc;

use super::ctx::{H_WORKFLOW, RequestCtx};
use super::error::ProxyError;
use super::pipeline::Pipeline;
use crate::alert::Alert;
use crate::api::ChatRequest;
use crate::budget::{
    AuthError, Envelope, OnLimit, ReservationGuard, ReserveError, ReserveRequest, ThresholdCrossed,
    estimate_for_model,
};
use crate::config::ModelEntry;
use crate::ledger::BudgetInfo;
use crate::types::{MicroUsd, Tokens};

/// Output tokens assumed for the worst case when neither the client nor the envelope caps them.
pub(crate) const DEFAULT_OUTPUT_CAP: u64 = 4096;

/// The virtual-key prefix. Other bearer tokens (an OpenAI SDK needs *some* key) are not Purser
/// keys and are ignored; they are never forwarded upstream either.
const KEY_PREFIX: &str = "pk-";

impl From<AuthError> for ProxyError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::WorkflowMismatch { .. } => ProxyError::Forbidden {
                message: e.to_string(),
            },
            other => ProxyError::Unauthorized {
                message: other.to_string(),
            },
        }
    }
}

/// The `Authorization` header when it carries a Purser virtual key.
pub(crate) fn virtual_key(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?
        .trim();
    token.starts_with(KEY_PREFIX).then_some(v)
}

/// Below this many (upper-bound) tokens the reservation uses the byte bound instead of running
/// BPE: at most this many tokens are over-reserved for the request's duration (a fraction of a
/// cent at any listed price), and the exact count costs more CPU than the rest of the stage.
const BOUND_INPUT_UP_TO: u64 = 1024;

/// Input tokens to reserve for: the sound byte bound for short requests, tiktoken otherwise.
/// Settlement always uses the provider's usage (or an exact count), never this.
pub(crate) fn input_estimate(req: &ChatRequest, enc: crate::tokenizer::Encoding) -> Tokens {
    match crate::tokenizer::Encoding::upper_bound_request(req) {
        Some(bound) if bound.0 <= BOUND_INPUT_UP_TO => bound,
        _ => enc.count_request(req),
    }
}

impl Pipeline {
    /// Stage 2: binds the request to its workflow and envelope.
    pub(crate) fn identify(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
    ) -> Result<(), ProxyError> {
        let wf = headers.get(H_WORKFLOW).and_then(|v| v.to_str().ok());
        let ident = ctx.snapshot.keys.authenticate(virtual_key(headers), wf)?;
        ctx.record.workflow = ident.workflow;
        ctx.envelope = Some(ident.envelope);
        Ok(())
    }

    /// Caps the output to the envelope's `max_output_tokens` and returns the cap used for the
    /// worst-case estimate.
    pub(crate) fn cap_output(envelope: &Envelope, req: &mut ChatRequest) -> Tokens {
        let client = req.output_cap();
        match (envelope.max_output_tokens, client) {
            (Some(max), c) if c.is_none_or(|c| c > max.0) => {
                if req.max_tokens.is_some() && req.max_completion_tokens.is_none() {
                    req.max_tokens = Some(max.0);
                } else {
                    req.max_completion_tokens = Some(max.0);
                }
                max
            }
            (_, Some(c)) => Tokens(c),
            (_, None) => Tokens(DEFAULT_OUTPUT_CAP),
        }
    }

    /// Stage 3: reserves the worst case. `worst` is the dearest model the request may reach,
    /// `cheapest` the one a downgrade would use. Returns whether a downgrade is required.
    pub(crate) async fn reserve(
        &self,
        ctx: &mut RequestCtx,
        worst: &ModelEntry,
        cheapest: &ModelEntry,
        input: Tokens,
        output_cap: Tokens,
    ) -> Result<bool, ProxyError> {
        let Some(envelope) = ctx.envelope.clone() else {
            return Ok(false);
        };
        let estimate = estimate_for_model(&worst.price, input, output_cap);
        let downgrade = (envelope.on_limit == OnLimit::Downgrade)
            .then(|| estimate_for_model(&cheapest.price, input, output_cap));
        let req = ReserveRequest {
            workflow: &ctx.record.workflow,
            task_id: ctx.record.task_id.as_deref(),
            estimate,
            downgrade_estimate: downgrade,
            now: Utc::now(),
            envelope: &envelope,
        };
        let store = Arc::clone(&self.parts.budget);
        let mut reservation = store.reserve(req).await.map_err(|e| self.denied(ctx, e))?;
        let crossed = reservation.take_thresholds_crossed();
        let downgrade = reservation.is_downgrade_required();
        ctx.record.budget = Some(BudgetInfo {
            reserved_micros: reservation.amount(),
            settled_micros: MicroUsd::ZERO,
        });
        ctx.reservation = Some(ReservationGuard::new(store, reservation));
        self.raise_thresholds(crossed).await;
        if downgrade {
            let wf = self
                .parts
                .metrics
                .workflows
                .label(ctx.record.workflow.as_str());
            self.parts
                .metrics
                .budget_downgrades
                .with_label_values(&[&wf])
                .inc();
        }
        Ok(downgrade)
    }

    fn denied(&self, ctx: &RequestCtx, e: ReserveError) -> ProxyError {
        match e {
            ReserveError::Denied(d) => {
                let wf = self
                    .parts
                    .metrics
                    .workflows
                    .label(ctx.record.workflow.as_str());
                self.parts
                    .metrics
                    .budget_denials
                    .with_label_values(&[&wf, d.limit.as_str()])
                    .inc();
                ProxyError::BudgetExceeded {
                    message: format!(
                        "The {} budget of workflow `{}` cannot cover this request (limit ${}, spent ${}, remaining ${}).",
                        d.limit.as_str(),
                        d.workflow,
                        MicroUsd(d.limit_micros).to_usd_string(),
                        MicroUsd(d.spent_micros).to_usd_string(),
                        MicroUsd(d.remaining_micros.max(0)).to_usd_string(),
                    ),
                    code: d.code(),
                    remaining_usd: Some(MicroUsd(d.remaining_micros.max(0)).to_usd_string()),
                }
            }
            ReserveError::InvalidTaskId => ProxyError::Invalid(crate::api::ValidationError {
                message: "x-purser-task-id must be 1 to 128 printable characters".into(),
                param: None,
            }),
            ReserveError::Store(s) => {
                tracing::error!(error = %s, "budget store failed; failing closed");
                ProxyError::Unavailable {
                    message: "The budget store is unavailable; the request was not sent.".into(),
                    code: "budget_store_unavailable",
                }
            }
        }
    }

    /// Stage 8: converts the reservation into the actual cost.
    pub(crate) async fn settle_budget(&self, ctx: &mut RequestCtx) {
        let Some(guard) = ctx.reservation.take() else {
            return;
        };
        let actual = ctx.record.cost_micros;
        if let Some(b) = ctx.record.budget.as_mut() {
            b.settled_micros = actual;
        }
        match guard.settle(actual).await {
            Ok(crossed) => self.raise_thresholds(crossed).await,
            Err(e) => tracing::error!(error = %e, "budget settle failed"),
        }
    }

    /// Raises one alert per newly crossed threshold (the notifier writes the ledger record,
    /// counts it and delivers it to the webhooks).
    pub(crate) async fn raise_thresholds(&self, crossed: Vec<ThresholdCrossed>) {
        for t in crossed {
            let pct = t.threshold_bps / 100;
            tracing::warn!(workflow = %t.workflow, limit = t.limit.as_str(), window = %t.window, pct, "budget threshold crossed");
            let alert = Alert::threshold_crossed(
                t.workflow.clone(),
                &format!("{} {}", t.limit.as_str(), t.window),
                pct,
                MicroUsd(t.exposure_micros),
                MicroUsd(t.limit_micros),
            );
            self.raise(alert);
        }
    }

    /// Hands an alert to the notifier; a full queue is logged, never blocks a request.
    pub(crate) fn raise(&self, alert: Alert) {
        if let Err(e) = self.parts.notifier.notify(alert) {
            tracing::warn!(error = %e, "alert dropped");
        }
    }
}

impl Pipeline {
    /// Sets `purser_budget_{spent,limit}_usd_micros{workflow,window}` from the budget store for
    /// every envelope with a daily or monthly limit (called when `/metrics` is scraped, so the
    /// figures are as fresh as the scrape and shared state is read, not this replica's view).
    pub(crate) async fn refresh_budget_gauges(&self) {
        let snap = self.parts.config.snapshot();
        let budget = &snap.budget;
        let default = (
            crate::types::WorkflowId::default_workflow(),
            Arc::clone(&budget.default_envelope),
        );
        let all = budget
            .workflows
            .iter()
            .map(|w| (w.name.clone(), Arc::clone(&w.envelope)))
            .chain(std::iter::once(default));
        let m = &self.parts.metrics;
        let now = Utc::now();
        for (name, envelope) in all {
            if envelope.daily.is_none() && envelope.monthly.is_none() {
                continue;
            }
            let r = match self
                .parts
                .budget
                .remaining(&name, None, &envelope, now)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "budget gauges: store unreachable");
                    return;
                }
            };
            let wf = m.workflows.label(name.as_str());
            for (window, status) in [("day", r.daily), ("month", r.monthly)] {
                if let Some(s) = status {
                    m.budget_spent_usd_micros
                        .with_label_values(&[&wf, window])
                        .set(s.spent.0);
                    m.budget_limit_usd_micros
                        .with_label_values(&[&wf, window])
                        .set(s.limit.0);
                }
            }
        }
    }
}
