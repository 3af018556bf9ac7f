//! Splitting text into compressible units: the trailing question of a long message, blocks
//! (RAG documents, markdown sections, blank-line paragraphs) and sentences. Byte ranges only;
//! nothing here ranks or allocates copies of the text.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// A message split into a pinned head, compressible blocks and a pinned tail (the question).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Instructions before the first block (pinned); may be empty.
    pub head: Range<usize>,
    /// Compressible blocks in original order.
    pub blocks: Vec<Block>,
    /// The question part (pinned); may be empty.
    pub tail: Range<usize>,
    /// What separates blocks when they are written back.
    pub block_sep: &'static str,
}

/// One document, section or paragraph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    /// `Document [n](Title: ...)` or a markdown heading line, kept with any kept sentence.
    pub label: Option<Range<usize>>,
    /// The title inside the label, for title matching.
    pub title: Option<Range<usize>>,
    /// Sentences (trimmed, whitespace-only gaps between them).
    pub sentences: Vec<Range<usize>>,
}

/// Line that opens a RAG document: `Document [3](Title: Foo (band))`, `Document [3]:`, `[3]`.
static DOC_LABEL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(?:Document\s*\[\d+\]\s*(?:\(Title:\s*)?|Document\s+\d+\s*[:.]|\[\d+\]\s*(?:Title:)?)")
        .ok()
});
static HEADING: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?m)^#{1,6}[ \t]+\S.*$").ok());
static QUESTION_LINE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?im)^[ \t]*(?:question|query|q)[ \t]*:").ok());
static MARKERS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?im)^[ \t]*(?:question|query|q|answer|a)[ \t]*:").ok());

/// Messages with at most this many words are all question: nothing to compress.
const SHORT_MESSAGE_WORDS: usize = 120;
/// A trailing paragraph longer than this is not taken whole as the question.
const MAX_TAIL_WORDS: usize = 300;
/// A leading paragraph up to this long is kept as instructions in paragraph layouts.
const MAX_HEAD_WORDS: usize = 60;

/// Whitespace-separated words, the unit the eval ratio counts.
pub(crate) fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

/// The query text of a pinned tail, with `Question:` / `Answer:` markers removed.
pub(crate) fn query_text(tail: &str) -> String {
    match MARKERS.as_ref() {
        Some(re) => re.replace_all(tail, " ").into_owned(),
        None => tail.to_owned(),
    }
}

/// Splits the latest user message: context blocks, and the trailing question pinned.
pub(crate) fn split_question(text: &str) -> Layout {
    let end = text.len();
    if word_count(text) <= SHORT_MESSAGE_WORDS {
        return Layout {
            head: 0..0,
            blocks: Vec::new(),
            tail: 0..end,
            block_sep: "\n\n",
        };
    }
    let tail_start = question_start(text);
    let mut layout = split_context(&text[..tail_start], 0);
    layout.tail = tail_start..end;
    layout
}

/// Splits a whole message (no question) into blocks; used for history turns.
pub(crate) fn split_all(text: &str) -> Layout {
    let mut layout = split_context(text, 0);
    layout.tail = text.len()..text.len();
    layout
}

/// Byte offset where the trailing question starts.
fn question_start(text: &str) -> usize {
    if let Some(m) = QUESTION_LINE
        .as_ref()
        .and_then(|re| re.find_iter(text).last())
    {
        return m.start();
    }
    let trimmed = text.trim_end();
    if let Some(p) = trimmed.rfind("\n\n") {
        let para = &trimmed[p..];
        if word_count(para) <= MAX_TAIL_WORDS {
            return p + 2;
        }
    }
    // One long paragraph: the last sentence is the question.
    let sents = sentences(trimmed, 0..trimmed.len(), 0);
    sents.last().map_or(0, |r| r.start)
}

/// Splits context (no question) starting at `base` into blocks, choosing the layout.
fn split_context(ctx: &str, base: usize) -> Layout {
    if let Some(l) = split_by_labels(ctx, base, DOC_LABEL.as_ref(), "\n") {
        return l;
    }
    if let Some(l) = split_by_labels(ctx, base, HEADING.as_ref(), "\n\n") {
        return l;
    }
    split_paragraphs(ctx, base)
}

/// Blocks that start at each match of `re` (at least two matches), text before is the head.
fn split_by_labels(
    ctx: &str,
    base: usize,
    re: Option<&Regex>,
    sep: &'static str,
) -> Option<Layout> {
    let starts: Vec<usize> = re?.find_iter(ctx).map(|m| m.start()).collect();
    if starts.len() < 2 {
        return None;
    }
    let mut blocks = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(ctx.len());
        blocks.push(labelled_block(ctx, s..e, base));
    }
    let first = starts.first().copied().unwrap_or(0);
    Some(Layout {
        head: base..base + trim_end_at(ctx, first),
        blocks,
        tail: 0..0,
        block_sep: sep,
    })
}

/// One labelled block: label up to the closing `)` of `(Title: ...)` or the end of a heading line.
fn labelled_block(ctx: &str, r: Range<usize>, base: usize) -> Block {
    let s = &ctx[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let (label_end, title) = label_extent(s, lead);
    let body_start = r.start + label_end;
    Block {
        label: Some(base + r.start + lead..base + r.start + label_end),
        title: title.map(|t| base + r.start + t.start..base + r.start + t.end),
        sentences: sentences(ctx, body_start..r.end, base),
    }
}

/// End of the label within a block and the title range, both relative to the block.
fn label_extent(s: &str, lead: usize) -> (usize, Option<Range<usize>>) {
    if let Some(t) = s.find("(Title:") {
        let title_start = t + "(Title:".len();
        let mut depth = 1usize;
        for (i, c) in s[title_start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                '\n' => break,
                _ => {}
            }
            if depth == 0 {
                let end = title_start + i;
                let ts = title_start
                    + (s[title_start..end].len() - s[title_start..end].trim_start().len());
                return (end + 1, Some(ts..end));
            }
        }
    }
    let line_end = s.find('\n').unwrap_or(s.len());
    if s[lead..].starts_with('#') {
        let line = &s[lead..line_end];
        let t = line.trim_start_matches('#').trim();
        let ts = lead + line.find(t).unwrap_or(0);
        return (line_end, Some(ts..ts + t.len()));
    }
    // `Document 3:` / `[3]`: the label is the first whitespace-free run.
    let first_ws = s[lead..]
        .find(char::is_whitespace)
        .map_or(s.len(), |i| lead + i);
    (first_ws, None)
}

/// Blank-line paragraphs (fenced code kept whole); a short first paragraph is the head.
fn split_paragraphs(ctx: &str, base: usize) -> Layout {
    let paras = paragraphs(ctx);
    let mut head = base..base;
    let mut rest = paras.as_slice();
    if let (true, Some(first)) = (paras.len() > 2, paras.first())
        && word_count(&ctx[first.clone()]) <= MAX_HEAD_WORDS
    {
        head = base + first.start..base + first.end;
        rest = &paras[1..];
    }
    let blocks = rest
        .iter()
        .map(|p| Block {
            label: None,
            title: None,
            sentences: if ctx[p.clone()].trim_start().starts_with("```") {
                std::iter::once(base + p.start..base + p.end).collect()
            } else {
                sentences(ctx, p.clone(), base)
            },
        })
        .collect();
    Layout {
        head,
        blocks,
        tail: 0..0,
        block_sep: "\n\n",
    }
}

/// Trimmed paragraph ranges split at blank lines, never inside a ``` fence.
fn paragraphs(ctx: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut pos, mut in_fence) = (0usize, 0usize, false);
    for line in ctx.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with("```") {
            in_fence = !in_fence;
        }
        if t.is_empty() && !in_fence {
            push_trimmed(ctx, start..pos, &mut out);
            start = pos + line.len();
        }
        pos += line.len();
    }
    push_trimmed(ctx, start..ctx.len(), &mut out);
    out
}

fn push_trimmed(s: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &s[r.clone()];
    let t = piece.trim();
    if !t.is_empty() {
        let lead = piece.len() - piece.trim_start().len();
        out.push(r.start + lead..r.start + lead + t.len());
    }
}

fn trim_end_at(s: &str, end: usize) -> usize {
    s[..end].trim_end().len()
}

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "inc", "ltd", "co", "no", "mt", "ft",
    "gen", "col", "lt", "sgt", "capt", "prof", "rev", "gov", "sen", "rep", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "fig", "vol", "op",
];

/// Trimmed sentence ranges of `text[r]` (offsets shifted by `base`); gaps are whitespace only.
pub(crate) fn sentences(text: &str, r: Range<usize>, base: usize) -> Vec<Range<usize>> {
    let s = &text[r.clone()];
    let mut out = Vec::new();
    let mut start = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let boundary = match b {
            b'\n' => true,
            b'.' | b'!' | b'?' => ends_sentence(s, start, i),
            _ => false,
        };
        if boundary {
            let mut e = i + 1;
            while e < bytes.len() && matches!(bytes[e], b'"' | b'\'' | b')' | b']') {
                e += 1;
            }
            push_trimmed(s, start..e, &mut out);
            start = e;
            i = e;
            continue;
        }
        i += 1;
    }
    push_trimmed(s, start..s.len(), &mut out);
    out.into_iter()
        .map(|x| base + r.start + x.start..base + r.start + x.end)
        .collect()
}

/// Whether the punctuation at `i` ends a sentence: followed by space and a capital/digit/quote,
/// and not an abbreviation or initial.
fn ends_sentence(s: &str, start: usize, i: usize) -> bool {
    let bytes = s.as_bytes();
    let mut j = i + 1;
    while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')' | b']') {
        j += 1;
    }
    if j >= bytes.len() || !bytes[j].is_ascii_whitespace() {
        return false;
    }
    let next = s[j..].trim_start().chars().next();
    if !next.is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || "\"'([“‘".contains(c)) {
        return false;
    }
    if bytes[i] != b'.' {
        return true;
    }
    let word = s[start..i]
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let w = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    let single_initial = w.chars().count() == 1 && w.chars().all(char::is_uppercase);
    let dotted = w.contains('.'); // U.S. / e.g.
    !(single_initial || dotted || ABBREVIATIONS.contains(&w.to_lowercase().as_str()))
}
