//! Turns a simulated answer into the chunk sequence OpenAI streams: a role chunk, content or
//! tool-call deltas (arguments split across chunks), a finish chunk per choice, and the usage
//! chunk with empty choices when `include_usage` is set. Each chunk carries the delay to wait
//! before sending it.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::answer::{Answer, Choice};
use crate::api::{ChatChunk, ChunkChoice, Delta, DeltaToolCall, DeltaToolCallFunction, Role};
use crate::tokenizer::Encoding;
use crate::upstream::SimulatedModel;

/// Shared fields of every chunk of one stream.
pub(super) struct Header<'a> {
    pub(super) id: &'a str,
    pub(super) created: i64,
    pub(super) model: &'a SimulatedModel,
    pub(super) include_usage: bool,
}

/// The chunks of `answer`, each with the delay before it.
pub(super) fn chunks(h: &Header<'_>, answer: &Answer) -> Vec<(Duration, ChatChunk)> {
    let enc = Encoding::for_model(&h.model.name);
    let mut out = Vec::new();
    let mut first_token_sent = false;
    for (i, c) in answer.choices.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let role = Delta {
            role: Some(Role::Assistant),
            content: c.pieces.as_ref().map(|_| String::new()),
            ..Delta::default()
        };
        out.push((Duration::ZERO, chunk(h, index, role, None, None)));
        for (tokens, delta, logprobs) in deltas(h.model, c, enc) {
            let delay = if first_token_sent {
                h.model.per_token_latency.saturating_mul(tokens)
            } else {
                first_token_sent = true;
                h.model
                    .first_token_latency
                    .saturating_add(h.model.per_token_latency.saturating_mul(tokens))
            };
            out.push((delay, chunk(h, index, delta, None, logprobs)));
        }
        out.push((
            Duration::ZERO,
            chunk(h, index, Delta::default(), Some(c.finish_reason), None),
        ));
    }
    if h.include_usage {
        let mut last = chunk(h, 0, Delta::default(), None, None);
        last.choices.clear();
        last.usage = Some(Some(answer.usage));
        out.push((Duration::ZERO, last));
    }
    out
}

/// Content deltas of `chunk_size` pieces, or tool-call deltas (header, then argument slices).
fn deltas(m: &SimulatedModel, c: &Choice, enc: Encoding) -> Vec<(u32, Delta, Option<Value>)> {
    let size = m.chunk_size.max(1);
    if let Some(pieces) = &c.pieces {
        return pieces
            .chunks(size)
            .enumerate()
            .map(|(k, group)| {
                let text = group.concat();
                let tokens = u32::try_from(enc.count(&text).0).unwrap_or(u32::MAX);
                let logprobs = c.logprobs.as_ref().map(|lp| {
                    let slice: Vec<Value> = lp.iter().skip(k * size).take(size).cloned().collect();
                    json!({"content": slice, "refusal": null})
                });
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                (tokens, delta, logprobs)
            })
            .collect();
    }
    let mut out = Vec::new();
    for (j, call) in c.tool_calls.iter().enumerate() {
        let index = u32::try_from(j).unwrap_or(u32::MAX);
        let head = DeltaToolCall {
            index,
            id: Some(call.id.clone()),
            kind: Some("function".to_owned()),
            function: Some(DeltaToolCallFunction {
                name: Some(call.function.name.clone()),
                arguments: Some(String::new()),
            }),
        };
        out.push((1, tool_delta(head), None));
        let chars: Vec<char> = call.function.arguments.chars().collect();
        for piece in chars.chunks(size * 4) {
            let part = DeltaToolCall {
                index,
                id: None,
                kind: None,
                function: Some(DeltaToolCallFunction {
                    name: None,
                    arguments: Some(piece.iter().collect()),
                }),
            };
            out.push((u32::try_from(size).unwrap_or(1), tool_delta(part), None));
        }
    }
    out
}

fn tool_delta(call: DeltaToolCall) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}

fn chunk(
    h: &Header<'_>,
    index: u32,
    delta: Delta,
    finish: Option<&str>,
    logprobs: Option<Value>,
) -> ChatChunk {
    let mut extra = Map::new();
    extra.insert("system_fingerprint".into(), json!("fp_simulated"));
    ChatChunk {
        id: h.id.to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created: h.created,
        model: h.model.name.clone(),
        choices: vec![ChunkChoice {
            index,
            delta,
            finish_reason: finish.map(str::to_owned),
            logprobs,
        }],
        usage: h.include_usage.then_some(None),
        extra,
        raw: crate::api::RawBody::default(),
    }
}
