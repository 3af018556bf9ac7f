//! `purser eval` and `purser calibrate`: load a routes file, score labelled data with the
//! route's classifier, and report or write thresholds.

use std::io::Write;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use super::Error;
use super::calibrate::{CalibrationData, calibrate, parse_target, write_threshold};
use super::cli::fmt_opt;
use super::dataset::load_dir;
use super::eval::{EvalRow, ModelPrice, evaluate_route, group_rows, write_svg};
use super::model::Classifier;
use super::settings::{RouteSettings, RoutesFile};

/// `purser eval`: offline quality/cost report of a routes file on labelled data.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Folder of labelled CSV files; each sub-folder is a data set.
    #[arg(long)]
    pub data: PathBuf,
    /// Routes file (TOML).
    #[arg(long)]
    pub routes: PathBuf,
    /// Route to evaluate (default: the first in the file).
    #[arg(long)]
    pub route: Option<String>,
    /// A second routes file to compare against.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the cost–quality curve as SVG here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Weak model column (auto-detected when there are two).
    #[arg(long)]
    pub weak: Option<String>,
    /// Strong model column (auto-detected when there are two).
    #[arg(long)]
    pub strong: Option<String>,
    /// Weak model USD per 1M input,output tokens (default: the built-in price table's
    /// entry for the route's cheapest primary model).
    #[arg(long)]
    pub weak_price: Option<String>,
    /// Strong model USD per 1M input,output tokens (default: the built-in price table's
    /// entry for the route's strongest primary model).
    #[arg(long)]
    pub strong_price: Option<String>,
}

/// `purser calibrate`: pick a threshold meeting a target with stated confidence and write it.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// Folder of labelled CSV files.
    #[arg(long)]
    pub data: PathBuf,
    /// Routes file to update in place.
    #[arg(long)]
    pub routes: PathBuf,
    /// Route name.
    #[arg(long)]
    pub route: String,
    /// `quality=0.95` (share of all-strong quality), `strong_share=0.3` or `cost_cap=USD` per
    /// 1,000 requests.
    #[arg(long)]
    pub target: String,
    /// One-sided confidence for the bound.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Tier boundary to set (0 = cheapest/next).
    #[arg(long, default_value_t = 0)]
    pub boundary: usize,
    /// Weak model column.
    #[arg(long)]
    pub weak: Option<String>,
    /// Strong model column.
    #[arg(long)]
    pub strong: Option<String>,
    /// Weak model USD per 1M input,output tokens (default: the built-in price table's
    /// entry for the route's cheapest primary model).
    #[arg(long)]
    pub weak_price: Option<String>,
    /// Strong model USD per 1M input,output tokens (default: the built-in price table's
    /// entry for the route's strongest primary model).
    #[arg(long)]
    pub strong_price: Option<String>,
    /// Print the result without writing the file.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_price(s: &str) -> Result<ModelPrice, Error> {
    let bad = || Error::Options {
        message: format!("bad price {s:?}: use IN,OUT in USD per 1M tokens"),
    };
    let (i, o) = s.split_once(',').ok_or_else(bad)?;
    Ok(ModelPrice {
        input: i.trim().parse::<Decimal>().map_err(|_| bad())?,
        output: o.trim().parse::<Decimal>().map_err(|_| bad())?,
    })
}

/// The price of `model`: the flag when given, else the built-in `crate::pricing` table.
fn price_for(flag: Option<&str>, model: &str) -> Result<ModelPrice, Error> {
    if let Some(f) = flag {
        return parse_price(f);
    }
    let table = crate::pricing::PriceTable::builtin().map_err(|e| Error::Options {
        message: format!("built-in price table: {} errors", e.len()),
    })?;
    let p = table.get(model).ok_or_else(|| Error::Options {
        message: format!("no price for {model:?}; pass --weak-price/--strong-price IN,OUT"),
    })?;
    Ok(ModelPrice {
        input: p.input_per_mtok,
        output: p.output_per_mtok,
    })
}

/// Reads a routes file and returns the named (or first) route and its loaded classifier.
fn load_route(path: &Path, name: Option<&str>) -> Result<(RouteSettings, Classifier), Error> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: p.clone(),
        source,
    })?;
    let file: RoutesFile = toml::from_str(&text).map_err(|e| Error::Table {
        path: p.clone(),
        key: String::new(),
        message: e.to_string(),
    })?;
    let route = file
        .route
        .into_iter()
        .find(|r| name.is_none_or(|n| r.name == n))
        .ok_or_else(|| Error::UnknownRoute {
            route: name.unwrap_or("<first>").to_owned(),
        })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let clf = Classifier::load(&dir.join(&route.classifier))?;
    Ok((route, clf))
}

fn primary(route: &RouteSettings, last: bool) -> String {
    let tier = if last {
        route.tiers.last()
    } else {
        route.tiers.first()
    };
    tier.and_then(|t| t.first())
        .map_or_else(String::new, |m| m.to_string())
}

fn print_rows(rows: &[EvalRow], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:10} {:12} {:8} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}",
        "routes",
        "dataset",
        "mode",
        "n",
        "weak",
        "strong",
        "routed",
        "share",
        "APGR",
        "CPT50",
        "CPT80",
        "sh@95%",
        "save@95"
    )?;
    for (_, group) in group_rows(rows) {
        for r in group {
            let m = &r.metrics;
            writeln!(
                out,
                "{:10} {:12} {:8} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6} {:>6} {:>6} {:>7} {:>7}",
                r.label,
                r.dataset,
                r.mode,
                m.n,
                m.weak_quality,
                m.strong_quality,
                r.routed_quality,
                r.strong_share,
                fmt_opt(m.apgr),
                fmt_opt(m.cpt50),
                fmt_opt(m.cpt80),
                fmt_opt(r.share_at_95),
                fmt_opt(r.saving_at_95)
            )?;
        }
    }
    Ok(())
}

/// Runs `purser eval`.
///
/// Errors: unreadable data or routes, unknown route, unwritable outputs.
pub fn run_eval(args: &EvalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let data = load_dir(&args.data, args.weak.as_deref(), args.strong.as_deref())?;
    let mut rows = Vec::new();
    let files = std::iter::once(("routes", &args.routes))
        .chain(args.compare.iter().map(|c| ("compare", c)));
    for (label, path) in files {
        let (route, clf) = load_route(path, args.route.as_deref())?;
        let threshold = (
            route.thresholds.first().copied().unwrap_or(0.5),
            route.escalation.verifier_threshold,
        );
        let models = (primary(&route, false), primary(&route, true));
        let prices = (
            price_for(args.weak_price.as_deref(), &models.0)?,
            price_for(args.strong_price.as_deref(), &models.1)?,
        );
        rows.extend(evaluate_route(
            &clf,
            &data.rows,
            label,
            threshold,
            ((&models.0, &models.1), (&prices.0, &prices.1)),
        ));
    }
    let io = |p: &str| {
        let p = p.to_owned();
        move |source| Error::Io {
            path: p.clone(),
            source,
        }
    };
    print_rows(&rows, out).map_err(io("output"))?;
    if let Some(p) = &args.json {
        let json = serde_json::to_string_pretty(&rows).map_err(|e| Error::Options {
            message: e.to_string(),
        })?;
        std::fs::write(p, json).map_err(io(&p.display().to_string()))?;
    }
    if let Some(p) = &args.svg {
        write_svg(&rows, p)?;
    }
    Ok(())
}

/// Runs `purser calibrate`: prints the calibration and (unless `--dry-run`) writes the threshold.
///
/// Errors: unreadable data or routes, bad target, unknown route or boundary, unwritable file.
pub fn run_calibrate(args: &CalibrateArgs, out: &mut dyn Write) -> Result<(), Error> {
    let target = parse_target(&args.target)?;
    if !(0.5..1.0).contains(&args.confidence) {
        return Err(Error::Options {
            message: "--confidence must be in [0.5, 1)".to_owned(),
        });
    }
    let data = load_dir(&args.data, args.weak.as_deref(), args.strong.as_deref())?;
    let (route, clf) = load_route(&args.routes, Some(&args.route))?;
    let (wm, sm) = (primary(&route, false), primary(&route, true));
    let prices = (
        price_for(args.weak_price.as_deref(), &wm)?,
        price_for(args.strong_price.as_deref(), &sm)?,
    );
    let (ew, es) = (
        crate::tokenizer::Encoding::for_model(&wm),
        crate::tokenizer::Encoding::for_model(&sm),
    );
    let usd = |tokens_in: u64, tokens_out: u64, p: &ModelPrice| -> f64 {
        let micros = Decimal::from(tokens_in) * p.input + Decimal::from(tokens_out) * p.output;
        micros.to_string().parse::<f64>().unwrap_or(0.0) / 1e6
    };
    let out_tokens =
        |e: crate::tokenizer::Encoding, r: Option<&String>| r.map_or(300, |t| e.count(t).0);
    let d = CalibrationData {
        scores: data
            .rows
            .iter()
            .map(|r| clf.strong_probability_text(&r.prompt))
            .collect(),
        weak: data.rows.iter().map(|r| r.weak).collect(),
        strong: data.rows.iter().map(|r| r.strong).collect(),
        weak_cost: data
            .rows
            .iter()
            .map(|r| {
                usd(
                    ew.count(&r.prompt).0,
                    out_tokens(ew, r.weak_response.as_ref()),
                    &prices.0,
                )
            })
            .collect(),
        strong_cost: data
            .rows
            .iter()
            .map(|r| {
                usd(
                    es.count(&r.prompt).0,
                    out_tokens(es, r.strong_response.as_ref()),
                    &prices.1,
                )
            })
            .collect(),
    };
    let c = calibrate(&d, target, args.confidence);
    let w = |source| Error::Io {
        path: "output".to_owned(),
        source,
    };
    writeln!(
        out,
        "route {} boundary {}: threshold {:.4} -> strong share {:.3}, quality {:.4} (strong {:.4}), bound {:.4}, cost/1k ${:.4}, target {} at confidence {}",
        args.route, args.boundary, c.threshold, c.strong_share, c.quality, c.strong_quality, c.bound,
        c.cost_per_1k, if c.target_met { "met" } else { "NOT met (safest threshold used)" }, args.confidence
    )
    .map_err(w)?;
    if !args.dry_run {
        let note = format!(
            "calibrated: {} at confidence {} on {} rows (classifier {})",
            args.target,
            args.confidence,
            data.rows.len(),
            clf.version()
        );
        write_threshold(&args.routes, &args.route, args.boundary, c.threshold, &note)?;
    }
    Ok(())
}
