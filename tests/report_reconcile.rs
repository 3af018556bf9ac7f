//! The report reconciles to the micro-dollar with the live gateway's exact spend counter
//! (`purser_cost_usd_micros_total`) and with its ledger, per workflow and per model.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;

use common::{Gateway, chat_body};
use purser::report::{CostReport, ReportQuery};

/// Sums `purser_cost_usd_micros_total` samples by one label.
fn counter_by(text: &str, label: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("purser_cost_usd_micros_total{"))
    {
        let (labels, value) = line.rsplit_once(' ').unwrap();
        let key = labels
            .split(&[',', '{', '}'][..])
            .find_map(|kv| kv.strip_prefix(&format!("{label}=\"")))
            .unwrap()
            .trim_end_matches('"')
            .to_owned();
        *out.entry(key).or_insert(0) += value.parse::<i64>().unwrap();
    }
    out
}

#[tokio::test]
async fn report_spend_equals_metrics_counter_and_ledger() {
    let mut gw = Gateway::start(None, "[[budget.workflows]]\nname = \"etl\"\n").await;
    for (i, (wf, model)) in [
        ("support", "gpt-4o-mini"),
        ("support", "gpt-4o"),
        ("etl", "gpt-4o"),
        ("etl", "gpt-4o-mini"),
        ("etl", "gpt-4o-mini"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .header("x-purser-workflow", wf)
            .header("x-purser-task-id", format!("{wf}-{i}"))
            .json(&chat_body(model, &format!("question number {i} for {wf}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    gw.stop().await;

    let ledger_total: i64 = gw
        .requests()
        .iter()
        .map(|r| r["cost_micros"].as_i64().unwrap())
        .sum();
    assert!(ledger_total > 0);
    for (group, label) in [("workflow", "workflow"), ("model", "model")] {
        let q = ReportQuery::parse_query(&format!("group_by={group}")).unwrap();
        let report = CostReport::from_ledger(&gw.ledger_path(), &q).unwrap();
        let from_report: BTreeMap<String, i64> = report
            .rows
            .iter()
            .filter(|r| r.spend_micros > 0)
            .map(|r| (r.key.clone(), r.spend_micros))
            .collect();
        assert_eq!(from_report, counter_by(&metrics, label), "{group}");
        let keys: Vec<&str> = from_report.keys().map(String::as_str).collect();
        let expected = if group == "workflow" {
            ["etl", "support"]
        } else {
            ["gpt-4o", "gpt-4o-mini"]
        };
        assert_eq!(keys, expected);
        assert_eq!(report.total.spend_micros, ledger_total);
    }
}
