//! Command-line entry points (`purser train|calibrate|eval|score`) as clap `Args` plus `run_*`
//! functions writing to a caller-supplied `Write`; the binary wires them as subcommands.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::Error;
use super::dataset::load_dir;
use super::model::{Classifier, Target};
use super::trainer::{TrainOptions, train_rows};
use crate::api::ChatRequest;

pub use super::cli_report::{CalibrateArgs, EvalArgs, run_calibrate, run_eval};

/// `purser train`: fit a router on RouteLLM-layout CSVs and write the artifact.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Folder holding the labelled CSV files (searched recursively).
    #[arg(long)]
    pub data: PathBuf,
    /// Artifact to write, e.g. `routes/models/router-v1.json.gz`.
    #[arg(long)]
    pub out: PathBuf,
    /// Weak (cheap) model score column; auto-detected when there are exactly two.
    #[arg(long)]
    pub weak: Option<String>,
    /// Strong model score column; auto-detected when there are exactly two.
    #[arg(long)]
    pub strong: Option<String>,
    /// Artifact name (defaults to the output file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Free-text data description stored in the artifact.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Route label: gain | weak_wrong | win.
    #[arg(long, default_value = "win")]
    pub target: String,
    /// Cross-validation folds (0 skips cross-validation).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the cross-validation fold assignment.
    #[arg(long, default_value_t = 0)]
    pub fold_seed: u64,
    /// Hash buckets = 2^hash_bits.
    #[arg(long, default_value_t = 18)]
    pub hash_bits: u32,
    /// Training epochs.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// AdaGrad learning rate.
    #[arg(long, default_value_t = 0.2)]
    pub learning_rate: f64,
    /// L2 penalty on hashed features.
    #[arg(long, default_value_t = 1e-2)]
    pub l2: f64,
    /// Label smoothing towards the file's (e.g. subject's) mean label, in [0, 1].
    #[arg(long, default_value_t = 0.8)]
    pub group_smoothing: f64,
}

/// `purser score`: JSON lines in, one score line per input out, in order.
#[derive(Debug, Clone, clap::Args)]
pub struct ScoreArgs {
    /// Classifier artifact.
    #[arg(long)]
    pub router: PathBuf,
}

fn parse_target(s: &str) -> Result<Target, Error> {
    match s {
        "gain" => Ok(Target::Gain),
        "weak_wrong" => Ok(Target::WeakWrong),
        "win" => Ok(Target::Win),
        other => Err(Error::Options {
            message: format!("unknown target {other:?} (gain | weak_wrong | win)"),
        }),
    }
}

fn io_err(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The artifact's name from its file name: `router-v1.json.gz` and `router-v1.json` both give
/// `router-v1`.
fn artifact_name(out: &std::path::Path) -> String {
    let file = out
        .file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = file.strip_suffix(".gz").unwrap_or(&file);
    let name = name.strip_suffix(".json").unwrap_or(name);
    if name.is_empty() {
        "router".to_owned()
    } else {
        name.to_owned()
    }
}

/// Runs `purser train`; prints the cross-validation summary to `out`.
///
/// Errors: unreadable data, ambiguous columns, bad options, unwritable output.
pub fn run_train(args: &TrainArgs, out: &mut dyn Write) -> Result<(), Error> {
    let data = load_dir(&args.data, args.weak.as_deref(), args.strong.as_deref())?;
    let defaults = TrainOptions::default();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| artifact_name(&args.out));
    let opts = TrainOptions {
        name,
        description: args.description.clone(),
        hash_bits: args.hash_bits,
        target: parse_target(&args.target)?,
        folds: args.folds,
        fold_seed: args.fold_seed,
        group_smoothing: args.group_smoothing,
        fit: super::linear::FitConfig {
            epochs: args.epochs,
            learning_rate: args.learning_rate,
            l2: args.l2,
            ..defaults.fit
        },
        ..defaults
    };
    let artifact = train_rows(&data.rows, &data.columns, data.files, &opts)?;
    let path = args.out.display().to_string();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(&path))?;
    }
    let written = artifact.write(&args.out)?;
    let w = io_err("output");
    writeln!(
        out,
        "wrote {} ({} bytes, version {}) from {} rows in {} files; weak={} strong={}",
        path,
        written,
        artifact.version,
        data.rows.len(),
        data.files,
        data.columns.weak,
        data.columns.strong
    )
    .map_err(&w)?;
    let cv = &artifact.metadata.cv;
    for (mode, table) in [("route", &cv.route), ("cascade", &cv.cascade)] {
        for (ds, m) in table {
            writeln!(
                out,
                "cv{} {mode:8} {ds:12} n={:5} weak={:.3} strong={:.3} APGR={} CPT50={} CPT80={}",
                cv.folds,
                m.n,
                m.weak_quality,
                m.strong_quality,
                fmt_opt(m.apgr),
                fmt_opt(m.cpt50),
                fmt_opt(m.cpt80)
            )
            .map_err(&w)?;
        }
    }
    Ok(())
}

pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
}

/// One `purser score` input: the prompt, the chat request it came from (if any), the response.
type ScoreInput = (String, Option<Box<ChatRequest>>, Option<String>);

/// Parses one `purser score` input line.
fn score_input(line: &str, n: usize) -> Result<ScoreInput, Error> {
    let bad = |message: String| Error::Input { line: n, message };
    let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let response = v.get("response").and_then(Value::as_str).map(str::to_owned);
    if let Some(p) = v.get("prompt").and_then(Value::as_str) {
        return Ok((p.to_owned(), None, response));
    }
    if v.get("messages").is_some() {
        let mut body = v.clone();
        if body.get("model").is_none()
            && let Some(obj) = body.as_object_mut()
        {
            obj.insert("model".to_owned(), json!("purser/auto"));
        }
        let req: ChatRequest = serde_json::from_value(body).map_err(|e| bad(e.to_string()))?;
        return Ok((req.last_user_text(), Some(Box::new(req)), response));
    }
    Err(bad(
        "expected {\"prompt\": ...} or a chat request body".to_owned()
    ))
}

/// Runs `purser score`: reads JSON lines from `input`, writes one JSON line per input to `out`.
///
/// Errors: unreadable artifact, a malformed input line, a write failure.
pub fn run_score(
    args: &ScoreArgs,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let clf = Classifier::load(&args.router)?;
    let w = io_err("output");
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(io_err("input"))?;
        if line.trim().is_empty() {
            continue;
        }
        let (prompt, req, response) = score_input(&line, i + 1)?;
        // A chat body is scored with its shape (turns, system prompt, tools, response format).
        let p = match &req {
            Some(r) => clf.strong_probability(r),
            None => clf.strong_probability_text(&prompt),
        };
        let mut rec = json!({"prompt": prompt, "strong_probability": p});
        if let Some(r) = response {
            let e = clf.escalate_probability(&prompt, &r).unwrap_or(p);
            rec["escalate_probability"] = json!(e);
        }
        writeln!(out, "{rec}").map_err(&w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_input_reads_prompts_and_chat_bodies() {
        let (p, req, r) = score_input(r#"{"prompt":"hi","response":"yo"}"#, 1).unwrap();
        assert_eq!(
            (p.as_str(), req.is_none(), r.as_deref()),
            ("hi", true, Some("yo"))
        );
        let body =
            r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"last"}]}"#;
        let (p, req, r) = score_input(body, 2).unwrap();
        assert_eq!((p.as_str(), req.is_some(), r), ("last", true, None));
        assert!(matches!(
            score_input("{}", 3),
            Err(Error::Input { line: 3, .. })
        ));
    }

    #[test]
    fn artifact_name_drops_json_and_gz_suffixes() {
        for (out, name) in [
            ("routes/models/router-v1.json.gz", "router-v1"),
            ("router-v1.json", "router-v1"),
            ("/tmp/r", "r"),
            (".json.gz", "router"),
        ] {
            assert_eq!(artifact_name(std::path::Path::new(out)), name, "{out}");
        }
    }
}
