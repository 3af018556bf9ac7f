//! The latency and resource targets of the load test, checked against the summary rows.
//! The targets apply to the governance configuration (`meta.target_label`, default `purser-gov`);
//! every other gateway's value is shown beside it for comparison.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// Which way a target bounds its value.
#[derive(Clone, Copy)]
enum Bound {
    AtMost,
    AtLeast,
}

/// One target: the metric of the row (mode, concurrency) and its limit.
struct Target {
    name: &'static str,
    mode: &'static str,
    concurrency: u64,
    key: &'static str,
    limit: f64,
    bound: Bound,
    unit: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        name: "conc 1: added p50",
        mode: "chat",
        concurrency: 1,
        key: "added_latency_us.p50",
        limit: 60.0,
        bound: Bound::AtMost,
        unit: "µs",
    },
    Target {
        name: "conc 1: added p99",
        mode: "chat",
        concurrency: 1,
        key: "added_latency_us.p99",
        limit: 150.0,
        bound: Bound::AtMost,
        unit: "µs",
    },
    Target {
        name: "conc 64: added p99",
        mode: "chat",
        concurrency: 64,
        key: "added_latency_us.p99",
        limit: 1000.0,
        bound: Bound::AtMost,
        unit: "µs",
    },
    Target {
        name: "conc 64: throughput vs direct",
        mode: "chat",
        concurrency: 64,
        key: "rps_ratio",
        limit: 0.25,
        bound: Bound::AtLeast,
        unit: "×",
    },
    Target {
        name: "stream conc 1: added TTFB p50",
        mode: "stream",
        concurrency: 1,
        key: "added_ttfb_us.p50",
        limit: 200.0,
        bound: Bound::AtMost,
        unit: "µs",
    },
    Target {
        name: "stream conc 1: added per-chunk p50",
        mode: "stream",
        concurrency: 1,
        key: "added_chunk_latency_us.p50",
        limit: 20.0,
        bound: Bound::AtMost,
        unit: "µs",
    },
    Target {
        name: "peak RSS (all runs)",
        mode: "*",
        concurrency: 0,
        key: RSS_KEY,
        limit: 64.0,
        bound: Bound::AtMost,
        unit: "MB",
    },
];

const RSS_KEY: &str = "gateway_peak_rss_mb";

/// Labels of gateways in the summary (everything but `direct`), in first-seen order.
fn gateways(summary: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in summary {
        if let Some(l) = r["label"].as_str()
            && l != "direct"
            && !out.iter().any(|x| x == l)
        {
            out.push(l.to_owned());
        }
    }
    out
}

fn value(summary: &[Value], label: &str, t: &Target) -> Option<f64> {
    let rows = summary.iter().filter(|r| r["label"] == label);
    if t.mode == "*" {
        return rows
            .filter_map(|r| r[t.key].as_f64())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    }
    rows.filter(|r| r["mode"] == t.mode && r["concurrency"] == t.concurrency)
        .find_map(|r| r[t.key].as_f64())
}

/// Checks every target for every gateway; `pass` is set for the target label only.
pub fn check(summary: &[Value], meta: &Value) -> Vec<Value> {
    let target_label = meta["target_label"].as_str().unwrap_or("purser-gov");
    let labels = gateways(summary);
    TARGETS
        .iter()
        .map(|t| {
            let values: serde_json::Map<String, Value> = labels
                .iter()
                .map(|l| (l.clone(), json!(value(summary, l, t))))
                .collect();
            let v = value(summary, target_label, t);
            // "With an empty cache; the cache's byte bound on top": the checked
            // configuration's response cache may hold up to its bound besides the 64 MB.
            let cache_bound = meta["cache_bound_mb"].as_f64().filter(|_| t.key == RSS_KEY);
            let limit = t.limit + cache_bound.unwrap_or(0.0);
            let pass = v.map(|v| match t.bound {
                Bound::AtMost => v <= limit,
                Bound::AtLeast => v >= limit,
            });
            let op = match t.bound {
                Bound::AtMost => "≤",
                Bound::AtLeast => "≥",
            };
            let limit_text = match cache_bound {
                Some(c) => format!("{op} {} {} + {c:.1} MB cache bound", t.limit, t.unit),
                None => format!("{op} {} {}", t.limit, t.unit),
            };
            json!({
                "target": t.name, "limit": limit_text,
                "unit": t.unit, "checked_label": target_label, "pass": pass, "values": values,
            })
        })
        .collect()
}

fn fmt(v: &Value, unit: &str) -> String {
    match v.as_f64() {
        None => "–".to_owned(),
        Some(x) if unit == "×" && x < 0.01 => format!("{:.2}%", x * 100.0),
        Some(x) if unit == "×" => format!("{:.0}%", x * 100.0),
        Some(x) => format!("{x:.1} {unit}"),
    }
}

/// Markdown table of the checks.
pub fn table(s: &mut String, checks: &[Value]) {
    let Some(first) = checks.first() else { return };
    let labels: Vec<String> = first["values"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let checked = first["checked_label"].as_str().unwrap_or("?");
    let _ = writeln!(s, "## Targets (checked on `{checked}`)\n");
    let _ = writeln!(s, "| target | limit | {} | status |", labels.join(" | "));
    let _ = writeln!(s, "|---|---|{}---|", "---:|".repeat(labels.len()));
    for c in checks {
        let unit = c["unit"].as_str().unwrap_or("");
        let vals: Vec<String> = labels.iter().map(|l| fmt(&c["values"][l], unit)).collect();
        let status = match c["pass"].as_bool() {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c["target"].as_str().unwrap_or("?"),
            c["limit"].as_str().unwrap_or("?"),
            vals.join(" | "),
            status
        );
    }
    let _ = writeln!(s);
}
