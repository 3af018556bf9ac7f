//! Task tracking: per-task spend and step counts (kept by the budget store as a side effect of
//! reservations), outcomes posted by clients, and the sweep that abandons idle tasks.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::types::{MicroUsd, WorkflowId};

/// Final state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// The client reports success.
    Completed,
    /// The client reports failure.
    Failed,
    /// No outcome arrived; set by the idle sweep (or posted by the client).
    Abandoned,
}

/// What the store knows about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    /// Workflow (budget bucket).
    pub workflow: WorkflowId,
    /// Task id.
    pub task_id: String,
    /// Settled spend.
    pub spent: MicroUsd,
    /// Model calls reserved so far.
    pub steps: u32,
    /// Outcome, once recorded.
    pub status: Option<TaskStatus>,
    /// Quality score in [0, 1] posted with the outcome.
    pub quality: Option<f64>,
    /// Time of the last reservation.
    pub last_activity: DateTime<Utc>,
}

/// Task outcome errors. Intended statuses: `UnknownTask` 404, `OutcomeAlreadyRecorded` 409,
/// `InvalidStatus`/`InvalidQuality`/`InvalidTaskId` 400, `Store` 503.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No reservation was ever made with this task id (or its state expired).
    #[error("unknown task {task_id:?} in workflow {workflow}")]
    UnknownTask {
        /// Workflow.
        workflow: WorkflowId,
        /// Task id.
        task_id: String,
    },
    /// An outcome was already recorded (by the client or the idle sweep).
    #[error("task {task_id:?} already has outcome {status:?}")]
    OutcomeAlreadyRecorded {
        /// Task id.
        task_id: String,
        /// The outcome already stored.
        status: TaskStatus,
    },
    /// Status is not `completed`, `failed` or `abandoned`.
    #[error("invalid task status {value:?}: expected completed, failed or abandoned")]
    InvalidStatus {
        /// Offending value.
        value: String,
    },
    /// Quality is not a number in [0, 1].
    #[error("invalid quality {value}: expected a number in [0, 1]")]
    InvalidQuality {
        /// Offending value.
        value: f64,
    },
    /// Task id is empty, longer than 128 characters or has control characters.
    #[error("invalid task id")]
    InvalidTaskId,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Task state kept by a budget store.
#[async_trait]
pub trait TaskTracker: Send + Sync {
    /// Records a task's outcome once.
    ///
    /// # Errors
    /// `UnknownTask`, `OutcomeAlreadyRecorded`, `InvalidQuality`, `InvalidTaskId`, `Store`.
    async fn record_outcome(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
        status: TaskStatus,
        quality: Option<f64>,
    ) -> Result<TaskSummary, TaskError>;

    /// The task's current state, if known.
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn task(
        &self,
        workflow: &WorkflowId,
        task_id: &str,
    ) -> Result<Option<TaskSummary>, StoreError>;

    /// Marks every task without outcome, with nothing in flight and idle for at least
    /// `idle_after` as `Abandoned`, and returns them (each exactly once, even across replicas),
    /// so the caller can write their ledger records. Also drops expired task state.
    ///
    /// # Errors
    /// `StoreError` when the store fails.
    async fn sweep_idle(
        &self,
        now: DateTime<Utc>,
        idle_after: Duration,
    ) -> Result<Vec<TaskSummary>, StoreError>;
}

// --- TaskStatus ---

impl TaskStatus {
    /// Lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Abandoned => "abandoned",
        }
    }
}

impl FromStr for TaskStatus {
    type Err = TaskError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "completed" => Ok(TaskStatus::Completed),
            "failed" => Ok(TaskStatus::Failed),
            "abandoned" => Ok(TaskStatus::Abandoned),
            other => Err(TaskError::InvalidStatus {
                value: other.chars().take(64).collect(),
            }),
        }
    }
}

/// Checks an outcome's inputs before it touches the store.
pub(crate) fn check_outcome_input(task_id: &str, quality: Option<f64>) -> Result<(), TaskError> {
    if !super::settings::is_valid_name(task_id) {
        return Err(TaskError::InvalidTaskId);
    }
    match quality {
        Some(q) if !(0.0..=1.0).contains(&q) || q.is_nan() => {
            Err(TaskError::InvalidQuality { value: q })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_known_names_only() {
        assert_eq!("failed".parse::<TaskStatus>().unwrap(), TaskStatus::Failed);
        assert!(matches!(
            "done".parse::<TaskStatus>(),
            Err(TaskError::InvalidStatus { value }) if value == "done"
        ));
    }

    #[test]
    fn quality_must_be_in_unit_interval() {
        assert!(check_outcome_input("t", Some(1.0)).is_ok());
        assert!(check_outcome_input("t", None).is_ok());
        for bad in [1.01, -0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                check_outcome_input("t", Some(bad)),
                Err(TaskError::InvalidQuality { .. })
            ));
        }
        assert!(matches!(
            check_outcome_input("", None),
            Err(TaskError::InvalidTaskId)
        ));
    }
}
