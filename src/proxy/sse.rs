//! Server-sent events in OpenAI's exact format: `data: {chunk}\n\n` lines closed by
//! `data: [DONE]\n\n`; and turning a whole completion into a chunk sequence, for cache hits and
//! held cascade answers replayed as streams.

use bytes::Bytes;

use crate::api::{
    ChatChunk, ChatCompletion, ChunkChoice, Delta, DeltaToolCall, DeltaToolCallFunction, Role,
    Usage,
};

/// The closing event of every stream.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// Encodes one chunk as an SSE event.
pub(crate) fn encode(chunk: &ChatChunk) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serialising our own types cannot fail.
    let _ = serde_json::to_writer(&mut out, chunk);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// An SSE event carrying the provider's own JSON for a chunk the gateway did not change.
pub(crate) fn encode_raw(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Encodes an error event inside a stream that already started (OpenAI sends `{"error":...}`).
pub(crate) fn encode_error(body: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {body}\n\n"))
}

/// Text pieces a replayed answer is split into, so a client sees several deltas as from a model.
const REPLAY_PIECE_CHARS: usize = 64;

fn chunk(c: &ChatCompletion, choices: Vec<ChunkChoice>, usage: Option<Option<Usage>>) -> ChatChunk {
    ChatChunk {
        id: c.id.clone(),
        object: "chat.completion.chunk".into(),
        created: c.created,
        model: c.model.clone(),
        choices,
        usage,
        extra: serde_json::Map::new(),
        raw: crate::api::RawBody::default(),
    }
}

fn choice(index: u32, delta: Delta, finish_reason: Option<String>) -> ChunkChoice {
    ChunkChoice {
        index,
        delta,
        finish_reason,
        logprobs: None,
    }
}

fn split_text(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(REPLAY_PIECE_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

/// The chunk sequence of a complete answer: per choice a role chunk, content pieces, tool call
/// deltas and a finish chunk; then a usage chunk when `include_usage`. Every chunk but the last
/// carries `usage: null` when usage was asked for, as OpenAI does.
pub(crate) fn completion_to_chunks(c: &ChatCompletion, include_usage: bool) -> Vec<ChatChunk> {
    let null_usage = include_usage.then_some(None);
    let mut out = Vec::new();
    for ch in &c.choices {
        let role = Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            ..Delta::default()
        };
        out.push(chunk(c, vec![choice(ch.index, role, None)], null_usage));
        let text = ch.message.text_content();
        for piece in split_text(&text) {
            let d = Delta {
                content: Some(piece),
                ..Delta::default()
            };
            out.push(chunk(c, vec![choice(ch.index, d, None)], null_usage));
        }
        for (i, call) in ch.message.tool_calls.iter().flatten().enumerate() {
            let d = Delta {
                tool_calls: Some(vec![DeltaToolCall {
                    index: i as u32,
                    id: Some(call.id.clone()),
                    kind: Some("function".into()),
                    function: Some(DeltaToolCallFunction {
                        name: Some(call.function.name.clone()),
                        arguments: Some(call.function.arguments.clone()),
                    }),
                }]),
                ..Delta::default()
            };
            out.push(chunk(c, vec![choice(ch.index, d, None)], null_usage));
        }
        let fin = choice(ch.index, Delta::default(), ch.finish_reason.clone());
        out.push(chunk(c, vec![fin], null_usage));
    }
    if include_usage {
        out.push(chunk(c, Vec::new(), Some(c.usage)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ChatChoice, Message};
    use serde_json::json;

    fn completion() -> ChatCompletion {
        ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "gpt-4o-mini".into(),
            choices: vec![ChatChoice {
                index: 0,
                message: Message::text(Role::Assistant, "Hello!"),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(5, 2)),
            extra: serde_json::Map::new(),
            raw: crate::api::RawBody::default(),
        }
    }

    /// Golden: the exact SSE bytes of a replayed answer with usage.
    #[test]
    fn replay_stream_matches_openai_chunk_sequence() {
        let events: Vec<String> = completion_to_chunks(&completion(), true)
            .iter()
            .map(|c| String::from_utf8(encode(c).to_vec()).unwrap())
            .collect();
        let base = r#""id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini""#;
        assert_eq!(
            events,
            vec![
                format!(
                    "data: {{{base},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
                ),
                format!(
                    "data: {{{base},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hello!\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
                ),
                format!(
                    "data: {{{base},\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n"
                ),
                format!(
                    "data: {{{base},\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}}}\n\n"
                ),
            ]
        );
    }

    #[test]
    fn no_usage_field_without_include_usage() {
        let chunks = completion_to_chunks(&completion(), false);
        let v = serde_json::to_value(&chunks[0]).unwrap();
        assert!(v.get("usage").is_none());
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            encode_error(&json!({"error":{}})),
            Bytes::from("data: {\"error\":{}}\n\n")
        );
    }
}
