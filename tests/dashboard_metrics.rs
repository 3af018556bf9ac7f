//! Every metric referenced by `dashboards/*.json` and `dashboards/alerts.yml` is one the gateway
//! exports (STYLE §7: "a test checks that every metric in `dashboards/` exists").
//!
//! Two checks:
//! - `dashboard_metrics_are_registered`: against the registry of `purser::metrics::Metrics`,
//!   with one child of every metric family touched (the prometheus crate emits no `# HELP`
//!   line for a vec metric without children, so an untouched registry would prove nothing).
//! - `dashboard_metrics_exist_in_live_metrics`: starts the real gateway on
//!   127.0.0.1:0 through the integration harness `tests/common/mod.rs` (`Gateway`,
//!   `FakeUpstream`), sends traffic, scrapes `/metrics` and parses its `# HELP` lines.
//!   Names still missing are split into "registered but no traffic reached them" (printed,
//!   not a failure) and "not exported at all" (failure).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::path::Path;

use purser::metrics::Metrics;

/// Metric names used by the dashboards and alert rules, with `_bucket`/`_sum`/`_count` removed.
fn referenced_metrics() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let re = regex::Regex::new(r"purser_[a-z0-9_]+").unwrap();
    let mut names = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "json" | "yml" | "yaml") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for m in re.find_iter(&text) {
            names.insert(base_name(m.as_str()).to_owned());
        }
    }
    assert!(
        files >= 3,
        "expected the two dashboards and alerts.yml in {dir:?}"
    );
    // Dashboard uids and titles ("purser-cogs") use hyphens, so they never match the regex.
    names
}

fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Metric families announced by `# HELP` lines of a text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Gives every metric family one child so the registry renders it.
fn touch_all(m: &Metrics) {
    m.requests.with_label_values(&["w", "r", "m", "ok"]).inc();
    m.tokens.with_label_values(&["w", "m", "input"]).inc();
    m.cost_usd.with_label_values(&["w", "m", "r"]).inc();
    m.cost_usd_micros.with_label_values(&["w", "m", "r"]).inc();
    m.baseline_cost_usd.with_label_values(&["w"]).inc();
    m.request_seconds
        .with_label_values(&["r", "json"])
        .observe(0.1);
    m.upstream_seconds
        .with_label_values(&["p", "m"])
        .observe(0.1);
    m.overhead_seconds
        .with_label_values(&["json"])
        .observe(0.0001);
    m.ttfb_seconds.with_label_values(&["r"]).observe(0.1);
    m.upstream_attempts
        .with_label_values(&["p", "m", "ok"])
        .inc();
    m.upstream_errors.with_label_values(&["p", "timeout"]).inc();
    m.upstream_retries.with_label_values(&["p"]).inc();
    m.fallbacks.with_label_values(&["r"]).inc();
    m.circuit_open.with_label_values(&["p"]).set(0);
    m.errors.with_label_values(&["upstream"]).inc();
    m.routing_decisions
        .with_label_values(&["r", "0", "classifier"])
        .inc();
    m.escalations
        .with_label_values(&["r", "low_confidence"])
        .inc();
    m.cache_requests.with_label_values(&["w", "hit"]).inc();
    m.cache_saved_usd.with_label_values(&["w"]).inc();
    m.cache_redis_errors.with_label_values(&["get"]).inc();
    m.compression_saved_tokens.with_label_values(&["w"]).inc();
    m.compression_saved_usd.with_label_values(&["w"]).inc();
    m.budget_denials.with_label_values(&["w", "month"]).inc();
    m.budget_downgrades.with_label_values(&["w"]).inc();
    m.budget_spent_usd_micros
        .with_label_values(&["w", "month"])
        .set(1);
    m.budget_limit_usd_micros
        .with_label_values(&["w", "month"])
        .set(1);
    m.budget_forecast_usd
        .with_label_values(&["w", "lower"])
        .set(1.0);
    m.alerts.with_label_values(&["w", "forecast_overrun"]).inc();
    m.tasks.with_label_values(&["w", "completed"]).inc();
    m.cost_per_completed_task_usd
        .with_label_values(&["w"])
        .set(1.0);
    m.ledger_records.with_label_values(&["request"]).inc();
    m.config_reloads.with_label_values(&["ok"]).inc();
}

#[test]
fn dashboard_metrics_are_registered() {
    let m = Metrics::try_new(&["w".to_owned()]).unwrap();
    touch_all(&m);
    let have = exported(&m.render());
    let missing: Vec<_> = referenced_metrics()
        .into_iter()
        .filter(|n| !have.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards use metrics that src/metrics/mod.rs does not define: {missing:?}"
    );
}

#[test]
fn extraction_strips_histogram_suffixes_and_reads_help_lines() {
    assert_eq!(
        base_name("purser_request_duration_seconds_bucket"),
        "purser_request_duration_seconds"
    );
    assert_eq!(base_name("purser_requests_total"), "purser_requests_total");
    let text = "# HELP purser_a_total A\n# TYPE purser_a_total counter\npurser_a_total 1\n";
    assert_eq!(
        exported(text),
        BTreeSet::from(["purser_a_total".to_owned()])
    );
}

mod common;

mod live {
    use super::*;

    use crate::common::{Behavior, FakeUpstream, Gateway, chat_body};
    use serde_json::json;

    #[tokio::test]
    async fn dashboard_metrics_exist_in_live_metrics() {
        let fake = FakeUpstream::start().await;
        // Two failures then success: upstream errors, retries and attempts get children.
        fake.script([Behavior::Status(500), Behavior::Status(500)]);
        let mut gw = Gateway::start(Some(&fake), "").await;
        for (model, text) in [
            ("gpt-4o-mini", "Say hello"),
            ("gpt-4o", "Explain a monad"),
            ("fake-primary", "via the fake upstream"),
        ] {
            let r = gw
                .post("/v1/chat/completions", chat_body(model, text))
                .await;
            assert!(r.status().is_success(), "{model}: {}", r.status());
        }
        let mut stream = chat_body("gpt-4o-mini", "stream please");
        stream["stream"] = json!(true);
        let _ = gw.post("/v1/chat/completions", stream).await.text().await;
        let r = gw.post("/v1/chat/completions", json!({"model": 1})).await;
        assert_eq!(r.status(), 400);
        let text = gw.get("/metrics").await.text().await.unwrap();
        gw.stop().await;

        let live = exported(&text);
        let registry = {
            let m = Metrics::try_new(&[]).unwrap();
            touch_all(&m);
            exported(&m.render())
        };
        let (untouched, absent): (Vec<_>, Vec<_>) = referenced_metrics()
            .into_iter()
            .filter(|n| !live.contains(n))
            .partition(|n| registry.contains(n));
        println!("dashboard metrics registered but not reached by this traffic: {untouched:?}");
        assert!(
            absent.is_empty(),
            "dashboards use metrics the gateway never exports: {absent:?}"
        );
        assert!(live.contains("purser_requests_total"), "{text}");
        assert!(live.contains("purser_cost_usd_micros_total"), "{text}");
    }
}
