//! The `Compressor`: threshold and mode checks, planning, ranking, budget fitting and the exact
//! final check (whitespace words and tiktoken tokens of the rebuilt request).

use std::sync::Arc;

use regex::Regex;

use crate::api::ChatRequest;
use crate::tokenizer::Encoding;
use crate::types::Tokens;

use super::plan::{Plan, PlanCtx, UnitKind, plan};
use super::rank::{Analyzer, RankInput, UnitRef, Weights, score_units};
use super::select::{Budget, Room, drop_lowest, rebuild, select};
use super::settings::{Mode, Settings, Target, target_is_valid};
use super::summary::SummaryStore;
use super::{Compressed, Error, Outcome, Ranker, VERSION, tantivy_rank};

/// Score bonus for history units, growing with recency (the latest turn matters most).
const RECENCY: f64 = 0.3;
/// Rounds of drop-and-recount when the exact count exceeds the budget.
const MAX_FIX_ROUNDS: usize = 16;

/// Context compressor. Cheap to share (`Arc`); all work is synchronous CPU work, so async
/// callers run it in `spawn_blocking`.
pub struct Compressor {
    settings: Settings,
    pins: Vec<Regex>,
    analyzer: Analyzer,
    store: Arc<dyn SummaryStore>,
    ranker: Ranker,
    weights: Weights,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("settings", &self.settings)
            .field("ranker", &self.ranker)
            .finish()
    }
}

// Compressor
impl Compressor {
    /// Builds a compressor: validates settings and compiles pin patterns.
    ///
    /// # Errors
    /// `Error::InvalidSettings` for a bad target or block size, `Error::InvalidPattern` for a pin regex.
    pub fn try_new(settings: Settings, store: Arc<dyn SummaryStore>) -> Result<Self, Error> {
        settings.validate()?;
        let pins = settings
            .pins
            .patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| Error::InvalidPattern {
                    pattern: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            settings,
            pins,
            analyzer: Analyzer::english(),
            store,
            ranker: Ranker::default(),
            weights: Weights::default(),
        })
    }

    /// Uses another sentence ranker (the tantivy-index one is kept for comparison and benches).
    pub fn with_ranker(mut self, ranker: Ranker) -> Self {
        self.ranker = ranker;
        self
    }

    /// Overrides the ranking weights (tuning experiments only).
    #[cfg(test)]
    pub(crate) fn with_weights(mut self, weights: Weights) -> Self {
        self.weights = weights;
        self
    }

    /// The settings this compressor was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Compresses `req` to the configured target when mode is not `off` and the request has more
    /// than `threshold_tokens` input tokens; otherwise returns it unchanged (see `outcome`).
    ///
    /// # Errors
    /// `Error::Index` only with `Ranker::TantivyIndex` when the in-memory index fails.
    pub fn compress(&self, req: &ChatRequest) -> Result<Compressed, Error> {
        let enc = Encoding::for_model(&req.model);
        let before = enc.count_request(req);
        if self.settings.mode == Mode::Off {
            return Ok(unchanged(req, before, Outcome::Disabled));
        }
        if before.0 <= self.settings.threshold_tokens {
            return Ok(unchanged(req, before, Outcome::BelowThreshold));
        }
        self.compress_counted(req, self.settings.target, before)
    }

    /// Compresses `req` to `target` regardless of the threshold (mode `off` still disables).
    /// A ratio bounds whitespace words over all message contents (at most `before / ratio`;
    /// tokens shrink about as much but are not bounded exactly); `budget_tokens` bounds
    /// `Encoding::count_request` tokens exactly. When the pinned parts alone exceed the budget,
    /// only they are kept.
    ///
    /// # Errors
    /// `Error::InvalidSettings` for a bad target; `Error::Index` as for [`Compressor::compress`].
    pub fn compress_to(&self, req: &ChatRequest, target: Target) -> Result<Compressed, Error> {
        target_is_valid(target)?;
        let before = Encoding::for_model(&req.model).count_request(req);
        if self.settings.mode == Mode::Off {
            return Ok(unchanged(req, before, Outcome::Disabled));
        }
        self.compress_counted(req, target, before)
    }

    fn compress_counted(
        &self,
        req: &ChatRequest,
        target: Target,
        before: Tokens,
    ) -> Result<Compressed, Error> {
        let enc = Encoding::for_model(&req.model);
        let ctx = PlanCtx {
            settings: &self.settings,
            pins: &self.pins,
            store: self.store.as_ref(),
        };
        let p = plan(req, &ctx);
        if p.units.is_empty() && p.summary.is_none() {
            let mut out = unchanged(req, before, Outcome::NothingToCompress);
            out.missing_summaries = p.missing;
            return Ok(out);
        }
        let words_before = request_words(req);
        let budget = budget_for(target, before, words_before, self.weights.token_margin);
        let scores = self.scores(&p)?;
        let keep = fit(req, &p, &scores, budget, enc);
        let request = rebuild(req, &p, &keep);
        let after = enc.count_request(&request);
        Ok(Compressed {
            tokens_before: before,
            tokens_after: after,
            units_total: p.units.len(),
            units_kept: keep.iter().filter(|&&k| k).count(),
            version: VERSION,
            missing_summaries: p.missing,
            summary_used: p.summary.is_some(),
            outcome: Outcome::Compressed,
            request,
        })
    }

    /// Unit scores: ranking signals plus a recency bonus for history units.
    fn scores(&self, p: &Plan) -> Result<Vec<f64>, Error> {
        let texts: Vec<&str> = p.units.iter().map(|u| unit_text(p, u)).collect();
        let units: Vec<UnitRef<'_>> = p
            .units
            .iter()
            .zip(&texts)
            .map(|(u, t)| UnitRef {
                text: t,
                block: u.block,
                pos: u.pos,
            })
            .collect();
        let titles: Vec<&str> = p.blocks.iter().map(|b| b.title.as_str()).collect();
        let over = match self.ranker {
            Ranker::Bm25 => None,
            Ranker::TantivyIndex => Some(tantivy_rank::index_scores(
                &self.analyzer,
                &p.query,
                &texts,
            )?),
        };
        let input = RankInput {
            query: &p.query,
            units: &units,
            titles: &titles,
            sent_override: over.as_deref(),
        };
        let mut scores = score_units(&self.analyzer, &input, &self.weights);
        let last = p.msgs.len().max(1) as f64;
        let latest = p.units.iter().map(|u| u.msg).max().unwrap_or(0);
        for (s, u) in scores.iter_mut().zip(&p.units) {
            if u.msg != latest {
                *s += RECENCY * u.msg as f64 / last;
            }
        }
        smooth(p, &mut scores, self.settings.context_window);
        Ok(scores)
    }
}

/// Selects units and fixes any overshoot found by the exact count.
fn fit(req: &ChatRequest, p: &Plan, scores: &[f64], budget: Budget, enc: Encoding) -> Vec<bool> {
    let none = vec![false; p.units.len()];
    let base = rebuild(req, p, &none);
    let base_w = request_words(&base);
    let base_t = budget.tokens.map_or(0, |_| enc.count_request(&base).0);
    let room = Room {
        words: budget
            .words
            .map_or(usize::MAX, |w| w.saturating_sub(base_w)),
        tokens: budget
            .tokens
            .map_or(f64::INFINITY, |t| t.saturating_sub(base_t) as f64),
    };
    let mut keep = select(p, scores, room, budget.tokens_per_word);
    for _ in 0..MAX_FIX_ROUNDS {
        let out = rebuild(req, p, &keep);
        let over_w = budget
            .words
            .map_or(0, |w| request_words(&out).saturating_sub(w));
        let over_t = budget
            .tokens
            .map_or(0, |t| enc.count_request(&out).0.saturating_sub(t));
        if over_w == 0 && over_t == 0 {
            return keep;
        }
        let words = over_w.max((over_t as f64 / budget.tokens_per_word).ceil() as usize);
        if !drop_lowest(p, scores, &mut keep, words) {
            return keep;
        }
    }
    none
}

/// Raises the score of sentences next to a strong one (context window), decaying with distance.
fn smooth(p: &Plan, scores: &mut [f64], window: usize) {
    if window == 0 {
        return;
    }
    let orig = scores.to_vec();
    for (i, score) in scores.iter_mut().enumerate() {
        for d in 1..=window {
            let decay = 0.7f64.powi(d as i32);
            for j in [i.checked_sub(d), Some(i + d)].into_iter().flatten() {
                if j < orig.len() && p.units[j].block == p.units[i].block {
                    *score = score.max(orig[j] * decay);
                }
            }
        }
    }
}

fn unit_text<'a>(p: &'a Plan, u: &'a super::plan::Unit) -> &'a str {
    match &u.kind {
        UnitKind::Span(r) => p.texts[u.msg].get(r.clone()).unwrap_or(""),
        UnitKind::Group { text, .. } => text,
    }
}

fn budget_for(target: Target, before: Tokens, words_before: usize, margin: f64) -> Budget {
    let tpw = (before.0 as f64 / words_before.max(1) as f64).max(1.0) * margin;
    match target {
        Target::Ratio(r) => Budget {
            words: Some((words_before as f64 / r).floor() as usize),
            tokens: None,
            tokens_per_word: tpw,
        },
        Target::BudgetTokens(n) => Budget {
            words: None,
            tokens: Some(n),
            tokens_per_word: tpw,
        },
    }
}

/// Whitespace words over the contents of all messages (the eval's ratio unit).
pub(crate) fn request_words(req: &ChatRequest) -> usize {
    req.messages
        .iter()
        .map(|m| super::text::word_count(&m.text_content()))
        .sum()
}

fn unchanged(req: &ChatRequest, tokens: Tokens, outcome: Outcome) -> Compressed {
    Compressed {
        request: req.clone(),
        tokens_before: tokens,
        tokens_after: tokens,
        units_total: 0,
        units_kept: 0,
        version: VERSION,
        missing_summaries: Vec::new(),
        summary_used: false,
        outcome,
    }
}
