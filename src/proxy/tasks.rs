//! Tasks: `POST /v1/tasks/{id}/outcome` records how a task ended (the denominator of cost per
//! completed task), and the idle sweep that marks silent tasks abandoned.

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::body::{parse_json, read_limited};
use super::ctx::RequestCtx;
use super::error::ProxyError;
use super::pipeline::Pipeline;
use crate::api::ValidationError;
use crate::budget::{TaskError, TaskStatus, TaskSummary};
use crate::ledger::{OutcomeSource, RecordBody, TaskOutcomeRecord};

/// Largest outcome body accepted.
const MAX_OUTCOME_BYTES: usize = 4096;
/// How often idle tasks are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    status: String,
    #[serde(default)]
    quality: Option<f64>,
}

impl From<TaskError> for ProxyError {
    fn from(e: TaskError) -> Self {
        let message = e.to_string();
        match e {
            TaskError::UnknownTask { .. } => ProxyError::NotFound {
                message,
                code: "task_not_found",
            },
            TaskError::OutcomeAlreadyRecorded { .. } => ProxyError::Conflict {
                message,
                code: "outcome_already_recorded",
            },
            TaskError::InvalidStatus { .. } => invalid("status", message),
            TaskError::InvalidQuality { .. } => invalid("quality", message),
            TaskError::InvalidTaskId => invalid("task_id", message),
            TaskError::Store(_) => ProxyError::Unavailable {
                message: "The task store is unavailable.".into(),
                code: "task_store_unavailable",
            },
        }
    }
}

fn invalid(param: &str, message: String) -> ProxyError {
    ProxyError::Invalid(ValidationError {
        message,
        param: Some(param.to_owned()),
    })
}

fn ledger_status(s: TaskStatus) -> crate::ledger::TaskStatus {
    match s {
        TaskStatus::Completed => crate::ledger::TaskStatus::Completed,
        TaskStatus::Failed => crate::ledger::TaskStatus::Failed,
        TaskStatus::Abandoned => crate::ledger::TaskStatus::Abandoned,
    }
}

impl Pipeline {
    /// Records a task outcome posted by the client.
    pub(crate) async fn task_outcome(
        &self,
        task_id: String,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        match self.task_outcome_inner(&task_id, &headers, body).await {
            Ok(r) => r,
            Err(e) => {
                self.parts
                    .metrics
                    .errors
                    .with_label_values(&[e.kind().label()])
                    .inc();
                e.into_response()
            }
        }
    }

    async fn task_outcome_inner(
        &self,
        task_id: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, ProxyError> {
        let mut ctx = RequestCtx::new(self.parts.config.snapshot(), headers);
        self.identify(&mut ctx, headers)?;
        let bytes = read_limited(body, None, MAX_OUTCOME_BYTES).await?;
        let b: OutcomeBody = parse_json(&bytes)?;
        let status: TaskStatus = b
            .status
            .parse()
            .map_err(|e: TaskError| ProxyError::from(e))?;
        let summary = self
            .parts
            .budget
            .record_outcome(&ctx.record.workflow, task_id, status, b.quality)
            .await?;
        self.task_ended(&summary, status, OutcomeSource::Client)
            .await;
        Ok(axum::Json(json!({
            "task_id": summary.task_id,
            "workflow": summary.workflow,
            "status": status.as_str(),
            "quality": summary.quality,
            "steps": summary.steps,
            "spend_usd": summary.spent.to_usd_string(),
        }))
        .into_response())
    }

    async fn task_ended(&self, t: &TaskSummary, status: TaskStatus, source: OutcomeSource) {
        let wf = self.parts.metrics.workflows.label(t.workflow.as_str());
        self.parts
            .metrics
            .tasks
            .with_label_values(&[&wf, status.as_str()])
            .inc();
        let rec = TaskOutcomeRecord {
            workflow: t.workflow.clone(),
            task_id: t.task_id.clone(),
            status: ledger_status(status),
            quality: t.quality,
            source,
        };
        self.append_record(RecordBody::TaskOutcome(rec)).await;
    }

    /// Marks tasks idle past the configured time as abandoned, every minute, until `stop`.
    pub fn spawn_idle_sweep(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let p = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => p.sweep_once().await,
                }
            }
        })
    }

    async fn sweep_once(&self) {
        let idle = self.parts.config.snapshot().budget.task_idle_after;
        match self.parts.budget.sweep_idle(chrono::Utc::now(), idle).await {
            Ok(tasks) => {
                for t in tasks {
                    self.task_ended(&t, TaskStatus::Abandoned, OutcomeSource::IdleTimeout)
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "idle task sweep failed"),
        }
    }
}
