//! `[cache]` settings: mode, byte bound, TTLs, Redis tier, per-workflow policy; units parsing.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;
use crate::types::WorkflowId;

/// Where answers are cached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In-process moka cache only (per replica).
    #[default]
    Memory,
    /// In-process cache in front of a shared Redis tier (`redis_url` required).
    Redis,
    /// No caching at all; every lookup bypasses with reason `disabled`.
    Off,
}

/// Who may share an entry within a workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Entries are shared only by requests with the same `user` field (requests without
    /// `user` share one workflow-wide pool). The safe default.
    #[default]
    User,
    /// Entries are shared by all end users of the workflow (`user` is left out of the key):
    /// only for workflows whose answers cannot depend on who asks.
    Workflow,
}

/// Cache policy of one workflow. Every field has a default: enabled, the global TTL,
/// no tool-call answers, scoped by user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowCachePolicy {
    /// Cache this workflow's deterministic answers (default `true`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Time to live of its entries (default: `[cache] default_ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<HumanDuration>,
    /// Also cache answers that call tools (default `false`: tool calls act on the world).
    #[serde(default)]
    pub allow_tool_calls: bool,
    /// Sharing scope (default `user`).
    #[serde(default)]
    pub scope: Scope,
}

impl Default for WorkflowCachePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: None,
            allow_tool_calls: false,
            scope: Scope::User,
        }
    }
}

fn yes() -> bool {
    true
}

/// The `[cache]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `memory` (default), `redis` or `off`.
    #[serde(default)]
    pub mode: Mode,
    /// Bound of the in-process tier in bytes of stored entries (default `"256MiB"`).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Largest single entry; bigger answers are not cached (default `"1MiB"`).
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: ByteSize,
    /// TTL of workflows that set none (default `"1h"`).
    #[serde(default = "default_ttl")]
    pub default_ttl: HumanDuration,
    /// Redis URL, required when `mode = "redis"`. Debug output hides any password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<RedisUrl>,
    /// Budget of one Redis round trip or connection attempt (default `"50ms"`).
    #[serde(default = "default_redis_timeout")]
    pub redis_timeout: HumanDuration,
    /// First segment of every Redis key: `<redis_prefix>:cache:<workflow>:<hash>` (default `"purser"`).
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// Per-workflow policies; workflows not listed get `WorkflowCachePolicy::default()`.
    #[serde(default)]
    pub workflows: BTreeMap<WorkflowId, WorkflowCachePolicy>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Memory,
            max_bytes: default_max_bytes(),
            max_entry_bytes: default_max_entry_bytes(),
            default_ttl: default_ttl(),
            redis_url: None,
            redis_timeout: default_redis_timeout(),
            redis_prefix: default_redis_prefix(),
            workflows: BTreeMap::new(),
        }
    }
}

fn default_max_bytes() -> ByteSize {
    ByteSize(256 << 20)
}
fn default_max_entry_bytes() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_redis_timeout() -> HumanDuration {
    HumanDuration(Duration::from_millis(50))
}
fn default_redis_prefix() -> String {
    "purser".to_owned()
}

// ---- Settings ----

impl Settings {
    /// Checks cross-field rules. Errors: `MissingRedisUrl` in redis mode without a URL,
    /// `InvalidSetting` for a zero size or TTL or a prefix with `:`/glob characters.
    pub fn validate(&self) -> Result<(), Error> {
        if self.mode == Mode::Redis && self.redis_url.is_none() {
            return Err(Error::MissingRedisUrl);
        }
        let invalid = |field: &'static str, value: String, reason: &'static str| {
            Err(Error::InvalidSetting {
                field,
                value,
                reason,
            })
        };
        if self.max_bytes.0 == 0 {
            return invalid("max_bytes", self.max_bytes.to_string(), "must be > 0");
        }
        if self.max_entry_bytes.0 == 0 || self.max_entry_bytes.0 > u64::from(u32::MAX) {
            return invalid(
                "max_entry_bytes",
                self.max_entry_bytes.to_string(),
                "must be in 1B..4GiB",
            );
        }
        if self.default_ttl.0.is_zero() {
            return invalid("default_ttl", self.default_ttl.to_string(), "must be > 0");
        }
        if self.redis_timeout.0.is_zero() {
            return invalid(
                "redis_timeout",
                self.redis_timeout.to_string(),
                "must be > 0",
            );
        }
        let bad = |c: char| matches!(c, ':' | '*' | '?' | '[' | ']' | '\\') || c.is_whitespace();
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(bad) {
            return invalid(
                "redis_prefix",
                self.redis_prefix.clone(),
                "empty or has : * ? [ ] \\ or spaces",
            );
        }
        for (wf, p) in &self.workflows {
            if p.ttl.is_some_and(|t| t.0.is_zero()) {
                return invalid("workflows.ttl", wf.to_string(), "ttl must be > 0");
            }
        }
        Ok(())
    }

    /// The policy of a workflow (its own entry, else the defaults).
    pub fn policy_for(&self, workflow: &WorkflowId) -> WorkflowCachePolicy {
        self.workflows.get(workflow).cloned().unwrap_or_default()
    }

    /// The TTL of a workflow's entries.
    pub fn ttl_for(&self, workflow: &WorkflowId) -> Duration {
        self.workflows
            .get(workflow)
            .and_then(|p| p.ttl)
            .unwrap_or(self.default_ttl)
            .0
    }
}

/// A byte count written as `"256MiB"`, `"512KB"`, `"1GiB"` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"<number><unit>"` with units B, KB, KiB, MB, MiB, GB, GiB (case-insensitive).
    /// Returns `None` on anything else or on overflow.
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" => 1 << 10,
            "mb" => 1_000_000,
            "mib" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(mult).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0B"),
            _ if n.is_multiple_of(1 << 30) => write!(f, "{}GiB", n >> 30),
            _ if n.is_multiple_of(1 << 20) => write!(f, "{}MiB", n >> 20),
            _ if n.is_multiple_of(1 << 10) => write!(f, "{}KiB", n >> 10),
            _ => write!(f, "{n}B"),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ByteSize::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid byte size {s:?} (e.g. \"256MiB\")"))
        })
    }
}

/// A duration written as `"50ms"`, `"30s"`, `"10m"`, `"1h"` or `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses a duration setting (see `types::duration`). Returns `None` otherwise.
    pub fn parse(s: &str) -> Option<HumanDuration> {
        crate::types::duration::parse(s).ok().map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let units: [(u128, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, name) in units {
            if ms > 0 && ms.is_multiple_of(size) {
                return write!(f, "{}{name}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid duration {s:?} (e.g. \"30s\")"))
        })
    }
}

/// A Redis URL. Debug and Display hide the password (`redis://user:***@host`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a URL such as `redis://127.0.0.1:6379/0`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
    /// The full URL, password included: pass it to the client only, never to logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.split_once("://"), self.0.rfind('@')) {
            (Some((scheme, _)), Some(at)) => {
                write!(f, "{scheme}://***{}", self.0.get(at..).unwrap_or(""))
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}
