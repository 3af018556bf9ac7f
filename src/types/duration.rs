//! Human-readable durations for settings: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`, `"0"`.
//! Reusable serde helper: `#[serde(with = "crate::types::duration")]` on a `Duration` field,
//! or `crate::types::duration::option` on an `Option<Duration>`. Pure parsing, no I/O.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. \"250ms\", \"30s\", \"1m30s\")")]
pub struct DurationParseError {
    /// The string as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses `"<number><unit>"` groups (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`), summed;
/// decimals are allowed (`"1.5s"`). A bare `"0"` is zero.
///
/// # Errors
/// `DurationParseError` on an empty string, a missing or unknown unit, or overflow.
pub fn parse(input: &str) -> Result<Duration, DurationParseError> {
    let err = |reason| DurationParseError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        let unit_len = rest[num_len..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - num_len);
        let number: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
        let unit_secs = match rest[num_len..num_len + unit_len].trim() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(err("unknown unit")),
        };
        let part = Duration::try_from_secs_f64(number * unit_secs).map_err(|_| err("overflow"))?;
        total = total.checked_add(part).ok_or_else(|| err("overflow"))?;
        rest = &rest[num_len + unit_len..];
    }
    Ok(total)
}

/// Formats a duration the way `parse` reads it back (`"1500ms"`, `"30s"`, `"0"`).
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// Serde `serialize` for `#[serde(with = "crate::types::duration")]`.
///
/// # Errors
/// Only the serializer's own errors.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// Serde `deserialize` for `#[serde(with = "crate::types::duration")]`.
///
/// # Errors
/// A custom serde error carrying the `DurationParseError` text.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// The same helper for `Option<Duration>` fields (use with `#[serde(default)]`).
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serde `serialize` for `Option<Duration>`.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Serde `deserialize` for `Option<Duration>`.
    ///
    /// # Errors
    /// A custom serde error carrying the `DurationParseError` text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums_groups() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(" 2h "), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert_eq!(parse("30").unwrap_err().reason, "missing unit");
        assert_eq!(parse("3 parsecs").unwrap_err().reason, "unknown unit");
        assert_eq!(parse("").unwrap_err().reason, "empty");
        assert_eq!(parse("s").unwrap_err().reason, "bad number");
        // No negative durations: '-' is neither a digit nor a unit.
        assert!(parse("-5ms").is_err());
        assert!(parse("3w").is_err());
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(30),
            Duration::from_nanos(7),
        ] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
