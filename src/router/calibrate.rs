//! Threshold calibration on labelled data with one-sided Wilson confidence bounds, and the
//! in-place rewrite of a routes file (toml_edit keeps comments and the rest of the file).

use std::path::Path;

use statrs::distribution::{ContinuousCDF, Normal};

use super::Error;

/// What the calibrated threshold must achieve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibrationTarget {
    /// Routed quality ≥ this fraction of all-strong quality (lower bound at the confidence).
    Quality(f64),
    /// Strong-call share ≤ this (upper bound at the confidence).
    StrongShare(f64),
    /// Expected cost per 1,000 requests ≤ this many USD (upper bound at the confidence).
    CostCap(f64),
}

/// Per-prompt inputs of a calibration.
#[derive(Debug, Clone)]
pub(crate) struct CalibrationData {
    pub(crate) scores: Vec<f64>,
    pub(crate) weak: Vec<f64>,
    pub(crate) strong: Vec<f64>,
    /// Per-request USD cost on the weak and strong model (statistics only, not accounting).
    pub(crate) weak_cost: Vec<f64>,
    pub(crate) strong_cost: Vec<f64>,
}

/// The chosen threshold and what it achieves on the data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Threshold: score ≥ threshold goes to the stronger tier.
    pub threshold: f64,
    /// Strong share on the data.
    pub strong_share: f64,
    /// Routed quality on the data.
    pub quality: f64,
    /// All-strong quality on the data.
    pub strong_quality: f64,
    /// The bound that was checked against the target (lower for quality, upper otherwise).
    pub bound: f64,
    /// Cost per 1,000 requests on the data (USD).
    pub cost_per_1k: f64,
    /// Whether the target holds at the confidence; when false the safest threshold is returned.
    pub target_met: bool,
}

/// One-sided Wilson bounds `(lower, upper)` for a proportion `p` over `n` trials.
pub(crate) fn wilson(p: f64, n: usize, confidence: f64) -> (f64, f64) {
    let z = Normal::new(0.0, 1.0).map_or(1.645, |d| d.inverse_cdf(confidence));
    let n = n.max(1) as f64;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    (
        ((centre - spread) / denom).max(0.0),
        ((centre + spread) / denom).min(1.0),
    )
}

/// Picks the threshold: among candidate thresholds (each distinct score, plus "nobody" above
/// the max), the one with the fewest strong calls meeting a quality target, or the most strong
/// calls meeting a share or cost cap.
pub(crate) fn calibrate(
    d: &CalibrationData,
    target: CalibrationTarget,
    confidence: f64,
) -> Calibration {
    let n = d.scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| d.scores[*b].total_cmp(&d.scores[*a]));
    let nf = n.max(1) as f64;
    let strong_q = d.strong.iter().sum::<f64>() / nf;
    let mean_weak_cost = d.weak_cost.iter().sum::<f64>() / nf;
    let mean_extra = d
        .strong_cost
        .iter()
        .zip(&d.weak_cost)
        .map(|(s, w)| s - w)
        .sum::<f64>()
        / nf;
    let mut q = d.weak.iter().sum::<f64>();
    let mut cost = d.weak_cost.iter().sum::<f64>();
    let mut best: Option<Calibration> = None;
    for m in 0..=n {
        if m > 0 {
            let i = order[m - 1];
            q += d.strong[i] - d.weak[i];
            cost += d.strong_cost[i] - d.weak_cost[i];
            // Only cut between distinct scores: a threshold cannot split ties.
            if m < n && d.scores[order[m]] == d.scores[i] {
                continue;
            }
        }
        let share = m as f64 / nf;
        let threshold = if m == 0 {
            d.scores
                .get(order.first().copied().unwrap_or(0))
                .map_or(1.0, |s| (s + 1e-9).min(1.0))
        } else {
            d.scores[order[m - 1]]
        };
        let (q_lo, _) = wilson(q / nf, n, confidence);
        let (_, share_hi) = wilson(share, n, confidence);
        let (bound, ok) = match target {
            CalibrationTarget::Quality(t) => (q_lo, q_lo >= t * strong_q),
            CalibrationTarget::StrongShare(t) => (share_hi, share_hi <= t),
            CalibrationTarget::CostCap(usd) => {
                let hi = 1000.0 * (mean_weak_cost + share_hi * mean_extra);
                (hi, hi <= usd)
            }
        };
        let cand = Calibration {
            threshold,
            strong_share: share,
            quality: q / nf,
            strong_quality: strong_q,
            bound,
            cost_per_1k: 1000.0 * cost / nf,
            target_met: ok,
        };
        match target {
            // Quality: first (fewest strong calls) that meets it.
            CalibrationTarget::Quality(_) if ok => return cand,
            // Caps: keep the last (most strong calls) that stays under.
            CalibrationTarget::StrongShare(_) | CalibrationTarget::CostCap(_) if ok => {
                best = Some(cand)
            }
            _ => {
                if best.is_none() && m == n && matches!(target, CalibrationTarget::Quality(_)) {
                    best = Some(cand);
                }
            }
        }
    }
    best.unwrap_or(Calibration {
        threshold: 1.0,
        strong_share: 0.0,
        quality: d.weak.iter().sum::<f64>() / nf,
        strong_quality: strong_q,
        bound: f64::NAN,
        cost_per_1k: 1000.0 * mean_weak_cost,
        target_met: false,
    })
}

/// Parses `quality=0.95`, `strong_share=0.3` or `cost_cap=12.5`.
pub(crate) fn parse_target(s: &str) -> Result<CalibrationTarget, Error> {
    let bad = || Error::Options {
        message: format!("bad --target {s:?}: use quality=F, strong_share=F or cost_cap=USD"),
    };
    let (k, v) = s.split_once('=').ok_or_else(bad)?;
    let v: f64 = v.trim().parse().map_err(|_| bad())?;
    match k.trim() {
        "quality" if (0.0..=1.0).contains(&v) => Ok(CalibrationTarget::Quality(v)),
        "strong_share" if (0.0..=1.0).contains(&v) => Ok(CalibrationTarget::StrongShare(v)),
        "cost_cap" if v >= 0.0 => Ok(CalibrationTarget::CostCap(v)),
        _ => Err(bad()),
    }
}

/// Rewrites `thresholds[boundary]` of route `route` in the TOML file, keeping everything else.
///
/// Errors: unreadable/unwritable file, bad TOML, no such route or boundary.
pub(crate) fn write_threshold(
    path: &Path,
    route: &str,
    boundary: usize,
    value: f64,
    note: &str,
) -> Result<(), Error> {
    let p = path.display().to_string();
    let io = |source| Error::Io {
        path: p.clone(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let tab = |key: &str, message: String| Error::Table {
        path: p.clone(),
        key: key.to_owned(),
        message,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| tab("", e.to_string()))?;
    let routes = doc
        .get_mut("route")
        .and_then(|r| r.as_array_of_tables_mut())
        .ok_or_else(|| tab("route", "no [[route]] tables".to_owned()))?;
    let table = routes
        .iter_mut()
        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(route))
        .ok_or_else(|| tab("route", format!("no route named {route:?}")))?;
    let arr = table
        .get_mut("thresholds")
        .and_then(|t| t.as_array_mut())
        .ok_or_else(|| tab("thresholds", "missing".to_owned()))?;
    if boundary >= arr.len() {
        return Err(tab("thresholds", format!("no boundary {boundary}")));
    }
    let rounded = (value * 1e4).round() / 1e4;
    arr.replace(boundary, rounded);
    if let Some(mut key) = table.key_mut("thresholds") {
        key.leaf_decor_mut().set_prefix(format!("# {note}\n"));
    }
    std::fs::write(path, doc.to_string()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> CalibrationData {
        // Prompts 0..4: high scores are the ones the weak model gets wrong.
        CalibrationData {
            scores: vec![0.9, 0.8, 0.3, 0.2, 0.1],
            weak: vec![0.0, 0.0, 1.0, 1.0, 1.0],
            strong: vec![1.0, 1.0, 1.0, 1.0, 1.0],
            weak_cost: vec![1.0; 5],
            strong_cost: vec![10.0; 5],
        }
    }

    #[test]
    fn wilson_bounds_bracket_the_estimate() {
        let (lo, hi) = wilson(0.8, 100, 0.95);
        assert!(lo < 0.8 && hi > 0.8 && lo > 0.7 && hi < 0.9);
    }

    #[test]
    fn share_cap_picks_most_strong_calls_under_cap() {
        let c = calibrate(&data(), CalibrationTarget::StrongShare(1.0), 0.5);
        assert_eq!(c.strong_share, 1.0);
        let c = calibrate(&data(), CalibrationTarget::StrongShare(0.45), 0.5);
        assert!((c.strong_share - 0.4).abs() < 1e-9);
        assert_eq!(c.threshold, 0.8);
    }

    #[test]
    fn quality_target_sends_hard_prompts_up() {
        let c = calibrate(&data(), CalibrationTarget::Quality(0.95), 0.5);
        assert!(c.target_met);
        assert_eq!(c.threshold, 0.8);
        assert!(parse_target("quality=1.5").is_err());
        assert_eq!(
            parse_target("cost_cap=3").unwrap(),
            CalibrationTarget::CostCap(3.0)
        );
    }
}
