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
        }
    }

    /// The catalogue entry of a model.
    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.get(&ModelId::new(id))
    }

    /// The provider client serving a model.
    pub fn provider_for(&self, m: &ModelEntry) -> Option<Arc<dyn Provider>> {
        self.providers.get(&m.provider)
    }
}
