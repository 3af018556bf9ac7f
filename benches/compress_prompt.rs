//! Compression latency. Measures `Compressor::compress_to` (ratio 4) on:
//! - `compress_prompt/nq20_*`: one 20-document RAG prompt (~2,900 tokens): the first request of
//!   the shared nq-multidoc set when `PURSER_SHARED_DIR` (or `../shared`) has it, else a
//!   generated one; with the direct BM25 ranker and with the per-request tantivy index ranker.
//! - `compress_scaling/<tokens>`: generated RAG prompts of 1k..128k tokens (seeded SmallRng,
//!   seed 42, 120-word documents drawn from a fixed vocabulary), to show time grows linearly.
//!
//! After the criterion runs, a median-of-runs curve (tokens → ms, µs per 1k tokens) is printed
//! to stderr. Run: `cargo bench --bench compress_prompt`.
#![expect(clippy::panic, reason = "a bench whose setup fails must abort")]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use purser::api::{ChatRequest, Message, Role};
use purser::compress::eval::load_items;
use purser::compress::{Compressor, Mode, MokaSummaryStore, Ranker, Settings, Target};
use purser::tokenizer::Encoding;

const WORDS: &[&str] = &[
    "river", "empire", "season", "album", "station", "league", "council", "island", "novel",
    "engine", "bridge", "festival", "treaty", "species", "village", "record", "film", "church",
    "battle", "museum", "player", "coast", "market", "signal", "harbor", "poem", "circuit",
    "garden", "colony", "summit", "was", "the", "of", "in", "and", "a", "to", "by", "from", "with",
    "first", "released", "built", "founded", "elected", "won", "named", "located", "written",
    "during", "after", "before", "north", "south", "century", "1912", "1987", "2004", "million",
    "largest", "second", "national", "former",
];

fn sentence(rng: &mut SmallRng) -> String {
    let n = rng.random_range(10..24);
    let mut s: Vec<String> = (0..n)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())].to_owned())
        .collect();
    if let Some(first) = s.first_mut() {
        *first = format!("{}{}", first[..1].to_uppercase(), &first[1..]);
    }
    format!("{}.", s.join(" "))
}

fn generated_prompt(rng: &mut SmallRng, tokens: u64) -> ChatRequest {
    let mut docs = String::new();
    let mut n = 0;
    while Encoding::O200kBase.count(&docs).0 < tokens {
        n += 1;
        let title = WORDS[rng.random_range(0..30)];
        let body: Vec<String> = (0..7).map(|_| sentence(rng)).collect();
        docs.push_str(&format!(
            "Document [{n}](Title: {title}) {}\n",
            body.join(" ")
        ));
    }
    let text = format!(
        "Answer the question using the search results.\n\n{docs}\nQuestion: when was the largest bridge built\nAnswer:"
    );
    let body =
        serde_json::json!({"model": "gpt-4o-mini", "messages": [Message::text(Role::User, text)]});
    serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"))
}

fn nq_prompt() -> ChatRequest {
    let shared = std::env::var_os("PURSER_SHARED_DIR")
        .map_or_else(|| PathBuf::from("../shared"), PathBuf::from);
    match load_items(&shared.join("datasets/nq-multidoc"), Some(1)) {
        Ok(items) if !items.is_empty() => items[0].request.clone(),
        _ => generated_prompt(&mut SmallRng::seed_from_u64(42), 2_900),
    }
}

fn compressor(ranker: Ranker) -> Compressor {
    let s = Settings {
        mode: Mode::Retrieval,
        threshold_tokens: 0,
        ..Settings::default()
    };
    Compressor::try_new(s, Arc::new(MokaSummaryStore::new(8)))
        .unwrap_or_else(|e| panic!("{e}"))
        .with_ranker(ranker)
}

const SIZES: &[u64] = &[1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000];

fn bench(c: &mut Criterion) {
    let req = nq_prompt();
    let direct = compressor(Ranker::Bm25);
    let index = compressor(Ranker::TantivyIndex);
    let mut g = c.benchmark_group("compress_prompt");
    g.bench_function("nq20_bm25", |b| {
        b.iter(|| direct.compress_to(&req, Target::Ratio(4.0)))
    });
    g.bench_function("nq20_tantivy_index", |b| {
        b.iter(|| index.compress_to(&req, Target::Ratio(4.0)))
    });
    g.finish();
    let mut rng = SmallRng::seed_from_u64(42);
    let prompts: Vec<(u64, ChatRequest)> = SIZES
        .iter()
        .map(|&t| (t, generated_prompt(&mut rng, t)))
        .collect();
    let mut g = c.benchmark_group("compress_scaling");
    g.sample_size(10);
    for (t, p) in &prompts {
        g.bench_with_input(BenchmarkId::from_parameter(t), p, |b, p| {
            b.iter(|| direct.compress_to(p, Target::Ratio(4.0)))
        });
    }
    g.finish();
    print_curve(&direct, &prompts);
}

/// Median of 7 runs per size, printed as a table.
fn print_curve(c: &Compressor, prompts: &[(u64, ChatRequest)]) {
    eprintln!(
        "\ncompress_scaling curve (median of 7 runs)\n   tokens        ms   us_per_1k_tokens"
    );
    for (t, p) in prompts {
        let mut runs: Vec<f64> = (0..7)
            .map(|_| {
                let start = tokio::time::Instant::now();
                let _ = c.compress_to(p, Target::Ratio(4.0));
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        let ms = runs[3];
        eprintln!("{t:>9} {ms:>9.2} {:>18.1}", ms * 1e3 / (*t as f64 / 1e3));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
