//! Training: labelled rows → features → k-fold cross-validation → final fit → artifact.
//! Deterministic: folds come from a hash of the prompt, shuffles from a fixed seed, and the
//! artifact holds no timestamps, so the same data gives the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;
use super::dataset::{LabelledRow, ModelColumns, by_dataset};
use super::features::{ANSWER_DENSE, FeatureVec, Featurizer, PROMPT_DENSE, RequestShape, fnv1a};
use super::linear::{Example, FitConfig, fit};
use super::metrics::{RouterMetrics, evaluate};
use super::model::{
    ARTIFACT_FORMAT, CvReport, DataDescription, DatasetSummary, FeatureDescription, RouterArtifact,
    Target, TrainMetadata,
};

/// Everything the trainer needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Artifact name.
    pub name: String,
    /// Free-text data description stored in the artifact.
    pub description: String,
    /// Hash buckets = `2^hash_bits`.
    pub hash_bits: u32,
    /// Route label.
    pub target: Target,
    /// Verifier label.
    pub verifier_target: Target,
    /// Route trainer.
    pub fit: FitConfig,
    /// Verifier trainer.
    pub verifier_fit: FitConfig,
    /// Cross-validation folds (≥ 2), 0 to skip cross-validation.
    pub folds: usize,
    /// Seed of the fold assignment (fold = hash of the prompt with this seed, modulo folds);
    /// change it to check that cross-validated figures do not hinge on one split.
    pub fold_seed: u64,
    /// Label smoothing towards the mean label of the row's file (e.g. its MMLU subject), fitted
    /// on training rows only: `y = (1 - s) y_row + s mean_group(y)`. Teaches the model the
    /// group prior from text.
    pub group_smoothing: f64,
}

/// The hand-set open-ended difficulty prior, as (feature, logit weight). The learned weights are
/// fitted with this as a fixed offset, so on in-domain data they correct it, and on data unlike
/// the training sets (open-ended chat) it still ranks maths, reasoning and code above chit-chat,
/// creative writing and role play.
pub(crate) const PRIOR: &[(&str, f64)] = &[
    ("sentences", 0.2),
    ("digit_share", 0.8),
    ("numbers", 1.0),
    ("math_symbols", 1.0),
    ("latex", 0.8),
    ("code", 2.0),
    ("math_words", 2.2),
    ("reasoning_words", 2.0),
    ("multistep_words", 0.8),
    ("constraint_words", 0.6),
    ("creative_words", -2.2),
    ("roleplay_words", -1.8),
    ("extraction_words", 0.2),
    ("negation_words", 0.2),
    ("turns", 0.4),
    ("context_len", 0.2),
    ("tools", 0.6),
    ("json_output", 0.6),
    // Open chat with no difficulty signal sits below the average exam question or maths word
    // problem (whose levels are learned): casual chat, writing and role play rarely need the
    // strong model, and maths word problems should not rank below small talk.
    ("open_bias", -0.5),
];

pub(crate) fn prior_vector() -> Vec<f64> {
    PROMPT_DENSE
        .iter()
        .map(|n| PRIOR.iter().find(|p| p.0 == *n).map_or(0.0, |p| p.1))
        .collect()
}

/// Data-set balancing: each set weighs `sqrt(mean size / its size)`, so small sets still count.
fn balance_weights(rows: &[LabelledRow], subset: &[usize]) -> Vec<f64> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in subset {
        *sizes.entry(rows[i].dataset.as_str()).or_default() += 1;
    }
    let mean = subset.len() as f64 / sizes.len().max(1) as f64;
    rows.iter()
        .map(|r| {
            let n = sizes.get(r.dataset.as_str()).copied().unwrap_or(1).max(1);
            (mean / n as f64).sqrt()
        })
        .collect()
}

fn examples(feats: Vec<FeatureVec>, weights: &[f64]) -> Vec<Example> {
    feats
        .into_iter()
        .zip(weights)
        .map(|(x, w)| Example { x, weight: *w })
        .collect()
}

struct Task<'a> {
    ex: &'a [Example],
    labels: &'a [f64],
    groups: &'a [usize],
    smoothing: f64,
    dim: usize,
    prior: &'a [f64],
    cfg: &'a FitConfig,
    fold_seed: u64,
}

/// Group ids (by file) per row; `usize::MAX` (no smoothing) for rows of a data set held in a
/// single file, where the group mean is just the data-set mean and smoothing only blurs labels.
fn group_ids(rows: &[LabelledRow]) -> Vec<usize> {
    let mut files: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        files
            .entry(r.dataset.as_str())
            .or_default()
            .insert(r.group.as_str());
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    rows.iter()
        .map(|r| {
            if files.get(r.dataset.as_str()).is_none_or(|f| f.len() < 2) {
                return usize::MAX;
            }
            let next = ids.len();
            *ids.entry(r.group.as_str()).or_insert(next)
        })
        .collect()
}

impl Task<'_> {
    /// Labels smoothed towards their group's mean over `subset` only (no leakage across folds).
    fn smoothed(&self, subset: &[usize]) -> Vec<f64> {
        if self.smoothing <= 0.0 {
            return self.labels.to_vec();
        }
        let groups = self
            .groups
            .iter()
            .filter(|g| **g != usize::MAX)
            .max()
            .map_or(0, |m| m + 1);
        let mut sum = vec![0.0; groups];
        let mut n = vec![0.0; groups];
        for &i in subset {
            if let Some(g) = self.groups.get(i).filter(|g| **g < groups) {
                sum[*g] += self.labels[i];
                n[*g] += 1.0;
            }
        }
        let s = self.smoothing;
        self.labels
            .iter()
            .zip(self.groups)
            .map(|(y, g)| match n.get(*g) {
                Some(c) if *c > 0.0 => (1.0 - s) * y + s * sum[*g] / c,
                _ => *y,
            })
            .collect()
    }

    fn fit(&self, subset: &[usize]) -> super::linear::Fitted {
        fit(
            self.ex,
            &self.smoothed(subset),
            subset,
            self.dim,
            self.prior,
            self.cfg,
        )
    }
}

/// Out-of-fold logits for `subset` (rows outside it are never trained on or scored).
fn out_of_fold(task: &Task<'_>, rows: &[LabelledRow], subset: &[usize], folds: usize) -> Vec<f64> {
    let seed = 11 ^ task.fold_seed;
    let fold_of = |i: usize| (fnv1a(rows[i].prompt.as_bytes(), seed) % folds as u64) as usize;
    let mut scores = vec![0.0; rows.len()];
    for f in 0..folds {
        let train: Vec<usize> = subset
            .iter()
            .copied()
            .filter(|i| fold_of(*i) != f)
            .collect();
        let model = task.fit(&train);
        for &i in subset.iter().filter(|i| fold_of(**i) == f) {
            scores[i] = model.logit(&task.ex[i].x, task.prior);
        }
    }
    scores
}

fn per_dataset(
    rows: &[LabelledRow],
    subset: &[usize],
    scores: &[f64],
) -> BTreeMap<String, RouterMetrics> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in subset {
        groups.entry(rows[i].dataset.clone()).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|(name, idx)| {
            let s: Vec<f64> = idx.iter().map(|i| scores[*i]).collect();
            let w: Vec<f64> = idx.iter().map(|i| rows[*i].weak).collect();
            let st: Vec<f64> = idx.iter().map(|i| rows[*i].strong).collect();
            (name, evaluate(&s, &w, &st))
        })
        .collect()
}

fn summaries(rows: &[LabelledRow]) -> BTreeMap<String, DatasetSummary> {
    by_dataset(rows)
        .into_iter()
        .map(|(name, idx)| {
            let n = idx.len().max(1) as f64;
            let s = DatasetSummary {
                rows: idx.len(),
                with_responses: idx
                    .iter()
                    .filter(|i| rows[**i].weak_response.is_some())
                    .count(),
                weak_quality: idx.iter().map(|i| rows[*i].weak).sum::<f64>() / n,
                strong_quality: idx.iter().map(|i| rows[*i].strong).sum::<f64>() / n,
            };
            (name, s)
        })
        .collect()
}

/// Trains the route model (and the verifier when rows carry weak responses) and cross-validates.
///
/// Errors: no rows, or fewer than 2 folds requested when folds > 0.
pub fn train_rows(
    rows: &[LabelledRow],
    columns: &ModelColumns,
    files: usize,
    opts: &TrainOptions,
) -> Result<RouterArtifact, Error> {
    if rows.is_empty() {
        return Err(Error::NoData {
            path: "training rows".to_owned(),
        });
    }
    if opts.folds == 1 || !(4..=24).contains(&opts.hash_bits) {
        return Err(Error::Options {
            message: "folds must be 0 or ≥ 2 and hash_bits in 4..=24".to_owned(),
        });
    }
    let fz = Featurizer::new(opts.hash_bits);
    let all: Vec<usize> = (0..rows.len()).collect();
    let shape = RequestShape::single_turn();
    let feats: Vec<FeatureVec> = rows.iter().map(|r| fz.prompt(&r.prompt, &shape)).collect();
    let labels: Vec<f64> = rows
        .iter()
        .map(|r| opts.target.label(r.weak, r.strong))
        .collect();
    let route_ex = examples(feats, &balance_weights(rows, &all));
    let prior = prior_vector();
    let groups = group_ids(rows);
    let task = Task {
        ex: &route_ex,
        labels: &labels,
        groups: &groups,
        smoothing: opts.group_smoothing,
        dim: fz.dim(PROMPT_DENSE.len()),
        prior: &prior,
        cfg: &opts.fit,
        fold_seed: opts.fold_seed,
    };
    let mut cv = CvReport {
        folds: opts.folds,
        fold_seed: opts.fold_seed,
        route: BTreeMap::new(),
        cascade: BTreeMap::new(),
    };
    if opts.folds >= 2 {
        cv.route = per_dataset(rows, &all, &out_of_fold(&task, rows, &all, opts.folds));
    }
    let route = task.fit(&all).to_model(PROMPT_DENSE, &prior);
    let verifier = train_verifier(rows, &fz, opts, &mut cv);
    let version = RouterArtifact::weights_version(&route, verifier.as_ref());
    Ok(RouterArtifact {
        format: ARTIFACT_FORMAT.to_owned(),
        name: opts.name.clone(),
        version,
        hash_bits: opts.hash_bits,
        route,
        verifier,
        metadata: TrainMetadata {
            data: DataDescription {
                description: opts.description.clone(),
                files,
                weak_column: columns.weak.clone(),
                strong_column: columns.strong.clone(),
                datasets: summaries(rows),
            },
            features: FeatureDescription {
                prompt_dense: PROMPT_DENSE.iter().map(|s| (*s).to_owned()).collect(),
                answer_dense: ANSWER_DENSE.iter().map(|s| (*s).to_owned()).collect(),
                hashed: format!(
                    "FNV-1a hashed lowercase word unigrams and bigrams (numbers as digit-count \
                     shapes, maths/code symbols as words) into 2^{} buckets, scaled 1/sqrt(n); \
                     prompt and answer in separate namespaces",
                    opts.hash_bits
                ),
            },
            target: opts.target,
            verifier_target: opts.verifier_target,
            fit: opts.fit,
            verifier_fit: opts.verifier_fit,
            cv,
        },
    })
}

fn train_verifier(
    rows: &[LabelledRow],
    fz: &Featurizer,
    opts: &TrainOptions,
    cv: &mut CvReport,
) -> Option<super::linear::LinearModel> {
    let with: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].weak_response.is_some())
        .collect();
    if with.len() < 20 {
        return None;
    }
    let feats = rows
        .iter()
        .map(|r| match &r.weak_response {
            Some(a) => fz.answer(&r.prompt, a),
            None => FeatureVec::default(),
        })
        .collect();
    let labels: Vec<f64> = rows
        .iter()
        .map(|r| opts.verifier_target.label(r.weak, r.strong))
        .collect();
    let ex = examples(feats, &balance_weights(rows, &with));
    let dense = PROMPT_DENSE.len() + ANSWER_DENSE.len();
    let prior = vec![0.0; dense];
    let groups = group_ids(rows);
    let task = Task {
        ex: &ex,
        labels: &labels,
        groups: &groups,
        smoothing: 0.0,
        dim: fz.dim(dense),
        prior: &prior,
        cfg: &opts.verifier_fit,
        fold_seed: opts.fold_seed,
    };
    if opts.folds >= 2 {
        cv.cascade = per_dataset(rows, &with, &out_of_fold(&task, rows, &with, opts.folds));
    }
    let names: Vec<&str> = PROMPT_DENSE.iter().chain(ANSWER_DENSE).copied().collect();
    Some(task.fit(&with).to_model(&names, &prior))
}

/// Trains from the gateway's own outcomes: `(prompt_text, weak_ok, strong_ok)` with qualities in
/// [0, 1] (e.g. the ledger joined with task outcomes). All rows form the data set `ledger`.
///
/// Errors: as [`train_rows`].
pub fn train_from_outcomes(
    examples: impl Iterator<Item = (String, f64, f64)>,
    opts: &TrainOptions,
) -> Result<RouterArtifact, Error> {
    let rows: Vec<LabelledRow> = examples
        .map(|(prompt, weak, strong)| LabelledRow {
            dataset: "ledger".to_owned(),
            group: "ledger".to_owned(),
            prompt,
            weak: weak.clamp(0.0, 1.0),
            strong: strong.clamp(0.0, 1.0),
            weak_response: None,
            strong_response: None,
        })
        .collect();
    let columns = ModelColumns {
        weak: "weak_ok".to_owned(),
        strong: "strong_ok".to_owned(),
    };
    train_rows(&rows, &columns, 0, opts)
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            name: "router".to_owned(),
            description: String::new(),
            hash_bits: 18,
            target: Target::Win,
            verifier_target: Target::WeakWrong,
            fit: FitConfig {
                epochs: 8,
                learning_rate: 0.2,
                l2: 1e-2,
                l2_dense: 1e-5,
                seed: 17,
                dense_stage_l2: Some(1e-2),
            },
            verifier_fit: FitConfig {
                epochs: 6,
                learning_rate: 0.2,
                l2: 1e-4,
                l2_dense: 1e-5,
                seed: 23,
                dense_stage_l2: Some(1e-2),
            },
            folds: 5,
            fold_seed: 0,
            group_smoothing: 0.8,
        }
    }
}
