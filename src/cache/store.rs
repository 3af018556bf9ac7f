//! `ResponseCache`: the two-tier store (moka in front, optional Redis behind), purge, stats.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Error;
use super::entry::{
    CachedAnswer, MemEntry, MemValue, answer_from_json, answer_json, decode_redis, encode_redis,
};
use super::key::{CacheKey, Namespace};
use super::memory::MemoryTier;
use super::policy::{SkipReason, StoreDecision};
use super::redis_tier::{RedisStatus, RedisTier};
use super::settings::{Mode, Settings};
use super::stats::{CacheStats, Counters, Event, ratio};
use crate::types::{MicroUsd, WorkflowId};

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    /// Every entry of one workflow (all namespaces).
    Workflow(WorkflowId),
    /// Every entry whose key string (`<workflow>:<hex>` or `<workflow>:<ns>:<hex>`, see
    /// `CacheKey`'s Display) starts with this prefix.
    KeyPrefix(String),
    /// Everything under this cache's Redis prefix, and the whole in-process tier.
    All,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Entries removed from the in-process tier.
    pub memory: u64,
    /// Keys removed from Redis.
    pub redis: u64,
    /// Whether the Redis part failed or was skipped while degraded (then it may be partial).
    pub redis_incomplete: bool,
}

/// The response cache: exact-match answers and namespaced intermediate results, in-process
/// (moka, bounded by bytes, TTL per entry) with an optional shared Redis tier. Redis
/// problems only ever turn into misses. Share it behind an `Arc`.
pub struct ResponseCache {
    memory: MemoryTier,
    redis: Option<RedisTier>,
    redis_prefix: String,
    max_entry_bytes: u64,
    counters: Counters,
}

// ---- ResponseCache ----

impl ResponseCache {
    /// Builds the cache. In `redis` mode it tries to connect once (bounded by the timeout);
    /// an unreachable Redis is not an error, the tier starts degraded and reconnects in the
    /// background. Errors: invalid settings, or a malformed `redis_url`.
    pub async fn try_new(settings: &Settings) -> Result<ResponseCache, Error> {
        settings.validate()?;
        let redis = match (&settings.mode, &settings.redis_url) {
            (Mode::Redis, Some(url)) => {
                Some(RedisTier::connect(url, settings.redis_timeout.0).await?)
            }
            (Mode::Redis, None) => return Err(Error::MissingRedisUrl),
            _ => None,
        };
        Ok(ResponseCache {
            memory: MemoryTier::new(settings.max_bytes.0),
            redis,
            redis_prefix: settings.redis_prefix.clone(),
            max_entry_bytes: settings.max_entry_bytes.0,
            counters: Counters::default(),
        })
    }

    /// Looks up a chat answer: in-process first, then Redis (a Redis hit is copied into the
    /// in-process tier with its remaining TTL). Counts a hit (with its saving) or a miss.
    /// A non-chat key returns `None` and is not counted.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        if key.namespace() != Namespace::Chat {
            return None;
        }
        let found = self.get_answer(key).await;
        let event = match &found {
            Some(a) => Event::Hit(a.cost),
            None => Event::Miss,
        };
        self.counters.record(key.workflow(), key.namespace(), event);
        found
    }

    async fn get_answer(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        if let Some(MemEntry {
            value: MemValue::Answer(json),
            ..
        }) = self.memory.get(key).await
        {
            return answer_from_json(&json).ok().map(Arc::new);
        }
        let (json, ttl) = self.redis_get(key).await?;
        let answer = Arc::new(answer_from_json(&json).ok()?);
        let len = json.len();
        let entry = MemEntry::new(MemValue::Answer(Bytes::from(json)), len, ttl);
        self.memory.insert(key.clone(), entry).await;
        Some(answer)
    }

    /// Whether a Redis tier is configured (stores then involve a network round trip).
    pub fn has_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// Stores a chat answer in both tiers with `ttl` (from `Policy::store_decision`).
    /// Returns `Skip(TooLarge)` for entries over `max_entry_bytes` or that cannot be
    /// encoded, else `Store`. A Redis failure is counted, not returned.
    pub async fn put(&self, key: &CacheKey, answer: CachedAnswer, ttl: Duration) -> StoreDecision {
        match answer_json(&answer) {
            Ok(json) => self.put_encoded(key, Bytes::from(json), ttl).await,
            Err(_) => StoreDecision::Skip(SkipReason::TooLarge),
        }
    }

    /// `put` of an answer already encoded by `encode_answer`.
    pub async fn put_encoded(&self, key: &CacheKey, json: Bytes, ttl: Duration) -> StoreDecision {
        if key.namespace() != Namespace::Chat || json.len() as u64 > self.max_entry_bytes {
            return StoreDecision::Skip(SkipReason::TooLarge);
        }
        let entry = MemEntry::new(MemValue::Answer(json.clone()), json.len(), ttl);
        self.memory.insert(key.clone(), entry).await;
        self.redis_set(key, &json, ttl).await;
        self.counters
            .record(key.workflow(), key.namespace(), Event::Store);
        StoreDecision::Store { ttl }
    }

    /// Looks up an intermediate result (embeddings body, summary, retrieval result) by a
    /// key built with `CacheKey::for_embeddings` / `for_content` (a chat key: `None`, uncounted).
    pub async fn get_blob(&self, key: &CacheKey) -> Option<Bytes> {
        if key.namespace() == Namespace::Chat {
            return None;
        }
        let found = self.get_blob_inner(key).await;
        let event = if found.is_some() {
            Event::Hit(MicroUsd::ZERO)
        } else {
            Event::Miss
        };
        self.counters.record(key.workflow(), key.namespace(), event);
        found
    }

    async fn get_blob_inner(&self, key: &CacheKey) -> Option<Bytes> {
        if let Some(MemEntry {
            value: MemValue::Blob(b),
            ..
        }) = self.memory.get(key).await
        {
            return Some(b);
        }
        let (raw, ttl) = self.redis_get(key).await?;
        let value = Bytes::from(raw);
        let entry = MemEntry::new(MemValue::Blob(value.clone()), value.len(), ttl);
        self.memory.insert(key.clone(), entry).await;
        Some(value)
    }

    /// Stores an intermediate result in both tiers. `Skip(TooLarge)` over `max_entry_bytes`
    /// or for a chat key.
    pub async fn put_blob(&self, key: &CacheKey, value: Bytes, ttl: Duration) -> StoreDecision {
        if key.namespace() == Namespace::Chat || value.len() as u64 > self.max_entry_bytes {
            return StoreDecision::Skip(SkipReason::TooLarge);
        }
        self.redis_set(key, &value, ttl).await;
        let len = value.len();
        self.memory
            .insert(key.clone(), MemEntry::new(MemValue::Blob(value), len, ttl))
            .await;
        self.counters
            .record(key.workflow(), key.namespace(), Event::Store);
        StoreDecision::Store { ttl }
    }

    /// Removes entries from both tiers (Redis with SCAN + UNLINK under this cache's prefix).
    pub async fn purge(&self, target: &PurgeTarget) -> PurgeReport {
        let memory = match target {
            PurgeTarget::Workflow(wf) => self.memory.remove_matching(|k| k.workflow() == wf).await,
            PurgeTarget::KeyPrefix(p) => {
                self.memory
                    .remove_matching(|k| k.to_string().starts_with(p.as_str()))
                    .await
            }
            PurgeTarget::All => self.memory.remove_matching(|_| true).await,
        };
        let (redis, redis_incomplete) = match &self.redis {
            None => (0, false),
            Some(r) => match r.purge(&self.purge_pattern(target)).await {
                Ok(n) => (n, false),
                Err(n) => (n, true),
            },
        };
        PurgeReport {
            memory,
            redis,
            redis_incomplete,
        }
    }

    /// A statistics snapshot. Walks the in-process tier (O(entries)): for the admin route
    /// and periodic metric export, not per request.
    pub fn stats(&self) -> CacheStats {
        let (mut workflows, namespaces) = self.counters.snapshot();
        self.memory.for_each(|k, v| {
            let s = workflows.entry(k.workflow().clone()).or_default();
            s.entries += 1;
            s.bytes += u64::from(v.weight);
        });
        let (mut hits, mut misses, mut saved) = (0u64, 0u64, MicroUsd::ZERO);
        for s in workflows.values_mut() {
            s.hit_ratio = ratio(s.hits, s.misses);
            hits += s.hits;
            misses += s.misses;
            saved = saved.saturating_add(s.saved_micro_usd);
        }
        CacheStats {
            entries: self.memory.entry_count(),
            bytes: self.memory.weighted_size(),
            hits,
            misses,
            hit_ratio: ratio(hits, misses),
            saved_micro_usd: saved,
            redis_status: self.redis_status(),
            redis_errors_total: self.redis_errors_total(),
            workflows,
            namespaces,
        }
    }

    /// Redis operations that failed or timed out since start (0 without Redis).
    pub fn redis_errors_total(&self) -> u64 {
        self.redis.as_ref().map_or(0, RedisTier::errors_total)
    }

    /// Health of the Redis tier.
    pub fn redis_status(&self) -> RedisStatus {
        self.redis
            .as_ref()
            .map_or(RedisStatus::Disabled, RedisTier::status)
    }

    /// Applies moka's pending evictions so `stats` counts are exact (tests, admin route).
    pub async fn sync(&self) {
        self.memory.sync().await;
    }

    /// The Redis key of an entry: `<prefix>:cache:<workflow>:<hex>` (chat) or
    /// `<prefix>:cache:<workflow>:<ns>:<hex>`; the workflow is percent-escaped.
    pub fn redis_key(&self, key: &CacheKey) -> String {
        let wf = escape_segment(key.workflow().as_str());
        match key.namespace() {
            Namespace::Chat => format!("{}:cache:{wf}:{}", self.redis_prefix, key.hash_hex()),
            ns => format!(
                "{}:cache:{wf}:{}:{}",
                self.redis_prefix,
                ns.as_str(),
                key.hash_hex()
            ),
        }
    }

    fn purge_pattern(&self, target: &PurgeTarget) -> String {
        let base = format!("{}:cache:", self.redis_prefix);
        match target {
            PurgeTarget::Workflow(wf) => format!("{base}{}:*", escape_segment(wf.as_str())),
            PurgeTarget::KeyPrefix(p) => {
                // The workflow part is escaped like in stored keys; the rest is glob-escaped.
                let escaped = match p.split_once(':') {
                    Some((wf, rest)) => format!("{}:{}", escape_segment(wf), glob_escape(rest)),
                    None => escape_segment(p),
                };
                format!("{base}{escaped}*")
            }
            PurgeTarget::All => format!("{base}*"),
        }
    }

    async fn redis_get(&self, key: &CacheKey) -> Option<(Vec<u8>, Duration)> {
        let redis = self.redis.as_ref()?;
        let (raw, ttl) = redis.get(&self.redis_key(key)).await?;
        decode_redis(&raw).ok().map(|v| (v, ttl))
    }

    async fn redis_set(&self, key: &CacheKey, payload: &[u8], ttl: Duration) {
        if let Some(redis) = &self.redis {
            let value = encode_redis(payload);
            redis.set(&self.redis_key(key), &value, ttl).await;
        }
    }
}

/// Percent-escapes every byte outside `[A-Za-z0-9._-]`, so workflow names cannot inject
/// `:` separators or glob characters into Redis keys and SCAN patterns.
fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
