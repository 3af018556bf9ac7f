//! Token counting with tiktoken-rs: the encoding per model family, text and chat-message counts.
//! Pure computation, no I/O. Uses `types` and `api`.
//!
//! Non-OpenAI models (Mistral, Llama, Claude...) have their own tokenizers; for them the price
//! table names the closest tiktoken encoding and counts are estimates. The ledger says so through
//! `UsageSource`.

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

use crate::api::{ChatRequest, Message};
use crate::types::Tokens;

/// A tiktoken encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, o-series, GPT-5.
    #[default]
    O200kBase,
    /// GPT-4, GPT-3.5, text-embedding-3.
    Cl100kBase,
}

/// Tokens OpenAI adds per chat message (role and separators) and to prime the reply.
const PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

impl Encoding {
    /// The encoding OpenAI uses for a model name; unknown names get `o200k_base`.
    pub fn for_model(model: &str) -> Encoding {
        let m = model.rsplit('/').next().unwrap_or(model);
        let cl100k = ["gpt-4-", "gpt-3.5", "text-embedding", "gpt-35"];
        if m == "gpt-4" || cl100k.iter().any(|p| m.starts_with(p)) {
            Encoding::Cl100kBase
        } else {
            Encoding::O200kBase
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }

    /// Tokens in a text (special tokens counted as ordinary text, as user input must be).
    pub fn count(self, text: &str) -> Tokens {
        Tokens(self.bpe().encode_ordinary(text).len() as u64)
    }

    /// Token ids of a text.
    pub fn encode(self, text: &str) -> Vec<u32> {
        self.bpe().encode_ordinary(text)
    }

    /// Tokens of one chat message, including its framing.
    pub fn count_message(self, m: &Message) -> Tokens {
        Tokens(framed_message(
            m,
            |c| self.count(&c.text()).0,
            |t| self.count(t).0,
        ))
    }

    /// A sound upper bound on [`Encoding::count_request`] without running BPE: every token of
    /// these byte-level encodings covers at least one byte, so a text has at most as many
    /// tokens as bytes. `None` when the request carries tools or a response schema (their
    /// serialised form would have to be built first; count those exactly).
    pub fn upper_bound_request(req: &ChatRequest) -> Option<Tokens> {
        if req.tools.is_some()
            || req
                .response_format
                .as_ref()
                .and_then(|f| f.schema())
                .is_some()
        {
            return None;
        }
        let bytes = |t: &str| t.len() as u64;
        let messages: u64 = req
            .messages
            .iter()
            .map(|m| framed_message(m, content_bytes, bytes))
            .sum();
        Some(Tokens(REPLY_PRIMING + messages))
    }

    /// Input tokens of a chat request as OpenAI bills them: messages, reply priming, and the
    /// tool definitions and response schema (which OpenAI injects into the prompt).
    pub fn count_request(self, req: &ChatRequest) -> Tokens {
        let mut n = REPLY_PRIMING;
        for m in &req.messages {
            n += self.count_message(m).0;
        }
        if let Some(tools) = &req.tools {
            n += self
                .count(&serde_json::to_string(tools).unwrap_or_default())
                .0;
        }
        if let Some(schema) = req.response_format.as_ref().and_then(|f| f.schema()) {
            n += self.count(&schema.to_string()).0;
        }
        Tokens(n)
    }
}

/// One message's tokens as OpenAI frames it, with `content` and `text` measuring its parts
/// (BPE counts for the exact figure, byte lengths for the bound).
fn framed_message(
    m: &Message,
    content: impl Fn(&crate::api::Content) -> u64,
    text: impl Fn(&str) -> u64,
) -> u64 {
    let mut n = PER_MESSAGE + m.content.as_ref().map_or(0, content);
    if let Some(name) = &m.name {
        n += 1 + text(name);
    }
    for call in m.tool_calls.iter().flatten() {
        n += text(&call.function.name) + text(&call.function.arguments) + 3;
    }
    n
}

/// Bytes of the text `Content::text` would return (parts joined by newlines), without
/// building it.
fn content_bytes(c: &crate::api::Content) -> u64 {
    match c {
        crate::api::Content::Text(s) => s.len() as u64,
        crate::api::Content::Parts(parts) => {
            let texts = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str));
            let (count, bytes) = texts.fold((0u64, 0u64), |(c, b), t| (c + 1, b + t.len() as u64));
            bytes + count.saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Role;

    #[test]
    fn counts_match_tiktoken_reference_values() {
        // Reference counts from OpenAI's tiktoken for these strings.
        assert_eq!(Encoding::Cl100kBase.count("hello world"), Tokens(2));
        assert_eq!(Encoding::O200kBase.count("hello world"), Tokens(2));
        assert_eq!(Encoding::O200kBase.count(""), Tokens(0));
    }

    #[test]
    fn model_families_pick_their_encoding() {
        assert_eq!(Encoding::for_model("gpt-4o-mini"), Encoding::O200kBase);
        assert_eq!(
            Encoding::for_model("gpt-4-1106-preview"),
            Encoding::Cl100kBase
        );
        assert_eq!(Encoding::for_model("gpt-3.5-turbo"), Encoding::Cl100kBase);
        assert_eq!(Encoding::for_model("openai/gpt-4"), Encoding::Cl100kBase);
    }

    #[test]
    fn byte_bound_is_never_below_the_exact_count() {
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "name": "ann", "content": [
                    {"type": "text", "text": "Größe von 12345 + 678?"},
                    {"type": "text", "text": "日本語のテキスト。 and    spaces\n\n"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "add", "arguments": "{\"a\":12345,\"b\":678}"}}]},
            ]
        }))
        .unwrap();
        for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
            let exact = enc.count_request(&req);
            let bound = Encoding::upper_bound_request(&req).unwrap();
            assert!(bound >= exact, "{enc:?}: bound {bound:?} < exact {exact:?}");
        }
        let mut with_tools = req.clone();
        with_tools.tools = Some(vec![serde_json::json!({"type": "function"})]);
        assert_eq!(Encoding::upper_bound_request(&with_tools), None);
    }

    #[test]
    fn chat_count_adds_framing() {
        let m = Message::text(Role::User, "hello world");
        assert_eq!(Encoding::O200kBase.count_message(&m), Tokens(5));
    }
}
