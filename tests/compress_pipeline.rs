//! Behaviour of the compression stage: pins, tool pairs, budgets, the question, summaries, CLI.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on bad fixtures"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use proptest::prelude::*;
use purser::api::{ChatRequest, Message, Role};
use purser::compress::cli::{CompressArgs, run_compress};
use purser::compress::{
    Compressor, Error, Mode, MokaSummaryStore, Outcome, Pins, Settings, Summarizer, Target,
    fill_summaries,
};
use purser::tokenizer::Encoding;
use serde_json::json;

const TOPICS: &[&str] = &[
    "volcano",
    "railway",
    "violin",
    "glacier",
    "satellite",
    "orchard",
    "tariff",
    "comet",
];

fn paragraph(seed: usize, sentences: usize) -> String {
    (0..sentences)
        .map(|i| {
            let t = TOPICS[(seed + i) % TOPICS.len()];
            format!("The {t} report number {seed}{i} describes how the {t} changed over many long years in the region.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn rag_prompt(docs: usize, question: &str) -> String {
    let mut s = String::from(
        "Write a high-quality answer for the given question using only the provided search results.\n\n",
    );
    for d in 0..docs {
        s.push_str(&format!(
            "Document [{}](Title: {} history) {}\n",
            d + 1,
            TOPICS[d % TOPICS.len()],
            paragraph(d, 4)
        ));
    }
    s.push_str(&format!("\nQuestion: {question}\nAnswer:"));
    s
}

fn compressor(settings: Settings) -> Compressor {
    Compressor::try_new(settings, Arc::new(MokaSummaryStore::new(64))).unwrap()
}

fn settings() -> Settings {
    Settings {
        threshold_tokens: 0,
        ..Settings::default()
    }
}

fn request(messages: Vec<Message>) -> ChatRequest {
    serde_json::from_value(
        json!({"model": "gpt-4o-mini", "messages": messages, "metadata": {"k": "v"}}),
    )
    .unwrap()
}

fn contains_message(req: &ChatRequest, m: &Message) -> bool {
    req.messages.iter().any(|x| x == m)
}

#[test]
fn question_and_instructions_are_kept_and_context_shrinks() {
    let req = request(vec![Message::text(
        Role::User,
        rag_prompt(20, "when did the glacier melt"),
    )]);
    let out = compressor(settings())
        .compress_to(&req, Target::Ratio(8.0))
        .unwrap();
    let text = out.request.messages[0].text_content();
    assert!(text.starts_with("Write a high-quality answer"));
    assert!(text.ends_with("Question: when did the glacier melt\nAnswer:"));
    assert!(
        text.split_whitespace().count() * 8
            <= req.messages[0].text_content().split_whitespace().count()
    );
    assert!(out.tokens_after < out.tokens_before);
    assert!(out.units_kept > 0 && out.units_kept < out.units_total);
    assert!(
        text.contains("glacier"),
        "the matching documents are the ones kept"
    );
    assert_eq!(out.request.extra["metadata"], json!({"k": "v"}));
}

#[test]
fn kept_sentences_keep_their_document_label() {
    let req = request(vec![Message::text(
        Role::User,
        rag_prompt(20, "what happened to the comet"),
    )]);
    let out = compressor(settings())
        .compress_to(&req, Target::Ratio(4.0))
        .unwrap();
    let text = out.request.messages[0].text_content();
    for line in text.lines().filter(|l| l.contains("report number")) {
        assert!(line.starts_with("Document ["), "unlabelled line: {line}");
    }
}

#[test]
fn pinned_messages_survive() {
    let system = Message::text(Role::System, "You are terse.");
    let by_regex = Message::text(Role::User, format!("KEEP-ME {}", paragraph(3, 6)));
    let by_role = Message::text(Role::Assistant, paragraph(4, 6));
    let mut messages = vec![system.clone(), by_regex.clone(), by_role.clone()];
    for i in 0..10 {
        messages.push(Message::text(Role::User, paragraph(10 + i, 6)));
    }
    messages.push(Message::text(Role::User, "Which violin is oldest?"));
    let mut s = settings();
    s.pins = Pins {
        roles: vec![Role::Assistant],
        last_messages: 0,
        patterns: vec!["^KEEP-ME".into()],
    };
    let req = request(messages);
    let out = compressor(s).compress_to(&req, Target::Ratio(4.0)).unwrap();
    for m in [&system, &by_regex, &by_role] {
        assert!(
            contains_message(&out.request, m),
            "dropped pinned message {:?}",
            m.role
        );
    }
    assert_eq!(
        out.request.messages.last().unwrap().text_content(),
        "Which violin is oldest?"
    );
    assert!(out.tokens_after < out.tokens_before);
}

fn tool_call_message(id: &str) -> Message {
    serde_json::from_value(json!({"role": "assistant", "content": null,
        "tool_calls": [{"id": id, "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"railway\"}"}}]}))
    .unwrap()
}

fn tool_result(id: &str, text: &str) -> Message {
    serde_json::from_value(json!({"role": "tool", "tool_call_id": id, "content": text})).unwrap()
}

#[test]
fn tool_call_and_result_stay_together() {
    let mut messages = Vec::new();
    for i in 0..12 {
        let id = format!("call_{i}");
        messages.push(Message::text(Role::User, paragraph(i, 3)));
        messages.push(tool_call_message(&id));
        messages.push(tool_result(&id, &paragraph(100 + i, 5)));
    }
    messages.push(Message::text(Role::User, "Summarise the railway findings."));
    let req = request(messages);
    for ratio in [2.0, 4.0, 8.0] {
        let out = compressor(settings())
            .compress_to(&req, Target::Ratio(ratio))
            .unwrap();
        let calls: Vec<String> = out
            .request
            .messages
            .iter()
            .flat_map(|m| m.tool_calls.iter().flatten().map(|c| c.id.clone()))
            .collect();
        let results: Vec<String> = out
            .request
            .messages
            .iter()
            .filter_map(|m| m.tool_call_id.clone())
            .collect();
        assert_eq!(calls, results, "ratio {ratio}: calls and results differ");
        let words = |r: &ChatRequest| {
            r.messages
                .iter()
                .map(|m| m.text_content().split_whitespace().count())
                .sum::<usize>()
        };
        assert!(words(&out.request) as f64 <= words(&req) as f64 / ratio);
    }
}

#[test]
fn below_threshold_and_off_pass_through() {
    let req = request(vec![Message::text(
        Role::User,
        rag_prompt(20, "who built the railway"),
    )]);
    let high = Settings {
        threshold_tokens: 1_000_000,
        ..Settings::default()
    };
    assert_eq!(
        compressor(high).compress(&req).unwrap().outcome,
        Outcome::BelowThreshold
    );
    let off = Settings {
        mode: Mode::Off,
        threshold_tokens: 0,
        ..Settings::default()
    };
    let out = compressor(off).compress(&req).unwrap();
    assert_eq!(out.outcome, Outcome::Disabled);
    assert_eq!(out.request, req);
}

#[test]
fn settings_parse_from_toml_and_reject_unknown_keys() {
    let s: Settings = toml::from_str("mode = \"retrieval_and_summary\"\ntarget = { budget_tokens = 1500 }\n[pins]\nroles = [\"assistant\"]\n").unwrap();
    assert_eq!(s.mode, Mode::RetrievalAndSummary);
    assert_eq!(s.target, Target::BudgetTokens(1500));
    assert_eq!(s.threshold_tokens, Settings::default().threshold_tokens);
    assert!(toml::from_str::<Settings>("ratio = 4.0").is_err());
    let bad = Settings {
        target: Target::Ratio(0.5),
        ..Settings::default()
    };
    assert!(matches!(
        Compressor::try_new(bad, Arc::new(MokaSummaryStore::new(1))),
        Err(Error::InvalidSettings { .. })
    ));
}

struct CountingSummarizer(AtomicUsize);

#[async_trait]
impl Summarizer for CountingSummarizer {
    async fn summarize(&self, text: &str) -> Result<String, Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!(
            "earlier: {} words about railways",
            text.split_whitespace().count()
        ))
    }
}

fn long_conversation(turns: usize) -> Vec<Message> {
    let mut m = vec![Message::text(Role::System, "Be helpful.")];
    for i in 0..turns {
        m.push(Message::text(Role::User, paragraph(i, 4)));
        m.push(Message::text(Role::Assistant, paragraph(50 + i, 4)));
    }
    m.push(Message::text(Role::User, "And what about the comet?"));
    m
}

#[tokio::test]
async fn summaries_are_cached_and_written_once() {
    let store = Arc::new(MokaSummaryStore::new(64));
    let s = Settings {
        mode: Mode::RetrievalAndSummary,
        threshold_tokens: 0,
        ..Settings::default()
    };
    let c = Compressor::try_new(s, store.clone()).unwrap();
    let req = request(long_conversation(10));
    let first = c.compress_to(&req, Target::Ratio(2.0)).unwrap();
    assert_eq!(first.missing_summaries.len(), 1);
    assert!(
        !first.summary_used,
        "falls back to retrieval while the summary is missing"
    );
    let fake = CountingSummarizer(AtomicUsize::new(0));
    assert_eq!(
        fill_summaries(&first.missing_summaries, &fake, store.as_ref())
            .await
            .unwrap(),
        1
    );
    let second = c.compress_to(&req, Target::Ratio(2.0)).unwrap();
    assert!(second.summary_used && second.missing_summaries.is_empty());
    assert!(
        second
            .request
            .messages
            .iter()
            .any(|m| m.text_content().contains("earlier:"))
    );
    assert_eq!(second.request.messages[0].text_content(), "Be helpful.");
    // Same history again: nothing missing, and refilling stale jobs does not call the model.
    assert_eq!(
        fill_summaries(&first.missing_summaries, &fake, store.as_ref())
            .await
            .unwrap(),
        0
    );
    assert_eq!(fake.0.load(Ordering::SeqCst), 1);
}

#[test]
fn cli_compress_writes_one_line_per_input_in_order() {
    let a = json!({"model": "m", "messages": [{"role": "user", "content": rag_prompt(20, "who made the violin")}], "x_custom": 1});
    let b = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let input = format!("{a}\n\n{b}\n");
    let mut out = Vec::new();
    let args = CompressArgs {
        ratio: Some(4.0),
        budget_tokens: None,
    };
    run_compress(&args, &mut input.as_bytes(), &mut out).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["x_custom"], 1);
    assert_eq!(lines[1], b);
    let words = |v: &serde_json::Value| {
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count()
    };
    assert!(words(&lines[0]) * 4 <= words(&a));
}

fn pinned_only_tokens(req: &ChatRequest) -> u64 {
    let mut kept = req.clone();
    kept.messages.retain(|m| m.role == Role::System);
    kept.messages.push(req.messages.last().unwrap().clone());
    Encoding::O200kBase.count_request(&kept).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn output_is_within_budget_and_keeps_pinned(turns in 1usize..12, sents in 1usize..8, budget in 40u64..3000, seed in 0usize..100) {
        let mut messages = vec![Message::text(Role::System, format!("System rule {seed}."))];
        for i in 0..turns {
            messages.push(Message::text(if i % 2 == 0 { Role::User } else { Role::Assistant }, paragraph(seed + i, sents)));
        }
        messages.push(Message::text(Role::User, format!("Question {seed}: what about the orchard?")));
        let req = request(messages);
        let out = compressor(settings()).compress_to(&req, Target::BudgetTokens(budget)).unwrap();
        let floor = pinned_only_tokens(&req);
        prop_assert!(out.tokens_after.0 <= budget.max(floor), "{} > {budget} (floor {floor})", out.tokens_after.0);
        prop_assert_eq!(out.tokens_after, Encoding::O200kBase.count_request(&out.request));
        prop_assert_eq!(&out.request.messages[0], &req.messages[0]);
        prop_assert_eq!(out.request.messages.last(), req.messages.last());
    }
}
