//! `TokenCountCache`: remembers token counts of long texts (repeated system prompts, tool
//! schemas, documents) by sha256, so a repeated prefix is not re-tokenised.

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::tokenizer::Encoding;
use crate::types::Tokens;

/// Texts shorter than this are counted directly: hashing them costs about as much.
const MIN_CACHED_LEN: usize = 256;

/// A bounded in-process map from (encoding, sha256 of text) to its token count.
/// Cloning shares the same cache.
#[derive(Clone)]
pub struct TokenCountCache {
    counts: Cache<[u8; 32], u64>,
}

// ---- TokenCountCache ----

impl TokenCountCache {
    /// A cache holding at most `max_entries` counts (least recently used evicted).
    pub fn new(max_entries: u64) -> TokenCountCache {
        TokenCountCache {
            counts: Cache::new(max_entries),
        }
    }

    /// Token count of `text` under `encoding`, from the cache when this text was counted
    /// before. CPU-bound: call from `spawn_blocking` for large texts on async paths.
    pub fn count(&self, encoding: Encoding, text: &str) -> Tokens {
        self.count_with(encoding, text, |t| encoding.count(t))
    }

    /// Like `count` with a caller-supplied counter (tests, other tokenizers).
    pub fn count_with(
        &self,
        encoding: Encoding,
        text: &str,
        count: impl FnOnce(&str) -> Tokens,
    ) -> Tokens {
        if text.len() < MIN_CACHED_LEN {
            return count(text);
        }
        let mut h = Sha256::new();
        h.update(match encoding {
            Encoding::O200kBase => b"o200k\x1f".as_slice(),
            Encoding::Cl100kBase => b"cl100k\x1f".as_slice(),
        });
        h.update(text.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if let Some(n) = self.counts.get(&key) {
            return Tokens(n);
        }
        let n = count(text);
        self.counts.insert(key, n.0);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn repeated_long_text_is_counted_once() {
        let cache = TokenCountCache::new(100);
        let text = "the same long system prompt ".repeat(40);
        let calls = Cell::new(0);
        let counter = |t: &str| {
            calls.set(calls.get() + 1);
            Encoding::O200kBase.count(t)
        };
        let a = cache.count_with(Encoding::O200kBase, &text, counter);
        let b = cache.count_with(Encoding::O200kBase, &text, counter);
        assert_eq!(a, b);
        assert_eq!(a, Encoding::O200kBase.count(&text));
        assert_eq!(calls.get(), 1);
        // Another encoding is another entry.
        cache.count_with(Encoding::Cl100kBase, &text, counter);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn short_text_is_not_cached() {
        let cache = TokenCountCache::new(100);
        let calls = Cell::new(0);
        for _ in 0..3 {
            cache.count_with(Encoding::O200kBase, "short", |t| {
                calls.set(calls.get() + 1);
                Encoding::O200kBase.count(t)
            });
        }
        assert_eq!(calls.get(), 3);
    }
}
