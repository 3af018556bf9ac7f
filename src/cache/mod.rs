//! Response caching: key derivation, what is cacheable (the safety policy), the two-tier
//! store (moka in-process, optional Redis shared) and cached intermediate results.
//!
//! Owns: the one cache-key function (`key::derive_key`), `Policy` with a reason for every
//! decision, `ResponseCache` (answers and namespaced byte values), `TokenCountCache`, purge
//! and statistics. Must not: build HTTP responses or SSE (the proxy replays a stored
//! `ChatCompletion`), decide routing, price anything, or fail a request because Redis is
//! down or slow (that is a miss plus `redis_errors_total`). Uses `types`, `api`,
//! `tokenizer` and `pii`.
//!
//! Pipeline use (proxy):
//! 1. `ClientCacheDirective::from_headers(cache_control, x_purser_cache)`.
//! 2. `policy.lookup_decision(&req, &KeyContext{..}, directive)` after routing picked the
//!    concrete model; on `Use(key)` call `cache.get(&key)`; a hit is replayed.
//! 3. After the upstream answered: for `decision.store_key()`, `policy.store_decision(key,
//!    Answer::Complete(&completion))`; on `Store { ttl }` call `cache.put(key, answer, ttl)`.
//! 4. Put `decision.as_str()` / the skip reason in the `x-purser-cache` response header and
//!    the ledger record.

mod canonical;
mod entry;
mod key;
mod memory;
mod policy;
mod redis_tier;
mod settings;
mod stats;
mod store;
mod token_count;

pub use entry::{CachedAnswer, encode_answer};
pub use key::{CacheKey, KeyContext, Namespace};
pub use policy::{
    Answer, BypassReason, CacheDecision, ClientCacheDirective, Policy, SkipReason, StoreDecision,
};
pub use redis_tier::RedisStatus;
pub use settings::{ByteSize, HumanDuration, Mode, RedisUrl, Scope, Settings, WorkflowCachePolicy};
pub use stats::{CacheStats, NamespaceStats, WorkflowStats};
pub use store::{PurgeReport, PurgeTarget, ResponseCache};
pub use token_count::TokenCountCache;

/// Errors of the cache module. None of them reaches a client: lookups and stores degrade
/// to misses; these come from construction, settings validation and value encoding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting has an unusable value.
    #[error("invalid cache setting {field} = {value:?}: {reason}")]
    InvalidSetting {
        /// The setting's key.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `mode = "redis"` without `redis_url`.
    #[error("cache mode \"redis\" needs redis_url")]
    MissingRedisUrl,
    /// The Redis client could not be built (the URL is never included).
    #[error("redis client error: {kind}")]
    Redis {
        /// The redis error kind.
        kind: String,
    },
    /// A value could not be encoded or decoded.
    #[error("cache value encoding failed: {reason}")]
    Encode {
        /// Decoder or serializer message.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
