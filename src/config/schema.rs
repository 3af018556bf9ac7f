//! Raw file schemas (serde, `deny_unknown_fields`). Values are checked in `load`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::upstream::ProviderSettings;

/// The built-in gateway file, used when no `--config` is given.
pub(crate) const DEFAULT_GATEWAY: &str = include_str!("../../purser.toml");

/// The gateway file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// HTTP server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Where state lives.
    #[serde(default)]
    pub data: DataSettings,
    /// Folder of routing tables, relative to the config file (or the working directory).
    #[serde(default = "default_routes_dir")]
    pub routes_dir: PathBuf,
    /// Folder of price tables; the built-in tables when absent.
    #[serde(default = "default_pricing_dir")]
    pub pricing_dir: PathBuf,
    /// The audit ledger.
    #[serde(default)]
    pub ledger: crate::ledger::Settings,
    /// Identity and cost envelopes (workflows may also come from routes files).
    #[serde(default)]
    pub budget: crate::budget::Settings,
    /// Where budgets, reservations and task state live.
    #[serde(default)]
    pub state: crate::budget::StateSettings,
    /// The response cache (per-workflow policies may also come from routes files).
    #[serde(default)]
    pub cache: crate::cache::Settings,
    /// Context compression for workflows without their own `compress` table.
    #[serde(default)]
    pub compress: crate::compress::Settings,
    /// Cost reports.
    #[serde(default)]
    pub report: crate::report::Settings,
    /// Alert delivery and the month-end forecast.
    #[serde(default)]
    pub alerts: crate::alert::Settings,
    /// Upstream providers.
    #[serde(default)]
    pub providers: Vec<ProviderSettings>,
    /// The model catalogue.
    #[serde(default)]
    pub models: Vec<ModelSettings>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Upper bound of a whole request, all attempts included.
    #[serde(default = "default_request_timeout", with = "crate::types::duration")]
    pub request_timeout: Duration,
    /// How long SIGTERM waits for in-flight requests.
    #[serde(default = "default_grace", with = "crate::types::duration")]
    pub shutdown_grace: Duration,
    /// Load the BPE tables of the configured models at start (~40 MB RSS each). Off by default:
    /// with provider-reported usage and short prompts the gateway never needs them, and the
    /// first request that does pays a one-time load of about 0.1-0.2 s.
    #[serde(default)]
    pub preload_tokenizers: bool,
    /// Serving threads, each with its own runtime, listener and upstream pools; 0 (the
    /// default) means one per CPU.
    #[serde(default)]
    pub workers: usize,
    /// How long a serving thread keeps polling after its last event before it sleeps ("0":
    /// sleep at once). Costs at most this much CPU per idle gap; saves the OS wake-up (tens
    /// of µs on a VM) when the next event comes sooner.
    #[serde(default = "default_spin", with = "crate::types::duration")]
    pub spin: Duration,
}

/// `[data]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    /// State folder (ledger, ...), relative to the working directory.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
}

/// One `[[models]]` entry: a model clients may name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Name clients use.
    pub name: String,
    /// Provider serving it.
    pub provider: String,
    /// Name sent upstream; defaults to `name`.
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// Price table key (`provider/model` or a unique model name); defaults to `name`.
    #[serde(default)]
    pub price: Option<String>,
    /// `chat` (default) or `embeddings`.
    #[serde(default)]
    pub kind: ModelKind,
}

/// What a model serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Chat completions.
    #[default]
    Chat,
    /// Embeddings.
    Embeddings,
}

fn default_routes_dir() -> PathBuf {
    PathBuf::from("routes")
}
fn default_pricing_dir() -> PathBuf {
    PathBuf::from("pricing")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_max_body() -> usize {
    10 * 1024 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_spin() -> Duration {
    Duration::from_micros(100)
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("purser-data")
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            request_timeout: default_request_timeout(),
            shutdown_grace: default_grace(),
            preload_tokenizers: false,
            workers: 0,
            spin: default_spin(),
        }
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            dir: default_data_dir(),
        }
    }
}

/// One routes file (`routes/*.toml`): routes and per-workflow settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoutesFile {
    /// Routes (virtual models).
    #[serde(default)]
    pub route: Vec<crate::router::RouteSettings>,
    /// Workflows by name.
    #[serde(default)]
    pub workflow: std::collections::BTreeMap<String, WorkflowFile>,
}

/// `[workflow.NAME]` in a routes file: everything a workflow configures, one table per concern.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowFile {
    /// Virtual keys bound to the workflow, as `sha256:<hex>` (`purser keys new`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Cost envelope.
    #[serde(default)]
    pub budget: crate::budget::EnvelopeSettings,
    /// Cache policy.
    #[serde(default)]
    pub cache: Option<crate::cache::WorkflowCachePolicy>,
    /// Context compression.
    #[serde(default)]
    pub compress: Option<crate::compress::Settings>,
    /// Routing overrides: pin, forbidden tiers, step kinds, kill switch.
    #[serde(default)]
    pub routing: Option<crate::router::WorkflowRouting>,
}
