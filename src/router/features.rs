//! Feature extraction for the difficulty classifier and the answer verifier.
//!
//! No BPE: tiktoken costs ~1 µs per 10 tokens, which would eat the 100 µs budget on a 2,000-token
//! request, so text is split into lowercase words and symbols in one pass. Features are
//! (1) hand-made dense features (length, structure, maths, code, reasoning, constraints, request
//! shape) at indices `0..dense_len`, and (2) hashed word unigrams, bigrams and word prefixes at
//! `dense_len + hash`, scaled by `1/sqrt(n)` so long prompts do not dominate.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::keywords::{KW_CLASSES, KeyHasher, Kw, KwSet, keyword_table};
use crate::api::{ChatRequest, ResponseFormat, Role};

/// Names of the prompt's dense features, in index order.
pub(crate) const PROMPT_DENSE: &[&str] = &[
    "len_chars",
    "len_words",
    "lines",
    "sentences",
    "questions",
    "digit_share",
    "numbers",
    "math_symbols",
    "latex",
    "code",
    "math_words",
    "reasoning_words",
    "multistep_words",
    "constraint_words",
    "creative_words",
    "roleplay_words",
    "extraction_words",
    "choice_options",
    "negation_words",
    "turns",
    "system_len",
    "context_len",
    "tools",
    "json_output",
    // Set (to 1) only for open-ended prompts: carries the hand-set intercept of open chat.
    "open_bias",
    // Maths word-problem features: set only for word problems (see `Format`), learned on them,
    // so nothing learned from them reaches other prompts.
    "wp_bias",
    "wp_words",
    "wp_names",
    "wp_fractions",
    "wp_decimals",
];

/// Index of the first word-problem feature in [`PROMPT_DENSE`].
const WP_START: usize = 25;
/// Index of `open_bias` in [`PROMPT_DENSE`].
const OPEN_BIAS: u32 = 24;

/// Names of the answer's dense features (verifier only), in index order after the prompt's.
pub(crate) const ANSWER_DENSE: &[&str] = &[
    "ans_len",
    "ans_ratio",
    "arith_checks",
    "arith_failures",
    "arith_fail_share",
    "final_marker",
    "final_non_integer",
    "final_negative",
    "final_in_prompt",
    "final_missing",
    "hedge_words",
    "refusal",
    "steps",
];

/// The parts of a request the features look at, beyond the last user text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestShape {
    /// Number of messages.
    pub(crate) turns: usize,
    /// Characters of system/developer messages.
    pub(crate) system_chars: usize,
    /// Characters of the other (non-last-user, non-system) messages.
    pub(crate) context_chars: usize,
    /// Number of tool definitions.
    pub(crate) tools: usize,
    /// A JSON response format was asked for.
    pub(crate) json_output: bool,
}

/// A sparse feature vector: `(index, value)` pairs, dense features first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FeatureVec {
    pub(crate) entries: Vec<(u32, f32)>,
}

/// Turns text into features. Holds the keyword table; build once and reuse.
#[derive(Debug, Clone)]
pub(crate) struct Featurizer {
    hash_bits: u32,
    keywords: HashMap<u64, KwSet, BuildHasherDefault<KeyHasher>>,
    /// Bit `i` set: prompt dense feature `i` carries a hand-set prior weight.
    hand_set: u64,
}

/// What kind of prompt this is; each kind has its own learned weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Multiple-choice exam question (≥ 3 option lines "A." .. "E.").
    Choice,
    /// Maths word problem: quantities and a question, no options, code or creative request.
    WordProblem,
    /// Anything else (open-ended chat): scored by the hand prior and the intercept only.
    Open,
}

/// Namespaces keep prompt and answer hashes apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Space {
    /// Free-form prompts (the verifier's prompt side).
    Prompt,
    /// Multiple-choice prompts (options "A." .. "D."): their words get their own weights, so
    /// what is learned from exam questions does not leak onto open-ended chat.
    Choice,
    Answer,
}

struct Scan {
    words: Vec<u64>,
    stems: Vec<u64>,
    /// Capitalised words not starting a sentence (people, places), hashed; may repeat.
    names: Vec<u64>,
    /// Literal numbers, hashed; may repeat.
    values: Vec<u64>,
    counts: [u32; KW_CLASSES],
    decimals: usize,
    money: usize,
    percent: usize,
    slash_fractions: usize,
    chars: usize,
    digits: usize,
    numbers: usize,
    math_symbols: usize,
    latex: usize,
    code_marks: usize,
    lines: usize,
    sentences: usize,
    questions: usize,
    options: usize,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Longest text scanned; longer texts keep their head and tail.
const MAX_SCAN: usize = 16 * 1024;

/// FNV-1a over bytes: stable across runs and platforms (unlike std's SipHash with random keys).
pub(crate) fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn mix(a: u64, b: u64) -> u64 {
    let x = a.rotate_left(17) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// Keeps head and tail of an overlong text, cut on char boundaries.
fn bounded(text: &str) -> (&str, &str) {
    if text.len() <= MAX_SCAN {
        return (text, "");
    }
    let mut head = MAX_SCAN * 3 / 4;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - MAX_SCAN / 4;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    (&text[..head], &text[tail..])
}

fn log_scale(n: usize, div: f32) -> f32 {
    (1.0 + n as f32).ln() / div
}

fn distinct(hashes: &[u64]) -> usize {
    let mut v = hashes.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// Per-word state of one scan pass.
#[derive(Default)]
struct WordState {
    text: String,
    digits_only: bool,
    /// The word starts with a capital and does not start a sentence.
    name_like: bool,
}

// --- Featurizer ---

impl Featurizer {
    /// A featurizer hashing into `2^hash_bits` buckets.
    pub(crate) fn new(hash_bits: u32) -> Self {
        let hand_set = super::trainer::PRIOR
            .iter()
            .filter_map(|(name, w)| (*w != 0.0).then_some(*name))
            .filter_map(|name| PROMPT_DENSE.iter().position(|n| *n == name))
            .fold(0u64, |m, i| m | (1 << i));
        Self {
            hash_bits,
            keywords: keyword_table(),
            hand_set,
        }
    }

    /// Total feature dimension for a model over `dense` dense features.
    pub(crate) fn dim(&self, dense: usize) -> usize {
        dense + (1usize << self.hash_bits)
    }

    fn scan(&self, text: &str) -> Scan {
        let mut s = Scan {
            words: Vec::with_capacity(text.len() / 5 + 4),
            stems: Vec::new(),
            names: Vec::new(),
            values: Vec::new(),
            counts: [0; KW_CLASSES],
            decimals: 0,
            money: 0,
            percent: 0,
            slash_fractions: 0,
            chars: 0,
            digits: 0,
            numbers: 0,
            math_symbols: 0,
            latex: 0,
            code_marks: 0,
            lines: 1,
            sentences: 0,
            questions: 0,
            options: 0,
        };
        let (head, tail) = bounded(text);
        self.scan_part(head, &mut s);
        self.scan_part(tail, &mut s);
        s
    }

    fn scan_part(&self, text: &str, s: &mut Scan) {
        let mut word = WordState {
            text: String::with_capacity(32),
            digits_only: true,
            name_like: false,
        };
        let (mut prev, mut prev2) = (' ', ' ');
        let mut line_start = true;
        let mut option_start = false;
        let mut sentence_start = true;
        for c in text.chars() {
            s.chars += 1;
            if c.is_alphanumeric() {
                if word.text.is_empty() {
                    word.name_like = c.is_uppercase() && !sentence_start;
                }
                if c.is_ascii_digit() {
                    s.digits += 1;
                    // "3.5" (a decimal) and "$12" (money) for the word-problem features.
                    if prev == '.' && prev2.is_ascii_digit() {
                        s.decimals += 1;
                    }
                    if prev == '$' {
                        s.money += 1;
                    }
                } else {
                    word.digits_only = false;
                }
                if c.is_ascii() {
                    word.text.push(c.to_ascii_lowercase());
                } else {
                    word.text.extend(c.to_lowercase());
                }
            } else {
                if !word.text.is_empty() {
                    sentence_start = false;
                }
                self.flush_word(&mut word, s);
                self.symbol(c, prev, s);
                if matches!(c, '.' | '!' | '?' | '\n' | ':') {
                    sentence_start = true;
                }
            }
            // "A." / "B)" at a line start: a multiple-choice option.
            if matches!(c, '.' | ')') && matches!(prev, 'A'..='E') && option_start {
                s.options += 1;
            }
            option_start = line_start && c.is_ascii_uppercase();
            if c == '\n' {
                s.lines += 1;
            }
            line_start = c == '\n' || (line_start && c == ' ');
            prev2 = prev;
            prev = c;
        }
        self.flush_word(&mut word, s);
    }

    fn symbol(&self, c: char, prev: char, s: &mut Scan) {
        match c {
            '=' | '+' | '*' | '^' | '<' | '>' | '%' | '×' | '÷' | '≤' | '≥' | '∑' | '√' => {
                s.math_symbols += 1
            }
            '/' if prev.is_ascii_digit() => {
                s.math_symbols += 1;
                s.slash_fractions += 1;
            }
            '\\' | '$' => s.latex += 1,
            '`' | '{' | '}' | ';' => s.code_marks += 1,
            '?' => s.questions += 1,
            '.' | '!' if prev.is_alphanumeric() => s.sentences += 1,
            _ => {}
        }
        if c == '%' {
            s.percent += 1;
        }
        if matches!(
            c,
            '=' | '+' | '*' | '/' | '%' | '$' | '?' | '|' | '{' | '`' | '\\'
        ) {
            let mut buf = [0u8; 4];
            s.words.push(fnv1a(c.encode_utf8(&mut buf).as_bytes(), 7));
        }
    }

    fn flush_word(&self, word: &mut WordState, s: &mut Scan) {
        if word.text.is_empty() {
            return;
        }
        let bytes = word.text.as_bytes();
        let h = if word.digits_only {
            s.numbers += 1;
            s.values.push(fnv1a(bytes, 9));
            // Numbers keep only their digit count: "<d3>" for 100..999, capped at 5.
            fnv1a(&[b'<', b'd', b'0' + bytes.len().min(5) as u8], 3)
        } else {
            fnv1a(bytes, 0)
        };
        if let Some(set) = self.keywords.get(&h) {
            for (k, n) in s.counts.iter_mut().enumerate() {
                *n += (set >> k) & 1;
            }
        }
        s.words.push(h);
        if word.name_like && !word.digits_only && bytes.len() >= 2 {
            s.names.push(h);
        }
        // Long words also give their 5-letter stem ("photosynthesis" ~ "photosynthetic").
        if !word.digits_only && bytes.len() >= 8 && word.text.is_char_boundary(5) {
            s.stems.push(fnv1a(&bytes[..5], 5));
        }
        word.text.clear();
        word.digits_only = true;
        word.name_like = false;
    }

    fn index(&self, dense: usize, h: u64) -> u32 {
        let bucket = (h >> (64 - self.hash_bits)) as usize;
        (dense + bucket) as u32
    }

    fn push_hashed(&self, scan: &Scan, space: Space, dense: usize, out: &mut FeatureVec) {
        let ns = match space {
            Space::Prompt => 0x5151,
            Space::Choice => 0xc3c3,
            Space::Answer => 0xa1a1,
        };
        let n = scan.words.len();
        let start = out.entries.len();
        let mut prev = 0x0b05u64;
        for &w in &scan.words {
            out.entries.push((self.index(dense, mix(ns, w)), 1.0));
            out.entries
                .push((self.index(dense, mix(ns ^ 1, mix(prev, w))), 1.0));
            prev = w;
        }
        out.entries
            .push((self.index(dense, mix(ns ^ 2, mix(prev, 0x0e05))), 1.0));
        for &st in &scan.stems {
            out.entries.push((self.index(dense, mix(ns ^ 3, st)), 1.0));
        }
        let scale = 1.0 / ((2 * n + scan.stems.len() + 1) as f32).sqrt();
        for e in &mut out.entries[start..] {
            e.1 = scale;
        }
    }

    fn push_prompt_dense(scan: &Scan, shape: &RequestShape, format: Format, out: &mut FeatureVec) {
        let words = scan.words.len();
        let c = |k: Kw| scan.counts[k as usize] as usize;
        let values = [
            log_scale(scan.chars, 8.0),
            log_scale(words, 7.0),
            log_scale(scan.lines, 4.0),
            log_scale(scan.sentences, 4.0),
            (scan.questions.min(4) as f32) / 4.0,
            ((scan.digits as f32) / (scan.chars.max(1) as f32) * 5.0).min(1.0),
            log_scale(scan.numbers, 3.0),
            log_scale(scan.math_symbols, 3.0),
            log_scale(scan.latex, 2.0),
            log_scale(scan.code_marks / 2 + c(Kw::Code), 2.0),
            log_scale(c(Kw::Math), 2.0),
            log_scale(c(Kw::Reasoning), 2.0),
            log_scale(c(Kw::Multistep), 2.5),
            log_scale(c(Kw::Constraint), 2.0),
            log_scale(c(Kw::Creative), 2.0),
            log_scale(c(Kw::Roleplay), 2.0),
            log_scale(c(Kw::Extraction), 2.0),
            (scan.options.min(5) as f32) / 5.0,
            log_scale(c(Kw::Negation), 2.0),
            log_scale(shape.turns, 3.0),
            log_scale(shape.system_chars, 8.0),
            log_scale(shape.context_chars, 9.0),
            log_scale(shape.tools, 2.0),
            if shape.json_output { 1.0 } else { 0.0 },
        ];
        for (i, v) in values.into_iter().enumerate() {
            if v != 0.0 {
                out.entries.push((i as u32, v));
            }
        }
        if format == Format::WordProblem {
            Self::push_word_problem(scan, out);
        }
    }

    /// How hard a maths word problem is. Few features on purpose: with ~700 labelled problems,
    /// richer sets (counts of quantities, rates, comparisons, units, state changes, money,
    /// percentages, questions) and hashed words all lowered cross-validated APGR. Kept: length
    /// (steps), distinct names (people and things to track), parts and multiples ("half",
    /// "twice", "3/4") and decimals.
    fn push_word_problem(scan: &Scan, out: &mut FeatureVec) {
        let values = [
            1.0,
            log_scale(scan.words.len(), 5.0),
            log_scale(distinct(&scan.names), 2.0),
            log_scale(
                scan.counts[Kw::Fraction as usize] as usize + scan.slash_fractions,
                2.0,
            ),
            log_scale(scan.decimals, 1.5),
        ];
        for (i, v) in values.into_iter().enumerate() {
            if v != 0.0 {
                out.entries.push(((WP_START + i) as u32, v));
            }
        }
    }

    /// Features of a prompt (the last user turn) with its request shape.
    pub(crate) fn prompt(&self, text: &str, shape: &RequestShape) -> FeatureVec {
        let scan = self.scan(text);
        let format = Format::of(&scan);
        let mut out = FeatureVec {
            entries: Vec::with_capacity(scan.words.len() * 2 + PROMPT_DENSE.len() + 2),
        };
        Self::push_prompt_dense(&scan, shape, format, &mut out);
        match format {
            Format::Choice => {
                // Exam questions have training data of their own: the hand prior, meant for
                // open-ended prompts, does not apply to them. In-domain corrections are learned
                // on format-specific copies of the dense features and on hashed words.
                let copies: Vec<(u32, f32)> = out
                    .entries
                    .iter()
                    .map(|(i, v)| {
                        let h = mix(0xd00d, u64::from(*i));
                        (self.index(PROMPT_DENSE.len(), h), *v)
                    })
                    .collect();
                out.entries = copies;
                self.push_hashed(&scan, Space::Choice, PROMPT_DENSE.len(), &mut out);
            }
            // Word problems: only their own learned features. The hand prior ranked them worse
            // than nothing, and hashed words over-fitted (both cut cross-validated APGR).
            Format::WordProblem => out.entries.retain(|(i, _)| *i as usize >= WP_START),
            // Open-ended prompts have no training data: only the hand prior (and the intercept)
            // scores them, so nothing learned from exam questions or word problems leaks here.
            Format::Open => {
                out.entries.retain(|(i, _)| self.is_hand_set(*i));
                out.entries.push((OPEN_BIAS, 1.0));
            }
        }
        out
    }

    fn is_hand_set(&self, i: u32) -> bool {
        i < 64 && (self.hand_set >> i) & 1 == 1
    }

    /// Features of a (prompt, answer) pair for the verifier: prompt dense, answer dense, then
    /// hashed prompt and answer words in separate namespaces.
    pub(crate) fn answer(&self, prompt: &str, answer: &str) -> FeatureVec {
        let dense = PROMPT_DENSE.len() + ANSWER_DENSE.len();
        let p = self.scan(prompt);
        let a = self.scan(answer);
        let mut out = FeatureVec::default();
        Self::push_prompt_dense(&p, &RequestShape::default(), Format::of(&p), &mut out);
        let checks = super::arith::check_answer(prompt, answer);
        let c = |k: Kw| a.counts[k as usize] as usize;
        let values = [
            log_scale(a.chars, 8.0),
            ((a.chars.max(1) as f32) / (p.chars.max(1) as f32)).ln() / 3.0,
            log_scale(checks.checked, 3.0),
            log_scale(checks.failed, 1.5),
            if checks.checked > 0 {
                checks.failed as f32 / checks.checked as f32
            } else {
                0.0
            },
            if checks.final_marker { 1.0 } else { 0.0 },
            if checks.final_non_integer { 1.0 } else { 0.0 },
            if checks.final_negative { 1.0 } else { 0.0 },
            if checks.final_in_prompt { 1.0 } else { 0.0 },
            if checks.final_missing { 1.0 } else { 0.0 },
            log_scale(c(Kw::Hedge), 2.0),
            log_scale(c(Kw::Refusal), 1.0),
            log_scale(a.lines, 4.0),
        ];
        for (i, v) in values.into_iter().enumerate() {
            if v != 0.0 {
                out.entries.push(((PROMPT_DENSE.len() + i) as u32, v));
            }
        }
        self.push_hashed(&p, Space::Prompt, dense, &mut out);
        self.push_hashed(&a, Space::Answer, dense, &mut out);
        out
    }
}

// --- Format ---

impl Format {
    fn of(scan: &Scan) -> Format {
        let c = |k: Kw| scan.counts[k as usize] as usize;
        let quantities = scan.numbers + c(Kw::NumberWord) + c(Kw::Fraction);
        let asks = scan.questions > 0 || c(Kw::Math) > 0;
        // Code or a writing task is something else, even with numbers in it.
        let other_task = scan.code_marks >= 2 || c(Kw::Creative) + c(Kw::Roleplay) >= 2;
        if scan.options >= 3 {
            Format::Choice
        } else if quantities >= 2 && asks && !other_task && scan.chars <= 3000 {
            Format::WordProblem
        } else {
            Format::Open
        }
    }
}

// --- RequestShape ---

impl RequestShape {
    /// The last user text and the shape of the rest of the request.
    pub(crate) fn of(req: &ChatRequest) -> (String, RequestShape) {
        let last_user = req.messages.iter().rposition(|m| m.role == Role::User);
        let mut shape = RequestShape {
            turns: req.messages.len(),
            tools: req.tools.as_ref().map_or(0, Vec::len),
            json_output: matches!(
                req.response_format,
                Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
            ),
            ..RequestShape::default()
        };
        for (i, m) in req.messages.iter().enumerate() {
            if Some(i) == last_user {
                continue;
            }
            let len = m.content.as_ref().map_or(0, |c| match c {
                crate::api::Content::Text(s) => s.len(),
                crate::api::Content::Parts(_) => c.text().len(),
            });
            match m.role {
                Role::System | Role::Developer => shape.system_chars += len,
                _ => shape.context_chars += len,
            }
        }
        let text = last_user
            .and_then(|i| req.messages.get(i))
            .map(|m| m.text_content())
            .unwrap_or_default();
        (text, shape)
    }

    /// The shape of a bare prompt (one user turn).
    pub(crate) fn single_turn() -> RequestShape {
        RequestShape {
            turns: 1,
            ..RequestShape::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maths_prompt_lights_maths_features() {
        let f = Featurizer::new(12);
        let text = "Calculate the probability that the sum of two dice is 7. Explain why.";
        let mut v = FeatureVec::default();
        let shape = RequestShape::single_turn();
        Featurizer::push_prompt_dense(&f.scan(text), &shape, Format::Open, &mut v);
        let get = |name: &str| {
            let i = PROMPT_DENSE.iter().position(|n| *n == name).unwrap() as u32;
            v.entries.iter().find(|e| e.0 == i).map_or(0.0, |e| e.1)
        };
        assert!(get("math_words") > 0.5);
        assert!(get("reasoning_words") > 0.3);
        assert_eq!(get("creative_words"), 0.0);
        assert!(
            v.entries
                .iter()
                .all(|e| (e.0 as usize) < f.dim(PROMPT_DENSE.len()))
        );
    }

    #[test]
    fn formats_separate_exam_questions_word_problems_and_chat() {
        let f = Featurizer::new(12);
        let format = |t: &str| Format::of(&f.scan(t));
        assert_eq!(
            format("Which is a prime?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:"),
            Format::Choice
        );
        assert_eq!(
            format("Tom has 3 apples and buys twice as many. How many apples does he have?"),
            Format::WordProblem
        );
        assert_eq!(format("Write a short poem about 2 cats."), Format::Open);
        let v = f.prompt(
            "Ann has 2.5 kg of flour and Bob has half as much. How much do they have?",
            &RequestShape::single_turn(),
        );
        // "Bob" is a name; "Ann" starts the sentence, so it is not counted.
        let names = v.entries.iter().find(|e| e.0 == WP_START as u32 + 2);
        assert!(names.is_some_and(|e| (e.1 - 2f32.ln() / 2.0).abs() < 1e-6));
        assert!(v.entries.iter().all(|e| e.0 as usize >= WP_START));
    }

    #[test]
    fn hashing_is_stable_and_case_insensitive() {
        let f = Featurizer::new(14);
        let a = f.prompt("Hello World", &RequestShape::single_turn());
        let b = f.prompt("hello world", &RequestShape::single_turn());
        assert_eq!(a, b);
        assert_eq!(fnv1a(b"abc", 0), 0xe71fa2190541574b);
    }

    #[test]
    fn overlong_text_is_bounded_on_char_boundaries() {
        let text = "é".repeat(MAX_SCAN);
        let (h, t) = bounded(&text);
        assert!(h.len() + t.len() <= MAX_SCAN + 4);
    }
}
