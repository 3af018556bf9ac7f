//! Scoring compression on the nq-multidoc set, with exactly the dataset README's metrics:
//! per-request whitespace-word ratio over all message contents (mean and median), answer
//! retention (normalised, whole words, `Document [n]` labels and the question removed first) and
//! gold retention (gold text contained, punctuation deleted).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use flate2::read::GzDecoder;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::api::ChatRequest;

use super::{Compressor, Error, Target};

/// Dataset file with questions, answers and documents.
pub const DATA_FILE: &str = "nq_multidoc_20.jsonl.gz";
/// Dataset file with the request bodies, aligned line by line with [`DATA_FILE`].
pub const REQUESTS_FILE: &str = "nq_multidoc_20_requests.jsonl.gz";

static DOC_LABEL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"Document \[\d+\]").ok());

/// One question with its request.
#[derive(Debug, Clone)]
pub struct EvalItem {
    /// The question.
    pub question: String,
    /// Accepted answers.
    pub answers: Vec<String>,
    /// Text of the gold passage.
    pub gold_text: String,
    /// The uncompressed request.
    pub request: ChatRequest,
}

#[derive(Deserialize)]
struct RawItem {
    question: String,
    answers: Vec<String>,
    documents: Vec<RawDoc>,
    gold_index: usize,
}

#[derive(Deserialize)]
struct RawDoc {
    text: String,
}

/// Figures at one target ratio.
#[derive(Debug, Clone, Serialize)]
pub struct RatioReport {
    /// Ratio asked for.
    pub target_ratio: f64,
    /// Requests scored.
    pub n: usize,
    /// Mean of per-request word ratios.
    pub mean_ratio: f64,
    /// Median of per-request word ratios.
    pub median_ratio: f64,
    /// Smallest per-request ratio.
    pub min_ratio: f64,
    /// Share of prompts still containing an answer.
    pub answer_retention: f64,
    /// Share of prompts still containing the whole gold passage.
    pub gold_retention: f64,
    /// Share of prompts still containing the question.
    pub question_kept: f64,
}

/// How punctuation is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punct {
    /// Deleted.
    Delete,
    /// Turned into spaces.
    Space,
}

/// The default dataset folder: `$PURSER_SHARED_DIR/datasets/nq-multidoc`, else
/// `../shared/datasets/nq-multidoc` relative to the working directory.
pub fn default_data_dir() -> PathBuf {
    let shared = std::env::var_os("PURSER_SHARED_DIR")
        .map_or_else(|| PathBuf::from("../shared"), PathBuf::from);
    shared.join("datasets").join("nq-multidoc")
}

/// Reads up to `limit` items (all when `None`).
///
/// # Errors
/// `DatasetMissing` when a file is absent, `Io`/`BadInput` when it cannot be read.
pub fn load_items(dir: &Path, limit: Option<usize>) -> Result<Vec<EvalItem>, Error> {
    let (data, reqs) = (dir.join(DATA_FILE), dir.join(REQUESTS_FILE));
    for p in [&data, &reqs] {
        if !p.is_file() {
            return Err(Error::DatasetMissing {
                path: p.display().to_string(),
            });
        }
    }
    let data_lines = gz_lines(&data, limit)?;
    let req_lines = gz_lines(&reqs, limit)?;
    let mut out = Vec::with_capacity(data_lines.len());
    for (i, (d, r)) in data_lines.iter().zip(&req_lines).enumerate() {
        let bad = |e: serde_json::Error| Error::BadInput {
            line: i + 1,
            reason: e.to_string(),
        };
        let raw: RawItem = serde_json::from_str(d).map_err(bad)?;
        let request: ChatRequest = serde_json::from_str(r).map_err(bad)?;
        let gold_text = raw
            .documents
            .get(raw.gold_index)
            .map(|d| d.text.clone())
            .unwrap_or_default();
        out.push(EvalItem {
            question: raw.question,
            answers: raw.answers,
            gold_text,
            request,
        });
    }
    Ok(out)
}

fn gz_lines(path: &Path, limit: Option<usize>) -> Result<Vec<String>, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        what: path.display().to_string(),
        source: e,
    })?;
    let reader = BufReader::new(GzDecoder::new(file));
    let mut out = Vec::new();
    for line in reader.lines() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let line = line.map_err(|e| Error::Io {
            what: path.display().to_string(),
            source: e,
        })?;
        if !line.trim().is_empty() {
            out.push(line);
        }
    }
    Ok(out)
}

/// Lowercase, punctuation deleted or spaced, whitespace collapsed.
pub fn normalize(s: &str, punct: Punct) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c.is_whitespace() {
            out.push(c);
        } else if punct == Punct::Space {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Concatenated contents of all messages (newline-joined).
pub fn request_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .map(|m| m.text_content())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the prompt contains an answer as whole words, after removing labels and the question.
pub fn answer_retained(prompt: &str, question: &str, answers: &[String]) -> bool {
    let unlabelled = match DOC_LABEL.as_ref() {
        Some(re) => re.replace_all(prompt, " ").into_owned(),
        None => prompt.to_owned(),
    };
    [Punct::Delete, Punct::Space].into_iter().any(|mode| {
        let q = normalize(question, mode);
        let mut p = normalize(&unlabelled, mode);
        if !q.is_empty() {
            p = p.replace(&q, " ");
        }
        let padded = format!(" {p} ");
        answers.iter().any(|a| {
            let a = normalize(a, mode);
            !a.is_empty() && padded.contains(&format!(" {a} "))
        })
    })
}

/// Whether the prompt contains the whole gold text (punctuation deleted on both sides).
pub fn gold_retained(prompt: &str, gold: &str) -> bool {
    normalize(prompt, Punct::Delete).contains(&normalize(gold, Punct::Delete))
}

/// Compresses every item to `ratio` and scores the results.
///
/// # Errors
/// Errors of [`Compressor::compress_to`].
pub fn evaluate(
    compressor: &Compressor,
    items: &[EvalItem],
    ratio: f64,
) -> Result<RatioReport, Error> {
    let mut ratios = Vec::with_capacity(items.len());
    let (mut answer, mut gold, mut question) = (0usize, 0usize, 0usize);
    for item in items {
        let out = compressor.compress_to(&item.request, Target::Ratio(ratio))?;
        let before = request_text(&item.request);
        let after = request_text(&out.request);
        let (wb, wa) = (
            before.split_whitespace().count(),
            after.split_whitespace().count(),
        );
        ratios.push(wb as f64 / wa.max(1) as f64);
        answer += usize::from(answer_retained(&after, &item.question, &item.answers));
        gold += usize::from(gold_retained(&after, &item.gold_text));
        let q = normalize(&item.question, Punct::Delete);
        question += usize::from(normalize(&after, Punct::Delete).contains(&q));
    }
    Ok(report(ratio, &mut ratios, answer, gold, question))
}

fn report(
    target: f64,
    ratios: &mut [f64],
    answer: usize,
    gold: usize,
    question: usize,
) -> RatioReport {
    let n = ratios.len();
    ratios.sort_by(f64::total_cmp);
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => ratios[n / 2],
        _ => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    };
    let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    RatioReport {
        target_ratio: target,
        n,
        mean_ratio: ratios.iter().sum::<f64>() / n.max(1) as f64,
        median_ratio: median,
        min_ratio: ratios.first().copied().unwrap_or(0.0),
        answer_retention: share(answer),
        gold_retention: share(gold),
        question_kept: share(question),
    }
}
