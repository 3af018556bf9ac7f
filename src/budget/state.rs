//! `[state]` settings: where budget state lives (memory or Redis) and how to reach Redis.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::settings_error::SettingsError;

/// Where budget state lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateMode {
    /// In-process; one replica only; rebuilt from the ledger at start.
    #[default]
    Memory,
    /// Shared Redis; atomic across replicas; Redis is authoritative.
    Redis,
}

/// Raw `[state]` section. `Debug` hides the Redis URL (it may carry a password).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// `"memory"` or `"redis"`.
    #[serde(default)]
    pub mode: StateMode,
    /// Redis URL, e.g. `redis://127.0.0.1:6379`; required when `mode = "redis"`.
    pub redis_url: Option<String>,
    /// Connect and response timeout for each Redis call (default `"250ms"`).
    #[serde(default = "default_redis_timeout")]
    pub redis_timeout: String,
    /// Prefix of every Redis key (default `"purser:budget"`).
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
}

fn default_redis_timeout() -> String {
    "250ms".to_owned()
}
fn default_prefix() -> String {
    "purser:budget".to_owned()
}

// --- StateSettings ---

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            mode: StateMode::Memory,
            redis_url: None,
            redis_timeout: default_redis_timeout(),
            key_prefix: default_prefix(),
        }
    }
}

impl fmt::Debug for StateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSettings")
            .field("mode", &self.mode)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("redis_timeout", &self.redis_timeout)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl StateSettings {
    /// Checks the section; `prefix` is its key path (e.g. `"state"`). Returns the Redis timeout.
    ///
    /// # Errors
    /// Every problem found, each naming its key path.
    pub fn validate(&self, prefix: &str) -> Result<Duration, Vec<SettingsError>> {
        let mut errs = Vec::new();
        if self.mode == StateMode::Redis && self.redis_url.is_none() {
            errs.push(SettingsError::MissingRedisUrl {
                key: format!("{prefix}.redis_url"),
            });
        }
        let timeout = crate::types::duration::parse(&self.redis_timeout)
            .ok()
            .filter(|d| !d.is_zero());
        if timeout.is_none() {
            errs.push(SettingsError::InvalidDuration {
                key: format!("{prefix}.redis_timeout"),
                value: self.redis_timeout.clone(),
            });
        }
        match timeout {
            Some(t) if errs.is_empty() => Ok(t),
            _ => Err(errs),
        }
    }
}
