//! Validation errors of the budget and state settings, each naming its key path.

/// One problem found while validating budget settings; `key` is the full key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Money that is not a decimal dollar string.
    #[error("{key}: {value:?} is not a decimal dollar amount like \"12.50\"")]
    InvalidMoney {
        /// Key path.
        key: String,
        /// Offending value.
        value: String,
    },
    /// A budget that is zero or negative.
    #[error("{key}: budget must be positive, got {value:?}")]
    NonPositiveBudget {
        /// Key path.
        key: String,
        /// Offending value.
        value: String,
    },
    /// A count limit of zero.
    #[error("{key}: must be at least 1")]
    ZeroLimit {
        /// Key path.
        key: String,
    },
    /// A threshold outside (0, 10].
    #[error("{key}: threshold {value} must be in (0, 10]")]
    InvalidThreshold {
        /// Key path.
        key: String,
        /// Offending value.
        value: String,
    },
    /// A duration not like `"30s"`, `"250ms"`, `"15m"`, `"2h"`, `"7d"`.
    #[error("{key}: {value:?} is not a duration like \"30s\"")]
    InvalidDuration {
        /// Key path.
        key: String,
        /// Offending value.
        value: String,
    },
    /// A key hash not of the form `sha256:<64 hex>`.
    #[error("{key}: key hashes look like \"sha256:<64 hex digits>\"")]
    InvalidKeyHash {
        /// Key path.
        key: String,
    },
    /// The same key hash used twice.
    #[error("{key}: this key hash is already bound to workflow {workflow:?}")]
    DuplicateKeyHash {
        /// Key path.
        key: String,
        /// Workflow that already holds it.
        workflow: String,
    },
    /// Empty, too long, control characters, or duplicate names.
    #[error("{key}: invalid or duplicate workflow name {name:?}")]
    InvalidWorkflowName {
        /// Key path.
        key: String,
        /// Offending name.
        name: String,
    },
    /// `mode = "redis"` without `redis_url`.
    #[error("{key}: required when mode = \"redis\"")]
    MissingRedisUrl {
        /// Key path.
        key: String,
    },
}
