//! Builds the load-test report from the load generator's JSON lines (`benches/load/run.sh`).
//!
//! Input: `--runs` (one `loadgen` JSON line per run, each carrying `rep`), `--meta` (a JSON object:
//! machine, commit, command, date, load, configuration notes). Output: `--md` (markdown tables)
//! and `--json` (the summary plus every raw run).
//!
//! Added latency is computed side by side: for each repetition, a target's percentile minus the
//! `direct` run's percentile at the same mode and concurrency in that repetition; the table
//! shows the median over repetitions. Absolute values are medians over repetitions too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};

mod targets;

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(
    name = "loadreport",
    about = "Summarise load-generator runs into markdown and JSON"
)]
struct Args {
    /// JSON lines written by `loadgen`.
    #[arg(long)]
    runs: PathBuf,
    /// Run metadata (JSON object).
    #[arg(long)]
    meta: PathBuf,
    /// Markdown output.
    #[arg(long)]
    md: PathBuf,
    /// JSON output.
    #[arg(long)]
    json: PathBuf,
}

/// Runs of one (label, mode, concurrency) cell, indexed by repetition.
type Cells = BTreeMap<(String, String, u64), BTreeMap<u64, Value>>;

/// Baseline label.
const DIRECT: &str = "direct";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&args.meta).context("reading --meta")?)
            .context("parsing --meta")?;
    let runs: Vec<Value> = std::fs::read_to_string(&args.runs)
        .context("reading --runs")?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("parsing --runs")?;
    let cells = group(&runs);
    let summary = summarize(&cells);
    let checks = targets::check(&summary, &meta);
    let md = markdown(&meta, &summary, &checks);
    std::fs::write(&args.md, md)?;
    let out = json!({"meta": meta, "summary": summary, "targets": checks, "runs": runs});
    std::fs::write(&args.json, serde_json::to_string_pretty(&out)? + "\n")?;
    Ok(())
}

fn group(runs: &[Value]) -> Cells {
    let mut cells = Cells::new();
    for r in runs {
        let key = (
            r["label"].as_str().unwrap_or("?").to_owned(),
            r["mode"].as_str().unwrap_or("?").to_owned(),
            r["concurrency"].as_u64().unwrap_or(0),
        );
        let rep = r["rep"].as_u64().unwrap_or(0);
        cells.entry(key).or_default().insert(rep, r.clone());
    }
    cells
}

/// Median of the finite values; `None` when there are none.
fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn at(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

/// Median over repetitions of a field.
fn med_field(reps: &BTreeMap<u64, Value>, path: &[&str]) -> Option<f64> {
    median(reps.values().filter_map(|v| at(v, path)).collect())
}

/// Median over repetitions of (target - direct) for a field, pairing runs of the same rep.
fn med_added(
    reps: &BTreeMap<u64, Value>,
    base: Option<&BTreeMap<u64, Value>>,
    path: &[&str],
) -> Option<f64> {
    let base = base?;
    let diffs = reps
        .iter()
        .filter_map(|(rep, v)| Some(at(v, path)? - at(base.get(rep)?, path)?))
        .collect();
    median(diffs)
}

/// Median over repetitions of target / direct for a field.
fn med_ratio(
    reps: &BTreeMap<u64, Value>,
    base: Option<&BTreeMap<u64, Value>>,
    path: &[&str],
) -> Option<f64> {
    let base = base?;
    let ratios = reps
        .iter()
        .filter_map(|(rep, v)| {
            let b = at(base.get(rep)?, path)?;
            (b > 0.0).then(|| at(v, path).map(|x| x / b))?
        })
        .collect();
    median(ratios)
}

const PCTS: [&str; 4] = ["p50", "p90", "p99", "max"];

fn summarize(cells: &Cells) -> Vec<Value> {
    let mut out = Vec::new();
    for ((label, mode, conc), reps) in cells {
        let base = cells.get(&(DIRECT.to_owned(), mode.clone(), *conc));
        let mut row = json!({
            "label": label, "mode": mode, "concurrency": conc, "reps": reps.len(),
            "rps": med_field(reps, &["rps"]),
            "rps_ratio": med_ratio(reps, base, &["rps"]),
            "errors": reps.values().filter_map(|v| v["errors"].as_u64()).sum::<u64>(),
            "requests": reps.values().filter_map(|v| v["requests"].as_u64()).sum::<u64>(),
            "gateway_cpu_us_per_req": med_field(reps, &["procs", "gateway", "cpu_us_per_req"]),
            "gateway_cpu_cores": med_field(reps, &["procs", "gateway", "cpu_cores"]),
            "gateway_peak_rss_mb": reps.values()
                .filter_map(|v| at(v, &["procs", "gateway", "peak_rss_mb"]))
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        });
        let metrics: &[&str] = if mode == "stream" {
            &["latency_us", "ttfb_us", "chunk_latency_us", "chunk_gap_us"]
        } else {
            &["latency_us"]
        };
        for m in metrics {
            for p in PCTS {
                row[format!("{m}.{p}")] = json!(med_field(reps, &[m, p]));
                if label != DIRECT {
                    row[format!("added_{m}.{p}")] = json!(med_added(reps, base, &[m, p]));
                }
            }
        }
        out.push(row);
    }
    out
}

fn f(v: &Value, key: &str, digits: usize) -> String {
    match v.get(key).and_then(Value::as_f64) {
        Some(x) => format!("{x:.digits$}"),
        None => "–".to_owned(),
    }
}

fn us(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_f64) {
        Some(x) if x.abs() >= 10_000.0 => format!("{:.1} ms", x / 1000.0),
        Some(x) if x.abs() >= 1000.0 => format!("{:.2} ms", x / 1000.0),
        Some(x) => format!("{x:.0} µs"),
        None => "–".to_owned(),
    }
}

fn markdown(meta: &Value, summary: &[Value], checks: &[Value]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Purser load test\n");
    for (k, label) in [
        ("date", "Date (UTC)"),
        ("commit", "Commit"),
        ("command", "Command"),
        ("machine", "Machine"),
        ("load_before", "Load before (uptime)"),
        ("load_after", "Load after (uptime)"),
        ("setup", "Setup"),
        ("configs", "Gateway configurations"),
        ("peer", "Peer"),
    ] {
        if let Some(v) = meta.get(k) {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = writeln!(s, "- **{label}**: {text}");
        }
    }
    let _ = writeln!(
        s,
        "\nAll values are medians over repetitions. *Added* = target minus `direct` in the same \
         repetition (side by side), then the median. CPU is the gateway's utime+stime over the \
         measured phase divided by requests; peak RSS is the gateway's VmHWM (max over runs).\n"
    );
    chat_table(&mut s, summary);
    stream_table(&mut s, summary);
    targets::table(&mut s, checks);
    s
}

fn chat_table(s: &mut String, summary: &[Value]) {
    let _ = writeln!(s, "## Non-streaming `/v1/chat/completions`\n");
    let _ = writeln!(
        s,
        "| target | conc | req/s | vs direct | p50 | p90 | p99 | max | added p50 | added p90 | added p99 | CPU/req | peak RSS | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in summary.iter().filter(|r| r["mode"] == "chat") {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["label"].as_str().unwrap_or("?"),
            r["concurrency"],
            f(r, "rps", 0),
            pct(r, "rps_ratio"),
            us(r, "latency_us.p50"),
            us(r, "latency_us.p90"),
            us(r, "latency_us.p99"),
            us(r, "latency_us.max"),
            us(r, "added_latency_us.p50"),
            us(r, "added_latency_us.p90"),
            us(r, "added_latency_us.p99"),
            us(r, "gateway_cpu_us_per_req"),
            mb(r),
            r["errors"],
        );
    }
    let _ = writeln!(s);
}

fn stream_table(s: &mut String, summary: &[Value]) {
    let rows: Vec<&Value> = summary.iter().filter(|r| r["mode"] == "stream").collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Streaming (SSE)\n");
    let _ = writeln!(
        s,
        "TTFB: request sent to first body byte. Chunk latency: mock wrote the chunk (wall-clock \
         stamp in its text) to the client read it. Gap: inter-arrival of chunks at the client.\n"
    );
    let _ = writeln!(
        s,
        "| target | conc | streams/s | TTFB p50 | TTFB p99 | added TTFB p50 | added TTFB p99 | chunk p50 | chunk p99 | added chunk p50 | added chunk p99 | gap p50 | CPU/stream | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["label"].as_str().unwrap_or("?"),
            r["concurrency"],
            f(r, "rps", 0),
            us(r, "ttfb_us.p50"),
            us(r, "ttfb_us.p99"),
            us(r, "added_ttfb_us.p50"),
            us(r, "added_ttfb_us.p99"),
            us(r, "chunk_latency_us.p50"),
            us(r, "chunk_latency_us.p99"),
            us(r, "added_chunk_latency_us.p50"),
            us(r, "added_chunk_latency_us.p99"),
            us(r, "chunk_gap_us.p50"),
            us(r, "gateway_cpu_us_per_req"),
            r["errors"],
        );
    }
    let _ = writeln!(s);
}

fn pct(r: &Value, key: &str) -> String {
    r.get(key).and_then(Value::as_f64).map_or_else(
        || "–".to_owned(),
        |x| {
            if x < 0.01 {
                format!("{:.2}%", x * 100.0)
            } else {
                format!("{:.0}%", x * 100.0)
            }
        },
    )
}

fn mb(r: &Value) -> String {
    r.get("gateway_peak_rss_mb")
        .and_then(Value::as_f64)
        .map_or_else(|| "–".to_owned(), |x| format!("{x:.1} MB"))
}
