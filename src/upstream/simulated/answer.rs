//! One simulated answer: picks tool calls, JSON or prose (or a replayed recording), applies the
//! quality simulation ("doubtful" answers), stop strings and the output cap, and computes
//! logprobs and usage. Deterministic: every draw comes from an RNG seeded by the request.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::replay::Recorded;
use super::{schema, text};
use crate::api::{ChatRequest, ResponseFormat, Role, ToolCall, ToolCallFunction, Usage};
use crate::tokenizer::Encoding;
use crate::upstream::SimulatedModel;

/// One generated choice.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Choice {
    /// Content pieces (streamed one chunk per `chunk_size` pieces); `None` for tool calls.
    pub(super) pieces: Option<Vec<String>>,
    /// Tool calls, possibly several.
    pub(super) tool_calls: Vec<ToolCall>,
    /// `stop`, `length` or `tool_calls`.
    pub(super) finish_reason: &'static str,
    /// Logprob entries, one per piece, when asked for.
    pub(super) logprobs: Option<Vec<Value>>,
    /// Completion tokens of this choice.
    pub(super) tokens: u64,
}

/// All choices and the usage.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    pub(super) choices: Vec<Choice>,
    pub(super) usage: Usage,
}

/// Tokens offered as `top_logprobs` alternatives.
const ALTERNATIVES: [&str; 6] = ["so", "thus", "which", "because", "then", "also"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doubt {
    None,
    Truncated,
    Refusal,
    LowConfidence,
}

struct Ctx<'a> {
    req: &'a ChatRequest,
    model: &'a SimulatedModel,
    replay: Option<&'a Recorded>,
    enc: Encoding,
    words: Vec<String>,
    difficulty: f64,
}

/// Builds the whole answer for `req` from `model` (and a recorded answer, if one matched).
pub(super) fn build(
    req: &ChatRequest,
    model: &SimulatedModel,
    replay: Option<&Recorded>,
) -> Answer {
    let enc = Encoding::for_model(&model.name);
    let prompt_tokens = enc.count_request(req).0;
    let last = req.last_user_text();
    let ctx = Ctx {
        req,
        model,
        replay,
        enc,
        words: text::keywords(&last),
        difficulty: text::difficulty(&last, prompt_tokens),
    };
    let seed = request_seed(req);
    let choices: Vec<Choice> = (0..u64::from(req.n.unwrap_or(1).max(1)))
        .map(|i| {
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            choice(&ctx, &mut rng)
        })
        .collect();
    let completion = choices.iter().map(|c| c.tokens).sum();
    Answer {
        choices,
        usage: Usage::new(prompt_tokens, completion),
    }
}

/// Seed from the fields that decide *what* is said; caps, stop strings, `n`, logprobs and
/// streaming only shape it, so a capped answer is a prefix of the uncapped one.
pub(super) fn request_seed(req: &ChatRequest) -> u64 {
    let mut h = Sha256::new();
    let parts = [
        Value::String(req.model.clone()),
        serde_json::to_value(&req.messages).unwrap_or_default(),
        serde_json::to_value(&req.tools).unwrap_or_default(),
        req.tool_choice.clone().unwrap_or_default(),
        serde_json::to_value(&req.response_format).unwrap_or_default(),
        json!(req.seed),
    ];
    for p in parts {
        h.update(p.to_string().as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

fn choice(ctx: &Ctx<'_>, rng: &mut StdRng) -> Choice {
    let tools = selected_tools(ctx.req);
    if !tools.is_empty() {
        return tool_choice(ctx, &tools, rng);
    }
    let (mut pieces, doubt) = content(ctx, rng);
    let mut finish = if doubt == Doubt::Truncated {
        "length"
    } else {
        "stop"
    };
    text::apply_stop(&mut pieces, &text::stop_strings(ctx.req.stop.as_ref()));
    if let Some(cap) = ctx.req.output_cap()
        && text::apply_cap(&mut pieces, cap, ctx.enc)
    {
        finish = "length";
    }
    let logprobs = (ctx.req.logprobs == Some(true)).then(|| logprobs(ctx, &pieces, doubt, rng));
    Choice {
        tokens: ctx.enc.count(&pieces.concat()).0,
        pieces: Some(pieces),
        tool_calls: Vec::new(),
        finish_reason: finish,
        logprobs,
    }
}

fn content(ctx: &Ctx<'_>, rng: &mut StdRng) -> (Vec<String>, Doubt) {
    let doubt = draw_doubt(ctx, rng);
    let target = (ctx.model.output_tokens as f64 * rng.random_range(0.6..1.4)).max(1.0) as u64;
    match &ctx.req.response_format {
        Some(ResponseFormat::JsonSchema { .. }) | Some(ResponseFormat::JsonObject) => {
            let soft = if doubt == Doubt::None {
                Doubt::None
            } else {
                Doubt::LowConfidence
            };
            (text::split_chars(&json_answer(ctx, target, rng), 4), soft)
        }
        _ => match (ctx.replay, doubt) {
            (Some(rec), _) => {
                let weak = rec.score.is_some_and(|s| s < 0.5);
                let d = if weak {
                    Doubt::LowConfidence
                } else {
                    Doubt::None
                };
                (text::split_words(&rec.text), d)
            }
            (None, Doubt::Refusal) => (text::split_words(text::REFUSAL), doubt),
            (None, Doubt::Truncated) => {
                let mut p = text::prose(ctx.enc, &ctx.words, target, rng);
                p.truncate((p.len() * 2 / 5).max(1));
                (p, doubt)
            }
            (None, Doubt::LowConfidence) => {
                let mut p = text::split_words(text::HEDGE);
                let mut rest = text::prose(ctx.enc, &ctx.words, target, rng);
                if let Some(first) = rest.first_mut() {
                    *first = format!(" {}", first.to_lowercase());
                }
                p.extend(rest);
                (p, doubt)
            }
            (None, Doubt::None) => (text::prose(ctx.enc, &ctx.words, target, rng), doubt),
        },
    }
}

fn json_answer(ctx: &Ctx<'_>, target: u64, rng: &mut StdRng) -> String {
    let value = match ctx
        .req
        .response_format
        .as_ref()
        .and_then(ResponseFormat::schema)
    {
        Some(schema) => schema::generate(schema, rng, &ctx.words),
        None => {
            let answer = text::prose(ctx.enc, &ctx.words, target.min(40), rng).concat();
            json!({"answer": answer, "confidence": (ctx.model.quality * 100.0).round() / 100.0})
        }
    };
    value.to_string()
}

fn draw_doubt(ctx: &Ctx<'_>, rng: &mut StdRng) -> Doubt {
    let q = ctx.model.quality.clamp(0.0, 1.0);
    let p = ((1.0 - q) * (0.35 + 0.65 * ctx.difficulty)).clamp(0.0, 0.95);
    if !rng.random_bool(p) {
        return Doubt::None;
    }
    match rng.random_range(0..3) {
        0 => Doubt::Truncated,
        1 => Doubt::Refusal,
        _ => Doubt::LowConfidence,
    }
}

/// The functions to call: named by `tool_choice`, all matching ones (or the first tool) for
/// `"required"`, matching ones for `"auto"` unless the last message is a tool result. A
/// function matches when the last user message contains its name, a distinctive word of its
/// name (not get/set/list...), or two words (5+ letters) of its description.
/// Only the first when `parallel_tool_calls` is false.
pub(super) fn selected_tools(req: &ChatRequest) -> Vec<&Value> {
    let functions: Vec<&Value> = req
        .tools
        .iter()
        .flatten()
        .filter_map(|t| t.get("function"))
        .collect();
    if functions.is_empty() {
        return Vec::new();
    }
    let prompt = req.last_user_text().to_lowercase();
    let matching = || -> Vec<&Value> {
        functions
            .iter()
            .copied()
            .filter(|f| mentions(&prompt, f))
            .collect()
    };
    let mut chosen = match (req.tool_choice.as_ref(), req.forced_function()) {
        (_, Some(name)) => functions
            .iter()
            .copied()
            .filter(|f| f.get("name").and_then(Value::as_str) == Some(name))
            .collect(),
        (Some(Value::String(s)), _) if s == "none" => Vec::new(),
        (Some(Value::String(s)), _) if s == "required" => {
            let m = matching();
            if m.is_empty() { vec![functions[0]] } else { m }
        }
        _ if req.messages.last().is_some_and(|m| m.role == Role::Tool) => Vec::new(),
        _ => matching(),
    };
    if req.parallel_tool_calls == Some(false) {
        chosen.truncate(1);
    }
    chosen
}

fn mentions(prompt: &str, function: &Value) -> bool {
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase();
    if !name.is_empty() && (prompt.contains(&name) || prompt.contains(&name.replace('_', " "))) {
        return true;
    }
    let prompt_words: Vec<&str> = prompt.split(|c: char| !c.is_alphanumeric()).collect();
    // A distinctive part of the name ("weather" of `get_weather`) is enough.
    let generic = [
        "get", "set", "list", "make", "create", "fetch", "find", "update", "delete",
    ];
    if name
        .split(|c: char| !c.is_alphanumeric())
        .any(|part| part.len() >= 4 && !generic.contains(&part) && prompt_words.contains(&part))
    {
        return true;
    }
    let description = function
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let hits = text::keywords(description)
        .iter()
        .filter(|w| w.len() >= 5 && prompt_words.contains(&w.as_str()))
        .count();
    hits >= 2
}

fn tool_choice(ctx: &Ctx<'_>, tools: &[&Value], rng: &mut StdRng) -> Choice {
    let calls: Vec<ToolCall> = tools
        .iter()
        .map(|f| {
            let params = f
                .get("parameters")
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            ToolCall {
                id: format!("call_{:024x}", rng.random::<u128>() >> 32),
                kind: "function".to_owned(),
                function: ToolCallFunction {
                    name: f
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: schema::generate(&params, rng, &ctx.words).to_string(),
                },
            }
        })
        .collect();
    let tokens = calls
        .iter()
        .map(|c| ctx.enc.count(&c.function.name).0 + ctx.enc.count(&c.function.arguments).0)
        .sum();
    // OpenAI reports `stop` when tool_choice forced a specific function.
    let finish = if ctx.req.forced_function().is_some() {
        "stop"
    } else {
        "tool_calls"
    };
    Choice {
        pieces: None,
        tool_calls: calls,
        finish_reason: finish,
        logprobs: (ctx.req.logprobs == Some(true)).then(Vec::new),
        tokens,
    }
}

fn logprobs(ctx: &Ctx<'_>, pieces: &[String], doubt: Doubt, rng: &mut StdRng) -> Vec<Value> {
    let mut mean = 0.02 + (1.0 - ctx.model.quality.clamp(0.0, 1.0)) * 0.8;
    if doubt != Doubt::None {
        mean *= 5.0;
    }
    let top = ctx.req.top_logprobs.unwrap_or(0) as usize;
    pieces
        .iter()
        .map(|p| {
            // Exponentially distributed surprisal with the given mean.
            let lp = -mean * -(1.0 - rng.random::<f64>()).ln();
            let alternatives = (1..top).map(|j| {
                let alt = format!(" {}", ALTERNATIVES[j % ALTERNATIVES.len()]);
                let alp = lp - j as f64 * rng.random_range(0.5..2.0);
                json!({"token": alt, "logprob": alp, "bytes": alt.as_bytes()})
            });
            let mut tops = Vec::with_capacity(top);
            if top > 0 {
                tops.push(json!({"token": p, "logprob": lp, "bytes": p.as_bytes()}));
            }
            tops.extend(alternatives);
            json!({"token": p, "logprob": lp, "bytes": p.as_bytes(), "top_logprobs": tops})
        })
        .collect()
}
