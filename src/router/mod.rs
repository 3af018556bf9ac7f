//! Difficulty router: the in-process classifier that predicts whether the cheap tier is good
//! enough, routing tables (`routes/*.toml`) with per-workflow overrides, the escalation policy
//! that judges a cheap answer in cascade mode, and the offline tooling around them (training,
//! threshold calibration, evaluation, batch scoring).
//!
//! Must not do I/O on the request path (artifacts are loaded by `RoutingTable::try_new`, called
//! at start and on hot reload), must not call upstreams, and must not know budgets or the ledger
//! beyond the plain `(prompt, weak_ok, strong_ok)` training iterator. Uses `types`, `api` and
//! (for eval prices) plain per-model prices passed in.
//!
//! Why logistic regression over hashed n-grams plus hand-made features (and not GBDT): the
//! decision must take microseconds with no allocation-heavy model, the training data is small
//! (~7.7k prompts) and sparse, a linear model over hashed words learns topic priors (MMLU
//! subjects) directly from text, and a fixed hand-set prior on the dense features (maths,
//! reasoning, code, constraints vs creative writing and role play) can be added as a logit
//! offset, which keeps it in charge on open-ended prompts unlike anything in the training data.
//! Each prompt format has its own learned weights: exam questions (hashed words and dense
//! copies), maths word problems (a few dense difficulty features, fitted first on their own;
//! hashed words over-fitted the ~700 problems), open chat (hand prior only, nothing learned
//! leaks onto it). A GBDT would need the same hand features and could not use the hashed text
//! as cheaply.

mod arith;
mod calibrate;
pub mod cli;
mod cli_report;
mod dataset;
mod escalation;
mod eval;
mod features;
mod keywords;
mod linear;
mod metrics;
mod model;
mod settings;
mod table;
mod trainer;

pub use arith::{ArithChecks, check_answer, evaluate as evaluate_arithmetic};
pub use calibrate::{Calibration, CalibrationTarget};
pub use dataset::{LabelledData, LabelledRow, ModelColumns, load_dir};
pub use escalation::{EscalateReason, Escalation, Verdict};
pub use eval::{EvalRow, ModelPrice};
pub use linear::{FitConfig, LinearModel};
pub use metrics::{RouterMetrics, evaluate as evaluate_router, quality_curve};
pub use model::{
    ARTIFACT_FORMAT, Classifier, CvReport, DataDescription, DatasetSummary, FeatureDescription,
    RouterArtifact, Target, TrainMetadata,
};
pub use settings::{
    BudgetPressure, EscalationCheck, EscalationSettings, KillSwitch, KillSwitchMode, RouteMode,
    RouteSettings, RoutesFile, StreamCascade, WorkflowRouting,
};
pub use table::{Candidate, Reason, RouteDecision, RouteInput, RoutingTable};
pub use trainer::{TrainOptions, train_from_outcomes, train_rows};

/// Router errors. Messages are safe to show to operators; they hold paths and names, no prompts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("i/o on {path}: {source}")]
    Io {
        /// File or folder.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A data file is malformed.
    #[error("bad data in {path}: {message}")]
    Data {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No labelled rows were found.
    #[error("no labelled rows in {path}")]
    NoData {
        /// Where we looked.
        path: String,
    },
    /// The weak/strong score columns could not be chosen.
    #[error(
        "cannot choose weak and strong columns among {found:?}; name them with --weak and --strong"
    )]
    Columns {
        /// Score columns found.
        found: Vec<String>,
    },
    /// A classifier artifact is unreadable or does not match this build.
    #[error("classifier artifact {path}: {message}")]
    Artifact {
        /// Artifact path or name.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A routing table is invalid.
    #[error("routing table {path}: {key}: {message}")]
    Table {
        /// File.
        path: String,
        /// Key path, e.g. `routes[0].thresholds`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The request names a route the table does not have.
    #[error("unknown route {route:?}")]
    UnknownRoute {
        /// Route name.
        route: String,
    },
    /// Routing is stopped for this workflow by its kill switch.
    #[error("routing stopped for this workflow by its kill switch (set by {set_by})")]
    Stopped {
        /// Who set the switch.
        set_by: String,
    },
    /// No candidate model remains after workflow restrictions.
    #[error("route {route:?} has no allowed tier for this workflow")]
    NoCandidates {
        /// Route name.
        route: String,
    },
    /// Invalid command-line or trainer options.
    #[error("invalid options: {message}")]
    Options {
        /// What is wrong.
        message: String,
    },
    /// A line of `purser score` input is not valid.
    #[error("input line {line}: {message}")]
    Input {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}
