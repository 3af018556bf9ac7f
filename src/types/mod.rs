//! Shared newtypes used across modules: model ids, tiers, workflows, token counts, money.
//! Parse/format only; no behaviour that belongs to a domain module. Uses nothing in the crate.
//! `duration` is the one parser of human durations (`"250ms"`, `"1m30s"`) every setting uses.

use std::fmt;

pub mod duration;

use serde::{Deserialize, Serialize};

/// A concrete model name as configured (e.g. `gpt-4o-mini`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(pub String);

impl ModelId {
    /// Builds a model id from anything string-like.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Index of a tier in a route, 0 = cheapest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tier(pub u8);

/// A workflow name (cost envelope owner).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkflowId(pub String);

impl WorkflowId {
    /// The workflow used when a request names none.
    pub fn default_workflow() -> Self {
        Self("default".to_owned())
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token count.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tokens(pub u64);

impl Tokens {
    /// Saturating addition.
    pub fn saturating_add(self, other: Tokens) -> Tokens {
        Tokens(self.0.saturating_add(other.0))
    }
}

/// Money in integer micro-dollars (1 USD = 1_000_000). Never a float.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MicroUsd(pub i64);

impl MicroUsd {
    /// Zero dollars.
    pub const ZERO: MicroUsd = MicroUsd(0);

    /// Saturating addition.
    pub fn saturating_add(self, other: MicroUsd) -> MicroUsd {
        MicroUsd(self.0.saturating_add(other.0))
    }
    /// Saturating subtraction.
    pub fn saturating_sub(self, other: MicroUsd) -> MicroUsd {
        MicroUsd(self.0.saturating_sub(other.0))
    }
    /// Parses a decimal dollar string such as `"12.50"` (at most 6 decimals kept, rounded half away from zero).
    pub fn parse_usd(s: &str) -> Option<MicroUsd> {
        let d: rust_decimal::Decimal = s.trim().parse().ok()?;
        let micros = (d * rust_decimal::Decimal::from(1_000_000))
            .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(micros).ok().map(MicroUsd)
    }
    /// Formats as a dollar string with 6 decimals, e.g. `0.000150`.
    pub fn to_usd_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

impl fmt::Display for MicroUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_usd_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_round_trip_keeps_six_decimals() {
        let m = MicroUsd::parse_usd("12.345678").unwrap();
        assert_eq!(m, MicroUsd(12_345_678));
        assert_eq!(m.to_usd_string(), "12.345678");
        assert_eq!(MicroUsd(-5).to_usd_string(), "-0.000005");
        assert_eq!(MicroUsd::parse_usd("abc"), None);
    }
}
