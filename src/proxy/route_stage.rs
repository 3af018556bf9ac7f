//! Pipeline stage 6: resolve the requested model (a concrete catalogue model or a route of the
//! routing table) into an ordered plan of models, with the decision and its reason recorded;
//! and the cascade's judge between attempts.

use axum::http::HeaderMap;

use super::ctx::{H_STEP, RequestCtx};
use super::error::ProxyError;
use super::pipeline::{Pipeline, Plan};
use crate::api::{ChatCompletion, ChatRequest};
use crate::ledger::RoutingDecision;
use crate::router::{BudgetPressure, EscalateReason, Reason, RouteInput, RouteMode, Verdict};
use crate::types::Tier;

/// Closed label of a routing reason.
pub(crate) fn reason_label(r: &Reason) -> &'static str {
    match r {
        Reason::Classifier { .. } => "classifier",
        Reason::ConservativeMargin { .. } => "conservative_margin",
        Reason::Pinned => "pinned",
        Reason::StepKind { .. } => "step_kind",
        Reason::KillSwitch => "kill_switch",
        Reason::BudgetDowngrade => "budget_downgrade",
        Reason::ForbiddenTier { .. } => "forbidden_tier",
    }
}

/// Closed label of an escalation reason.
pub(crate) fn escalation_label(r: &EscalateReason) -> &'static str {
    match r {
        EscalateReason::NoChoice => "no_choice",
        EscalateReason::Truncated => "truncated",
        EscalateReason::Empty => "empty",
        EscalateReason::Refusal => "refusal",
        EscalateReason::InvalidJson => "invalid_json",
        EscalateReason::SchemaViolation => "schema_violation",
        EscalateReason::ToolArguments { .. } => "tool_arguments",
        EscalateReason::LowLogprob { .. } => "low_logprob",
        EscalateReason::Arithmetic { .. } => "arithmetic",
        EscalateReason::Verifier { .. } => "verifier",
    }
}

impl Pipeline {
    /// Resolves `req.model`. `pressure` forces the cheapest allowed tier (budget downgrade).
    pub(crate) fn plan(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
        req: &ChatRequest,
        pressure: BudgetPressure,
    ) -> Result<Plan, ProxyError> {
        let snap = std::sync::Arc::clone(&ctx.snapshot);
        if let Some(m) = snap.model(&req.model) {
            if m.is_embedding {
                return Err(ProxyError::ModelNotFound {
                    model: req.model.clone(),
                });
            }
            return Ok(Plan::concrete(m.clone()));
        }
        if !snap.routing.route_names().any(|r| r == req.model) {
            return Err(ProxyError::ModelNotFound {
                model: req.model.clone(),
            });
        }
        let step = headers.get(H_STEP).and_then(|v| v.to_str().ok());
        // A switch flipped at run time wins over the configured one.
        let wf_name = ctx.record.workflow.as_str();
        let mut overrides = snap.workflow_routing.get(wf_name).cloned();
        if let Some(k) = self.parts.kill_switches.get(wf_name) {
            overrides.get_or_insert_with(Default::default).kill_switch = Some(k);
        }
        let input = RouteInput {
            request: req,
            route: &req.model,
            workflow: overrides.as_ref(),
            step,
            budget_pressure: pressure,
        };
        let d = snap.routing.decide(&input).map_err(|e| match e {
            crate::router::Error::Stopped { .. } => ProxyError::Unavailable {
                message: format!(
                    "Workflow `{}` is stopped by its kill switch.",
                    ctx.record.workflow
                ),
                code: "workflow_stopped",
            },
            other => ProxyError::Internal(other.to_string()),
        })?;
        let mut candidates = Vec::new();
        let mut tiers = Vec::new();
        for c in &d.candidates {
            let m = snap.model(c.model.as_str()).ok_or_else(|| {
                ProxyError::Internal(format!("route model `{}` is not in the catalogue", c.model))
            })?;
            candidates.push(m.clone());
            tiers.push(c.tier);
        }
        let label = reason_label(&d.reason);
        self.parts
            .metrics
            .routing_decisions
            .with_label_values(&[&d.route, &d.tier.0.to_string(), label])
            .inc();
        ctx.record.decision = RoutingDecision {
            tier: d.tier,
            reason: label.to_owned(),
            score: d.score,
            classifier_version: d.classifier_version.clone().unwrap_or_default(),
        };
        let strongest = snap
            .routing
            .settings(&d.route)
            .and_then(|s| s.tiers.last()?.first().cloned());
        let baseline = strongest.and_then(|m| snap.model(m.as_str()).cloned());
        let cascade = d.mode == RouteMode::Cascade && d.max_attempts > 1;
        let escalation = cascade.then(|| snap.escalation_for(&d.route)).flatten();
        Ok(Plan {
            route: Some(d.route),
            candidates,
            tiers,
            max_attempts: d.max_attempts,
            escalation,
            baseline,
        })
    }

    /// Cascade judge: whether an answer from tier `tier` is good enough, or why not.
    pub(crate) fn judge(
        &self,
        plan: &Plan,
        req: &ChatRequest,
        answer: &ChatCompletion,
    ) -> Option<&'static str> {
        let esc = plan.escalation.as_ref()?;
        match esc.judge(req, answer) {
            Verdict::Accept => None,
            Verdict::Escalate(r) => {
                let label = escalation_label(&r);
                let route = plan.route.as_deref().unwrap_or("-");
                self.parts
                    .metrics
                    .escalations
                    .with_label_values(&[route, label])
                    .inc();
                Some(label)
            }
        }
    }
}

impl Plan {
    /// A plan for a concrete model.
    pub(crate) fn concrete(m: crate::config::ModelEntry) -> Plan {
        Plan {
            route: None,
            candidates: vec![m],
            tiers: vec![Tier(0)],
            max_attempts: 1,
            escalation: None,
            baseline: None,
        }
    }
}
