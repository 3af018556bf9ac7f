//! Cost envelopes: per-workflow budgets (per task, per UTC day, per UTC calendar month), step
//! limits, virtual-key identity, and the reserve → settle/release protocol that keeps spend from
//! running away. Also task tracking (steps, spend, outcomes, idle sweep) and the rebuild of
//! state from ledger-derived spend events at start.
//!
//! Owns: `Settings`/`StateSettings` (config schema for `[budget]` and `[state]`), `KeyRing`,
//! `BudgetStore` (+ `MemoryStore`, `RedisStore`), `TaskTracker`, `ReservationGuard`, `rebuild`,
//! `estimate_worst_case`, and the `purser keys new` helper (`cli`).
//!
//! Must not: route, price usage records, write the ledger, build HTTP responses or read the whole
//! config. Uses `types` and `pricing` (`ModelPrice` for estimates).
//!
//! Overshoot bound: every limited window admits a request only if
//! `spent + reserved + estimate <= limit`, atomically over all windows it touches. Settling
//! replaces the estimate by the actual cost, so a window can end above its limit only by the sum,
//! over requests that were in flight together, of `max(0, actual - estimate)`. With worst-case
//! estimates that sum is zero unless a provider bills more output tokens than `max_tokens` or
//! prices change between reserve and settle.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

mod auth;
mod check;
pub mod cli;
mod estimate;
mod guard;
mod memory;
mod rebuild;
mod redis_store;
mod reservation;
mod settings;
mod settings_error;
mod state;
mod task;
mod window;

pub use auth::{AuthError, Identity, IdentitySource, KeyRing};
pub use estimate::{estimate_for_model, estimate_worst_case};
pub use guard::ReservationGuard;
pub use memory::MemoryStore;
pub use rebuild::{RebuildMode, RebuildReport, SpendEvent, rebuild};
pub use redis_store::{RedisOptions, RedisStore};
pub use reservation::{
    Denial, LimitKind, Remaining, Reservation, ReserveRequest, ThresholdCrossed, WindowStatus,
};
pub use settings::{
    BudgetConfig, Envelope, EnvelopeSettings, OnLimit, Settings, SettingsError, Workflow,
    WorkflowSettings,
};
pub use state::{StateMode, StateSettings};
pub use task::{TaskError, TaskStatus, TaskSummary, TaskTracker};

use crate::types::WorkflowId;

/// Any budget-module failure, for `proxy::error` to wrap.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A budget or step limit would be exceeded (HTTP 402/429 at the proxy's choice).
    #[error(transparent)]
    Denied(#[from] Denial),
    /// Identity failure (401/403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Task outcome failure (400/404/409).
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The state store failed (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Invalid task id on a reservation (400).
    #[error("invalid task id: 1 to 128 characters, no control characters")]
    InvalidTaskId,
}

/// A state store failure. Never contains the Redis URL or keys' secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis returned an error, timed out or is unreachable.
    #[error("budget store {op} failed: {source}")]
    Redis {
        /// Operation name (`reserve`, `settle`, ...).
        op: &'static str,
        /// The client error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis replied with something the script contract does not allow.
    #[error("budget store {op} returned an unexpected reply: {detail}")]
    Protocol {
        /// Operation name.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Why a reservation was not made.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// A limit would be exceeded.
    #[error(transparent)]
    Denied(#[from] Denial),
    /// The task id is empty, longer than 128 characters or has control characters.
    #[error("invalid task id: 1 to 128 characters, no control characters")]
    InvalidTaskId,
    /// The store failed; the proxy should fail closed (no reservation, no upstream call).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Budget state: atomic reservations against every window a request touches. Implemented by
/// `MemoryStore` (one process) and `RedisStore` (shared by replicas). Also a `TaskTracker`.
#[async_trait]
pub trait BudgetStore: TaskTracker {
    /// Checks the task, day and month budgets and the step limit, and reserves, all at once.
    /// Steps are consumed at reserve time and not refunded by `release` (a failed call is a call).
    ///
    /// # Errors
    /// `Denied` when a limit would be exceeded (never with `alert_only`); `InvalidTaskId`;
    /// `Store` when the store is unreachable.
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, ReserveError>;

    /// Turns the reservation into spend of `actual` (which may exceed the estimate). Returns the
    /// thresholds this newly crossed.
    ///
    /// # Errors
    /// `StoreError` when the store fails; Redis then releases the reservation when its lease ends.
    async fn settle(
        &self,
        reservation: Reservation,
        actual: crate::types::MicroUsd,
    ) -> Result<Vec<ThresholdCrossed>, StoreError>;

    /// Returns the reserved money unspent (upstream failed before any cost).
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn release(&self, reservation: Reservation) -> Result<(), StoreError>;

    /// Budget left in each limited window for `workflow` (and `task_id`) at `now`.
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn remaining(
        &self,
        workflow: &WorkflowId,
        task_id: Option<&str>,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<Remaining, StoreError>;

    /// Whether `rebuild` should apply ledger events (memory: always; Redis: only when it holds no
    /// state for this month yet; the first replica to ask claims the rebuild).
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn begin_rebuild(&self, now: DateTime<Utc>) -> Result<RebuildMode, StoreError>;

    /// Adds one already-deduplicated past spend to the windows of `event.ts` that are still
    /// current at `now` (and to its task, counting one step).
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn apply_spend(&self, event: &SpendEvent, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Settles with `incurred` (zero: releases) without awaiting if the store can (memory);
    /// otherwise hands the reservation back so the caller can finish it on a task. Used by
    /// `ReservationGuard::drop`.
    fn finish_now(
        &self,
        reservation: Reservation,
        incurred: crate::types::MicroUsd,
    ) -> Option<Reservation> {
        let _ = incurred;
        Some(reservation)
    }
}
