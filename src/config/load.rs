//! Loading: read raw files, convert to validated types, collect every error with its file and
//! key before failing ("parse, don't validate").

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::schema::{DEFAULT_GATEWAY, GatewaySettings, ModelKind, RoutesFile};
use super::{ModelEntry, Snapshot};
use crate::budget::{BudgetConfig, KeyRing, WorkflowSettings};
use crate::compress::{Compressor, SummaryStore};
use crate::pricing::PriceTable;
use crate::types::ModelId;
use crate::upstream::Providers;

/// One configuration problem.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// File it was found in.
    pub file: String,
    /// Key path, when known.
    pub key: Option<String>,
    /// What is wrong (toml's messages carry line and column).
    pub message: String,
}

/// Every problem found in one load.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: {}: {}", self.file, k, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn err(file: &str, key: Option<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        key,
        message: message.into(),
    }
}

/// Reads the gateway file (`None` = the built-in default). Returns the settings and the folder
/// relative paths resolve against (the file's folder, or the working directory).
pub fn load_gateway(path: Option<&Path>) -> Result<(GatewaySettings, PathBuf), ConfigErrors> {
    let (name, text, base) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigErrors(vec![err(&p.display().to_string(), None, e.to_string())])
            })?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (p.display().to_string(), text, base)
        }
        None => (
            "<built-in purser.toml>".to_owned(),
            DEFAULT_GATEWAY.to_owned(),
            PathBuf::from("."),
        ),
    };
    let gw: GatewaySettings =
        toml::from_str(&text).map_err(|e| ConfigErrors(vec![err(&name, None, e.to_string())]))?;
    Ok((gw, base))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Builds a snapshot from gateway settings plus the routes and pricing folders.
pub fn load_snapshot(
    gw: &GatewaySettings,
    base: &Path,
    generation: u64,
    summaries: &Arc<dyn SummaryStore>,
) -> Result<Snapshot, ConfigErrors> {
    let mut errors = Vec::new();
    let pricing_dir = resolve(base, &gw.pricing_dir);
    let prices = if pricing_dir.is_dir() {
        PriceTable::load_dir(&pricing_dir)
    } else {
        PriceTable::builtin()
    }
    .unwrap_or_else(|es| {
        errors.extend(es.into_iter().map(|e| err("pricing", None, e.to_string())));
        PriceTable::default()
    });
    let providers =
        Providers::try_new(&gw.providers).map_err(|e| err("providers", None, e.to_string()));
    let models = build_models(gw, &prices, &mut errors);
    let providers = match providers {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if let Some(p) = &providers {
        for m in models.values() {
            if p.get(&m.provider).is_none() {
                errors.push(err(
                    "models",
                    Some(format!("models.{}.provider", m.id)),
                    format!("unknown provider `{}`", m.provider),
                ));
            }
        }
    }
    let routes_dir = resolve(base, &gw.routes_dir);
    let routes = read_routes(&routes_dir, &mut errors);
    let budget = build_budget(gw, &routes, &mut errors);
    let cache_policy = build_cache_policy(gw, &routes, &mut errors);
    let routing_version = routes_hash(&routes_dir);
    let (compressors, default_compressor) = build_compressors(gw, &routes, summaries, &mut errors);
    match (providers, budget, cache_policy, default_compressor) {
        (Some(providers), Some(budget), Some(cache_policy), Some(default_compressor))
            if errors.is_empty() =>
        {
            Ok(Snapshot {
                compressors,
                default_compressor,
                cache_policy,
                routing_version,
                keys: Arc::new(KeyRing::from_env(&budget)),
                budget: Arc::new(budget),
                generation,
                prices,
                models,
                providers: Arc::new(providers),
                watched: [routes_dir, pricing_dir]
                    .into_iter()
                    .filter(|p| p.exists())
                    .collect(),
            })
        }
        _ => Err(ConfigErrors(errors)),
    }
}

/// The built-in routes, used when the routes folder does not exist.
const DEFAULT_ROUTES: &str = include_str!("../../routes/default.toml");

/// Every routes file, by name, parsed. A missing folder means the built-in `default.toml`.
fn read_routes(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<(String, RoutesFile)> {
    let mut texts = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for f in files {
                match std::fs::read_to_string(&f) {
                    Ok(t) => texts.push((f.display().to_string(), t)),
                    Err(e) => errors.push(err(&f.display().to_string(), None, e.to_string())),
                }
            }
        }
        Err(_) => texts.push((
            "<built-in routes/default.toml>".to_owned(),
            DEFAULT_ROUTES.to_owned(),
        )),
    }
    texts
        .into_iter()
        .filter_map(|(name, text)| match toml::from_str::<RoutesFile>(&text) {
            Ok(f) => Some((name, f)),
            Err(e) => {
                errors.push(err(&name, None, e.to_string()));
                None
            }
        })
        .collect()
}

/// Gateway `[cache]` plus every workflow's `cache` table.
fn build_cache_policy(
    gw: &GatewaySettings,
    routes: &[(String, RoutesFile)],
    errors: &mut Vec<ConfigError>,
) -> Option<crate::cache::Policy> {
    let mut settings = gw.cache.clone();
    for (_, r) in routes {
        for (name, w) in &r.workflow {
            if let Some(p) = &w.cache {
                settings
                    .workflows
                    .insert(crate::types::WorkflowId(name.clone()), p.clone());
            }
        }
    }
    crate::cache::Policy::try_new(settings)
        .map_err(|e| errors.push(err("cache", None, e.to_string())))
        .ok()
}

type Compressors = (BTreeMap<String, Arc<Compressor>>, Option<Arc<Compressor>>);

/// One compressor per workflow with a `compress` table, plus the gateway default.
fn build_compressors(
    gw: &GatewaySettings,
    routes: &[(String, RoutesFile)],
    store: &Arc<dyn SummaryStore>,
    errors: &mut Vec<ConfigError>,
) -> Compressors {
    let mut build = |file: &str, key: String, s: &crate::compress::Settings| {
        Compressor::try_new(s.clone(), Arc::clone(store))
            .map(Arc::new)
            .map_err(|e| errors.push(err(file, Some(key), e.to_string())))
            .ok()
    };
    let default = build("gateway", "compress".into(), &gw.compress);
    let mut out = BTreeMap::new();
    for (file, r) in routes {
        for (name, w) in &r.workflow {
            if let Some(s) = &w.compress
                && let Some(c) = build(file, format!("workflow.{name}.compress"), s)
            {
                out.insert(name.clone(), c);
            }
        }
    }
    (out, default)
}

/// sha256 over the routes folder's files (names and bytes), as the routing version.
fn routes_hash(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().filter(|p| p.is_file()) {
        h.update(
            f.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        h.update(std::fs::read(f).unwrap_or_default());
    }
    format!("routes-{}", &hex::encode(h.finalize())[..16])
}

/// Gateway `[budget]` plus every `[workflow.NAME]` of the routes files, validated together.
fn build_budget(
    gw: &GatewaySettings,
    routes: &[(String, RoutesFile)],
    errors: &mut Vec<ConfigError>,
) -> Option<BudgetConfig> {
    let mut settings = gw.budget.clone();
    for (file, r) in routes {
        for (name, w) in &r.workflow {
            if settings.workflows.iter().any(|x| &x.name == name) {
                errors.push(err(
                    file,
                    Some(format!("workflow.{name}")),
                    "workflow defined twice",
                ));
                continue;
            }
            settings.workflows.push(WorkflowSettings {
                name: name.clone(),
                keys: w.keys.clone(),
                envelope: w.budget.clone(),
            });
        }
    }
    if let Err(es) = gw.state.validate("state") {
        errors.extend(es.into_iter().map(|e| err("gateway", None, e.to_string())));
    }
    match settings.validate("budget") {
        Ok(b) => Some(b),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| err("budget", None, e.to_string())));
            None
        }
    }
}

fn build_models(
    gw: &GatewaySettings,
    prices: &PriceTable,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<ModelId, ModelEntry> {
    let mut out = BTreeMap::new();
    for (i, m) in gw.models.iter().enumerate() {
        let key = m.price.clone().unwrap_or_else(|| m.name.clone());
        let Some(price) = prices.get(&key) else {
            errors.push(err(
                "gateway",
                Some(format!("models[{i}].price")),
                format!("no price table entry for `{key}` (every routable model needs a price)"),
            ));
            continue;
        };
        let id = ModelId::new(&m.name);
        if out.contains_key(&id) {
            errors.push(err(
                "gateway",
                Some(format!("models[{i}].name")),
                format!("duplicate model `{}`", m.name),
            ));
            continue;
        }
        out.insert(
            id.clone(),
            ModelEntry {
                id,
                provider: m.provider.clone(),
                upstream_model: m.upstream_model.clone().unwrap_or_else(|| m.name.clone()),
                price: price.clone(),
                is_embedding: m.kind == ModelKind::Embeddings,
            },
        );
    }
    out
}
