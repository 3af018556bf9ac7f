//! `Simulated`: an in-process, deterministic provider speaking the whole chat surface (text,
//! `n`, stop, caps, tools, JSON modes, logprobs, streaming with usage, embeddings), with a
//! quality knob per model that makes some answers "doubtful", and optional replay of recorded
//! answers. The default upstream for demos and tests. Never touches the network.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::api::{ChatChoice, ChatCompletion, ChatRequest, Message, Role};
use crate::upstream::{
    ChunkStream, Error, FailureKind, Provider, SimulatedModel, SimulatedSettings, UpstreamError,
};

mod answer;
mod embed;
mod replay;
mod schema;
mod stream;
mod text;

use answer::Answer;
use replay::ReplayTable;

/// The simulated provider. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Simulated {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    models: HashMap<String, SimulatedModel>,
    replay: ReplayTable,
}

// ---- Simulated
impl Simulated {
    /// Builds the provider; an empty model list means `default_models()`. Replay files are
    /// loaded now (missing ones are logged and skipped).
    ///
    /// # Errors
    /// `InvalidSimulatedModel` for a quality outside [0, 1], a zero chunk size or dimension,
    /// or a repeated model name.
    pub fn try_new(s: &SimulatedSettings) -> Result<Self, Error> {
        let list = if s.models.is_empty() {
            Self::default_models()
        } else {
            s.models.clone()
        };
        let mut models = HashMap::new();
        for m in list {
            let bad = |reason: &str| Error::InvalidSimulatedModel {
                provider: s.name.clone(),
                model: m.name.clone(),
                reason: reason.to_owned(),
            };
            if !(0.0..=1.0).contains(&m.quality) {
                return Err(bad("quality must be in [0, 1]"));
            }
            if m.chunk_size == 0 || m.dimensions == Some(0) {
                return Err(bad("chunk_size and dimensions must be positive"));
            }
            if models.contains_key(&m.name) {
                return Err(bad("model listed twice"));
            }
            models.insert(m.name.clone(), m);
        }
        let inner = Inner {
            name: s.name.clone(),
            models,
            replay: ReplayTable::load(&s.replay),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Stand-ins for real models (names match the price tables), ordered cheap to strong.
    /// Latencies are zero; set them in settings for realistic demos.
    pub fn default_models() -> Vec<SimulatedModel> {
        let mut models = vec![
            SimulatedModel::chat("gpt-4.1-nano", 0.55, 90),
            SimulatedModel::chat("gpt-4o-mini", 0.7, 120),
            SimulatedModel::chat("mixtral-8x7b-instruct", 0.62, 140),
            SimulatedModel::chat("gpt-4.1-mini", 0.8, 130),
            SimulatedModel::chat("gpt-4o", 0.88, 150),
            SimulatedModel::chat("gpt-4-1106-preview", 0.9, 180),
            SimulatedModel::chat("gpt-4.1", 0.92, 160),
        ];
        let mut embedding = SimulatedModel::chat("text-embedding-3-small", 1.0, 0);
        embedding.dimensions = Some(1536);
        models.push(embedding);
        models
    }

    /// The configured models, sorted by name.
    pub fn models(&self) -> Vec<&SimulatedModel> {
        let mut v: Vec<&SimulatedModel> = self.inner.models.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Number of distinct prompts loaded for replay.
    pub fn replay_prompts(&self) -> usize {
        self.inner.replay.len()
    }
}

// ---- Inner
impl Inner {
    fn model(&self, name: &str) -> Result<&SimulatedModel, UpstreamError> {
        self.models.get(name).ok_or_else(|| {
            let msg = format!("The model `{name}` does not exist");
            client_error(&self.name, 404, &msg, Some("model_not_found"))
        })
    }

    fn chat_model(&self, name: &str) -> Result<&SimulatedModel, UpstreamError> {
        let m = self.model(name)?;
        if m.dimensions.is_some() {
            let msg = format!("`{name}` is an embeddings model, not a chat model");
            return Err(client_error(&self.name, 400, &msg, None));
        }
        Ok(m)
    }

    fn answer(&self, req: &ChatRequest) -> Result<(SimulatedModel, Answer), UpstreamError> {
        let model = self.chat_model(&req.model)?;
        let recorded = self.replay.lookup(&req.last_user_text(), &model.name);
        Ok((model.clone(), answer::build(req, model, recorded)))
    }
}

/// A 4xx with an OpenAI error body, as a real upstream would send it.
fn client_error(provider: &str, status: u16, message: &str, code: Option<&str>) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error",
        "param": if code.is_some() { json!("model") } else { Value::Null }, "code": code}});
    UpstreamError::new(provider, FailureKind::ClientError, message)
        .with_status(status)
        .with_client_body(body)
}

/// Runs the CPU-bound answer generation (tokenizing the prompt) off the async threads.
async fn answer_off_thread(
    inner: &Arc<Inner>,
    req: &ChatRequest,
) -> Result<(SimulatedModel, Answer), UpstreamError> {
    let inner = Arc::clone(inner);
    let req = req.clone();
    let name = inner.name.clone();
    tokio::task::spawn_blocking(move || inner.answer(&req))
        .await
        .unwrap_or_else(|e| {
            let msg = format!("simulation task failed: {e}");
            Err(UpstreamError::new(name, FailureKind::ServerError, msg))
        })
}

fn completion(model: &SimulatedModel, answer: Answer) -> ChatCompletion {
    let choices = answer
        .choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut message = Message::text(Role::Assistant, "");
            message.content = c.pieces.map(|p| crate::api::Content::Text(p.concat()));
            message.tool_calls = (!c.tool_calls.is_empty()).then_some(c.tool_calls);
            ChatChoice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                message,
                finish_reason: Some(c.finish_reason.to_owned()),
                logprobs: c.logprobs.map(|lp| json!({"content": lp, "refusal": null})),
            }
        })
        .collect();
    let mut extra = Map::new();
    extra.insert("system_fingerprint".into(), json!("fp_simulated"));
    ChatCompletion {
        id: new_id(),
        object: "chat.completion".to_owned(),
        created: chrono::Utc::now().timestamp(),
        model: model.name.clone(),
        choices,
        usage: Some(answer.usage),
        extra,
        raw: crate::api::RawBody::default(),
    }
}

fn new_id() -> String {
    format!("chatcmpl-sim{}", uuid::Uuid::new_v4().simple())
}

fn generation_time(model: &SimulatedModel, tokens: u64) -> Duration {
    let per = model
        .per_token_latency
        .saturating_mul(u32::try_from(tokens).unwrap_or(u32::MAX));
    model.first_token_latency.saturating_add(per)
}

#[async_trait::async_trait]
impl Provider for Simulated {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatCompletion, UpstreamError> {
        let (model, answer) = answer_off_thread(&self.inner, req).await?;
        let wait = generation_time(&model, answer.usage.completion_tokens);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(completion(&model, answer))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChunkStream, UpstreamError> {
        let (model, answer) = answer_off_thread(&self.inner, req).await?;
        let id = new_id();
        let header = stream::Header {
            id: &id,
            created: chrono::Utc::now().timestamp(),
            model: &model,
            include_usage: req.wants_stream_usage(),
        };
        let queue: VecDeque<_> = stream::chunks(&header, &answer).into();
        Ok(Box::pin(futures::stream::unfold(
            queue,
            |mut q| async move {
                let (delay, chunk) = q.pop_front()?;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Some((Ok(chunk), q))
            },
        )))
    }

    async fn embeddings(&self, body: &Value) -> Result<Value, UpstreamError> {
        let name = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let model = self.inner.model(name)?;
        let Some(dims) = model.dimensions else {
            let msg = format!("`{name}` is a chat model, not an embeddings model");
            return Err(client_error(&self.inner.name, 400, &msg, None));
        };
        let (name, body) = (name.to_owned(), body.clone());
        let provider = self.inner.name.clone();
        let out = tokio::task::spawn_blocking(move || embed::embed(&name, dims, &body)).await;
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(client_error(&provider, 400, &msg, None)),
            Err(e) => Err(UpstreamError::new(
                provider,
                FailureKind::ServerError,
                format!("embedding task failed: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
