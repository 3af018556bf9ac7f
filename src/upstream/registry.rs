//! `Providers`: every configured upstream by name, each with its retry policy and circuit
//! breaker, built from `[[providers]]` settings at startup.

use std::collections::HashMap;
use std::sync::Arc;

use crate::upstream::resilience::{CircuitBreaker, Jitter, RetryPolicy, UpstreamHandle};
use crate::upstream::{Error, OpenAiCompatible, Provider, ProviderSettings, Secret, Simulated};

/// The provider registry. Immutable once built; rebuild it on config reload.
#[derive(Debug, Default)]
pub struct Providers {
    handles: HashMap<String, UpstreamHandle>,
}

// ---- Providers
impl Providers {
    /// Builds every provider, reading API keys from the process environment.
    ///
    /// # Errors
    /// The first of: `DuplicateProvider`, `MissingApiKey`, `InvalidBaseUrl`, `InvalidHeader`,
    /// `HttpClient`, `InvalidSimulatedModel`.
    pub fn try_new(settings: &[ProviderSettings]) -> Result<Self, Error> {
        Self::try_new_with_env(settings, &|var| std::env::var(var).ok())
    }

    /// Same as `try_new` with an injectable environment lookup (for tests).
    ///
    /// # Errors
    /// As `try_new`.
    pub fn try_new_with_env(
        settings: &[ProviderSettings],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut out = Self::default();
        for s in settings {
            if out.handles.contains_key(s.name()) {
                return Err(Error::DuplicateProvider {
                    name: s.name().to_owned(),
                });
            }
            let provider: Arc<dyn Provider> = match s {
                ProviderSettings::OpenaiCompatible(h) => {
                    let key =
                        match &h.api_key_env {
                            Some(var) => Some(env(var).map(Secret::new).ok_or_else(|| {
                                Error::MissingApiKey {
                                    provider: h.name.clone(),
                                    env_var: var.clone(),
                                }
                            })?),
                            None => None,
                        };
                    Arc::new(OpenAiCompatible::try_new(h, key)?)
                }
                ProviderSettings::Simulated(sim) => Arc::new(Simulated::try_new(sim)?),
            };
            let handle = UpstreamHandle::new(
                provider,
                RetryPolicy::from_settings(s.retry()),
                CircuitBreaker::from_settings(s.circuit_breaker()),
            );
            out.handles.insert(s.name().to_owned(), handle);
        }
        Ok(out)
    }

    /// Adds (or replaces) a provider built elsewhere, e.g. a test double.
    pub fn insert(
        &mut self,
        provider: Arc<dyn Provider>,
        policy: RetryPolicy,
        breaker: CircuitBreaker,
    ) {
        let name = provider.name().to_owned();
        self.handles
            .insert(name, UpstreamHandle::new(provider, policy, breaker));
    }

    /// The provider named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.handles.get(name).map(|h| Arc::clone(&h.provider))
    }

    /// Provider, policy, breaker and jitter together, for `call_chat` / `call_stream`.
    pub fn handle(&self, name: &str) -> Option<&UpstreamHandle> {
        self.handles.get(name)
    }

    /// The circuit breaker of `name`.
    pub fn breaker(&self, name: &str) -> Option<&Arc<CircuitBreaker>> {
        self.handles.get(name).map(|h| &h.breaker)
    }

    /// The retry policy of `name`.
    pub fn policy(&self, name: &str) -> Option<RetryPolicy> {
        self.handles.get(name).map(|h| h.policy)
    }

    /// Configured provider names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.handles.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Replaces the jitter source of every provider (seeded runs).
    pub fn set_jitter_seed(&mut self, seed: u64) {
        for (i, h) in self.handles.values_mut().enumerate() {
            h.jitter = Arc::new(Jitter::seeded(seed.wrapping_add(i as u64)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::BreakerState;

    fn parse(s: &str) -> Vec<ProviderSettings> {
        toml::from_str::<crate::upstream::Settings>(s)
            .unwrap()
            .providers
    }

    const TWO: &str = r#"
        [[providers]]
        name = "openai"
        kind = "openai_compatible"
        base_url = "http://127.0.0.1:9/v1"
        api_key_env = "PURSER_TEST_OPENAI_KEY"
        retry = { max_retries = 4, backoff_base = "10ms", backoff_max = "1s" }
        [[providers]]
        name = "sim"
        kind = "simulated"
    "#;

    #[test]
    fn builds_named_providers_with_policies_and_breakers() {
        let env = |v: &str| (v == "PURSER_TEST_OPENAI_KEY").then(|| "sk-test-123".to_owned());
        let p = Providers::try_new_with_env(&parse(TWO), &env).unwrap();
        assert_eq!(p.names(), ["openai", "sim"]);
        assert_eq!(p.get("openai").unwrap().name(), "openai");
        assert_eq!(p.policy("openai").unwrap().max_retries, 4);
        assert_eq!(p.breaker("sim").unwrap().state(), BreakerState::Closed);
        assert!(p.get("nope").is_none());
        assert!(!format!("{p:?}").contains("sk-test-123"));
    }

    #[test]
    fn missing_key_and_duplicate_names_fail() {
        let err = Providers::try_new_with_env(&parse(TWO), &|_| None).unwrap_err();
        assert!(
            matches!(err, Error::MissingApiKey { ref env_var, .. } if env_var == "PURSER_TEST_OPENAI_KEY")
        );
        let dup = parse(
            "[[providers]]\nname='a'\nkind='simulated'\n[[providers]]\nname='a'\nkind='simulated'\n",
        );
        assert!(matches!(
            Providers::try_new_with_env(&dup, &|_| None),
            Err(Error::DuplicateProvider { .. })
        ));
    }
}
