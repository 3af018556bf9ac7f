//! The in-process tier: a moka cache bounded by entry bytes, with a TTL per entry.

use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;

use super::entry::MemEntry;
use super::key::CacheKey;

/// Per-entry expiry: each entry lives for the TTL it was inserted with.
struct EntryTtl;

// moka's `Expiry` trait names `std::time::Instant` in its signature; the value is unused.
#[expect(clippy::disallowed_types, reason = "signature of moka's Expiry trait")]
impl Expiry<CacheKey, MemEntry> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &MemEntry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &MemEntry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The moka tier. Cloning shares the same cache.
#[derive(Clone)]
pub(crate) struct MemoryTier {
    cache: Cache<CacheKey, MemEntry, Hasher>,
}

/// moka's default SipHash was 2% of gateway CPU at 64 connections (every request hashes its
/// key for the lookup and again for the insert). foldhash is several times faster and, like
/// SipHash here, seeded per process, so bucket placement cannot be predicted from outside.
type Hasher = foldhash::fast::RandomState;

// ---- MemoryTier ----

impl MemoryTier {
    pub(crate) fn new(max_bytes: u64) -> MemoryTier {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &CacheKey, v: &MemEntry| v.weight)
            .expire_after(EntryTtl)
            .build_with_hasher(Hasher::default());
        MemoryTier { cache }
    }

    pub(crate) async fn get(&self, key: &CacheKey) -> Option<MemEntry> {
        self.cache.get(key).await
    }

    pub(crate) async fn insert(&self, key: CacheKey, entry: MemEntry) {
        self.cache.insert(key, entry).await;
    }

    /// Removes every entry whose key matches; returns how many were removed.
    pub(crate) async fn remove_matching(&self, matches: impl Fn(&CacheKey) -> bool) -> u64 {
        let doomed: Vec<CacheKey> = self
            .cache
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(k, _)| (*k).clone())
            .collect();
        let mut n = 0;
        for k in doomed {
            if self.cache.remove(&k).await.is_some() {
                n += 1;
            }
        }
        n
    }

    /// Visits every live entry (admin statistics; O(entries)).
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&CacheKey, &MemEntry)) {
        for (k, v) in self.cache.iter() {
            visit(&k, &v);
        }
    }

    /// Applies pending evictions and expirations so counts are exact (tests, admin).
    pub(crate) async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    pub(crate) fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }
}
