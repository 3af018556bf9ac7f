//! The validated routing table and the routing decision.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::Error;
use super::model::Classifier;
use super::settings::{
    BudgetPressure, EscalationSettings, KillSwitchMode, RouteMode, RouteSettings, StreamCascade,
    WorkflowRouting,
};
use crate::api::ChatRequest;
use crate::types::{ModelId, Tier};

/// Validated routes with their classifiers loaded. Immutable; swap a new one on reload.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    routes: BTreeMap<String, Route>,
}

/// A validated route.
#[derive(Debug, Clone)]
struct Route {
    settings: RouteSettings,
    classifier: Arc<Classifier>,
}

/// What `decide` needs about one request.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// The request.
    pub request: &'a ChatRequest,
    /// Route name (the request's `model`).
    pub route: &'a str,
    /// The workflow's routing overrides, if it has any.
    pub workflow: Option<&'a WorkflowRouting>,
    /// `x-purser-step` header value.
    pub step: Option<&'a str>,
    /// Budget state.
    pub budget_pressure: BudgetPressure,
}

/// One model to try, with its tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Model.
    pub model: ModelId,
    /// Its tier in the route (0 = cheapest).
    pub tier: Tier,
}

/// Why a tier was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The classifier score against the boundary that decided.
    Classifier {
        /// P(cheap tier not good enough).
        score: f64,
        /// The deciding threshold.
        threshold: f64,
    },
    /// Score just below a threshold: sent up one tier to be safe.
    ConservativeMargin {
        /// Score.
        score: f64,
        /// Threshold it was within the margin of.
        threshold: f64,
    },
    /// The workflow pins a model.
    Pinned,
    /// The step kind maps to a tier.
    StepKind {
        /// The step.
        step: String,
    },
    /// The workflow's kill switch pins a model.
    KillSwitch,
    /// Budget pressure forced the cheapest allowed tier.
    BudgetDowngrade,
    /// The chosen tier is forbidden for the workflow; the nearest allowed one was used.
    ForbiddenTier {
        /// The tier that was wanted.
        wanted: Tier,
    },
}

/// The routing decision for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    /// Route name.
    pub route: String,
    /// Chosen tier.
    pub tier: Tier,
    /// Models to try in order: the tier's primary, its fallbacks, then stronger allowed tiers.
    pub candidates: Vec<Candidate>,
    /// Classifier score, when it was computed.
    pub score: Option<f64>,
    /// Why.
    pub reason: Reason,
    /// Classifier artifact version, when the classifier was used.
    pub classifier_version: Option<String>,
    /// Route or cascade (cascade turns into route for streams with `stream_cascade = route_only`).
    pub mode: RouteMode,
    /// Upper bound on upstream attempts.
    pub max_attempts: u32,
}

fn table_err(path: &Path, key: String, message: impl Into<String>) -> Error {
    Error::Table {
        path: path.display().to_string(),
        key,
        message: message.into(),
    }
}

fn validate(s: &RouteSettings, i: usize, dir: &Path, errors: &mut Vec<Error>) {
    let key = |k: &str| format!("route[{i}].{k}");
    if s.tiers.len() < 2 {
        errors.push(table_err(dir, key("tiers"), "needs at least 2 tiers"));
    }
    if s.tiers.iter().any(Vec::is_empty) {
        errors.push(table_err(dir, key("tiers"), "every tier needs a model"));
    }
    if s.thresholds.len() + 1 != s.tiers.len() {
        errors.push(table_err(
            dir,
            key("thresholds"),
            "needs one threshold per tier boundary",
        ));
    }
    let ordered = s.thresholds.windows(2).all(|w| w[0] <= w[1]);
    if !ordered || s.thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
        errors.push(table_err(
            dir,
            key("thresholds"),
            "must be ascending in [0, 1]",
        ));
    }
    if s.max_attempts == 0 || !(0.0..0.5).contains(&s.conservative_margin) {
        errors.push(table_err(
            dir,
            key("max_attempts"),
            "max_attempts ≥ 1, margin in [0, 0.5)",
        ));
    }
}

// --- RoutingTable ---

impl RoutingTable {
    /// Validates routes and loads each classifier (paths relative to `routes_dir`; one load per
    /// distinct file). Collects every error before failing; returns the first.
    ///
    /// Errors: `Error::Table` for invalid settings or duplicate names, `Error::Artifact`/`Io`
    /// for classifier files.
    pub fn try_new(settings: &[RouteSettings], routes_dir: &Path) -> Result<RoutingTable, Error> {
        let mut errors = Vec::new();
        let mut loaded: BTreeMap<String, Arc<Classifier>> = BTreeMap::new();
        let mut routes = BTreeMap::new();
        for (i, s) in settings.iter().enumerate() {
            validate(s, i, routes_dir, &mut errors);
            let clf = match loaded.get(&s.classifier) {
                Some(c) => Arc::clone(c),
                None => match Classifier::load(&routes_dir.join(&s.classifier)) {
                    Ok(c) => {
                        let c = Arc::new(c);
                        loaded.insert(s.classifier.clone(), Arc::clone(&c));
                        c
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
            };
            let route = Route {
                settings: s.clone(),
                classifier: clf,
            };
            if routes.insert(s.name.clone(), route).is_some() {
                errors.push(table_err(
                    routes_dir,
                    format!("route[{i}].name"),
                    "duplicate name",
                ));
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(RoutingTable { routes }),
        }
    }

    /// Route names.
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// A route's settings.
    pub fn settings(&self, route: &str) -> Option<&RouteSettings> {
        self.routes.get(route).map(|r| &r.settings)
    }

    /// A route's escalation settings.
    pub fn escalation_settings(&self, route: &str) -> Option<&EscalationSettings> {
        self.settings(route).map(|s| &s.escalation)
    }

    /// A route's classifier.
    pub fn classifier(&self, route: &str) -> Option<&Arc<Classifier>> {
        self.routes.get(route).map(|r| &r.classifier)
    }

    /// Decides the tier and candidate models for one request. Pure CPU, microseconds.
    ///
    /// Errors: unknown route, a `stop` kill switch, or no allowed tier.
    pub fn decide(&self, input: &RouteInput<'_>) -> Result<RouteDecision, Error> {
        let route = self
            .routes
            .get(input.route)
            .ok_or_else(|| Error::UnknownRoute {
                route: input.route.to_owned(),
            })?;
        let s = &route.settings;
        let mode = match (s.mode, input.request.stream, s.stream_cascade) {
            (RouteMode::Cascade, true, StreamCascade::RouteOnly) => RouteMode::Route,
            (m, _, _) => m,
        };
        let mut d = RouteDecision {
            route: s.name.clone(),
            tier: Tier(0),
            candidates: Vec::new(),
            score: None,
            reason: Reason::Pinned,
            classifier_version: None,
            mode,
            max_attempts: s.max_attempts,
        };
        let wf = input.workflow;
        if let Some(ks) = wf.and_then(|w| w.kill_switch.as_ref()) {
            return match (ks.mode, &ks.model) {
                (KillSwitchMode::Pin, Some(m)) => Ok(pinned(d, s, m, Reason::KillSwitch)),
                _ => Err(Error::Stopped {
                    set_by: ks.set_by.clone(),
                }),
            };
        }
        if let Some(m) = wf.and_then(|w| w.pin.as_ref()) {
            return Ok(pinned(d, s, m, Reason::Pinned));
        }
        let (wanted, reason) = self.wanted_tier(route, input, &mut d);
        let allowed = |t: usize| wf.is_none_or(|w| !w.forbid_tiers.contains(&(t as u8)));
        let tier = (wanted..s.tiers.len())
            .chain((0..wanted).rev())
            .find(|t| allowed(*t))
            .ok_or_else(|| Error::NoCandidates {
                route: s.name.clone(),
            })?;
        d.reason = if tier == wanted {
            reason
        } else {
            Reason::ForbiddenTier {
                wanted: Tier(wanted as u8),
            }
        };
        d.tier = Tier(tier as u8);
        for (t, models) in s
            .tiers
            .iter()
            .enumerate()
            .skip(tier)
            .filter(|(t, _)| allowed(*t))
        {
            d.candidates.extend(models.iter().map(|m| Candidate {
                model: m.clone(),
                tier: Tier(t as u8),
            }));
        }
        Ok(d)
    }

    fn wanted_tier(
        &self,
        route: &Route,
        input: &RouteInput<'_>,
        d: &mut RouteDecision,
    ) -> (usize, Reason) {
        let s = &route.settings;
        let top = s.tiers.len().saturating_sub(1);
        if input.budget_pressure == BudgetPressure::ForceCheapest {
            return (0, Reason::BudgetDowngrade);
        }
        let step_tier = input
            .step
            .zip(input.workflow)
            .and_then(|(step, w)| w.step_tiers.get(step).map(|t| (step, *t)));
        if let Some((step, t)) = step_tier {
            let reason = Reason::StepKind {
                step: step.to_owned(),
            };
            return ((t as usize).min(top), reason);
        }
        let score = route.classifier.strong_probability(input.request);
        d.score = Some(score);
        d.classifier_version = Some(route.classifier.version().to_owned());
        let tier = s.thresholds.iter().filter(|t| score >= **t).count();
        let reason = Reason::Classifier {
            score,
            // Below every threshold: the first; otherwise the highest one crossed.
            threshold: s
                .thresholds
                .get(tier.saturating_sub(1))
                .copied()
                .unwrap_or(0.0),
        };
        match s.thresholds.get(tier) {
            Some(t) if score >= t - s.conservative_margin => (
                tier + 1,
                Reason::ConservativeMargin {
                    score,
                    threshold: *t,
                },
            ),
            _ => (tier, reason),
        }
    }
}

fn pinned(mut d: RouteDecision, s: &RouteSettings, m: &ModelId, reason: Reason) -> RouteDecision {
    let tier = s.tiers.iter().position(|t| t.contains(m)).unwrap_or(0);
    d.tier = Tier(tier as u8);
    d.candidates = vec![Candidate {
        model: m.clone(),
        tier: d.tier,
    }];
    d.reason = reason;
    d
}
