//! Fitting units into the budget: greedy by score with label costs, then rebuilding the request
//! with the kept units in original order (labels kept, pinned parts untouched).

use std::ops::Range;

use crate::api::{ChatRequest, Content, Message, Role};

use super::plan::{MsgPlan, Plan, UnitKind};
use super::text::Layout;

/// Limits the output must respect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Whitespace words over all message contents, when the target is a ratio.
    pub words: Option<usize>,
    /// Input tokens as `Encoding::count_request` counts them, when the target is a budget.
    pub tokens: Option<u64>,
    /// Estimated tokens per word, for planning before the exact count.
    pub tokens_per_word: f64,
}

/// Room left after the pinned parts, in words and estimated tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room {
    /// Words left (`usize::MAX` when not limited).
    pub words: usize,
    /// Tokens left.
    pub tokens: f64,
}

/// Greedy selection: highest score first; a unit fits when its words (plus its block label,
/// the first time the block is opened) fit both limits.
pub(crate) fn select(plan: &Plan, scores: &[f64], room: Room, tokens_per_word: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..plan.units.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut keep = vec![false; plan.units.len()];
    let mut opened = vec![false; plan.blocks.len()];
    let (mut words, mut tokens) = (room.words, room.tokens);
    for i in order {
        let u = &plan.units[i];
        let label = if opened[u.block] {
            0
        } else {
            plan.blocks[u.block].label_words
        };
        let w = u.words + label;
        let t = (w as f64 * tokens_per_word).ceil() + group_overhead(&u.kind);
        if w <= words && t <= tokens {
            keep[i] = true;
            opened[u.block] = true;
            words -= w;
            tokens -= t;
        }
    }
    keep
}

/// Per-message framing tokens of a group unit.
fn group_overhead(kind: &UnitKind) -> f64 {
    match kind {
        UnitKind::Group { members, .. } => 4.0 * members.len() as f64,
        UnitKind::Span(_) => 0.0,
    }
}

/// Drops kept units, lowest score first, until about `words` words are removed. Returns false
/// when nothing was left to drop.
pub(crate) fn drop_lowest(plan: &Plan, scores: &[f64], keep: &mut [bool], words: usize) -> bool {
    let mut kept: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
    if kept.is_empty() {
        return false;
    }
    kept.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)));
    let mut removed = 0usize;
    for i in kept {
        keep[i] = false;
        removed += plan.units[i].words.max(1);
        if removed >= words.max(1) {
            break;
        }
    }
    true
}

/// The request with only kept units (and the stored summary, if any).
pub(crate) fn rebuild(req: &ChatRequest, plan: &Plan, keep: &[bool]) -> ChatRequest {
    let kept_spans = kept_spans_by_block(plan, keep);
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    for (i, (m, mp)) in req.messages.iter().zip(&plan.msgs).enumerate() {
        if let Some((at, summary)) = &plan.summary
            && *at == i
        {
            messages.push(Message::text(
                Role::System,
                format!("Summary of the earlier conversation:\n{summary}"),
            ));
        }
        match mp {
            MsgPlan::Keep => messages.push(m.clone()),
            MsgPlan::Summarised => {}
            MsgPlan::Atomic => {
                if is_group_member_kept(plan, keep, i) {
                    messages.push(m.clone());
                }
            }
            MsgPlan::Split(layout) => {
                let first = plan
                    .blocks
                    .iter()
                    .position(|b| b.msg == i)
                    .unwrap_or(kept_spans.len());
                let spans = &kept_spans[first..(first + layout.blocks.len()).min(kept_spans.len())];
                let text = build_text(&plan.texts[i], layout, spans);
                if !text.is_empty() {
                    let mut out = m.clone();
                    out.content = Some(Content::Text(text));
                    messages.push(out);
                }
            }
        }
    }
    let mut out = req.clone();
    out.messages = messages;
    out
}

fn is_group_member_kept(plan: &Plan, keep: &[bool], msg: usize) -> bool {
    plan.units.iter().zip(keep).any(|(u, &k)| {
        k && matches!(&u.kind, UnitKind::Group { members, .. } if members.contains(&msg))
    })
}

/// Kept sentence ranges of every block, in order.
fn kept_spans_by_block(plan: &Plan, keep: &[bool]) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![Vec::new(); plan.blocks.len()];
    for (u, &k) in plan.units.iter().zip(keep) {
        if let (true, UnitKind::Span(r)) = (k, &u.kind) {
            out[u.block].push(r.clone());
        }
    }
    out
}

/// Head, kept blocks (label + kept sentences) and tail of a split message.
pub(crate) fn build_text(text: &str, layout: &Layout, spans: &[Vec<Range<usize>>]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !layout.head.is_empty() {
        parts.push(text[layout.head.clone()].to_owned());
    }
    let mut blocks: Vec<String> = Vec::new();
    for (b, ranges) in layout.blocks.iter().zip(spans) {
        if ranges.is_empty() {
            continue;
        }
        let mut s = String::new();
        let mut prev_end = match &b.label {
            Some(l) => {
                s.push_str(&text[l.clone()]);
                Some(l.end)
            }
            None => None,
        };
        for r in ranges {
            if let Some(pe) = prev_end {
                s.push_str(gap(text, pe, r.start));
            }
            s.push_str(&text[r.clone()]);
            prev_end = Some(r.end);
        }
        blocks.push(s);
    }
    if !blocks.is_empty() {
        parts.push(blocks.join(layout.block_sep));
    }
    if !layout.tail.is_empty() {
        parts.push(text[layout.tail.clone()].to_owned());
    }
    parts.join("\n\n")
}

/// The original whitespace between two pieces when nothing was dropped in between, else a space.
fn gap(text: &str, end: usize, start: usize) -> &str {
    match text.get(end..start) {
        Some(g) if !g.is_empty() && g.chars().all(char::is_whitespace) => g,
        _ => " ",
    }
}
