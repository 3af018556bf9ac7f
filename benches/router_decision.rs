//! Measures one routing decision (`RoutingTable::decide`, feature extraction and classifier
//! included) on a ~2,000-token chat request (system prompt + 3 turns), route `purser/auto` from
//! `routes/default.toml` with the shipped `routes/models/router-v1.json.gz`. The request text is
//! generated from a fixed vocabulary with splitmix64 seed 42; its o200k token count is checked
//! in setup (not timed). Also measures the verifier (`escalate_probability`) on a 250-word
//! answer. Run: `cargo bench --bench router_decision`.
#![expect(
    clippy::unwrap_used,
    reason = "bench setup: a missing or invalid fixture must abort the bench"
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use purser::api::ChatRequest;
use purser::router::{BudgetPressure, RouteInput, RoutesFile, RoutingTable};
use purser::tokenizer::Encoding;
use serde_json::json;

const WORDS: &[&str] = &[
    "the", "model", "request", "budget", "compute", "integral", "of", "and", "explain", "why",
    "customer", "order", "shipping", "42", "3.5", "=", "function", "returns", "value", "if",
    "then", "each", "step", "table", "summary", "write", "a", "short", "report", "about",
    "revenue", "in", "2024", "percent", "growth", "(", ")", "{", "}", "total", "average",
];

fn text(seed: &mut u64, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^= z >> 27;
        out.push_str(WORDS[(z % WORDS.len() as u64) as usize]);
        out.push(if i % 17 == 16 { '.' } else { ' ' });
        if i % 120 == 119 {
            out.push('\n');
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("routes");
    let file: RoutesFile =
        toml::from_str(&std::fs::read_to_string(root.join("default.toml")).unwrap()).unwrap();
    let table = RoutingTable::try_new(&file.route, &root).unwrap();
    let mut seed = 42u64;
    let body = json!({"model": "purser/auto", "messages": [
        {"role": "system", "content": text(&mut seed, 150)},
        {"role": "user", "content": text(&mut seed, 300)},
        {"role": "assistant", "content": text(&mut seed, 300)},
        {"role": "user", "content": text(&mut seed, 900)},
    ]});
    let req: ChatRequest = serde_json::from_value(body).unwrap();
    let tokens = Encoding::O200kBase.count_request(&req).0;
    assert!(
        (1800..=2600).contains(&tokens),
        "request has {tokens} tokens"
    );
    let input = RouteInput {
        request: &req,
        route: "purser/auto",
        workflow: None,
        step: None,
        budget_pressure: BudgetPressure::Normal,
    };
    c.bench_function("router_decide_2k_tokens", |b| {
        b.iter(|| black_box(table.decide(black_box(&input)).unwrap()))
    });
    let clf = table.classifier("purser/auto").unwrap();
    let prompt = req.last_user_text();
    let answer = text(&mut seed, 250);
    c.bench_function("router_verifier_250_word_answer", |b| {
        b.iter(|| black_box(clf.escalate_probability(black_box(&prompt), black_box(&answer))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
