//! Canonical JSON and the hash chain. One definition, shared by the writer and the verifier.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The record format version written by this code.
pub const SCHEMA_VERSION: u32 = 1;

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Sorts object keys at every level, in place, so serialization is canonical.
pub(crate) fn canonicalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            for v in map.values_mut() {
                canonicalize(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        _ => {}
    }
}

/// Canonical JSON text of a value: compact, keys sorted at every level.
pub(crate) fn canonical_string(mut value: Value) -> Result<String, serde_json::Error> {
    canonicalize(&mut value);
    serde_json::to_string(&value)
}

/// `hex(sha256(prev_hash || canonical))`.
pub(crate) fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical);
    hex::encode(h.finalize())
}

/// Recomputes the hash of a parsed line: removes `hash`, canonicalizes, hashes with the stored
/// `prev_hash`. Returns `None` when `prev_hash` is missing or not a string.
pub(crate) fn recompute_hash(mut line: Value) -> Result<Option<String>, serde_json::Error> {
    let Some(map) = line.as_object_mut() else {
        return Ok(None);
    };
    map.remove("hash");
    let Some(prev) = map
        .get("prev_hash")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let canonical = canonical_string(line)?;
    Ok(Some(chain_hash(&prev, canonical.as_bytes())))
}

/// RFC 3339, UTC, microseconds: `2026-01-02T03:04:05.123456Z`.
pub(crate) fn format_ts(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde adapter writing a `DateTime<Utc>` as [`format_ts`] (parsing accepts any RFC 3339).
pub(crate) mod ts_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(ts))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

/// Serde adapter for `f64` fields: JSON has no NaN/inf and serde_json writes them as `null`,
/// so `null` reads back as NaN instead of failing the whole record.
pub(crate) mod lenient_f64 {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
