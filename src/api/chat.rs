//! Chat completion request and response bodies as OpenAI sends them.
//! Unknown fields are kept in `extra` maps and sent upstream untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Speaker of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// Newer name for system prompts (o-series models).
    Developer,
    /// End user.
    User,
    /// Model.
    Assistant,
    /// Tool result.
    Tool,
    /// Legacy function result.
    Function,
}

/// Message content: a plain string or an array of content parts (text, image_url, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts, kept as JSON so unknown part types pass through.
    Parts(Vec<Value>),
}

impl Content {
    /// All text in the content, parts joined by newlines; non-text parts are skipped.
    pub fn text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A function call the assistant asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool result's `tool_call_id`.
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// Function name and JSON-encoded arguments.
    pub function: ToolCallFunction,
}

fn function_type() -> String {
    "function".to_owned()
}

/// Name and arguments of a function call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallFunction {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string (OpenAI's encoding).
    pub arguments: String,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// Text or parts; `None` for an assistant turn that only calls tools.
    #[serde(default)]
    pub content: Option<Content>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls of an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For role `tool`: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Refusal text, when the model refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Fields Purser does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A plain text message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            refusal: None,
            extra: Map::new(),
        }
    }
    /// The message's text (empty when it has none).
    pub fn text_content(&self) -> String {
        self.content.as_ref().map(Content::text).unwrap_or_default()
    }
}

/// `stream_options` of a streaming request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a final chunk with usage.
    #[serde(default)]
    pub include_usage: bool,
    /// Fields Purser does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `response_format`: text, json_object, or json_schema with a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching `json_schema.schema`.
    JsonSchema {
        /// `{name, schema, strict}` as sent.
        json_schema: Value,
    },
}

impl ResponseFormat {
    /// The JSON schema to satisfy, if any.
    pub fn schema(&self) -> Option<&Value> {
        match self {
            ResponseFormat::JsonSchema { json_schema } => json_schema.get("schema"),
            _ => None,
        }
    }
}

/// A `POST /v1/chat/completions` body. Known fields are typed; the rest is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Concrete model or route name.
    pub model: String,
    /// Conversation.
    pub messages: Vec<Message>,
    /// Stream with SSE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tool definitions, kept as JSON (`{"type":"function","function":{name,description,parameters}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// `"none"|"auto"|"required"` or `{"type":"function","function":{"name":..}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Allow several tool calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// JSON mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Sampling temperature, 0..=2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Number of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences: a string or up to 4 strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    /// Seed for deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Return token log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives per token, 0..=20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Legacy output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Output cap (newer name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// End-user id (used to scope caches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else, passed upstream untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A field-level validation failure: message and the offending parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// Human-readable, safe to show.
    pub message: String,
    /// The parameter path, e.g. `messages[2].role`.
    pub param: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        message: message.into(),
        param: Some(param.to_owned()),
    }
}

impl ChatRequest {
    /// Checks value ranges that serde cannot express. Errors name the parameter.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.model.trim().is_empty() {
            return Err(invalid("model", "you must provide a model parameter"));
        }
        if self.messages.is_empty() {
            return Err(invalid(
                "messages",
                "[] is too short - 'messages' must contain at least one message",
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(invalid("temperature", format!("{t} is not in [0, 2]")));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(invalid("top_p", format!("{p} is not in [0, 1]")));
        }
        if let Some(n) = self.n
            && !(1..=128).contains(&n)
        {
            return Err(invalid("n", format!("{n} is not in [1, 128]")));
        }
        if let Some(k) = self.top_logprobs
            && k > 20
        {
            return Err(invalid("top_logprobs", format!("{k} is greater than 20")));
        }
        if self.stream_options.is_some() && !self.stream {
            return Err(invalid(
                "stream_options",
                "stream_options is only allowed when stream is true",
            ));
        }
        self.validate_stop()?;
        self.validate_messages()?;
        self.validate_tools()
    }

    fn validate_stop(&self) -> Result<(), ValidationError> {
        match &self.stop {
            None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
            Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(Value::is_string) => Ok(()),
            Some(_) => Err(invalid(
                "stop",
                "stop must be a string or an array of at most 4 strings",
            )),
        }
    }

    fn validate_messages(&self) -> Result<(), ValidationError> {
        for (i, m) in self.messages.iter().enumerate() {
            if m.role == Role::Tool && m.tool_call_id.is_none() {
                return Err(invalid(
                    &format!("messages[{i}].tool_call_id"),
                    "messages with role 'tool' must have a tool_call_id",
                ));
            }
            if m.content.is_none() && m.tool_calls.is_none() && m.role != Role::Assistant {
                return Err(invalid(
                    &format!("messages[{i}].content"),
                    format!("messages[{i}] must have content"),
                ));
            }
        }
        Ok(())
    }

    fn validate_tools(&self) -> Result<(), ValidationError> {
        let Some(tools) = &self.tools else {
            return Ok(());
        };
        for (i, t) in tools.iter().enumerate() {
            let name = t.pointer("/function/name").and_then(Value::as_str);
            if t.get("type").and_then(Value::as_str) != Some("function") || name.is_none() {
                return Err(invalid(
                    &format!("tools[{i}]"),
                    "each tool must be {\"type\":\"function\",\"function\":{\"name\":...}}",
                ));
            }
        }
        if let Some(Value::Object(choice)) = &self.tool_choice {
            let wanted = choice.get("function").and_then(|f| f.get("name"));
            let known = wanted.and_then(Value::as_str).is_some_and(|w| {
                tools
                    .iter()
                    .any(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(w))
            });
            if !known {
                return Err(invalid(
                    "tool_choice",
                    "tool_choice names a function that is not in tools",
                ));
            }
        }
        Ok(())
    }

    /// The output cap the client asked for (`max_completion_tokens` wins over `max_tokens`).
    pub fn output_cap(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Text of the last user message, or empty.
    pub fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text_content)
            .unwrap_or_default()
    }

    /// Whether the client asked for a usage chunk at the end of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// The function name `tool_choice` forces, if it names one.
    pub fn forced_function(&self) -> Option<&str> {
        self.tool_choice
            .as_ref()?
            .pointer("/function/name")
            .and_then(Value::as_str)
    }
}

/// Token usage as OpenAI reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Sum of both.
    pub total_tokens: u64,
    /// Input tokens served from the provider's prompt cache (in `prompt_tokens_details`).
    #[serde(
        default,
        rename = "prompt_tokens_details",
        with = "cached_tokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_tokens: Option<u64>,
}

mod cached_tokens {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Details {
        #[serde(default)]
        cached_tokens: Option<u64>,
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        Details { cached_tokens: *v }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Details>::deserialize(d)?.and_then(|x| x.cached_tokens))
    }
}

impl Usage {
    /// Usage with total computed.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            cached_tokens: None,
        }
    }
}

/// One choice of a non-streaming completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Choice index.
    pub index: u32,
    /// The assistant message.
    pub message: Message,
    /// `stop`, `length`, `tool_calls`, `content_filter`.
    pub finish_reason: Option<String>,
    /// Token log-probabilities when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// A non-streaming chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// `chatcmpl-...`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that answered.
    pub model: String,
    /// Choices.
    pub choices: Vec<ChatChoice>,
    /// Token usage, when the provider reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Provider fields Purser does not interpret (system_fingerprint, service_tier...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The provider's bytes this was parsed from, when unchanged since.
    #[serde(skip)]
    pub raw: RawBody,
}

/// A provider's response body kept beside its parsed form, so the gateway forwards the bytes
/// it received instead of serialising the same completion again. Never serialised; ignored by
/// equality (it is a cache of the value's encoding, not part of it).
#[derive(Clone, Default)]
pub struct RawBody(pub Option<bytes::Bytes>);

impl PartialEq for RawBody {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(b) => write!(f, "RawBody({} bytes)", b.len()),
            None => f.write_str("RawBody(None)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let r = req(
            json!({"model":"m","messages":[{"role":"user","content":"hi","x_part":1}],
            "metadata":{"a":"b"},"service_tier":"flex"}),
        );
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["metadata"], json!({"a":"b"}));
        assert_eq!(back["service_tier"], "flex");
        assert_eq!(back["messages"][0]["x_part"], 1);
    }

    #[test]
    fn validate_names_the_bad_parameter() {
        let r =
            req(json!({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":3}));
        assert_eq!(
            r.validate().unwrap_err().param.as_deref(),
            Some("temperature")
        );
        let r = req(json!({"model":"m","messages":[]}));
        assert_eq!(r.validate().unwrap_err().param.as_deref(), Some("messages"));
        let r = req(json!({"model":"m","messages":[{"role":"tool","content":"x"}]}));
        assert_eq!(
            r.validate().unwrap_err().param.as_deref(),
            Some("messages[0].tool_call_id")
        );
    }

    #[test]
    fn usage_reads_cached_tokens_from_details() {
        let u: Usage = serde_json::from_value(json!({"prompt_tokens":10,"completion_tokens":2,
            "total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}))
        .unwrap();
        assert_eq!(u.cached_tokens, Some(4));
    }
}
