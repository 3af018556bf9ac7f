//! Planning: which messages are pinned, which are compressible (split into blocks and
//! sentences), which form atomic tool-call groups, and which older turns a summary replaces.

use std::ops::Range;

use regex::Regex;

use crate::api::{ChatRequest, Content, Message, Role};

use super::settings::{Mode, Settings};
use super::summary::{SummaryJob, SummaryStore, prefix_hash, prefix_text};
use super::text::{Layout, query_text, split_all, split_question, word_count};

/// What happens to one message.
#[derive(Debug, Clone)]
pub(crate) enum MsgPlan {
    /// Kept whole.
    Keep,
    /// Replaced by the history summary.
    Summarised,
    /// Rebuilt from its kept sentences; head and tail of the layout are pinned.
    Split(Layout),
    /// Kept or dropped whole together with the other members of its unit.
    Atomic,
}

/// One rankable unit.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Message the unit belongs to (first member for groups).
    pub msg: usize,
    /// Global block index (ranking group).
    pub block: usize,
    /// Index inside the block.
    pub pos: usize,
    /// Byte range in the message text (`Span`), or the member messages (`Group`).
    pub kind: UnitKind,
    /// Whitespace words of the unit.
    pub words: usize,
}

/// The shape of a unit.
#[derive(Debug, Clone)]
pub(crate) enum UnitKind {
    /// A sentence (or merged short sentences) of a split message.
    Span(Range<usize>),
    /// Whole messages dropped or kept together (tool call and its results), with their text.
    Group { members: Vec<usize>, text: String },
}

/// A block (document, section, paragraph, group) for ranking and labelling.
#[derive(Debug, Clone)]
pub(crate) struct BlockInfo {
    /// Message index.
    pub msg: usize,
    /// Title text for title matching (empty when none).
    pub title: String,
    /// Words of the label written before the first kept sentence.
    pub label_words: usize,
}

/// The plan of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// One entry per input message.
    pub msgs: Vec<MsgPlan>,
    /// The message texts (empty for non-text content).
    pub texts: Vec<String>,
    /// Blocks.
    pub blocks: Vec<BlockInfo>,
    /// Units.
    pub units: Vec<Unit>,
    /// Query text.
    pub query: String,
    /// Summaries that would replace a prefix but are not in the store yet.
    pub missing: Vec<SummaryJob>,
    /// A stored summary to insert before message index `.0`.
    pub summary: Option<(usize, String)>,
}

/// Inputs needed to plan.
pub(crate) struct PlanCtx<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// Compiled pin patterns.
    pub pins: &'a [Regex],
    /// Summary store.
    pub store: &'a dyn super::summary::SummaryStore,
}

/// Plans a request. Messages with no user turn are all kept.
pub(crate) fn plan(req: &ChatRequest, ctx: &PlanCtx<'_>) -> Plan {
    let n = req.messages.len();
    let texts: Vec<String> = req.messages.iter().map(Message::text_content).collect();
    let mut p = Plan {
        msgs: vec![MsgPlan::Keep; n],
        texts,
        ..Plan::default()
    };
    let Some(last_user) = req.messages.iter().rposition(|m| m.role == Role::User) else {
        return p;
    };
    let pinned = pinned_messages(req, &p.texts, last_user, ctx);
    if let Some(Content::Text(_)) = &req.messages[last_user].content {
        let layout = split_question(&p.texts[last_user]);
        p.query = query_text(&p.texts[last_user][layout.tail.clone()]);
        p.msgs[last_user] = MsgPlan::Split(layout);
    } else {
        p.query = p.texts[last_user].clone();
    }
    let groups = tool_groups(req, last_user, &pinned);
    if ctx.settings.mode == Mode::RetrievalAndSummary {
        plan_summary(
            &mut p,
            req,
            &pinned,
            &groups,
            ctx.store,
            &ctx.settings.summary,
        );
    }
    for (i, &is_pinned) in pinned.iter().enumerate().take(last_user) {
        if is_pinned || matches!(p.msgs[i], MsgPlan::Summarised) {
            continue;
        }
        if let Some(g) = groups.iter().find(|g| g.first() == Some(&i)) {
            add_group(&mut p, g.clone());
        } else if groups.iter().any(|g| g.contains(&i)) {
            continue;
        } else if matches!(req.messages[i].content, Some(Content::Text(_)))
            && req.messages[i].tool_calls.is_none()
        {
            p.msgs[i] = MsgPlan::Split(split_all(&p.texts[i]));
        } else {
            add_group(&mut p, vec![i]);
        }
    }
    add_span_units(
        &mut p,
        ctx.settings.min_unit_words,
        ctx.settings.max_unit_words,
    );
    p
}

/// Messages kept whole: system/developer, pinned roles, last N, pattern matches, and every
/// message after the latest user turn (the current tool loop).
fn pinned_messages(
    req: &ChatRequest,
    texts: &[String],
    last_user: usize,
    ctx: &PlanCtx<'_>,
) -> Vec<bool> {
    let n = req.messages.len();
    let pins = &ctx.settings.pins;
    req.messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            matches!(m.role, Role::System | Role::Developer)
                || pins.roles.contains(&m.role)
                || i + pins.last_messages >= n
                || i > last_user
                || ctx.pins.iter().any(|re| re.is_match(&texts[i]))
        })
        .collect()
}

/// Tool-call groups before the latest user turn: an assistant call and the results answering
/// it; orphan results form their own group. Groups touching a pinned message are pinned whole,
/// so they are not returned.
fn tool_groups(req: &ChatRequest, last_user: usize, pinned: &[bool]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut owner: Vec<Option<usize>> = vec![None; last_user];
    for i in 0..last_user {
        let m = &req.messages[i];
        if let Some(calls) = &m.tool_calls {
            let mut g = vec![i];
            for (j, r) in req.messages.iter().enumerate().take(last_user).skip(i + 1) {
                let answers = r
                    .tool_call_id
                    .as_ref()
                    .is_some_and(|id| calls.iter().any(|c| &c.id == id));
                if r.role == Role::Tool && answers && owner[j].is_none() {
                    g.push(j);
                }
            }
            for &j in &g {
                owner[j] = Some(groups.len());
            }
            groups.push(g);
        } else if matches!(m.role, Role::Tool | Role::Function) && owner[i].is_none() {
            owner[i] = Some(groups.len());
            groups.push(vec![i]);
        }
    }
    groups.retain(|g| !g.iter().any(|&j| pinned[j]));
    groups
}

/// Marks the oldest history prefix as summarised when its summary is stored, else records it
/// as missing. The prefix is whole blocks of `block_messages`, never splits a tool group and
/// stops at the first pinned message.
fn plan_summary(
    p: &mut Plan,
    req: &ChatRequest,
    pinned: &[bool],
    groups: &[Vec<usize>],
    store: &dyn SummaryStore,
    s: &super::settings::SummarySettings,
) {
    let last_user = req
        .messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(0);
    let Some(start) = (0..last_user).find(|&i| !pinned[i]) else {
        return;
    };
    let run = (start..last_user).take_while(|&i| !pinned[i]).count();
    let mut len =
        run.saturating_sub(s.keep_recent_messages) / s.block_messages.max(1) * s.block_messages;
    // Never cut a tool group in two.
    while len > 0
        && groups
            .iter()
            .any(|g| g.contains(&(start + len - 1)) && g.iter().any(|&j| j >= start + len))
    {
        len -= 1;
    }
    if len == 0 {
        return;
    }
    let prefix = &req.messages[start..start + len];
    let hash = prefix_hash(prefix);
    match store.get(&hash) {
        Some(summary) => {
            for m in &mut p.msgs[start..start + len] {
                *m = MsgPlan::Summarised;
            }
            p.summary = Some((start, summary));
        }
        None => p.missing.push(SummaryJob {
            hash,
            text: prefix_text(prefix),
        }),
    }
}

/// Adds an atomic unit for whole messages.
fn add_group(p: &mut Plan, members: Vec<usize>) {
    let text = members
        .iter()
        .map(|&i| p.texts[i].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let first = members.first().copied().unwrap_or(0);
    for &i in &members {
        p.msgs[i] = MsgPlan::Atomic;
    }
    let block = p.blocks.len();
    p.blocks.push(BlockInfo {
        msg: first,
        title: String::new(),
        label_words: 0,
    });
    let words = word_count(&text) + members.len();
    p.units.push(Unit {
        msg: first,
        block,
        pos: 0,
        kind: UnitKind::Group { members, text },
        words,
    });
}

/// Adds sentence units of every split message, merging sentences shorter than `min_words`.
fn add_span_units(p: &mut Plan, min_words: usize, max_words: usize) {
    for (mi, mp) in p.msgs.iter().enumerate() {
        let MsgPlan::Split(layout) = mp else { continue };
        let text = &p.texts[mi];
        for b in &layout.blocks {
            let block = p.blocks.len();
            let label_words = b.label.as_ref().map_or(0, |r| word_count(&text[r.clone()]));
            let title = b
                .title
                .as_ref()
                .map_or(String::new(), |r| text[r.clone()].to_owned());
            p.blocks.push(BlockInfo {
                msg: mi,
                title,
                label_words,
            });
            let merged = merge_short(text, &b.sentences, min_words);
            let pieces = merged
                .into_iter()
                .flat_map(|r| split_long(text, r, min_words, max_words));
            for (pos, r) in pieces.enumerate() {
                let words = word_count(&text[r.clone()]);
                p.units.push(Unit {
                    msg: mi,
                    block,
                    pos,
                    kind: UnitKind::Span(r),
                    words,
                });
            }
        }
    }
}

/// Joins sentences shorter than `min_words` to the previous one (the first to the next).
fn merge_short(text: &str, sents: &[Range<usize>], min_words: usize) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(sents.len());
    let mut carry: Option<usize> = None;
    for r in sents {
        let start = carry.take().unwrap_or(r.start);
        let short = word_count(&text[r.clone()]) < min_words;
        match out.last_mut() {
            Some(prev) if short => prev.end = r.end,
            None if short => carry = Some(start),
            _ => out.push(start..r.end),
        }
    }
    if let (Some(start), Some(last)) = (carry, sents.last()) {
        out.push(start..last.end);
    }
    out
}

/// Splits a sentence longer than `max_words` after `,` `;` `:` into pieces of at least
/// `min_words` words (never inside a fenced code block).
fn split_long(
    text: &str,
    r: Range<usize>,
    min_words: usize,
    max_words: usize,
) -> Vec<Range<usize>> {
    let s = &text[r.clone()];
    if word_count(s) <= max_words || s.starts_with("```") {
        return vec![r];
    }
    let min_words = min_words.max(4);
    let mut out = Vec::new();
    let total = word_count(s);
    let (mut start, mut words, mut seen) = (0usize, 0usize, 0usize);
    let mut in_word = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_word {
                words += 1;
                seen += 1;
                in_word = false;
                let prev = s[..i].chars().next_back();
                let rest_words = total - seen;
                if words >= min_words
                    && rest_words >= min_words
                    && matches!(prev, Some(',' | ';' | ':'))
                {
                    out.push(r.start + start..r.start + i);
                    start = i + c.len_utf8();
                    words = 0;
                }
            }
        } else {
            in_word = true;
        }
    }
    out.push(r.start + start..r.end);
    out.into_iter()
        .filter_map(|x| {
            let piece = &text[x.clone()];
            let lead = piece.len() - piece.trim_start().len();
            let t = piece.trim();
            (!t.is_empty()).then(|| x.start + lead..x.start + lead + t.len())
        })
        .collect()
}
