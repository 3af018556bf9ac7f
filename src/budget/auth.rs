//! Identity: virtual keys (`Authorization: Bearer pk-...`, stored as SHA-256 hashes) bind a
//! request to its workflow; keyless requests are allowed only with `allow_anonymous`. Also the
//! admin key check. Keys are never stored, logged or shown in errors; only their hashes.
//!
//! Decisions: a key whose workflow disagrees with `x-purser-workflow` is rejected (403) rather
//! than silently re-bound. A keyless request may name a workflow only if that workflow has no
//! keys (otherwise 401); a name that is not configured is served under the `default` workflow's
//! budget and envelope, so inventing names cannot multiply budgets.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::settings::{BudgetConfig, Envelope, Workflow};
use crate::types::WorkflowId;

/// How a request was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// A configured virtual key.
    VirtualKey,
    /// No key (`allow_anonymous = true`).
    Anonymous,
}

/// Who a request bills to.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Budget bucket (a configured workflow or `default`).
    pub workflow: WorkflowId,
    /// The bucket's envelope.
    pub envelope: Arc<Envelope>,
    /// Key or anonymous.
    pub source: IdentitySource,
    /// An unconfigured workflow name a keyless request asked for (kept for the ledger only;
    /// never use it as a metric label).
    pub claimed_workflow: Option<String>,
}

/// Authentication failures. Intended statuses: 401 except `WorkflowMismatch` (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key and anonymous access is off.
    #[error("missing API key: send Authorization: Bearer pk-...")]
    MissingKey,
    /// The Authorization header is not `Bearer <key>`.
    #[error("malformed Authorization header: expected Bearer <key>")]
    MalformedHeader,
    /// The key is not configured.
    #[error("unknown API key")]
    UnknownKey,
    /// The key belongs to another workflow than `x-purser-workflow` names.
    #[error("API key is bound to workflow {key_workflow}, request names {requested:?}")]
    WorkflowMismatch {
        /// The key's workflow.
        key_workflow: WorkflowId,
        /// The header's value (truncated to 128 characters).
        requested: String,
    },
    /// A keyless request named a workflow that requires a key.
    #[error("workflow {workflow} requires an API key")]
    KeyRequired {
        /// The workflow.
        workflow: WorkflowId,
    },
}

/// Virtual keys and admin key, built once per config snapshot.
pub struct KeyRing {
    workflows: Vec<Workflow>,
    by_hash: HashMap<[u8; 32], usize>,
    by_name: HashMap<String, usize>,
    default_envelope: Arc<Envelope>,
    allow_anonymous: bool,
    admin_hash: Option<[u8; 32]>,
}

// --- KeyRing ---

impl KeyRing {
    /// Builds from validated settings and the admin key's value (`None`: admin routes locked).
    pub fn new(config: &BudgetConfig, admin_key: Option<&str>) -> Self {
        let mut by_hash = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, w) in config.workflows.iter().enumerate() {
            by_name.insert(w.name.as_str().to_owned(), i);
            for h in &w.key_hashes {
                by_hash.insert(*h, i);
            }
        }
        Self {
            workflows: config.workflows.clone(),
            by_hash,
            by_name,
            default_envelope: Arc::clone(&config.default_envelope),
            allow_anonymous: config.allow_anonymous,
            admin_hash: admin_key.filter(|k| !k.is_empty()).map(hash_key),
        }
    }

    /// Builds from settings, reading the admin key from the env var `admin_key_env` names.
    pub fn from_env(config: &BudgetConfig) -> Self {
        let admin = config
            .admin_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        Self::new(config, admin.as_deref())
    }

    /// Identifies a request from its `Authorization` and `x-purser-workflow` header values.
    ///
    /// # Errors
    /// See `AuthError`.
    pub fn authenticate(
        &self,
        authorization_header: Option<&str>,
        workflow_header: Option<&str>,
    ) -> Result<Identity, AuthError> {
        let requested = workflow_header.map(str::trim).filter(|w| !w.is_empty());
        let Some(header) = authorization_header else {
            return self.anonymous(requested);
        };
        let key = bearer_token(header).ok_or(AuthError::MalformedHeader)?;
        let idx = self
            .by_hash
            .get(&hash_key(key))
            .copied()
            .ok_or(AuthError::UnknownKey)?;
        let w = self.workflows.get(idx).ok_or(AuthError::UnknownKey)?;
        if let Some(r) = requested.filter(|r| *r != w.name.as_str()) {
            return Err(AuthError::WorkflowMismatch {
                key_workflow: w.name.clone(),
                requested: r.chars().take(128).collect(),
            });
        }
        Ok(Identity {
            workflow: w.name.clone(),
            envelope: Arc::clone(&w.envelope),
            source: IdentitySource::VirtualKey,
            claimed_workflow: None,
        })
    }

    fn anonymous(&self, requested: Option<&str>) -> Result<Identity, AuthError> {
        if !self.allow_anonymous {
            return Err(AuthError::MissingKey);
        }
        let known =
            requested.and_then(|r| self.by_name.get(r).and_then(|i| self.workflows.get(*i)));
        if let Some(w) = known {
            if !w.key_hashes.is_empty() {
                return Err(AuthError::KeyRequired {
                    workflow: w.name.clone(),
                });
            }
            return Ok(Identity {
                workflow: w.name.clone(),
                envelope: Arc::clone(&w.envelope),
                source: IdentitySource::Anonymous,
                claimed_workflow: None,
            });
        }
        Ok(Identity {
            workflow: WorkflowId::default_workflow(),
            envelope: Arc::clone(&self.default_envelope),
            source: IdentitySource::Anonymous,
            claimed_workflow: requested
                .filter(|r| *r != "default")
                .map(|r| r.chars().take(128).collect()),
        })
    }

    /// Whether the header carries the admin key (hash compared in constant time). Always false
    /// when no admin key is configured.
    pub fn is_admin(&self, authorization_header: Option<&str>) -> bool {
        let (Some(expected), Some(key)) = (
            self.admin_hash.as_ref(),
            authorization_header.and_then(bearer_token),
        ) else {
            return false;
        };
        bool::from(hash_key(key).ct_eq(expected))
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("workflows", &self.workflows.len())
            .field("keys", &self.by_hash.len())
            .field("allow_anonymous", &self.allow_anonymous)
            .field("admin", &self.admin_hash.is_some())
            .finish()
    }
}

/// SHA-256 of a key's bytes.
pub(crate) fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The token of `Bearer <token>` (scheme case-insensitive), if well formed.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
