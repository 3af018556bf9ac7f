//! Loading and querying price tables.
//!
//! A USD-per-million-tokens price is numerically the micro-dollar price of one token, so costs are
//! `tokens × price` in micro-dollars, computed in `Decimal` and rounded once (half away from zero).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::tokenizer::Encoding;
use crate::types::{MicroUsd, ModelId, Tokens};

/// Built-in tables, so the binary prices correctly when run outside the repository.
const BUILTIN: &[(&str, &str)] = &[
    ("openai.toml", include_str!("../../pricing/openai.toml")),
    (
        "anthropic.toml",
        include_str!("../../pricing/anthropic.toml"),
    ),
    ("mistral.toml", include_str!("../../pricing/mistral.toml")),
    ("together.toml", include_str!("../../pricing/together.toml")),
    ("groq.toml", include_str!("../../pricing/groq.toml")),
];

/// A price table error, naming the file and the key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PricingError {
    /// The file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// File path.
        file: String,
        /// OS error.
        reason: String,
    },
    /// TOML syntax or schema error (the message carries line and key).
    #[error("{file}: {reason}")]
    Parse {
        /// File path.
        file: String,
        /// toml's message, with line, column and key.
        reason: String,
    },
    /// A value is out of range.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// File path.
        file: String,
        /// Key path, e.g. `models[3].output_per_mtok`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where a token count came from; the ledger records it next to every cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider's `usage` object.
    Provider,
    /// Counted by Purser with tiktoken-rs (the provider reported none, or the stream was cut).
    Tiktoken,
    /// No tokens were used (cache hit, rejected request).
    None,
}

/// Token usage to be priced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// All input tokens, cached ones included.
    pub input: Tokens,
    /// Input tokens served from the provider's prompt cache (a subset of `input`).
    pub cached_input: Tokens,
    /// Output tokens.
    pub output: Tokens,
}

/// The price of one model at one provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelPrice {
    /// Provider name (table file's `provider`).
    pub provider: String,
    /// Model name at that provider.
    pub model: ModelId,
    /// USD per 1M input tokens.
    pub input_per_mtok: Decimal,
    /// USD per 1M cached input tokens (equals input price when the provider has no discount).
    pub cached_input_per_mtok: Decimal,
    /// USD per 1M output tokens.
    pub output_per_mtok: Decimal,
    /// Tokenizer used for estimates.
    pub encoding: Encoding,
    /// Where the price was read.
    pub source: String,
    /// When it was read.
    pub as_of: NaiveDate,
}

/// All price tables, looked up by `provider/model` or by a bare model name that only one
/// provider lists.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    by_key: BTreeMap<String, ModelPrice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    provider: String,
    source: String,
    as_of: NaiveDate,
    models: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    model: String,
    input_per_mtok: String,
    #[serde(default)]
    cached_input_per_mtok: Option<String>,
    #[serde(default)]
    output_per_mtok: Option<String>,
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    as_of: Option<NaiveDate>,
    #[serde(default)]
    aliases: Vec<String>,
}

// ---- ModelPrice

impl ModelPrice {
    /// Cost of a usage record. Saturates instead of overflowing.
    pub fn cost(&self, usage: &TokenUsage) -> MicroUsd {
        let cached = usage.cached_input.0.min(usage.input.0);
        let fresh = usage.input.0 - cached;
        let total = Decimal::from(fresh) * self.input_per_mtok
            + Decimal::from(cached) * self.cached_input_per_mtok
            + Decimal::from(usage.output.0) * self.output_per_mtok;
        MicroUsd(
            i64::try_from(
                total.round_dp_with_strategy(
                    0,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                ),
            )
            .unwrap_or(i64::MAX),
        )
    }

    /// Worst-case cost: every input token uncached, `max_output` output tokens.
    pub fn worst_case(&self, input: Tokens, max_output: Tokens) -> MicroUsd {
        self.cost(&TokenUsage {
            input,
            cached_input: Tokens(0),
            output: max_output,
        })
    }
}

// ---- PriceTable

impl PriceTable {
    /// The tables compiled into the binary (copies of the repository's `pricing/`).
    pub fn builtin() -> Result<PriceTable, Vec<PricingError>> {
        Self::from_sources(
            BUILTIN
                .iter()
                .map(|(n, t)| (PathBuf::from(n), t.to_string())),
        )
    }

    /// Loads every `*.toml` in `dir`. Collects all errors before failing.
    pub fn load_dir(dir: &Path) -> Result<PriceTable, Vec<PricingError>> {
        let read_err = |e: std::io::Error| {
            vec![PricingError::Read {
                file: dir.display().to_string(),
                reason: e.to_string(),
            }]
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => sources.push((f, t)),
                Err(e) => errors.push(PricingError::Read {
                    file: f.display().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        let table = Self::from_sources(sources.into_iter());
        match table {
            Ok(t) if errors.is_empty() => Ok(t),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }

    fn from_sources(
        sources: impl Iterator<Item = (PathBuf, String)>,
    ) -> Result<PriceTable, Vec<PricingError>> {
        let mut errors = Vec::new();
        let mut entries: Vec<(Vec<String>, ModelPrice)> = Vec::new();
        for (path, text) in sources {
            let file = path.display().to_string();
            match toml::from_str::<RawFile>(&text) {
                Ok(raw) => entries.extend(convert_file(&file, raw, &mut errors)),
                Err(e) => errors.push(PricingError::Parse {
                    file,
                    reason: e.to_string(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self::index(entries))
    }

    fn index(entries: Vec<(Vec<String>, ModelPrice)>) -> PriceTable {
        let mut by_key = BTreeMap::new();
        let mut bare_count: BTreeMap<String, usize> = BTreeMap::new();
        for (names, _) in &entries {
            for n in names {
                *bare_count.entry(n.clone()).or_default() += 1;
            }
        }
        for (names, price) in entries {
            for n in &names {
                by_key.insert(format!("{}/{}", price.provider, n), price.clone());
                // A bare name is only usable when exactly one provider lists it.
                if bare_count.get(n) == Some(&1) {
                    by_key.insert(n.clone(), price.clone());
                }
            }
        }
        PriceTable { by_key }
    }

    /// The price for `provider/model` or an unambiguous bare model name.
    pub fn get(&self, key: &str) -> Option<&ModelPrice> {
        self.by_key.get(key)
    }

    /// Number of lookup keys (qualified and bare).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every distinct entry, ordered by provider and model.
    pub fn entries(&self) -> impl Iterator<Item = &ModelPrice> {
        self.by_key
            .iter()
            .filter(|(k, p)| **k == format!("{}/{}", p.provider, p.model))
            .map(|(_, p)| p)
    }
}

fn parse_price(
    file: &str,
    key: String,
    v: &str,
    errors: &mut Vec<PricingError>,
) -> Option<Decimal> {
    match v.trim().parse::<Decimal>() {
        Ok(d) if d >= Decimal::ZERO => Some(d),
        Ok(_) => {
            errors.push(PricingError::Invalid {
                file: file.to_owned(),
                key,
                reason: "price must not be negative".into(),
            });
            None
        }
        Err(e) => {
            errors.push(PricingError::Invalid {
                file: file.to_owned(),
                key,
                reason: format!("not a decimal string: {e}"),
            });
            None
        }
    }
}

fn convert_file(
    file: &str,
    raw: RawFile,
    errors: &mut Vec<PricingError>,
) -> Vec<(Vec<String>, ModelPrice)> {
    let mut out = Vec::new();
    for (i, m) in raw.models.into_iter().enumerate() {
        let k = |f: &str| format!("models[{i}].{f}");
        let input = parse_price(file, k("input_per_mtok"), &m.input_per_mtok, errors);
        let cached = match &m.cached_input_per_mtok {
            Some(v) => parse_price(file, k("cached_input_per_mtok"), v, errors),
            None => input,
        };
        let output = match &m.output_per_mtok {
            Some(v) => parse_price(file, k("output_per_mtok"), v, errors),
            None => Some(Decimal::ZERO),
        };
        let (Some(input), Some(cached), Some(output)) = (input, cached, output) else {
            continue;
        };
        let mut names = vec![m.model.clone()];
        names.extend(m.aliases);
        let price = ModelPrice {
            provider: raw.provider.clone(),
            encoding: m.encoding.unwrap_or_else(|| Encoding::for_model(&m.model)),
            model: ModelId(m.model),
            input_per_mtok: input,
            cached_input_per_mtok: cached,
            output_per_mtok: output,
            source: m.source.unwrap_or_else(|| raw.source.clone()),
            as_of: m.as_of.unwrap_or(raw.as_of),
        };
        out.push((names, price));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn price(input: &str, cached: &str, output: &str) -> ModelPrice {
        ModelPrice {
            provider: "p".into(),
            model: ModelId::new("m"),
            input_per_mtok: input.parse().unwrap(),
            cached_input_per_mtok: cached.parse().unwrap(),
            output_per_mtok: output.parse().unwrap(),
            encoding: Encoding::O200kBase,
            source: "test".into(),
            as_of: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        }
    }

    #[test]
    fn cost_of_gpt_4o_mini_call() {
        // 1,000 input at $0.15/M = 150 µ$; 500 output at $0.60/M = 300 µ$.
        let p = price("0.15", "0.075", "0.60");
        let u = TokenUsage {
            input: Tokens(1000),
            cached_input: Tokens(0),
            output: Tokens(500),
        };
        assert_eq!(p.cost(&u), MicroUsd(450));
        let u = TokenUsage {
            cached_input: Tokens(1000),
            ..u
        };
        assert_eq!(p.cost(&u), MicroUsd(375));
    }

    #[test]
    fn builtin_tables_load_and_cover_five_providers() {
        let t = PriceTable::builtin().unwrap();
        let providers: std::collections::BTreeSet<_> =
            t.entries().map(|p| p.provider.clone()).collect();
        for p in ["openai", "anthropic", "mistral", "together", "groq"] {
            assert!(providers.contains(p), "missing {p}");
        }
        assert!(t.get("gpt-4o-mini").is_some());
        assert!(t.get("openai/gpt-4o").is_some());
    }

    #[test]
    fn load_reports_file_and_key_of_bad_price() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.toml"),
            "provider='x'\nsource='s'\nas_of='2025-01-01'\n[[models]]\nmodel='a'\ninput_per_mtok='-1'\n",
        )
        .unwrap();
        let errs = PriceTable::load_dir(dir.path()).unwrap_err();
        let msg = errs[0].to_string();
        assert!(
            msg.contains("x.toml") && msg.contains("models[0].input_per_mtok"),
            "{msg}"
        );
    }

    proptest! {
        #[test]
        fn cost_is_monotonic_and_matches_naive(i in 0u64..10_000_000, c in 0u64..10_000_000, o in 0u64..10_000_000) {
            let p = price("2.5", "1.25", "10");
            let u = TokenUsage { input: Tokens(i), cached_input: Tokens(c), output: Tokens(o) };
            let cached = c.min(i);
            // Naive reference in f64: exact for these magnitudes to well under half a micro-dollar.
            let exact = (i - cached) as f64 * 2.5 + cached as f64 * 1.25 + o as f64 * 10.0;
            prop_assert!((p.cost(&u).0 as f64 - exact).abs() <= 0.5 + 1e-6);
            let more = TokenUsage { output: Tokens(o + 1), ..u };
            prop_assert!(p.cost(&more) >= p.cost(&u));
        }
    }
}
