//! Bodies of `purser compress` (JSON lines in, compressed JSON lines out) and
//! `purser eval-compress` (nq-multidoc scores). The integrator wires the subcommands.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::ChatRequest;

use super::eval::{RatioReport, default_data_dir, evaluate, load_items};
use super::{Compressor, Error, Mode, MokaSummaryStore, Ranker, Settings, Target};

/// `purser compress [--ratio R | --budget-tokens N]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompressArgs {
    /// Compress to at most before/R tokens and whitespace words (default 4).
    #[arg(long, conflicts_with = "budget_tokens")]
    pub ratio: Option<f64>,
    /// Compress to at most N input tokens.
    #[arg(long)]
    pub budget_tokens: Option<u64>,
}

/// `purser eval-compress --data DIR [--ratios 2,4,8] [--json OUT]`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalCompressArgs {
    /// Folder with the nq-multidoc files (default `$PURSER_SHARED_DIR/datasets/nq-multidoc`,
    /// else `../shared/datasets/nq-multidoc`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Target ratios, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8")]
    pub ratios: Vec<f64>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Score only the first N questions.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Use the per-request tantivy index ranker instead of direct BM25.
    #[arg(long)]
    pub tantivy_index: bool,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

fn cli_compressor(ranker: Ranker) -> Result<Compressor, Error> {
    let settings = Settings {
        mode: Mode::Retrieval,
        threshold_tokens: 0,
        ..Settings::default()
    };
    Ok(Compressor::try_new(settings, Arc::new(MokaSummaryStore::new(16)))?.with_ranker(ranker))
}

/// Reads chat request bodies (one JSON object per line; blank lines skipped) and writes each
/// compressed body on its own line, in order. Unknown fields are preserved.
///
/// # Errors
/// `BadInput` for a line that is not a chat request, `Io` for read/write failures,
/// `InvalidSettings` for a bad ratio or budget.
pub fn run_compress(
    args: &CompressArgs,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let target = match (args.ratio, args.budget_tokens) {
        (_, Some(n)) => Target::BudgetTokens(n),
        (Some(r), None) => Target::Ratio(r),
        (None, None) => Target::default(),
    };
    let compressor = cli_compressor(Ranker::Bm25)?;
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if input.read_line(&mut line).map_err(io_err("stdin"))? == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let req: ChatRequest = serde_json::from_str(&line).map_err(|e| Error::BadInput {
            line: n,
            reason: e.to_string(),
        })?;
        let done = compressor.compress_to(&req, target)?;
        let body = serde_json::to_string(&done.request).map_err(|e| Error::BadInput {
            line: n,
            reason: e.to_string(),
        })?;
        writeln!(out, "{body}").map_err(io_err("stdout"))?;
    }
    out.flush().map_err(io_err("stdout"))
}

/// Scores the compressor on nq-multidoc at each ratio and writes a table (and JSON if asked).
///
/// # Errors
/// `DatasetMissing` when the files are not found, `Io` for output failures.
pub fn run_eval(args: &EvalCompressArgs, out: &mut dyn Write) -> Result<Vec<RatioReport>, Error> {
    let dir = args.data.clone().unwrap_or_else(default_data_dir);
    let items = load_items(&dir, args.limit)?;
    let ranker = if args.tantivy_index {
        Ranker::TantivyIndex
    } else {
        Ranker::Bm25
    };
    let compressor = cli_compressor(ranker)?;
    let w = io_err("output");
    writeln!(
        out,
        "nq-multidoc: {} questions from {}",
        items.len(),
        dir.display()
    )
    .map_err(&w)?;
    writeln!(
        out,
        "target  mean_ratio  median_ratio  min_ratio  answer_ret  gold_ret  question_kept"
    )
    .map_err(&w)?;
    let mut reports = Vec::new();
    for &r in &args.ratios {
        let rep = evaluate(&compressor, &items, r)?;
        writeln!(
            out,
            "{:>5.1}x  {:>10.2}  {:>12.2}  {:>9.2}  {:>10.3}  {:>8.3}  {:>13.3}",
            rep.target_ratio,
            rep.mean_ratio,
            rep.median_ratio,
            rep.min_ratio,
            rep.answer_retention,
            rep.gold_retention,
            rep.question_kept
        )
        .map_err(&w)?;
        reports.push(rep);
    }
    if let Some(path) = &args.json {
        let body = serde_json::to_string_pretty(&reports).map_err(|e| Error::Io {
            what: path.display().to_string(),
            source: e.into(),
        })?;
        std::fs::write(path, body).map_err(io_err("json output"))?;
    }
    Ok(reports)
}
