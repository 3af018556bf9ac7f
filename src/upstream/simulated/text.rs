//! Deterministic answer text: pieces (words with their leading space) drawn from the prompt's
//! own keywords and a small filler vocabulary, sized in tokens; prompt difficulty; stop strings
//! and output caps applied on pieces so streams and usage agree.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::tokenizer::Encoding;

const FILLER: &[&str] = &[
    "the", "answer", "depends", "on", "this", "and", "we", "can", "see", "that", "a", "simple",
    "approach", "is", "to", "consider", "each", "part", "of", "problem", "first", "then",
    "combine", "results", "so", "it", "follows", "which", "gives", "clear", "result", "in",
    "practice", "one", "should", "check", "with", "care", "because", "every", "step", "matters",
];

const MATH_WORDS: &[&str] = &[
    "calculate",
    "solve",
    "equation",
    "how many",
    "how much",
    "sum",
    "total",
    "percent",
    "integral",
    "derivative",
    "prove",
    "probability",
];
const CODE_MARKERS: &[&str] = &[
    "```", "fn ", "def ", "class ", "function", "return ", "#include", "=>", "();", "import ",
];

/// The refusal text of a doubtful answer.
pub(super) const REFUSAL: &str = "I'm sorry, but I can't answer that reliably.";
/// The hedge that opens a low-confidence answer.
pub(super) const HEDGE: &str = "I'm not entirely sure, but";

/// Up to 12 distinct lowercase words of at least 4 letters from `text`, in order.
pub(super) fn keywords(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if w.chars().count() >= 4 && w.chars().all(char::is_alphabetic) && !out.contains(&w) {
            out.push(w);
            if out.len() == 12 {
                break;
            }
        }
    }
    out
}

/// Difficulty in [0, 1] from prompt length, maths and code markers.
pub(super) fn difficulty(prompt: &str, prompt_tokens: u64) -> f64 {
    let lower = prompt.to_lowercase();
    let length = (prompt_tokens as f64 / 1500.0).min(1.0) * 0.4;
    let digits = prompt.chars().filter(char::is_ascii_digit).count();
    let math = MATH_WORDS.iter().any(|w| lower.contains(w)) || digits >= 4;
    let code = CODE_MARKERS.iter().any(|m| prompt.contains(m));
    (0.15 + length + if math { 0.3 } else { 0.0 } + if code { 0.3 } else { 0.0 }).min(1.0)
}

/// Sentences of pieces until about `target` tokens are reached. The first piece has no
/// leading space; paragraphs are separated by a blank line.
pub(super) fn prose(enc: Encoding, words: &[String], target: u64, rng: &mut StdRng) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut tokens = 0u64;
    let mut sentence_len = 0usize;
    let mut sentences = 0usize;
    while tokens < target.max(1) {
        let from_prompt = !words.is_empty() && rng.random_bool(0.3);
        let mut word = if from_prompt {
            words[rng.random_range(0..words.len())].clone()
        } else {
            FILLER[rng.random_range(0..FILLER.len())].to_owned()
        };
        if sentence_len == 0 {
            word = capitalise(&word);
        }
        sentence_len += 1;
        if sentence_len >= 8 && rng.random_bool(0.25) {
            word.push('.');
            sentence_len = 0;
            sentences += 1;
        }
        let sep = match (
            pieces.is_empty(),
            sentence_len == 1 && sentences.is_multiple_of(4) && sentences > 0,
        ) {
            (true, _) => "",
            (false, true) => "\n\n",
            (false, false) => " ",
        };
        let piece = format!("{sep}{word}");
        tokens += enc.count(&piece).0;
        pieces.push(piece);
    }
    if let Some(last) = pieces.last_mut()
        && !last.ends_with('.')
    {
        last.push('.');
    }
    pieces
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Splits recorded text into pieces at whitespace→word boundaries (whitespace stays with the
/// following word), so joining the pieces gives the text back exactly.
pub(super) fn split_words(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_space = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        if space && !prev_space && !cur.is_empty() && !cur.chars().all(char::is_whitespace) {
            pieces.push(std::mem::take(&mut cur));
        }
        cur.push(ch);
        prev_space = space;
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// Splits JSON (or any) text into small pieces of about `size` characters.
pub(super) fn split_chars(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// The stop strings of a request (`stop` as a string or an array), empty ones dropped.
pub(super) fn stop_strings(stop: Option<&Value>) -> Vec<String> {
    let list = match stop {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    list.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Cuts the pieces before the first occurrence of any stop string. Returns whether it cut.
pub(super) fn apply_stop(pieces: &mut Vec<String>, stops: &[String]) -> bool {
    let text: String = pieces.concat();
    let Some(at) = stops.iter().filter_map(|s| text.find(s.as_str())).min() else {
        return false;
    };
    truncate_bytes(pieces, at);
    true
}

fn truncate_bytes(pieces: &mut Vec<String>, at: usize) {
    let mut seen = 0usize;
    let mut keep = Vec::new();
    for p in pieces.drain(..) {
        if seen + p.len() <= at {
            seen += p.len();
            keep.push(p);
        } else {
            let rest = at - seen;
            if rest > 0 {
                keep.push(p[..rest].to_owned());
            }
            break;
        }
    }
    *pieces = keep;
}

/// Drops trailing pieces until the text fits in `cap` tokens. Returns whether it cut.
pub(super) fn apply_cap(pieces: &mut Vec<String>, cap: u64, enc: Encoding) -> bool {
    let mut sum = 0u64;
    let fit = pieces
        .iter()
        .take_while(|p| {
            sum += enc.count(p).0;
            sum <= cap
        })
        .count();
    let mut cut = fit < pieces.len();
    pieces.truncate(fit);
    // Per-piece counts almost always add up to the joined count; make sure anyway.
    while !pieces.is_empty() && enc.count(&pieces.concat()).0 > cap {
        pieces.pop();
        cut = true;
    }
    cut
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn prose_is_deterministic_and_near_its_target() {
        let enc = Encoding::O200kBase;
        let words = keywords("Explain photosynthesis in green plants briefly");
        assert!(words.contains(&"photosynthesis".to_owned()));
        let a = prose(enc, &words, 100, &mut StdRng::seed_from_u64(3));
        let b = prose(enc, &words, 100, &mut StdRng::seed_from_u64(3));
        assert_eq!(a, b);
        let n = enc.count(&a.concat()).0;
        assert!((100..=115).contains(&n), "{n} tokens");
    }

    #[test]
    fn split_words_round_trips() {
        let t = " A robe takes 2 bolts.\n\nSo  in total #### 3\n";
        let p = split_words(t);
        assert_eq!(p.concat(), t);
        assert!(p.len() >= 8);
    }

    #[test]
    fn stop_and_cap_cut_on_pieces() {
        let mut p: Vec<String> = ["Hello", " world", " and", " more"]
            .map(String::from)
            .into();
        assert!(apply_stop(&mut p, &["rld a".to_owned(), "more".to_owned()]));
        assert_eq!(p.concat(), "Hello wo");
        let mut q: Vec<String> = ["Hello", " world", " and", " more"]
            .map(String::from)
            .into();
        assert!(apply_cap(&mut q, 2, Encoding::O200kBase));
        assert_eq!(q.concat(), "Hello world");
        assert!(!apply_cap(&mut q, 10, Encoding::O200kBase));
    }

    #[test]
    fn maths_and_code_are_harder() {
        let easy = difficulty("Say hello", 2);
        assert!(difficulty("Solve the equation 12x + 7 = 43", 12) > easy);
        assert!(difficulty("Fix this:\n```rust\nfn main() {}\n```", 12) > easy);
    }
}
