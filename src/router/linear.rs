//! Logistic regression over sparse features: the stored form, the compiled (scoring) form and a
//! deterministic trainer (AdaGrad SGD with L2, seeded shuffles, fixed-offset hand prior).

use serde::{Deserialize, Serialize};

use super::features::FeatureVec;

/// A trained linear model as stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearModel {
    /// Intercept (logit).
    pub bias: f64,
    /// Names of the dense features, in index order.
    pub dense_names: Vec<String>,
    /// Learned dense weights, aligned with `dense_names`.
    pub dense: Vec<f64>,
    /// Fixed hand-set weights added to the learned ones (the open-ended difficulty prior; the
    /// learned weights were fitted with this as an offset).
    pub prior: Vec<f64>,
    /// Hashed-feature weights as `(bucket, weight)`, sorted by bucket, zeros left out.
    pub hashed: Vec<(u32, f64)>,
}

/// A model ready to score: dense arrays, no lookups.
#[derive(Debug, Clone)]
pub(crate) struct CompiledLinear {
    bias: f32,
    weights: Vec<f32>,
}

/// One training example.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub(crate) x: FeatureVec,
    /// Example weight (data-set balancing).
    pub(crate) weight: f64,
}

/// Trainer settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad base learning rate.
    pub learning_rate: f64,
    /// L2 penalty per update on hashed features.
    pub l2: f64,
    /// L2 penalty per update on dense features.
    pub l2_dense: f64,
    /// Shuffle seed.
    pub seed: u64,
    /// L2 penalty of the first, dense-only stage (see `fit`), on standardised weights;
    /// `None` skips that stage.
    #[serde(default)]
    pub dense_stage_l2: Option<f64>,
}

/// Raw fitted weights over the full feature dimension.
#[derive(Debug, Clone)]
pub(crate) struct Fitted {
    pub(crate) bias: f64,
    pub(crate) weights: Vec<f64>,
}

/// Deterministic splitmix64 stream (portable, unlike `SmallRng`).
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn offset(x: &FeatureVec, prior: &[f64]) -> f64 {
    x.entries
        .iter()
        .filter_map(|(i, v)| prior.get(*i as usize).map(|w| w * f64::from(*v)))
        .sum()
}

/// Fits logistic regression with soft labels. `prior` (dense, fixed) is added to every logit.
///
/// Two stages when `cfg.dense_stage_l2` is set: first the learnable dense features (no prior,
/// not constant) are fitted alone, standardised, by full-batch gradient descent on the rows that
/// have them: a few well-conditioned weights that SGD over thousands of sparse features would
/// leave under-fitted. Then SGD fits the hashed features (and the remaining dense ones) with the
/// first stage as a fixed offset, i.e. on what the dense features leave unexplained.
pub(crate) fn fit(
    examples: &[Example],
    labels: &[f64],
    subset: &[usize],
    dim: usize,
    prior: &[f64],
    cfg: &FitConfig,
) -> Fitted {
    let stage = match cfg.dense_stage_l2 {
        Some(l2) => fit_dense_stage(examples, labels, subset, prior, l2),
        None => vec![0.0; prior.len()],
    };
    let fixed: Vec<f64> = prior.iter().zip(&stage).map(|(p, s)| p + s).collect();
    let mut fitted = fit_sgd(examples, labels, subset, dim, &fixed, cfg);
    for (w, s) in fitted.weights.iter_mut().zip(&stage) {
        *w += s;
    }
    fitted
}

/// First stage of [`fit`]: weights (original scale) of the learnable dense features, zero for
/// the others. The intercept is left to the second stage.
fn fit_dense_stage(
    examples: &[Example],
    labels: &[f64],
    subset: &[usize],
    prior: &[f64],
    l2: f64,
) -> Vec<f64> {
    let dense = prior.len();
    let learnable = |i: u32| (i as usize) < dense && prior[i as usize] == 0.0;
    let rows: Vec<usize> = subset
        .iter()
        .copied()
        .filter(|k| examples[*k].x.entries.iter().any(|(i, _)| learnable(*i)))
        .collect();
    let mut x = vec![0.0f64; rows.len() * dense];
    for (r, k) in rows.iter().enumerate() {
        for (i, v) in examples[*k].x.entries.iter().filter(|e| learnable(e.0)) {
            x[r * dense + *i as usize] = f64::from(*v);
        }
    }
    let wsum: f64 = rows
        .iter()
        .map(|k| examples[*k].weight)
        .sum::<f64>()
        .max(1e-12);
    let (mut mean, mut sd) = (vec![0.0; dense], vec![0.0; dense]);
    for (r, k) in rows.iter().enumerate() {
        for j in 0..dense {
            mean[j] += examples[*k].weight * x[r * dense + j] / wsum;
        }
    }
    for (r, k) in rows.iter().enumerate() {
        for j in 0..dense {
            sd[j] += examples[*k].weight * (x[r * dense + j] - mean[j]).powi(2) / wsum;
        }
    }
    // Constant features (e.g. a format indicator) are left to the second stage.
    let active: Vec<usize> = (0..dense).filter(|j| sd[*j] > 1e-12).collect();
    for r in 0..rows.len() {
        for &j in &active {
            x[r * dense + j] = (x[r * dense + j] - mean[j]) / sd[j].sqrt();
        }
    }
    let offsets: Vec<f64> = rows
        .iter()
        .map(|k| offset(&examples[*k].x, prior))
        .collect();
    let (mut w, mut b) = (vec![0.0f64; dense], 0.0f64);
    for _ in 0..DENSE_STAGE_STEPS {
        let (mut gw, mut gb) = (vec![0.0f64; dense], 0.0f64);
        for (r, k) in rows.iter().enumerate() {
            let z = b + offsets[r] + active.iter().map(|j| w[*j] * x[r * dense + j]).sum::<f64>();
            let err = (sigmoid(z) - labels[*k]) * examples[*k].weight / wsum;
            gb += err;
            for &j in &active {
                gw[j] += err * x[r * dense + j];
            }
        }
        b -= DENSE_STAGE_RATE * gb;
        for &j in &active {
            w[j] -= DENSE_STAGE_RATE * (gw[j] + l2 * w[j]);
        }
    }
    (0..dense)
        .map(|j| {
            if active.contains(&j) {
                w[j] / sd[j].sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// Full-batch gradient descent of the dense stage: steps and rate (standardised features make
/// one rate fit all).
const DENSE_STAGE_STEPS: usize = 400;
const DENSE_STAGE_RATE: f64 = 1.0;

/// SGD stage of [`fit`]; features with a non-zero `fixed` weight are not learned.
fn fit_sgd(
    examples: &[Example],
    labels: &[f64],
    subset: &[usize],
    dim: usize,
    prior: &[f64],
    cfg: &FitConfig,
) -> Fitted {
    let dense = prior.len();
    let mut w = vec![0.0f64; dim];
    let mut g2 = vec![1e-8f64; dim];
    let mut bias = 0.0f64;
    let mut bias_g2 = 1e-8f64;
    let offsets: Vec<f64> = examples.iter().map(|e| offset(&e.x, prior)).collect();
    let mut order: Vec<usize> = subset.to_vec();
    let mut rng = SplitMix(cfg.seed);
    // Polyak averaging of the end-of-epoch weights: lower variance than the last iterate.
    let mut avg = vec![0.0f64; dim];
    let mut avg_bias = 0.0f64;
    for _ in 0..cfg.epochs {
        rng.shuffle(&mut order);
        for &k in &order {
            let (ex, off) = (&examples[k], offsets[k]);
            let z = bias
                + off
                + ex.x
                    .entries
                    .iter()
                    .map(|(i, v)| w[*i as usize] * f64::from(*v))
                    .sum::<f64>();
            let err = (sigmoid(z) - labels[k]) * ex.weight;
            bias_g2 += err * err;
            bias -= cfg.learning_rate * err / bias_g2.sqrt();
            for (i, v) in &ex.x.entries {
                let i = *i as usize;
                // Features with a hand prior are frozen: learning them would cancel the prior
                // everywhere, open-ended prompts included; in-domain corrections go to the
                // (format-namespaced) hashed features instead.
                if prior.get(i).is_some_and(|p| *p != 0.0) {
                    continue;
                }
                let l2 = if i < dense { cfg.l2_dense } else { cfg.l2 };
                let g = err * f64::from(*v) + l2 * w[i];
                g2[i] += g * g;
                w[i] -= cfg.learning_rate * g / g2[i].sqrt();
            }
        }
        for (a, x) in avg.iter_mut().zip(&w) {
            *a += x;
        }
        avg_bias += bias;
    }
    let k = cfg.epochs.max(1) as f64;
    for a in &mut avg {
        *a /= k;
    }
    Fitted {
        bias: avg_bias / k,
        weights: avg,
    }
}

/// Rounds to 5 decimals so artifacts stay small and byte-stable.
fn quantize(v: f64) -> f64 {
    (v * 1e5).round() / 1e5
}

// --- Fitted ---

impl Fitted {
    /// Logit of one example (unquantized), prior included.
    pub(crate) fn logit(&self, x: &FeatureVec, prior: &[f64]) -> f64 {
        self.bias
            + offset(x, prior)
            + x.entries
                .iter()
                .map(|(i, v)| self.weights[*i as usize] * f64::from(*v))
                .sum::<f64>()
    }

    /// The stored form.
    pub(crate) fn to_model(&self, dense_names: &[&str], prior: &[f64]) -> LinearModel {
        let dense = dense_names.len();
        LinearModel {
            bias: quantize(self.bias),
            dense_names: dense_names.iter().map(|s| (*s).to_owned()).collect(),
            dense: self.weights[..dense].iter().map(|w| quantize(*w)).collect(),
            prior: prior.to_vec(),
            hashed: self.weights[dense..]
                .iter()
                .enumerate()
                .map(|(i, w)| (i as u32, quantize(*w)))
                .filter(|(_, w)| *w != 0.0)
                .collect(),
        }
    }
}

// --- LinearModel ---

impl LinearModel {
    /// Dense arrays for scoring; `None` when the model does not fit `hash_bits` or its names.
    pub(crate) fn compile(&self, hash_bits: u32, dense_names: &[&str]) -> Option<CompiledLinear> {
        let names_match = self.dense_names.len() == dense_names.len()
            && self
                .dense_names
                .iter()
                .zip(dense_names)
                .all(|(a, b)| a == b);
        if !names_match
            || self.dense.len() != dense_names.len()
            || self.prior.len() != dense_names.len()
        {
            return None;
        }
        let buckets = 1usize << hash_bits;
        let mut weights = vec![0.0f32; dense_names.len() + buckets];
        for (i, (w, p)) in self.dense.iter().zip(&self.prior).enumerate() {
            weights[i] = (w + p) as f32;
        }
        for (b, w) in &self.hashed {
            let slot = weights.get_mut(dense_names.len() + *b as usize)?;
            *slot = *w as f32;
        }
        Some(CompiledLinear {
            bias: self.bias as f32,
            weights,
        })
    }
}

// --- CompiledLinear ---

impl CompiledLinear {
    /// The logit of a feature vector.
    pub(crate) fn logit(&self, x: &FeatureVec) -> f64 {
        let mut z = self.bias;
        for (i, v) in &x.entries {
            z += self.weights.get(*i as usize).copied().unwrap_or(0.0) * v;
        }
        f64::from(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(i: u32) -> Example {
        Example {
            x: FeatureVec {
                entries: vec![(i, 1.0)],
            },
            weight: 1.0,
        }
    }

    #[test]
    fn dense_stage_fits_a_weak_dense_signal() {
        // Feature 1 is a narrow-range dense feature (0.6..0.9) that decides the label.
        let data: Vec<Example> = (0..100)
            .map(|i| Example {
                x: FeatureVec {
                    entries: vec![(0, 1.0), (1, if i % 2 == 0 { 0.9 } else { 0.6 })],
                },
                weight: 1.0,
            })
            .collect();
        let labels: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 0.9 } else { 0.1 })
            .collect();
        let all: Vec<usize> = (0..100).collect();
        let w = fit_dense_stage(&data, &labels, &all, &[0.0, 0.0], 1e-2);
        // Constant feature 0 is left to the second stage; feature 1 gets a large weight.
        assert_eq!(w[0], 0.0);
        assert!(w[1] > 5.0, "{w:?}");
    }

    #[test]
    fn fit_separates_two_features_and_is_deterministic() {
        let data: Vec<Example> = (0..50).flat_map(|_| [ex(2), ex(3)]).collect();
        let labels: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        let cfg = FitConfig {
            epochs: 5,
            learning_rate: 0.3,
            l2: 0.0,
            l2_dense: 0.0,
            seed: 1,
            dense_stage_l2: None,
        };
        let all: Vec<usize> = (0..data.len()).collect();
        let a = fit(&data, &labels, &all, 10, &[0.0, 0.0], &cfg);
        let b = fit(&data, &labels, &all, 10, &[0.0, 0.0], &cfg);
        assert!(a.weights[2] > 1.0 && a.weights[3] < -1.0);
        assert_eq!(a.weights, b.weights);
        let m = a.to_model(&["d0", "d1"], &[0.0, 0.0]);
        let c = m.compile(3, &["d0", "d1"]).unwrap();
        assert!(c.logit(&data[0].x) > 0.0);
        assert!(m.compile(3, &["other", "d1"]).is_none());
    }
}
