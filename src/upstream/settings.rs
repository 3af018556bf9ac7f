//! Provider settings as written in TOML (`[[providers]]` tables). Serde only; the registry turns
//! them into providers, policies and breakers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The upstream part of the config: the `[[providers]]` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Every upstream, each with a unique name.
    #[serde(default)]
    pub providers: Vec<ProviderSettings>,
}

/// One `[[providers]]` table, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderSettings {
    /// Any OpenAI-compatible HTTP API.
    OpenaiCompatible(HttpSettings),
    /// The in-process deterministic simulator.
    Simulated(SimulatedSettings),
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `Authorization: Bearer <key>` (OpenAI, vLLM, Together, Groq, OpenRouter...).
    #[default]
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// Settings of an OpenAI-compatible HTTP provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Provider name (unique; used in metrics and the ledger).
    pub name: String,
    /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Environment variable holding the API key; none for keyless servers (local vLLM, Ollama).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// How the key is sent.
    #[serde(default)]
    pub auth: AuthMode,
    /// Per-attempt timeout (whole response; for streams: to the headers and between reads).
    #[serde(default = "default_timeout", with = "crate::types::duration")]
    pub timeout: Duration,
    /// TCP/TLS connect timeout.
    #[serde(default = "default_connect_timeout", with = "crate::types::duration")]
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    #[serde(default = "default_pool_idle_timeout", with = "crate::types::duration")]
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host.
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_host: usize,
    /// Static query parameters added to every call (Azure: `api-version`).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Static extra headers (e.g. OpenRouter's `HTTP-Referer`). Not for secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Retries of one model on this provider.
    #[serde(default)]
    pub retry: RetrySettings,
    /// Circuit breaker of this provider.
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
}

/// Settings of the simulated provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedSettings {
    /// Provider name (unique).
    pub name: String,
    /// Models it serves; empty means `Simulated::default_models()`.
    #[serde(default)]
    pub models: Vec<SimulatedModel>,
    /// RouteLLM-style CSVs of recorded answers.
    #[serde(default)]
    pub replay: Vec<ReplaySettings>,
    /// Retries (the simulator never fails, but the wiring is the same).
    #[serde(default)]
    pub retry: RetrySettings,
    /// Circuit breaker.
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
}

/// One simulated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedModel {
    /// Model name as requested (`req.model`).
    pub name: String,
    /// 0..=1; lower means more doubtful answers and lower logprobs.
    #[serde(default = "default_quality")]
    pub quality: f64,
    /// Typical answer length in tokens.
    #[serde(default = "default_output_tokens")]
    pub output_tokens: u64,
    /// Delay before the first token.
    #[serde(default, with = "crate::types::duration")]
    pub first_token_latency: Duration,
    /// Delay per generated token.
    #[serde(default, with = "crate::types::duration")]
    pub per_token_latency: Duration,
    /// Tokens (words) per stream chunk.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Set for embedding models: the vector size.
    #[serde(default)]
    pub dimensions: Option<usize>,
}

/// A CSV of recorded answers: `prompt_column` plus one response column per model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// CSV file path (relative paths are relative to the working directory).
    pub path: String,
    /// Column holding the prompt.
    #[serde(default = "default_prompt_column")]
    pub prompt_column: String,
    /// Simulated model name → response column.
    pub responses: BTreeMap<String, String>,
}

/// Retry settings (see `RetryPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Backoff cap of the first retry; doubles per retry.
    #[serde(default = "default_backoff_base", with = "crate::types::duration")]
    pub backoff_base: Duration,
    /// Largest backoff; also the largest `Retry-After` honoured.
    #[serde(default = "default_backoff_max", with = "crate::types::duration")]
    pub backoff_max: Duration,
}

/// Circuit breaker settings (see `CircuitBreaker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through.
    #[serde(default = "default_cooldown", with = "crate::types::duration")]
    pub cooldown: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_pool_idle_timeout() -> Duration {
    Duration::from_secs(90)
}
fn default_pool_max_idle() -> usize {
    32
}
fn default_quality() -> f64 {
    0.8
}
fn default_output_tokens() -> u64 {
    120
}
fn default_chunk_size() -> usize {
    4
}
fn default_prompt_column() -> String {
    "prompt".to_owned()
}
fn default_max_retries() -> u32 {
    2
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(100)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(2)
}
fn default_failure_threshold() -> u32 {
    5
}
fn default_cooldown() -> Duration {
    Duration::from_secs(30)
}

// ---- ProviderSettings
impl ProviderSettings {
    /// The provider's configured name.
    pub fn name(&self) -> &str {
        match self {
            ProviderSettings::OpenaiCompatible(s) => &s.name,
            ProviderSettings::Simulated(s) => &s.name,
        }
    }
    /// Its retry settings.
    pub fn retry(&self) -> RetrySettings {
        match self {
            ProviderSettings::OpenaiCompatible(s) => s.retry,
            ProviderSettings::Simulated(s) => s.retry,
        }
    }
    /// Its circuit breaker settings.
    pub fn circuit_breaker(&self) -> BreakerSettings {
        match self {
            ProviderSettings::OpenaiCompatible(s) => s.circuit_breaker,
            ProviderSettings::Simulated(s) => s.circuit_breaker,
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: default_failure_threshold(),
            cooldown: default_cooldown(),
        }
    }
}

impl SimulatedModel {
    /// A chat model with defaults for everything but name and quality.
    pub fn chat(name: &str, quality: f64, output_tokens: u64) -> Self {
        Self {
            name: name.to_owned(),
            quality,
            output_tokens,
            first_token_latency: Duration::ZERO,
            per_token_latency: Duration::ZERO,
            chunk_size: default_chunk_size(),
            dimensions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type File = Settings;

    #[test]
    fn brief_example_parses_with_defaults() {
        let f: File = toml::from_str(
            r#"
            [[providers]]
            name = "openai"
            kind = "openai_compatible"
            base_url = "https://api.openai.com/v1"
            api_key_env = "OPENAI_API_KEY"
            auth = "bearer"
            timeout = "60s"
            connect_timeout = "5s"
            retry = { max_retries = 2, backoff_base = "100ms", backoff_max = "2s" }
            circuit_breaker = { failure_threshold = 5, cooldown = "30s" }

            [[providers]]
            name = "azure"
            kind = "openai_compatible"
            base_url = "https://x.openai.azure.com/openai/deployments/gpt4o"
            api_key_env = "AZURE_KEY"
            auth = "api_key_header"
            query = { "api-version" = "2024-10-21" }

            [[providers]]
            name = "simulated"
            kind = "simulated"
            models = [{ name = "gpt-4o-mini", quality = 0.75, output_tokens = 120,
                        per_token_latency = "5ms" }]
            "#,
        )
        .unwrap();
        assert_eq!(f.providers.len(), 3);
        let ProviderSettings::OpenaiCompatible(az) = &f.providers[1] else {
            panic!("azure is http")
        };
        assert_eq!(az.auth, AuthMode::ApiKeyHeader);
        assert_eq!(az.timeout, Duration::from_secs(60));
        assert_eq!(az.query["api-version"], "2024-10-21");
        let ProviderSettings::Simulated(sim) = &f.providers[2] else {
            panic!("simulated")
        };
        assert_eq!(sim.models[0].per_token_latency, Duration::from_millis(5));
        assert_eq!(sim.models[0].chunk_size, 4);
        assert_eq!(
            f.providers[0].retry().backoff_base,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_rejected() {
        let bad_field =
            toml::from_str::<File>("[[providers]]\nname='s'\nkind='simulated'\nmodle=[]\n");
        assert!(bad_field.is_err());
        let bad_dur = toml::from_str::<File>(
            "[[providers]]\nname='o'\nkind='openai_compatible'\nbase_url='http://x'\ntimeout='60'\n",
        );
        assert!(bad_dur.unwrap_err().to_string().contains("missing unit"));
    }
}
