//! Pipeline stage 5: context compression. Runs the workflow's compressor on a blocking thread
//! when the request may be over its threshold, records tokens before and after, and summarises
//! older history in the background with the workflow's summariser route.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::ctx::RequestCtx;
use super::error::ProxyError;
use super::pipeline::Pipeline;
use crate::api::{ChatRequest, Message, Role};
use crate::compress::{self, Compressor, Outcome, Summarizer, SummaryJob, SummaryStore};
use crate::config::{ModelEntry, Snapshot};
use crate::ledger::CompressionInfo;
use crate::pricing::TokenUsage;
use crate::types::{MicroUsd, Tokens};
use crate::upstream::call_chat;

/// Request header that turns compression off for one request.
const H_COMPRESS: &str = "x-purser-compress";

/// Summarises text with a configured model, through the normal upstream path.
struct ModelSummarizer {
    snapshot: Arc<Snapshot>,
    model: ModelEntry,
}

#[async_trait::async_trait]
impl Summarizer for ModelSummarizer {
    async fn summarize(&self, text: &str) -> Result<String, compress::Error> {
        let handle = self
            .snapshot
            .providers
            .handle(&self.model.provider)
            .ok_or_else(|| compress::Error::Summarizer {
                reason: format!("provider `{}` missing", self.model.provider),
            })?;
        let mut req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": self.model.upstream_model, "temperature": 0, "max_tokens": 400,
            "messages": []
        }))
        .map_err(|e| compress::Error::Summarizer {
            reason: e.to_string(),
        })?;
        req.messages = vec![
            Message::text(
                Role::System,
                "Summarise this conversation so far in at most 200 words. Keep names, numbers, decisions and open questions.",
            ),
            Message::text(Role::User, text),
        ];
        let res = call_chat(handle, &req).await;
        let c = res.result.map_err(|e| compress::Error::Summarizer {
            reason: e.to_string(),
        })?;
        Ok(c.choices
            .first()
            .map(|ch| ch.message.text_content())
            .unwrap_or_default())
    }
}

impl Pipeline {
    /// Compresses `req` in place when the workflow's compressor applies. Errors never fail the
    /// request: the original is sent instead.
    pub(crate) async fn compress(
        &self,
        ctx: &mut RequestCtx,
        headers: &HeaderMap,
        req: &mut ChatRequest,
    ) -> Result<(), ProxyError> {
        if headers
            .get(H_COMPRESS)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("off"))
        {
            return Ok(());
        }
        let comp = ctx.snapshot.compressor_for(&ctx.record.workflow);
        let s = comp.settings();
        // A token is at least one byte: short requests skip tokenizing altogether.
        let bytes: usize = req.messages.iter().map(text_len).sum();
        if s.mode == compress::Mode::Off || (bytes as u64) <= s.threshold_tokens {
            return Ok(());
        }
        let (c, r) = (Arc::clone(&comp), req.clone());
        let out = match tokio::task::spawn_blocking(move || c.compress(&r)).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "compression failed; sending the original");
                return Ok(());
            }
            Err(e) => return Err(ProxyError::Internal(format!("compression task: {e}"))),
        };
        if !out.missing_summaries.is_empty() {
            self.summarise_later(ctx, &comp, out.missing_summaries.clone());
        }
        let enc = crate::tokenizer::Encoding::for_model(&req.model);
        if out.outcome == Outcome::Compressed && out.tokens_after < out.tokens_before {
            ctx.record.compression = Some(CompressionInfo {
                tokens_before: out.tokens_before,
                tokens_after: out.tokens_after,
                saved_micros: MicroUsd::ZERO,
            });
            ctx.counted_input = Some((enc, out.tokens_after));
            *req = out.request;
        } else {
            ctx.counted_input = Some((enc, out.tokens_before));
        }
        Ok(())
    }

    fn summarise_later(&self, ctx: &RequestCtx, comp: &Compressor, jobs: Vec<SummaryJob>) {
        let Some(route) = comp.settings().summariser_route.clone() else {
            return;
        };
        let Some(model) = ctx.snapshot.model(&route).cloned() else {
            tracing::warn!(%route, "summariser model is not in the catalogue");
            return;
        };
        let store: Arc<dyn SummaryStore> = Arc::clone(&self.parts.summaries);
        let summarizer = ModelSummarizer {
            snapshot: Arc::clone(&ctx.snapshot),
            model,
        };
        tokio::spawn(async move {
            if let Err(e) = compress::fill_summaries(&jobs, &summarizer, store.as_ref()).await {
                tracing::warn!(error = %e, "history summary failed");
            }
        });
    }

    /// Prices the tokens compression removed at the answering model's input price.
    pub(crate) fn price_compression(&self, ctx: &mut RequestCtx, model: &ModelEntry) {
        let Some(c) = ctx.record.compression.as_mut() else {
            return;
        };
        let removed = Tokens(c.tokens_before.0.saturating_sub(c.tokens_after.0));
        c.saved_micros = model.price.cost(&TokenUsage {
            input: removed,
            ..TokenUsage::default()
        });
        let m = &self.parts.metrics;
        let wf = m.workflows.label(ctx.record.workflow.as_str());
        m.compression_saved_tokens
            .with_label_values(&[&wf])
            .inc_by(removed.0);
        m.compression_saved_usd
            .with_label_values(&[&wf])
            .inc_by(crate::metrics::usd(c.saved_micros.0));
    }
}

/// Bytes of text in a message, without copying it.
fn text_len(m: &Message) -> usize {
    match &m.content {
        Some(crate::api::Content::Text(s)) => s.len(),
        Some(crate::api::Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .map(str::len)
            .sum(),
        None => 0,
    }
}
