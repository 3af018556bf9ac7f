//! Ranking units against the query: BM25 over tantivy's English analyzer output (lowercase,
//! Lucene stop words plus question words, Snowball stemming), combined with document-level BM25,
//! title match, query-term coverage, answer-type cues and lead position.

use std::collections::HashMap;

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

use super::cue::{AnswerType, has_cue};

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Question words that carry no topic (Lucene's English list does not have them).
const QUESTION_STOP_WORDS: &[&str] = &[
    "who", "whom", "whose", "what", "when", "where", "which", "why", "how", "many", "much", "did",
    "does", "do", "has", "have", "had", "were", "been", "i", "you", "we", "he", "she", "his",
    "her", "its", "from", "can", "could", "would", "should", "name", "s",
];

/// Weights of the ranking signals (tuned on the public half of nq-multidoc, see the README).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Weights {
    /// Sentence BM25, normalised by the best sentence.
    pub sent: f64,
    /// Document BM25 (title counted twice), normalised by the best document.
    pub doc: f64,
    /// Share of query idf mass found in the title.
    pub title: f64,
    /// Share of query idf mass found in the sentence or its title.
    pub coverage: f64,
    /// Sentence holds the kind of token the question asks for (name, date, number).
    pub cue: f64,
    /// First sentence of its block.
    pub lead: f64,
    /// Adjacent query-term pairs (phrases) found in the sentence and in its block.
    pub phrase: f64,
    /// Safety factor on the tokens-per-word estimate used before the exact count.
    pub token_margin: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            sent: 1.0,
            doc: 3.0,
            title: 0.3,
            coverage: 0.5,
            cue: 0.3,
            lead: 0.1,
            phrase: 0.6,
            token_margin: 1.05,
        }
    }
}

/// A unit to rank: its text, the block it belongs to and its index inside the block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitRef<'a> {
    /// Unit text.
    pub text: &'a str,
    /// Block index.
    pub block: usize,
    /// Sentence index inside the block.
    pub pos: usize,
}

/// Analyzer shared by a compressor; each request clones it (TextAnalyzer needs `&mut`).
#[derive(Clone)]
pub(crate) struct Analyzer {
    inner: TextAnalyzer,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(en)")
    }
}

/// Term ids of analysed text, interned per request.
pub(crate) struct Vocab {
    analyzer: TextAnalyzer,
    ids: HashMap<String, u32>,
    /// Query terms a pair of adjacent document terms may spell together (`super bowl` →
    /// `superbowl`).
    compounds: std::collections::HashSet<String>,
    buf: String,
}

// Analyzer
impl Analyzer {
    /// The English analyzer: simple tokenizer, long-token filter, lowercase, stop words, stemmer.
    pub(crate) fn english() -> Self {
        let builder = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(StopWordFilter::remove(
                QUESTION_STOP_WORDS.iter().map(|w| (*w).to_owned()),
            ));
        let inner = match StopWordFilter::new(Language::English) {
            Some(sw) => builder
                .filter(sw)
                .filter(Stemmer::new(Language::English))
                .build(),
            None => builder.filter(Stemmer::new(Language::English)).build(),
        };
        Self { inner }
    }

    /// A per-request vocabulary using a clone of this analyzer.
    pub(crate) fn vocab(&self) -> Vocab {
        Vocab {
            analyzer: self.inner.clone(),
            ids: HashMap::new(),
            compounds: Default::default(),
            buf: String::new(),
        }
    }

    /// The tantivy analyzer itself (for the index-based ranker).
    pub(crate) fn text_analyzer(&self) -> TextAnalyzer {
        self.inner.clone()
    }
}

// Vocab
impl Vocab {
    /// Appends the term ids of `text` to `out`, plus the id of any query compound spelled by
    /// two adjacent terms.
    pub(crate) fn terms(&mut self, text: &str, out: &mut Vec<u32>) {
        let mut stream = self.analyzer.token_stream(text);
        let mut prev_len = 0usize;
        while let Some(tok) = stream.next() {
            out.push(intern(&mut self.ids, &tok.text));
            if !self.compounds.is_empty() {
                self.buf.truncate(prev_len);
                self.buf.push_str(&tok.text);
                if prev_len > 0 && self.compounds.contains(&self.buf) {
                    out.push(intern(&mut self.ids, &self.buf));
                }
                self.buf.clear();
                self.buf.push_str(&tok.text);
                prev_len = self.buf.len();
            }
        }
    }

    /// Query term ids: the analysed terms, plus each adjacent word pair written as one word
    /// (`gall bladder` → `gallbladder`). Registers the query terms as compound targets.
    pub(crate) fn query_terms(&mut self, query: &str) -> (Vec<u32>, Vec<(u32, u32)>) {
        let mut out = Vec::new();
        self.terms(query, &mut out);
        let pairs = out.windows(2).map(|w| (w[0], w[1])).collect();
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        for pair in words.windows(2) {
            let joined = format!("{}{}", pair[0], pair[1]);
            for t in self.term_strings(&joined) {
                out.push(intern(&mut self.ids, &t));
            }
        }
        self.compounds = self.term_strings(query).into_iter().collect();
        (out, pairs)
    }

    /// The analysed terms of `text` as strings (for the index-based ranker and tests).
    pub(crate) fn term_strings(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        while let Some(tok) = stream.next() {
            out.push(tok.text.clone());
        }
        out
    }
}

fn intern(ids: &mut HashMap<String, u32>, t: &str) -> u32 {
    if let Some(id) = ids.get(t) {
        return *id;
    }
    let id = ids.len() as u32;
    ids.insert(t.to_owned(), id);
    id
}

/// BM25 statistics over a collection of token lists, restricted to the query terms.
struct Bm25 {
    /// (term, idf) for each distinct query term.
    idf: Vec<(u32, f64)>,
    avg_len: f64,
}

impl Bm25 {
    fn new(query: &[u32], docs: &[&[u32]]) -> Self {
        let n = docs.len() as f64;
        let total: usize = docs.iter().map(|d| d.len()).sum();
        let mut distinct: Vec<u32> = query.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        // Terms found nowhere score nothing; leaving them out keeps coverage comparable.
        let idf = distinct
            .into_iter()
            .filter_map(|t| {
                let df = docs.iter().filter(|d| d.contains(&t)).count() as f64;
                (df > 0.0).then(|| (t, (1.0 + (n - df + 0.5) / (df + 0.5)).ln()))
            })
            .collect();
        Self {
            idf,
            avg_len: (total as f64 / n.max(1.0)).max(1.0),
        }
    }

    fn score(&self, doc: &[u32]) -> f64 {
        let norm = K1 * (1.0 - B + B * doc.len() as f64 / self.avg_len);
        self.idf
            .iter()
            .map(|&(t, idf)| {
                let tf = doc.iter().filter(|&&x| x == t).count() as f64;
                if tf == 0.0 {
                    0.0
                } else {
                    idf * tf * (K1 + 1.0) / (tf + norm)
                }
            })
            .sum()
    }

    /// Share of the query's idf mass present in `doc`.
    fn coverage(&self, doc: &[u32], title: &[u32]) -> f64 {
        let total: f64 = self.idf.iter().map(|x| x.1).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let hit: f64 = self
            .idf
            .iter()
            .filter(|(t, _)| doc.contains(t) || title.contains(t))
            .map(|x| x.1)
            .sum();
        hit / total
    }
}

/// Inputs to [`score_units`].
pub(crate) struct RankInput<'a> {
    /// Query text (the latest question).
    pub query: &'a str,
    /// Units to score.
    pub units: &'a [UnitRef<'a>],
    /// Title of each block (empty when none).
    pub titles: &'a [&'a str],
    /// Sentence BM25 scores computed elsewhere (index ranker); `None` = compute here.
    pub sent_override: Option<&'a [f64]>,
}

/// Scores every unit; higher is better. Deterministic.
pub(crate) fn score_units(analyzer: &Analyzer, input: &RankInput<'_>, w: &Weights) -> Vec<f64> {
    let mut vocab = analyzer.vocab();
    let (query, pairs) = vocab.query_terms(input.query);
    let unit_terms: Vec<Vec<u32>> = input
        .units
        .iter()
        .map(|u| {
            let mut v = Vec::new();
            vocab.terms(u.text, &mut v);
            v
        })
        .collect();
    let title_terms: Vec<Vec<u32>> = input
        .titles
        .iter()
        .map(|t| {
            let mut v = Vec::new();
            vocab.terms(t, &mut v);
            v
        })
        .collect();
    let doc_terms = block_terms(input.units, &unit_terms, &title_terms);
    let sent_refs: Vec<&[u32]> = unit_terms.iter().map(Vec::as_slice).collect();
    let doc_refs: Vec<&[u32]> = doc_terms.iter().map(Vec::as_slice).collect();
    let sent_bm = Bm25::new(&query, &sent_refs);
    let doc_bm = Bm25::new(&query, &doc_refs);
    let sent: Vec<f64> = match input.sent_override {
        Some(s) => s.to_vec(),
        None => sent_refs.iter().map(|d| sent_bm.score(d)).collect(),
    };
    let doc: Vec<f64> = doc_refs.iter().map(|d| doc_bm.score(d)).collect();
    let answer = AnswerType::of_question(input.query);
    let (max_s, max_d) = (max_pos(&sent), max_pos(&doc));
    let unit_phrases: Vec<f64> = unit_terms.iter().map(|t| phrase_hits(t, &pairs)).collect();
    let mut doc_phrases = vec![0.0f64; doc.len()];
    for (u, p) in input.units.iter().zip(&unit_phrases) {
        if let Some(d) = doc_phrases.get_mut(u.block) {
            *d += p;
        }
    }
    let empty: Vec<u32> = Vec::new();
    input
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let title = title_terms.get(u.block).unwrap_or(&empty);
            let mut s =
                w.sent * sent[i] / max_s + w.doc * doc.get(u.block).copied().unwrap_or(0.0) / max_d;
            s += w.title * sent_bm.coverage(&[], title);
            s += w.coverage * sent_bm.coverage(&unit_terms[i], title);
            if has_cue(answer, u.text, input.query) {
                s += w.cue;
            }
            if u.pos == 0 {
                s += w.lead;
            }
            let doc_phrase = doc_phrases.get(u.block).copied().unwrap_or(0.0);
            s += w.phrase * (unit_phrases[i].min(2.0) / 2.0 + doc_phrase.min(3.0) / 3.0);
            s
        })
        .collect()
}

/// Terms of each block: its title twice (titles are strong evidence) and all its units.
fn block_terms(
    units: &[UnitRef<'_>],
    unit_terms: &[Vec<u32>],
    titles: &[Vec<u32>],
) -> Vec<Vec<u32>> {
    let n_blocks = units
        .iter()
        .map(|u| u.block + 1)
        .max()
        .unwrap_or(0)
        .max(titles.len());
    let mut out: Vec<Vec<u32>> = (0..n_blocks)
        .map(|b| {
            titles
                .get(b)
                .map(|t| [t.as_slice(), t.as_slice()].concat())
                .unwrap_or_default()
        })
        .collect();
    for (u, terms) in units.iter().zip(unit_terms) {
        if let Some(d) = out.get_mut(u.block) {
            d.extend_from_slice(terms);
        }
    }
    out
}

/// Query-term pairs found in order, adjacent or one term apart.
fn phrase_hits(terms: &[u32], pairs: &[(u32, u32)]) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let mut hits = 0usize;
    for (j, t) in terms.iter().enumerate() {
        for next in terms.iter().skip(j + 1).take(2) {
            hits += pairs
                .iter()
                .filter(|&&(a, b)| a == *t && b == *next)
                .count();
        }
    }
    hits as f64
}

fn max_pos(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0f64, f64::max).max(1e-9)
}
