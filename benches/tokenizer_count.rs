// What: `purser::tokenizer::Encoding::count` (tiktoken-rs BPE, ordinary text) on English prose
//       of about 2k and 32k tokens, for `o200k_base` and `cl100k_base`; throughput in tokens/s.
// Input: seeded generated English: sentences of 6-20 words drawn from a fixed 200-word
//        vocabulary, with commas and full stops, grown until the encoding counts the target.
//        The exact token count of each input is printed in the benchmark id.
// Seed: `rand::rngs::SmallRng::seed_from_u64(0x70_6b_65_6e)` ("pken"), one per input size.
// Run: `cargo bench --bench tokenizer_count`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use purser::tokenizer::Encoding;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x70_6b_65_6e;

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "she",
    "other",
    "its",
    "may",
    "these",
    "about",
    "than",
    "into",
    "some",
    "could",
    "them",
    "only",
    "time",
    "new",
    "two",
    "first",
    "then",
    "any",
    "like",
    "our",
    "such",
    "over",
    "most",
    "even",
    "after",
    "also",
    "many",
    "before",
    "must",
    "through",
    "back",
    "years",
    "where",
    "much",
    "your",
    "way",
    "well",
    "down",
    "should",
    "because",
    "each",
    "just",
    "those",
    "people",
    "how",
    "too",
    "little",
    "state",
    "good",
    "very",
    "make",
    "world",
    "still",
    "own",
    "see",
    "men",
    "work",
    "long",
    "get",
    "here",
    "between",
    "both",
    "life",
    "being",
    "under",
    "never",
    "day",
    "same",
    "another",
    "know",
    "while",
    "last",
    "might",
    "great",
    "old",
    "year",
    "off",
    "come",
    "since",
    "against",
    "go",
    "came",
    "right",
    "used",
    "take",
    "three",
    "gateway",
    "request",
    "budget",
    "latency",
    "model",
    "router",
    "cache",
    "ledger",
    "provider",
    "token",
    "stream",
    "answer",
    "question",
    "customer",
    "invoice",
    "shipment",
    "warehouse",
    "schedule",
    "report",
    "quarterly",
    "revenue",
    "analysis",
    "estimate",
    "contract",
    "approval",
    "policy",
    "engineer",
    "deployment",
    "incident",
    "database",
    "migration",
    "throughput",
    "percentile",
    "histogram",
    "connection",
    "timeout",
    "retry",
    "upstream",
    "downstream",
    "operator",
    "workflow",
    "reservation",
    "settlement",
    "compression",
    "summary",
    "document",
    "paragraph",
    "sentence",
    "language",
    "translation",
    "evaluation",
    "benchmark",
    "experiment",
    "result",
    "measurement",
    "variance",
    "median",
    "careful",
    "quickly",
    "rarely",
    "usually",
    "together",
    "without",
    "although",
    "however",
    "therefore",
    "meanwhile",
    "otherwise",
    "nevertheless",
];

/// Seeded English-like prose with at least `target` tokens under `enc`; returns the text and
/// its exact token count.
fn prose(enc: Encoding, target: u64) -> (String, u64) {
    let mut rng = SmallRng::seed_from_u64(SEED ^ target);
    let mut text = String::new();
    let mut exact = 0;
    while exact < target {
        // Counting the whole text each sentence is quadratic; sum sentence counts instead,
        // then check the exact count (joins can merge tokens, so the sum overshoots a little).
        let mut approx = exact;
        while approx < target {
            let sentence = sentence(&mut rng);
            approx += enc.count(&sentence).0;
            text.push_str(&sentence);
        }
        exact = enc.count(&text).0;
    }
    (text, exact)
}

/// One sentence of 6-20 vocabulary words, capitalised, with occasional commas, ending in ". ".
fn sentence(rng: &mut SmallRng) -> String {
    let len = rng.random_range(6..=20);
    let mut sentence = String::new();
    for i in 0..len {
        let w = WORDS[rng.random_range(0..WORDS.len())];
        if i == 0 {
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                sentence.extend(c.to_uppercase());
                sentence.push_str(cs.as_str());
            }
        } else {
            sentence.push(' ');
            sentence.push_str(w);
            if i + 1 < len && rng.random_ratio(1, 9) {
                sentence.push(',');
            }
        }
    }
    sentence.push_str(". ");
    sentence
}

fn bench_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokenizer_count");
    for (name, enc) in [
        ("o200k", Encoding::O200kBase),
        ("cl100k", Encoding::Cl100kBase),
    ] {
        for target in [2_000u64, 32_000] {
            let (text, tokens) = prose(enc, target);
            group.throughput(Throughput::Elements(tokens));
            if target > 10_000 {
                group.sample_size(20);
            } else {
                group.sample_size(100);
            }
            let id = BenchmarkId::new(name, format!("{tokens}tok"));
            group.bench_with_input(id, &text, |b, t| b.iter(|| enc.count(black_box(t))));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_count);
criterion_main!(benches);
