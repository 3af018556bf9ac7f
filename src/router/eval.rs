//! Offline evaluation of a route on labelled data: per data set quality of weak, strong and
//! routed traffic, APGR/CPT, strong-call share and cost saving at 95 % of strong quality, for
//! route-only and cascade modes; plus the cost–quality curve as SVG.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use super::Error;
use super::dataset::{LabelledRow, by_dataset};
use super::metrics::{RouterMetrics, evaluate, quality_curve};
use super::model::Classifier;
use crate::tokenizer::Encoding;

/// USD per 1M input and output tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelPrice {
    /// Input price.
    pub input: Decimal,
    /// Output price.
    pub output: Decimal,
}

/// Output tokens assumed when the data has no response text.
const DEFAULT_OUTPUT_TOKENS: u64 = 300;

/// One evaluation row (a data set in one mode).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    /// Label of the routes file (for `--compare`).
    pub label: String,
    /// Data set.
    pub dataset: String,
    /// `route` or `cascade`.
    pub mode: String,
    /// Metrics from the full curve.
    pub metrics: RouterMetrics,
    /// Quality at the route's configured threshold.
    pub routed_quality: f64,
    /// Strong-call share at the configured threshold.
    pub strong_share: f64,
    /// Smallest strong share with quality ≥ 95 % of strong quality.
    pub share_at_95: Option<f64>,
    /// Cost saving against all-strong at that share (0.4 = 40 % cheaper).
    pub saving_at_95: Option<f64>,
    /// Curve points `(cost relative to all-strong, quality)`, 21 points.
    pub curve: Vec<(f64, f64)>,
}

/// Per-prompt costs in micro-dollars (decimal).
struct Costs {
    weak: Vec<Decimal>,
    strong: Vec<Decimal>,
}

fn cost(tokens_in: u64, tokens_out: u64, p: &ModelPrice) -> Decimal {
    // USD per 1M tokens is micro-USD per token.
    Decimal::from(tokens_in) * p.input + Decimal::from(tokens_out) * p.output
}

fn costs(rows: &[&LabelledRow], models: (&str, &str), prices: (&ModelPrice, &ModelPrice)) -> Costs {
    let (ew, es) = (Encoding::for_model(models.0), Encoding::for_model(models.1));
    let out = |e: Encoding, r: Option<&String>| r.map_or(DEFAULT_OUTPUT_TOKENS, |t| e.count(t).0);
    Costs {
        weak: rows
            .iter()
            .map(|r| {
                cost(
                    ew.count(&r.prompt).0,
                    out(ew, r.weak_response.as_ref()),
                    prices.0,
                )
            })
            .collect(),
        strong: rows
            .iter()
            .map(|r| {
                cost(
                    es.count(&r.prompt).0,
                    out(es, r.strong_response.as_ref()),
                    prices.1,
                )
            })
            .collect(),
    }
}

fn ratio(a: Decimal, b: Decimal) -> f64 {
    if b.is_zero() {
        return 0.0;
    }
    (a / b).to_string().parse().unwrap_or(0.0)
}

/// Inputs for one data set's evaluation.
pub(crate) struct EvalCase<'a> {
    pub(crate) label: &'a str,
    pub(crate) dataset: &'a str,
    pub(crate) rows: Vec<&'a LabelledRow>,
    pub(crate) threshold: f64,
    pub(crate) models: (&'a str, &'a str),
    pub(crate) prices: (&'a ModelPrice, &'a ModelPrice),
}

fn row_for(case: &EvalCase<'_>, mode: &str, scores: &[f64], costs: &Costs) -> EvalRow {
    let weak: Vec<f64> = case.rows.iter().map(|r| r.weak).collect();
    let strong: Vec<f64> = case.rows.iter().map(|r| r.strong).collect();
    let n = scores.len();
    let curve = quality_curve(scores, &weak, &strong);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let cascade = mode == "cascade";
    let all_strong: Decimal = costs.strong.iter().sum();
    // Cost after sending the top m to strong (cascade pays the weak call for everyone).
    let mut cum = Vec::with_capacity(n + 1);
    let mut c: Decimal = costs.weak.iter().sum();
    cum.push(c);
    for &i in &order {
        c += costs.strong[i]
            - if cascade {
                Decimal::ZERO
            } else {
                costs.weak[i]
            };
        cum.push(c);
    }
    let target = 0.95 * curve.last().copied().unwrap_or(0.0);
    let m95 = curve.iter().position(|q| *q >= target - 1e-12);
    let routed = scores.iter().filter(|s| **s >= case.threshold).count();
    let points = (0..=20).map(|k| {
        let m = k * n / 20;
        (ratio(cum[m], all_strong), curve[m])
    });
    EvalRow {
        label: case.label.to_owned(),
        dataset: case.dataset.to_owned(),
        mode: mode.to_owned(),
        metrics: evaluate(scores, &weak, &strong),
        routed_quality: curve[routed],
        strong_share: routed as f64 / n.max(1) as f64,
        share_at_95: m95.map(|m| m as f64 / n.max(1) as f64),
        saving_at_95: m95.map(|m| 1.0 - ratio(cum[m], all_strong)),
        curve: points.collect(),
    }
}

/// Evaluates route-only and (when the data has weak responses and the artifact a verifier)
/// cascade mode on every data set. `thresholds` = (route threshold, verifier threshold).
pub(crate) fn evaluate_route(
    clf: &Classifier,
    rows: &[LabelledRow],
    label: &str,
    thresholds: (f64, f64),
    models_prices: ((&str, &str), (&ModelPrice, &ModelPrice)),
) -> Vec<EvalRow> {
    let mut out = Vec::new();
    for (dataset, idx) in by_dataset(rows) {
        let case = EvalCase {
            label,
            dataset: &dataset,
            rows: idx.iter().map(|i| &rows[*i]).collect(),
            threshold: thresholds.0,
            models: models_prices.0,
            prices: models_prices.1,
        };
        let costs = costs(&case.rows, case.models, case.prices);
        let route: Vec<f64> = case
            .rows
            .iter()
            .map(|r| clf.strong_probability_text(&r.prompt))
            .collect();
        out.push(row_for(&case, "route", &route, &costs));
        let cascade: Option<Vec<f64>> = case
            .rows
            .iter()
            .map(|r| clf.escalate_probability(&r.prompt, r.weak_response.as_ref()?))
            .collect();
        if let Some(scores) = cascade {
            let case = EvalCase {
                threshold: thresholds.1,
                ..case
            };
            out.push(row_for(&case, "cascade", &scores, &costs));
        }
    }
    out
}

/// Draws quality against relative cost, one line per row.
///
/// Errors: the SVG cannot be written.
pub(crate) fn write_svg(rows: &[EvalRow], path: &Path) -> Result<(), Error> {
    let err = |e: String| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (lo, hi) = rows
        .iter()
        .flat_map(|r| r.curve.iter().map(|p| p.1))
        .fold((1.0f64, 0.0f64), |(lo, hi), q| (lo.min(q), hi.max(q)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Purser router: quality vs cost (1.0 = all strong)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..1.05f64, (lo - 0.02)..(hi + 0.02))
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("relative cost")
        .y_desc("quality")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, r) in rows.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let name = format!("{} {} {}", r.label, r.dataset, r.mode);
        chart
            .draw_series(LineSeries::new(
                r.curve.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// Groups rows for printing: data set → rows.
pub(crate) fn group_rows(rows: &[EvalRow]) -> BTreeMap<&str, Vec<&EvalRow>> {
    let mut out: BTreeMap<&str, Vec<&EvalRow>> = BTreeMap::new();
    for r in rows {
        out.entry(r.dataset.as_str()).or_default().push(r);
    }
    out
}
