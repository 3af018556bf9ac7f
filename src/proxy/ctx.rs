//! Per-request state: one typed `RequestCtx` that the pipeline stages fill in, and the ledger
//! record it becomes.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::budget::{Envelope, ReservationGuard};
use crate::cache::CacheKey;
use crate::config::{ModelEntry, Snapshot};
use crate::ledger::{AttemptRecord, RequestRecord};
use crate::types::{MicroUsd, ModelId, WorkflowId};

/// Headers through which clients describe their request.
pub(crate) const H_WORKFLOW: &str = "x-purser-workflow";
pub(crate) const H_TASK: &str = "x-purser-task-id";
pub(crate) const H_STEP: &str = "x-purser-step";

/// Longest accepted value of a client-supplied id header.
const MAX_ID_LEN: usize = 128;

/// State of one request as it moves through the pipeline.
pub(crate) struct RequestCtx {
    /// Gateway request id (`x-purser-request-id`).
    pub id: String,
    /// When the gateway received it (tokio clock, for latency).
    pub started: Instant,
    /// Wall-clock receive time (for the ledger and budget windows).
    pub received: DateTime<Utc>,
    /// The configuration this request runs under, start to end.
    pub snapshot: Arc<Snapshot>,
    /// The ledger record, filled in stage by stage.
    pub record: RequestRecord,
    /// One record per upstream attempt.
    pub attempts: Vec<AttemptRecord>,
    /// Time spent waiting on upstreams.
    pub upstream_time: Duration,
    /// Set when a stream guard took over settlement.
    pub handed_off: bool,
    /// The workflow's envelope, once identified.
    pub envelope: Option<Arc<Envelope>>,
    /// The budget reservation; dropping it unsettled releases it.
    pub reservation: Option<ReservationGuard>,
    /// Where to store the answer, when the cache policy allows.
    pub cache_key: Option<CacheKey>,
    /// Answered from the cache.
    pub cache_hit: bool,
    /// Cost of cascade answers that were doubted and escalated.
    pub escalated_cost: MicroUsd,
    /// The route's strongest model (for the "always strong" baseline).
    pub baseline: Option<ModelEntry>,
    /// Exact input tokens of the request as it will be sent, when a stage already counted them
    /// (compression does), with the encoding used: the reservation reuses it.
    pub counted_input: Option<(crate::tokenizer::Encoding, crate::types::Tokens)>,
}

fn header_id(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= MAX_ID_LEN && v.chars().all(|c| c.is_ascii_graphic()))
        .then(|| v.to_owned())
}

impl RequestCtx {
    /// A context for a new request; the workflow is provisional until identity is checked.
    pub(crate) fn new(snapshot: Arc<Snapshot>, headers: &HeaderMap) -> Self {
        let id = format!("req_{}", uuid::Uuid::new_v4().simple());
        let workflow = header_id(headers, H_WORKFLOW)
            .map(WorkflowId)
            .unwrap_or_else(WorkflowId::default_workflow);
        let mut record = RequestRecord::new(id.clone(), workflow, ModelId::new(""));
        record.task_id = header_id(headers, H_TASK);
        record.step = header_id(headers, H_STEP);
        Self {
            id,
            started: Instant::now(),
            received: Utc::now(),
            snapshot,
            record,
            attempts: Vec::new(),
            upstream_time: Duration::ZERO,
            handed_off: false,
            envelope: None,
            reservation: None,
            cache_key: None,
            cache_hit: false,
            escalated_cost: MicroUsd::ZERO,
            baseline: None,
            counted_input: None,
        }
    }

    /// A placeholder context that belongs to no request (never finished).
    pub(crate) fn detached() -> Self {
        let mut c = Self::new(Arc::new(Snapshot::empty()), &HeaderMap::new());
        c.handed_off = true;
        c
    }

    /// Moves the request's state to a stream guard, which then owns settlement; the context
    /// left behind must not be finished again.
    pub(crate) fn hand_off(&mut self) -> RequestCtx {
        self.handed_off = true;
        RequestCtx {
            id: self.id.clone(),
            started: self.started,
            received: self.received,
            snapshot: Arc::clone(&self.snapshot),
            record: self.record.clone(),
            attempts: std::mem::take(&mut self.attempts),
            upstream_time: self.upstream_time,
            handed_off: false,
            envelope: self.envelope.clone(),
            reservation: self.reservation.take(),
            cache_key: self.cache_key.take(),
            cache_hit: false,
            escalated_cost: self.escalated_cost,
            baseline: self.baseline.clone(),
            counted_input: self.counted_input,
        }
    }
}
