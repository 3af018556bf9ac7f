//! The classifier artifact (versioned JSON) and the in-process `Classifier` that scores requests.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Error;
use super::features::{ANSWER_DENSE, Featurizer, PROMPT_DENSE, RequestShape};
use super::linear::{CompiledLinear, FitConfig, LinearModel, sigmoid};
use super::metrics::RouterMetrics;
use crate::api::ChatRequest;

/// Artifact format tag; bumped when the feature layout changes.
pub const ARTIFACT_FORMAT: &str = "purser-router/2";

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What the route model was trained to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `max(0, strong - weak)`: the strong model is better (data-set agnostic, soft).
    Gain,
    /// `1 - weak`: the weak model is not good enough.
    WeakWrong,
    /// `(strong - weak + 1) / 2`: soft win rate of the strong model.
    Win,
}

/// A trained router: route model, optional answer verifier, and training metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterArtifact {
    /// Always [`ARTIFACT_FORMAT`].
    pub format: String,
    /// Artifact name (e.g. `router-v1`).
    pub name: String,
    /// Content hash of the weights (16 hex digits); changes whenever a weight changes.
    pub version: String,
    /// Hashed features use `2^hash_bits` buckets.
    pub hash_bits: u32,
    /// Route model: P(the cheap tier is not good enough | request).
    pub route: LinearModel,
    /// Verifier: P(the cheap answer is wrong | prompt, answer); absent without response data.
    pub verifier: Option<LinearModel>,
    /// Where the weights came from and how well they did.
    pub metadata: TrainMetadata,
}

/// Training description stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainMetadata {
    /// Data description.
    pub data: DataDescription,
    /// Feature description.
    pub features: FeatureDescription,
    /// Route label.
    pub target: Target,
    /// Verifier label.
    pub verifier_target: Target,
    /// Route trainer settings.
    pub fit: FitConfig,
    /// Verifier trainer settings.
    pub verifier_fit: FitConfig,
    /// Cross-validated metrics.
    pub cv: CvReport,
}

/// The training data, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDescription {
    /// Free text (e.g. source and split).
    pub description: String,
    /// CSV files read.
    pub files: usize,
    /// Weak model column.
    pub weak_column: String,
    /// Strong model column.
    pub strong_column: String,
    /// Rows per data set and their mean qualities.
    pub datasets: BTreeMap<String, DatasetSummary>,
}

/// One data set's size and base qualities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSummary {
    /// Rows.
    pub rows: usize,
    /// Rows with a weak-model response.
    pub with_responses: usize,
    /// Mean weak quality.
    pub weak_quality: f64,
    /// Mean strong quality.
    pub strong_quality: f64,
}

/// Feature layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDescription {
    /// Route model dense features.
    pub prompt_dense: Vec<String>,
    /// Extra verifier dense features (after the prompt's).
    pub answer_dense: Vec<String>,
    /// What is hashed.
    pub hashed: String,
}

/// K-fold cross-validation results per data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvReport {
    /// Number of folds (fold = FNV hash of the prompt, seeded, modulo folds).
    pub folds: usize,
    /// Fold assignment seed (0 for artifacts written before it existed).
    #[serde(default)]
    pub fold_seed: u64,
    /// Route-only metrics (out-of-fold route scores).
    pub route: BTreeMap<String, RouterMetrics>,
    /// Cascade metrics (out-of-fold verifier scores on the weak answer).
    pub cascade: BTreeMap<String, RouterMetrics>,
}

/// A loaded classifier, ready to score in microseconds.
#[derive(Debug, Clone)]
pub struct Classifier {
    name: String,
    version: String,
    featurizer: Featurizer,
    route: CompiledLinear,
    verifier: Option<CompiledLinear>,
}

// --- RouterArtifact ---

impl RouterArtifact {
    /// Content hash of the route and verifier weights.
    pub(crate) fn weights_version(route: &LinearModel, verifier: Option<&LinearModel>) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(route).unwrap_or_default());
        if let Some(v) = verifier {
            h.update(serde_json::to_vec(v).unwrap_or_default());
        }
        hex::encode(&h.finalize()[..8])
    }

    /// Reads and checks an artifact file: JSON, or gzip-compressed JSON (told by its magic
    /// bytes, whatever the file is called).
    ///
    /// Errors: unreadable file, bad gzip or JSON, wrong format tag.
    pub fn read(path: &Path) -> Result<RouterArtifact, Error> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut bytes = std::fs::read(path).map_err(io)?;
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut json = Vec::with_capacity(bytes.len() * 4);
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut json)
                .map_err(io)?;
            bytes = json;
        }
        let a: RouterArtifact = serde_json::from_slice(&bytes).map_err(|e| Error::Artifact {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if a.format != ARTIFACT_FORMAT {
            return Err(Error::Artifact {
                path: path.display().to_string(),
                message: format!("format {:?}, expected {ARTIFACT_FORMAT:?}", a.format),
            });
        }
        Ok(a)
    }

    /// Writes the artifact to `path`: gzip-compressed JSON when the name ends in `.gz` (the
    /// shipped artifact: a third of the size), plain JSON otherwise. Returns the bytes written.
    ///
    /// Errors: serialisation or file system failure.
    pub fn write(&self, path: &Path) -> Result<usize, Error> {
        let json = self.to_json()?;
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = if path.extension().is_some_and(|e| e == "gz") {
            // No file name or time in the header, so the same weights give the same bytes.
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, json.as_bytes()).map_err(io)?;
            gz.finish().map_err(io)?
        } else {
            json.into_bytes()
        };
        std::fs::write(path, &bytes).map_err(io)?;
        Ok(bytes.len())
    }

    /// Serialises deterministically (fields in declaration order, maps sorted, one line).
    ///
    /// Errors: serialisation failure (not expected for finite weights).
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Artifact {
            path: self.name.clone(),
            message: e.to_string(),
        })
    }
}

// --- Classifier ---

impl Classifier {
    /// Compiles an artifact.
    ///
    /// Errors: the artifact's feature layout does not match this build.
    pub fn from_artifact(a: &RouterArtifact) -> Result<Classifier, Error> {
        let mismatch = |what: &str| Error::Artifact {
            path: a.name.clone(),
            message: format!("{what} layout does not match this build"),
        };
        if !(4..=24).contains(&a.hash_bits) {
            return Err(mismatch("hash_bits"));
        }
        let route = a
            .route
            .compile(a.hash_bits, PROMPT_DENSE)
            .ok_or_else(|| mismatch("route"))?;
        let verifier_names: Vec<&str> = PROMPT_DENSE.iter().chain(ANSWER_DENSE).copied().collect();
        let verifier = match &a.verifier {
            Some(v) => Some(
                v.compile(a.hash_bits, &verifier_names)
                    .ok_or_else(|| mismatch("verifier"))?,
            ),
            None => None,
        };
        Ok(Classifier {
            name: a.name.clone(),
            version: a.version.clone(),
            featurizer: Featurizer::new(a.hash_bits),
            route,
            verifier,
        })
    }

    /// Reads and compiles an artifact file.
    ///
    /// Errors: as [`RouterArtifact::read`] and [`Classifier::from_artifact`].
    pub fn load(path: &Path) -> Result<Classifier, Error> {
        Self::from_artifact(&RouterArtifact::read(path)?)
    }

    /// Artifact name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Artifact version (weights hash).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// P(the cheap tier is not good enough) for a chat request: last user turn plus shape.
    pub fn strong_probability(&self, req: &ChatRequest) -> f64 {
        let (text, shape) = RequestShape::of(req);
        sigmoid(self.route.logit(&self.featurizer.prompt(&text, &shape)))
    }

    /// P(the cheap tier is not good enough) for a bare single-turn prompt.
    pub fn strong_probability_text(&self, prompt: &str) -> f64 {
        let x = self.featurizer.prompt(prompt, &RequestShape::single_turn());
        sigmoid(self.route.logit(&x))
    }

    /// P(the cheap answer is wrong) from the verifier; `None` when the artifact has none.
    pub fn escalate_probability(&self, prompt: &str, answer: &str) -> Option<f64> {
        let v = self.verifier.as_ref()?;
        Some(sigmoid(v.logit(&self.featurizer.answer(prompt, answer))))
    }

    /// Whether the artifact carries an answer verifier.
    pub fn has_verifier(&self) -> bool {
        self.verifier.is_some()
    }
}

// --- Target ---

impl Target {
    /// The soft label of a (weak, strong) quality pair.
    pub fn label(self, weak: f64, strong: f64) -> f64 {
        match self {
            Target::Gain => (strong - weak).clamp(0.0, 1.0),
            Target::WeakWrong => (1.0 - weak).clamp(0.0, 1.0),
            Target::Win => ((strong - weak + 1.0) / 2.0).clamp(0.0, 1.0),
        }
    }
}
