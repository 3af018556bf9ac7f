//! Loading: read raw files, convert to validated types, collect every error with its file and
//! key before failing ("parse, don't validate").

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::schema::{DEFAULT_GATEWAY, GatewaySettings, ModelKind};
use super::{ModelEntry, Snapshot};
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
    match providers {
        Some(providers) if errors.is_empty() => Ok(Snapshot {
            generation,
            prices,
            models,
            providers: Arc::new(providers),
            watched: [routes_dir, pricing_dir]
                .into_iter()
                .filter(|p| p.exists())
                .collect(),
        }),
        _ => Err(ConfigErrors(errors)),
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
