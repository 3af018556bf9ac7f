//! Cache key derivation: the one function `derive_key`, plus keys of intermediate results.
//!
//! The key is sha256 over canonical JSON (object keys sorted recursively, no whitespace,
//! integral floats written as integers) of every field that can change the answer, each
//! field written as `RS name US value`. Request ids, timestamps, `stream` and
//! `stream_options` never enter it (a hit is replayed as JSON or SSE alike).

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::{
    write_canonical, write_json_str, write_map, write_opt_bool, write_opt_f64, write_opt_i64,
    write_opt_str, write_opt_u64, write_opt_value, write_opt_values, write_sorted_entries,
};
use super::settings::Scope;
use crate::api::{ChatRequest, Content, Message, ResponseFormat, Role, ToolCall, ToolCallFunction};
use crate::types::{ModelId, WorkflowId};

/// What kind of value an entry holds; part of the key and of the Redis key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// A chat completion (`CachedAnswer`).
    Chat,
    /// An `/v1/embeddings` response body.
    Embeddings,
    /// A compressor summary, keyed by content hash.
    Summaries,
    /// A retrieval result, keyed by content hash.
    Retrieval,
}

impl Namespace {
    /// Short name used in Redis keys and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Chat => "chat",
            Namespace::Embeddings => "emb",
            Namespace::Summaries => "sum",
            Namespace::Retrieval => "ret",
        }
    }
}

/// Identifies one entry: owning workflow, namespace and sha256 of the canonical input.
/// Two workflows never share a key, since the workflow is both in the hash and beside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    workflow: WorkflowId,
    namespace: Namespace,
    hash: [u8; 32],
}

/// Routing and compression facts the key needs besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    /// The workflow the request belongs to.
    pub workflow: &'a WorkflowId,
    /// The concrete model chosen by routing (not the client's route name).
    pub model: &'a ModelId,
    /// Version string of the compressor configuration (changes split entries).
    pub compression_version: &'a str,
    /// Version string of the routing table (changes split entries).
    pub routing_version: &'a str,
}

/// The normalised request the key is derived from: request, routing facts and scope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRequest<'a> {
    pub(crate) chat: &'a ChatRequest,
    pub(crate) ctx: KeyContext<'a>,
    pub(crate) scope: Scope,
}

/// Top-level `extra` fields that never change the answer and often carry request ids.
const EXTRA_NOT_IN_KEY: [&str; 4] = ["metadata", "store", "prompt_cache_key", "request_id"];

// ---- CacheKey ----

impl CacheKey {
    /// The owning workflow.
    pub fn workflow(&self) -> &WorkflowId {
        &self.workflow
    }
    /// The namespace.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }
    /// Lower-case hex of the sha256.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
    /// A key for a content-addressed intermediate result (summary, retrieval): sha256 over
    /// the parts, each length-prefixed so part boundaries cannot shift.
    pub fn for_content(workflow: &WorkflowId, namespace: Namespace, parts: &[&[u8]]) -> CacheKey {
        let mut h = Sha256::new();
        h.update(namespace.as_str().as_bytes());
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Self::finish(workflow, namespace, h)
    }

    /// A key for an `/v1/embeddings` body (deterministic: model, input, dimensions,
    /// encoding_format...), canonical JSON of every field but `user` and `metadata`.
    pub fn for_embeddings(workflow: &WorkflowId, body: &Value) -> CacheKey {
        let mut buf = Vec::with_capacity(256);
        match body {
            Value::Object(map) => {
                let kept: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "user" && k.as_str() != "metadata")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                write_canonical(&mut buf, &Value::Object(kept));
            }
            other => write_canonical(&mut buf, other),
        }
        let mut h = Sha256::new();
        h.update(b"emb\x1f");
        h.update(&buf);
        Self::finish(workflow, Namespace::Embeddings, h)
    }

    fn finish(workflow: &WorkflowId, namespace: Namespace, mut h: Sha256) -> CacheKey {
        h.update(b"\x1eworkflow\x1f");
        h.update(workflow.as_str().as_bytes());
        CacheKey {
            workflow: workflow.clone(),
            namespace,
            hash: h.finalize().into(),
        }
    }
}

impl fmt::Display for CacheKey {
    /// `<workflow>:<hex>` for chat entries, `<workflow>:<ns>:<hex>` otherwise (what
    /// `purge` key prefixes are matched against).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace {
            Namespace::Chat => write!(f, "{}:{}", self.workflow, self.hash_hex()),
            ns => write!(f, "{}:{}:{}", self.workflow, ns.as_str(), self.hash_hex()),
        }
    }
}

/// Derives the key of a chat request. THE one key function: it destructures every struct
/// without `..`, so a new field in `ChatRequest`, `Message`, `ToolCall` or `KeyRequest` fails
/// to compile here until someone decides whether it belongs in the key.
pub(crate) fn derive_key(req: &KeyRequest<'_>) -> CacheKey {
    let KeyRequest { chat, ctx, scope } = *req;
    let KeyContext {
        workflow,
        model,
        compression_version,
        routing_version,
    } = ctx;
    let ChatRequest {
        model: _route_name,
        messages,
        stream: _,
        stream_options: _,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        temperature,
        top_p,
        n,
        stop,
        seed,
        logprobs,
        top_logprobs,
        max_tokens,
        max_completion_tokens,
        user,
        extra,
    } = chat;
    let mut w = FieldWriter(Vec::with_capacity(1024));
    w.str("v", "1");
    w.str("workflow", workflow.as_str());
    w.str("model", model.as_str());
    w.str("compression_version", compression_version);
    w.str("routing_version", routing_version);
    let user_key = match scope {
        Scope::User => user.as_deref(),
        Scope::Workflow => None,
    };
    w.field("user", |b| write_opt_str(b, user_key));
    w.field("messages", |b| write_messages(b, messages));
    w.field("tools", |b| write_opt_values(b, tools.as_deref()));
    w.field("tool_choice", |b| write_opt_value(b, tool_choice.as_ref()));
    w.field("parallel_tool_calls", |b| {
        write_opt_bool(b, *parallel_tool_calls)
    });
    w.field("response_format", |b| {
        write_response_format(b, response_format.as_ref())
    });
    w.field("temperature", |b| write_opt_f64(b, *temperature));
    w.field("top_p", |b| write_opt_f64(b, *top_p));
    w.field("n", |b| write_opt_u64(b, n.map(u64::from)));
    w.field("stop", |b| write_stop(b, stop.as_ref()));
    w.field("seed", |b| write_opt_i64(b, *seed));
    w.field("logprobs", |b| write_opt_bool(b, *logprobs));
    w.field("top_logprobs", |b| {
        write_opt_u64(b, top_logprobs.map(u64::from))
    });
    // Both names cap the output the same way; the effective cap is what matters.
    w.field("max_output", |b| {
        write_opt_u64(b, max_completion_tokens.or(*max_tokens))
    });
    w.field("extra", |b| write_extra(b, extra));
    let mut h = Sha256::new();
    h.update(&w.0);
    CacheKey::finish(workflow, Namespace::Chat, h)
}

/// Canonical bytes of the key fields (for tests comparing against naive forms).
#[cfg(test)]
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut b = Vec::new();
    write_canonical(&mut b, v);
    String::from_utf8(b).unwrap_or_default()
}

struct FieldWriter(Vec<u8>);

impl FieldWriter {
    fn field(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.0.push(0x1e);
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0x1f);
        write(&mut self.0);
    }
    fn str(&mut self, name: &str, value: &str) {
        self.field(name, |b| write_json_str(b, value));
    }
}

fn write_messages(b: &mut Vec<u8>, messages: &[Message]) {
    b.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        write_message(b, m);
    }
    b.push(b']');
}

fn write_message(b: &mut Vec<u8>, m: &Message) {
    let Message {
        role,
        content,
        name,
        tool_calls,
        tool_call_id,
        refusal,
        extra,
    } = m;
    b.extend_from_slice(b"{\"role\":");
    write_json_str(b, role_name(*role));
    b.extend_from_slice(b",\"content\":");
    write_content(b, content.as_ref());
    b.extend_from_slice(b",\"name\":");
    write_opt_str(b, name.as_deref());
    b.extend_from_slice(b",\"tool_calls\":");
    match tool_calls {
        None => b.extend_from_slice(b"null"),
        Some(calls) => {
            b.push(b'[');
            for (i, c) in calls.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                write_tool_call(b, c);
            }
            b.push(b']');
        }
    }
    b.extend_from_slice(b",\"tool_call_id\":");
    write_opt_str(b, tool_call_id.as_deref());
    b.extend_from_slice(b",\"refusal\":");
    write_opt_str(b, refusal.as_deref());
    b.extend_from_slice(b",\"extra\":");
    write_map(b, extra);
    b.push(b'}');
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => "function",
    }
}

/// A lone text part is the same prompt as a plain string, so both hash alike.
fn write_content(b: &mut Vec<u8>, content: Option<&Content>) {
    match content {
        None => b.extend_from_slice(b"null"),
        Some(Content::Text(s)) => write_json_str(b, s),
        Some(Content::Parts(parts)) => match lone_text_part(parts) {
            Some(s) => write_json_str(b, s),
            None => {
                b.push(b'[');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        b.push(b',');
                    }
                    write_canonical(b, p);
                }
                b.push(b']');
            }
        },
    }
}

fn lone_text_part(parts: &[Value]) -> Option<&str> {
    let [Value::Object(p)] = parts else {
        return None;
    };
    let is_text = p.len() == 2 && p.get("type").and_then(Value::as_str) == Some("text");
    if is_text {
        p.get("text")?.as_str()
    } else {
        None
    }
}

fn write_tool_call(b: &mut Vec<u8>, c: &ToolCall) {
    let ToolCall { id, kind, function } = c;
    let ToolCallFunction { name, arguments } = function;
    b.extend_from_slice(b"{\"id\":");
    write_json_str(b, id);
    b.extend_from_slice(b",\"type\":");
    write_json_str(b, kind);
    b.extend_from_slice(b",\"name\":");
    write_json_str(b, name);
    b.extend_from_slice(b",\"arguments\":");
    // Arguments are JSON in a string: canonicalise when they parse, else keep the bytes.
    match serde_json::from_str::<Value>(arguments) {
        Ok(v) => {
            b.extend_from_slice(b"{\"json\":");
            write_canonical(b, &v);
            b.push(b'}');
        }
        Err(_) => write_json_str(b, arguments),
    }
    b.push(b'}');
}

fn write_response_format(b: &mut Vec<u8>, rf: Option<&ResponseFormat>) {
    match rf {
        None => b.extend_from_slice(b"null"),
        Some(ResponseFormat::Text) => write_json_str(b, "text"),
        Some(ResponseFormat::JsonObject) => write_json_str(b, "json_object"),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            b.extend_from_slice(b"{\"json_schema\":");
            write_canonical(b, json_schema);
            b.push(b'}');
        }
    }
}

/// `"x"` and `["x"]` stop the same way.
fn write_stop(b: &mut Vec<u8>, stop: Option<&Value>) {
    match stop {
        Some(Value::String(s)) => {
            b.push(b'[');
            write_json_str(b, s);
            b.push(b']');
        }
        other => write_opt_value(b, other),
    }
}

fn write_extra(b: &mut Vec<u8>, extra: &Map<String, Value>) {
    let mut keys: Vec<(&String, &Value)> = extra
        .iter()
        .filter(|(k, _)| !EXTRA_NOT_IN_KEY.contains(&k.as_str()))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_sorted_entries(b, &keys);
}
