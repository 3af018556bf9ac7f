//! Configuration: file schemas, loading, cross-file validation and hot reload.
//! The gateway file (`purser.toml`, or the built-in default) names the providers, the model
//! catalogue, server and state settings; `routes/*.toml` holds routes and workflows; `pricing/`
//! holds price tables. Everything that may change at run time is one immutable `Snapshot`,
//! swapped atomically. Uses every module to its left; knows nothing of HTTP.

mod load;
mod reload;
mod schema;

pub use load::{ConfigError, ConfigErrors, load_gateway, load_snapshot};
pub use reload::{ConfigHandle, spawn_reloader};
pub use schema::{DataSettings, GatewaySettings, ModelSettings, ServerSettings};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::budget::{BudgetConfig, KeyRing};
use crate::pricing::{ModelPrice, PriceTable};
use crate::types::ModelId;
use crate::upstream::{Provider, Providers};

/// A model a client may name, with where it is served and what it costs.
#[derive(Clone)]
pub struct ModelEntry {
    /// Gateway model id (what clients send).
    pub id: ModelId,
    /// Provider name.
    pub provider: String,
    /// Model name sent to the provider.
    pub upstream_model: String,
    /// Its price.
    pub price: ModelPrice,
    /// Whether it is an embeddings model.
    pub is_embedding: bool,
}

/// Everything a request reads from configuration, immutable once built.
pub struct Snapshot {
    /// Increments on every successful (re)load.
    pub generation: u64,
    /// Price tables.
    pub prices: PriceTable,
    /// Model catalogue by id.
    pub models: BTreeMap<ModelId, ModelEntry>,
    /// Provider clients.
    pub providers: Arc<Providers>,
    /// Where routes and pricing were read from (watched for changes).
    pub watched: Vec<PathBuf>,
    /// Validated envelopes and workflows.
    pub budget: Arc<BudgetConfig>,
    /// Virtual keys and the admin key.
    pub keys: Arc<KeyRing>,
    /// Cache safety policy per workflow.
    pub cache_policy: crate::cache::Policy,
    /// Hash of the routing tables; part of cache keys so a routing change splits entries.
    pub routing_version: String,
    /// Compressors by workflow; `default_compressor` for the rest.
    pub compressors: BTreeMap<String, Arc<crate::compress::Compressor>>,
    /// The gateway-wide compressor.
    pub default_compressor: Arc<crate::compress::Compressor>,
}

impl Snapshot {
    /// A snapshot with nothing configured (placeholder contexts, tests).
    pub fn empty() -> Self {
        Self {
            generation: 0,
            prices: PriceTable::default(),
            models: BTreeMap::new(),
            providers: Arc::new(Providers::default()),
            watched: Vec::new(),
            budget: Arc::new(empty_budget()),
            keys: Arc::new(KeyRing::new(&empty_budget(), None)),
            cache_policy: off_policy(),
            routing_version: String::new(),
            compressors: BTreeMap::new(),
            default_compressor: off_compressor(),
        }
    }

    /// The catalogue entry of a model.
    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.get(&ModelId::new(id))
    }

    /// The compressor of a workflow.
    pub fn compressor_for(
        &self,
        wf: &crate::types::WorkflowId,
    ) -> Arc<crate::compress::Compressor> {
        self.compressors
            .get(wf.as_str())
            .cloned()
            .unwrap_or_else(|| Arc::clone(&self.default_compressor))
    }

    /// The provider client serving a model.
    pub fn provider_for(&self, m: &ModelEntry) -> Option<Arc<dyn Provider>> {
        self.providers.get(&m.provider)
    }
}

fn empty_budget() -> BudgetConfig {
    // The default settings always validate; fall back to a closed config if that ever changes.
    crate::budget::Settings::default()
        .validate("budget")
        .unwrap_or_else(|_| BudgetConfig {
            allow_anonymous: false,
            admin_key_env: None,
            default_envelope: Arc::new(crate::budget::Envelope {
                per_task: None,
                daily: None,
                monthly: None,
                step_limit: None,
                max_output_tokens: None,
                on_limit: crate::budget::OnLimit::Deny,
                thresholds_bps: Vec::new(),
            }),
            workflows: Vec::new(),
            task_idle_after: std::time::Duration::from_secs(1800),
            task_retention: std::time::Duration::from_secs(7 * 86400),
            reservation_ttl: std::time::Duration::from_secs(900),
        })
}

#[expect(
    clippy::expect_used,
    reason = "settings with the cache off have nothing to reject"
)]
fn off_policy() -> crate::cache::Policy {
    crate::cache::Policy::try_new(crate::cache::Settings {
        mode: crate::cache::Mode::Off,
        ..crate::cache::Settings::default()
    })
    .expect("cache-off settings validate")
}

#[expect(
    clippy::expect_used,
    reason = "default compression settings always validate"
)]
fn off_compressor() -> Arc<crate::compress::Compressor> {
    let settings = crate::compress::Settings {
        mode: crate::compress::Mode::Off,
        ..crate::compress::Settings::default()
    };
    let store = Arc::new(crate::compress::MokaSummaryStore::new(1));
    Arc::new(crate::compress::Compressor::try_new(settings, store).expect("off settings validate"))
}
