//! RouteLLM's router metrics. Prompts are sorted by the "needs strong" score (ties keep input
//! order) and the top `m` go to the strong model. `PGR(m) = (q(m) - q(weak)) / (q(strong) -
//! q(weak))`. APGR here is the mean PGR over k = 0, 1, ..., 100 % (101 points, `m = round(k n /
//! 100)`); CPT(x) is the smallest share `m / n` (every prompt a grid point) with PGR ≥ x.

use serde::{Deserialize, Serialize};

/// Metrics of one router on one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterMetrics {
    /// Prompts.
    pub n: usize,
    /// Mean quality with every prompt on the weak model.
    pub weak_quality: f64,
    /// Mean quality with every prompt on the strong model.
    pub strong_quality: f64,
    /// Mean PGR over k = 0..=100 %; `None` when weak and strong quality are equal.
    pub apgr: Option<f64>,
    /// Smallest strong share reaching PGR ≥ 50 %.
    pub cpt50: Option<f64>,
    /// Smallest strong share reaching PGR ≥ 80 %.
    pub cpt80: Option<f64>,
}

/// Quality after sending the top `m` prompts to the strong model, for every `m` in `0..=n`.
pub fn quality_curve(scores: &[f64], weak: &[f64], strong: &[f64]) -> Vec<f64> {
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let mut total: f64 = weak.iter().sum();
    let mut out = Vec::with_capacity(n + 1);
    let denom = n.max(1) as f64;
    out.push(total / denom);
    for i in order {
        total += strong[i] - weak[i];
        out.push(total / denom);
    }
    out
}

/// PGR at each point of a quality curve; `None` when weak and strong quality are equal.
pub fn pgr(curve: &[f64]) -> Option<Vec<f64>> {
    let (first, last) = (*curve.first()?, *curve.last()?);
    let gap = last - first;
    if gap.abs() < 1e-12 {
        return None;
    }
    Some(curve.iter().map(|q| (q - first) / gap).collect())
}

/// Metrics for one router's scores.
pub fn evaluate(scores: &[f64], weak: &[f64], strong: &[f64]) -> RouterMetrics {
    let n = scores.len();
    let curve = quality_curve(scores, weak, strong);
    let pgrs = pgr(&curve);
    let apgr = pgrs.as_ref().map(|p| {
        (0..=100)
            .map(|k| p[((k * n) as f64 / 100.0).round() as usize])
            .sum::<f64>()
            / 101.0
    });
    let cpt = |x: f64| {
        pgrs.as_ref()?
            .iter()
            .position(|v| *v >= x - 1e-12)
            .map(|m| m as f64 / n.max(1) as f64)
    };
    RouterMetrics {
        n,
        weak_quality: curve.first().copied().unwrap_or(0.0),
        strong_quality: curve.last().copied().unwrap_or(0.0),
        apgr,
        cpt50: cpt(0.5),
        cpt80: cpt(0.8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_beats_reverse_and_hits_bounds() {
        let weak = [1.0, 0.0, 1.0, 0.0];
        let strong = [1.0, 1.0, 1.0, 1.0];
        let oracle = evaluate(&[0.0, 1.0, 0.0, 1.0], &weak, &strong);
        let reverse = evaluate(&[1.0, 0.0, 1.0, 0.0], &weak, &strong);
        assert!(oracle.apgr.unwrap() > reverse.apgr.unwrap());
        assert_eq!(oracle.cpt50, Some(0.25));
        assert_eq!(oracle.cpt80, Some(0.5));
        assert_eq!(oracle.weak_quality, 0.5);
        assert_eq!(oracle.strong_quality, 1.0);
        assert!(
            evaluate(&[0.0, 1.0], &[1.0, 1.0], &[1.0, 1.0])
                .apgr
                .is_none()
        );
    }
}
