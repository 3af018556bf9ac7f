//! Cascade escalation: judges a cheap tier's answer and says whether to try a stronger tier.
//! Decisions come from typed signals (finish reason, schema validation, logprobs, arithmetic
//! checks, the learned verifier), never from upstream error strings. The number of attempts is
//! bounded by the route's `max_attempts`, enforced by the caller.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::arith::check_answer;
use super::model::Classifier;
use super::settings::{EscalationCheck, EscalationSettings};
use crate::api::{ChatCompletion, ChatRequest};

/// Judges answers for one route.
#[derive(Debug, Clone)]
pub struct Escalation {
    settings: EscalationSettings,
    classifier: Option<Arc<Classifier>>,
}

/// Keep the answer or escalate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The answer is good enough.
    Accept,
    /// Try the next tier.
    Escalate(EscalateReason),
}

/// Why an answer was rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalateReason {
    /// No choices in the completion.
    NoChoice,
    /// `finish_reason = "length"`: the answer was cut off.
    Truncated,
    /// No content and no tool calls.
    Empty,
    /// The model refused.
    Refusal,
    /// The content is not JSON although JSON was asked for.
    InvalidJson,
    /// The JSON does not match the `response_format` schema.
    SchemaViolation,
    /// A tool call names an unknown tool or its arguments break the tool's parameter schema.
    ToolArguments {
        /// The function name.
        tool: String,
    },
    /// Mean token logprob below the route's minimum.
    LowLogprob {
        /// Observed mean.
        mean: f64,
    },
    /// Arithmetic statements in the answer are wrong.
    Arithmetic {
        /// Wrong statements.
        failed: usize,
        /// Statements checked.
        checked: usize,
    },
    /// The learned verifier thinks the answer is wrong.
    Verifier {
        /// P(answer wrong).
        score: f64,
        /// Route threshold.
        threshold: f64,
    },
}

const REFUSALS: &[&str] = &[
    "i'm sorry, but i can",
    "i am sorry, but i can",
    "i cannot help with",
    "i can't help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to help",
    "as an ai language model, i cannot",
];

fn is_valid(schema: &Value, instance: &Value) -> bool {
    // A schema that does not compile cannot be checked: accept rather than escalate forever.
    jsonschema::validator_for(schema).map_or(true, |v| v.is_valid(instance))
}

fn mean_logprob(logprobs: Option<&Value>) -> Option<f64> {
    let items = logprobs?.get("content")?.as_array()?;
    let vals: Vec<f64> = items
        .iter()
        .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

fn tool_schema<'a>(req: &'a ChatRequest, name: &str) -> Option<&'a Value> {
    req.tools.as_ref()?.iter().find_map(|t| {
        (t.pointer("/function/name").and_then(Value::as_str) == Some(name))
            .then(|| t.pointer("/function/parameters").unwrap_or(&Value::Null))
    })
}

// --- Escalation ---

impl Escalation {
    /// A judge with the route's settings and (for the `verifier` check) its classifier.
    pub fn new(settings: EscalationSettings, classifier: Option<Arc<Classifier>>) -> Self {
        Escalation {
            settings,
            classifier,
        }
    }

    /// Runs the configured checks in order on the first choice; the first failure decides.
    pub fn judge(&self, req: &ChatRequest, answer: &ChatCompletion) -> Verdict {
        let Some(choice) = answer.choices.first() else {
            return Verdict::Escalate(EscalateReason::NoChoice);
        };
        let text = choice.message.text_content();
        for check in &self.settings.checks {
            let reason = match check {
                EscalationCheck::Length => (choice.finish_reason.as_deref() == Some("length"))
                    .then_some(EscalateReason::Truncated),
                EscalationCheck::Refusal => Self::refusal(&choice.message, &text),
                EscalationCheck::Schema => Self::schema(req, &choice.message, &text),
                EscalationCheck::Logprob => mean_logprob(choice.logprobs.as_ref())
                    .filter(|m| *m < self.settings.min_mean_logprob)
                    .map(|mean| EscalateReason::LowLogprob { mean }),
                EscalationCheck::Arithmetic => {
                    let c = check_answer(&req.last_user_text(), &text);
                    (c.failed > 0).then_some(EscalateReason::Arithmetic {
                        failed: c.failed,
                        checked: c.checked,
                    })
                }
                EscalationCheck::Verifier => self.verifier(req, &text),
            };
            if let Some(r) = reason {
                return Verdict::Escalate(r);
            }
        }
        Verdict::Accept
    }

    fn refusal(m: &crate::api::Message, text: &str) -> Option<EscalateReason> {
        if m.refusal.as_deref().is_some_and(|r| !r.trim().is_empty()) {
            return Some(EscalateReason::Refusal);
        }
        let has_tools = m.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
        if text.trim().is_empty() && !has_tools {
            return Some(EscalateReason::Empty);
        }
        let head: String = text
            .trim_start()
            .chars()
            .take(80)
            .collect::<String>()
            .to_lowercase();
        let head = head.replace('’', "'");
        REFUSALS
            .iter()
            .any(|r| head.starts_with(r))
            .then_some(EscalateReason::Refusal)
    }

    fn schema(req: &ChatRequest, m: &crate::api::Message, text: &str) -> Option<EscalateReason> {
        for call in m.tool_calls.iter().flatten() {
            let name = &call.function.name;
            let bad = || EscalateReason::ToolArguments { tool: name.clone() };
            let Some(schema) = tool_schema(req, name) else {
                return Some(bad());
            };
            let Ok(args) = serde_json::from_str::<Value>(&call.function.arguments) else {
                return Some(bad());
            };
            if !schema.is_null() && !is_valid(schema, &args) {
                return Some(bad());
            }
        }
        let format = req.response_format.as_ref()?;
        if matches!(format, crate::api::ResponseFormat::Text) || m.tool_calls.is_some() {
            return None;
        }
        let Ok(value) = serde_json::from_str::<Value>(text.trim()) else {
            return Some(EscalateReason::InvalidJson);
        };
        match format.schema() {
            Some(schema) if !is_valid(schema, &value) => Some(EscalateReason::SchemaViolation),
            _ => None,
        }
    }

    fn verifier(&self, req: &ChatRequest, text: &str) -> Option<EscalateReason> {
        let clf = self.classifier.as_ref()?;
        let score = clf.escalate_probability(&req.last_user_text(), text)?;
        let threshold = self.settings.verifier_threshold;
        (score > threshold).then_some(EscalateReason::Verifier { score, threshold })
    }
}
