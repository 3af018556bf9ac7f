//! Measures `pii::scan` and `pii::redact` on a 16 KB chat request body.
//! Input: seeded generator (SmallRng seed 42) of prose mixed with numbers, dates, amounts,
//! code and maths, i.e. text that fires the digit triggers but holds no personal data (the
//! worst case: every strict detector runs over the whole text); a second input appends one
//! e-mail address at the very end. Target: scan median ≤ 100 µs.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

const WORDS: &[&str] = &[
    "the",
    "model",
    "returns",
    "a",
    "summary",
    "of",
    "quarterly",
    "revenue",
    "and",
    "costs",
    "for",
    "each",
    "region",
    "please",
    "explain",
    "why",
    "function",
    "fails",
    "when",
    "input",
    "is",
    "empty",
    "table",
    "shows",
    "growth",
    "in",
    "units",
    "versus",
    "last",
    "year",
];

/// Prose with numbers, dates, amounts, versions and maths, about `len` bytes, no PII.
fn request_text(len: usize, seed: u64) -> String {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = String::with_capacity(len + 64);
    while out.len() < len {
        match rng.random_range(0..10) {
            0 => out.push_str(&format!("{} ", rng.random_range(0..100_000))),
            1 => out.push_str(&format!(
                "2024-{:02}-{:02} ",
                rng.random_range(1..13),
                rng.random_range(1..29)
            )),
            2 => out.push_str(&format!(
                "{}.{:02} USD ",
                rng.random_range(0..9999),
                rng.random_range(0..100)
            )),
            3 => out.push_str("x = (a + b) * 12345 / 678; "),
            _ => {
                out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
                out.push(' ');
            }
        }
    }
    out
}

fn bench_scan(c: &mut Criterion) {
    let clean = request_text(16 * 1024, 42);
    let mut tail = clean.clone();
    tail.push_str(" contact: someone@example.org");
    assert_eq!(purser::pii::scan(&clean), None, "bench input must be clean");
    assert!(purser::pii::scan(&tail).is_some());
    c.bench_function("pii_scan_16k_clean", |b| {
        b.iter(|| purser::pii::scan(black_box(&clean)))
    });
    c.bench_function("pii_scan_16k_email_at_end", |b| {
        b.iter(|| purser::pii::scan(black_box(&tail)))
    });
    c.bench_function("pii_redact_16k_email_at_end", |b| {
        b.iter(|| purser::pii::redact(black_box(&tail)))
    });
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
