//! Streaming chunk types (`chat.completion.chunk`), exactly as OpenAI sends them over SSE.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat::{Role, Usage};

/// A partial tool call in a stream delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaToolCall {
    /// Position of the call within the message.
    pub index: u32,
    /// Present on the first delta of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on the first delta.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (first delta) and a piece of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<DeltaToolCallFunction>,
}

/// Function part of a tool-call delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaToolCallFunction {
    /// Name, on the first delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// The incremental message of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A piece of text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
    /// A piece of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Provider fields Purser does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Choice index.
    pub index: u32,
    /// The increment.
    pub delta: Delta,
    /// Set on the last chunk of this choice.
    pub finish_reason: Option<String>,
    /// Log-probabilities of this piece when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// A `chat.completion.chunk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Same id on every chunk of a stream.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that answers.
    pub model: String,
    /// Empty on the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// `null` on every chunk but the last when `include_usage` is set; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
    /// Provider fields Purser does not interpret (system_fingerprint...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The event's JSON as the provider sent it (set by the SSE reader), forwarded as is when
    /// the gateway changes nothing in the chunk.
    #[serde(skip)]
    pub raw: crate::api::RawBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_null_is_kept_distinct_from_absent() {
        let c: ChatChunk = serde_json::from_str(
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":null}"#,
        )
        .unwrap();
        // serde maps a JSON null to the outer None for Option<Option<_>>; we re-add null when
        // the client asked for usage, at the proxy, so both shapes serialise right.
        let s = serde_json::to_string(&ChatChunk {
            usage: Some(None),
            ..c
        })
        .unwrap();
        assert!(s.contains(r#""usage":null"#));
    }
}
