use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::row::per_task;
use super::*;
use crate::ledger::{
    CacheInfo, CacheStatus, CompressionInfo, LedgerRecord, OutcomeSource, RecordBody,
    RequestOutcome, RequestRecord, TaskOutcomeRecord, TaskStatus, TokenCounts,
};
use crate::types::{MicroUsd, ModelId, Tokens, WorkflowId};

fn t(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, min, 0).unwrap()
}

fn rec(seq: u64, ts: DateTime<Utc>, body: impl Into<RecordBody>) -> LedgerRecord {
    let body = body.into();
    LedgerRecord {
        schema_version: 1,
        seq,
        ts,
        kind: body.kind(),
        prev_hash: String::new(),
        hash: String::new(),
        body,
    }
}

fn req(wf: &str, task: Option<&str>, model: &str, cost: i64) -> RequestRecord {
    let mut r = RequestRecord::new("r", WorkflowId(wf.into()), ModelId::new(model));
    r.task_id = task.map(str::to_owned);
    r.model = Some(ModelId::new(model));
    r.route = Some("default".into());
    r.cost_micros = MicroUsd(cost);
    r.tokens = TokenCounts {
        input: Tokens(100),
        output: Tokens(10),
        cached_input: Tokens(0),
    };
    r
}

fn outcome(wf: &str, task: &str, status: TaskStatus, source: OutcomeSource) -> TaskOutcomeRecord {
    TaskOutcomeRecord {
        workflow: WorkflowId(wf.into()),
        task_id: task.into(),
        status,
        quality: None,
        source,
    }
}

fn sample() -> Vec<LedgerRecord> {
    let mut hit = req("support", Some("t1"), "gpt-4o-mini", 0);
    hit.outcome = RequestOutcome::CacheHit;
    hit.cache = Some(CacheInfo {
        status: CacheStatus::Hit,
        reason: None,
    });
    hit.would_have_cost_micros = Some(MicroUsd(1_500));
    hit.baseline_cost_micros = Some(MicroUsd(9_000));
    let mut routed = req("support", Some("t1"), "gpt-4o-mini", 1_234);
    routed.baseline_cost_micros = Some(MicroUsd(10_000));
    routed.cache = Some(CacheInfo {
        status: CacheStatus::Miss,
        reason: None,
    });
    routed.compression = Some(CompressionInfo {
        tokens_before: Tokens(500),
        tokens_after: Tokens(100),
        saved_micros: MicroUsd(77),
    });
    let mut escalated = req("support", Some("t2"), "gpt-4o", 20_001);
    escalated.escalations = vec!["low_confidence".into()];
    escalated.baseline_cost_micros = Some(MicroUsd(15_000));
    vec![
        rec(1, t(2, 10, 0), routed),
        rec(2, t(2, 10, 1), hit),
        rec(3, t(2, 10, 2), escalated),
        rec(4, t(2, 10, 3), req("sales", Some("s1"), "gpt-4o", 3_333)),
        rec(
            5,
            t(2, 10, 4),
            outcome(
                "support",
                "t1",
                TaskStatus::Completed,
                OutcomeSource::Client,
            ),
        ),
        rec(
            6,
            t(2, 10, 5),
            outcome("support", "t2", TaskStatus::Failed, OutcomeSource::Client),
        ),
        rec(
            7,
            t(2, 10, 6),
            outcome("support", "t1", TaskStatus::Failed, OutcomeSource::Client),
        ),
        rec(8, t(2, 12, 0), req("sales", None, "gpt-4o-mini", 1)),
    ]
}

#[test]
fn workflow_rows_sum_integer_micros_and_split_savings() {
    let report = CostReport::from_records(sample(), &ReportQuery::default());
    let s = report.row("support").unwrap();
    assert_eq!(s.spend_micros, 1_234 + 20_001);
    assert_eq!(s.spend_usd, "0.021235");
    assert_eq!(s.requests, 3);
    assert_eq!((s.tokens_in, s.tokens_out), (300, 30));
    // Routing: (10000 - 1234) + (15000 - 20001); the cache hit is not routing savings.
    assert_eq!(
        s.savings.routing_usd,
        MicroUsd(8_766 - 5_001).to_usd_string()
    );
    assert_eq!(s.savings.cache_usd, "0.001500");
    assert_eq!(s.savings.compression_usd, "0.000077");
    assert_eq!(
        s.savings.total_usd,
        MicroUsd(3_765 + 1_500 + 77).to_usd_string()
    );
    assert_eq!((s.cache_hits, s.cache_lookups), (1, 2));
    assert_eq!(s.cache_hit_ratio, Some(0.5));
    assert_eq!(s.escalated_requests, 1);
    let total = &report.total;
    assert_eq!(
        total.spend_micros,
        report.rows.iter().map(|r| r.spend_micros).sum::<i64>()
    );
    assert_eq!(total.key, "total");
}

#[test]
fn first_outcome_wins_and_failed_task_spend_counts_in_cost_per_completed_task() {
    let report = CostReport::from_records(sample(), &ReportQuery::default());
    let s = report.row("support").unwrap();
    // t1 completed (the later "failed" for t1 is ignored), t2 failed.
    assert_eq!(
        (s.completed_tasks, s.failed_tasks, s.abandoned_tasks),
        (1, 1, 0)
    );
    // All task spend (t1: 1234 + 0, t2: 20001) over one completed task.
    assert_eq!(s.task_spend_usd, "0.021235");
    assert_eq!(s.cost_per_completed_task_usd.as_deref(), Some("0.021235"));
}

#[test]
fn idle_task_without_outcome_is_abandoned_and_no_completed_gives_null() {
    // sales/s1's last request is at 10:03; the ledger ends at 12:00, 30 minutes idle suffices.
    let report = CostReport::from_records(sample(), &ReportQuery::default());
    let sales = report.row("sales").unwrap();
    assert_eq!(sales.abandoned_tasks, 1);
    assert_eq!(sales.cost_per_completed_task_usd, None);
    // With a longer idle time it is still open and not counted at all.
    let q = ReportQuery {
        abandon_after: Duration::hours(3),
        ..ReportQuery::default()
    };
    let report = CostReport::from_records(sample(), &q);
    assert_eq!(report.row("sales").unwrap().abandoned_tasks, 0);
}

#[test]
fn gateway_abandoned_record_is_not_double_counted_with_idle_rule() {
    let mut records = sample();
    records.push(rec(
        9,
        t(2, 12, 1),
        outcome(
            "sales",
            "s1",
            TaskStatus::Abandoned,
            OutcomeSource::IdleTimeout,
        ),
    ));
    records.push(rec(
        10,
        t(2, 12, 2),
        outcome("sales", "s1", TaskStatus::Completed, OutcomeSource::Client),
    ));
    let report = CostReport::from_records(records, &ReportQuery::default());
    let sales = report.row("sales").unwrap();
    assert_eq!((sales.completed_tasks, sales.abandoned_tasks), (0, 1));
}

#[test]
fn window_and_workflow_filter_select_requests_by_ts() {
    let q =
        ReportQuery::parse_query("workflow=sales&from=2026-11-02T11:00:00Z&to=2026-11-03").unwrap();
    let report = CostReport::from_records(sample(), &q);
    assert_eq!(report.rows.len(), 1);
    let sales = report.row("sales").unwrap();
    assert_eq!((sales.requests, sales.spend_micros), (1, 1));
    // s1 was abandoned at 10:33, before the window: not counted.
    assert_eq!(sales.abandoned_tasks, 0);
}

#[test]
fn group_by_model_route_and_day_partition_the_same_total() {
    let all = CostReport::from_records(sample(), &ReportQuery::default());
    for g in ["model", "route", "day"] {
        let q = ReportQuery::parse_query(&format!("group_by={g}")).unwrap();
        let r = CostReport::from_records(sample(), &q);
        assert_eq!(r.total.spend_micros, all.total.spend_micros, "{g}");
        assert_eq!(r.total.completed_tasks, all.total.completed_tasks, "{g}");
        assert_eq!(r.total.abandoned_tasks, all.total.abandoned_tasks, "{g}");
    }
    let q = ReportQuery::parse_query("group_by=model").unwrap();
    let r = CostReport::from_records(sample(), &q);
    assert_eq!(r.row("gpt-4o").unwrap().spend_micros, 20_001 + 3_333);
    let q = ReportQuery::parse_query("group_by=day").unwrap();
    assert_eq!(
        CostReport::from_records(sample(), &q).rows[0].key,
        "2026-11-02"
    );
}

#[test]
fn parse_query_errors_name_the_bad_parameter() {
    let param = |qs: &str| match ReportQuery::parse_query(qs) {
        Err(Error::BadParameter { param, .. }) => param,
        other => panic!("{qs}: {other:?}"),
    };
    assert_eq!(param("group_by=team"), "group_by");
    assert_eq!(param("from=yesterday"), "from");
    assert_eq!(param("month=2026-13"), "month");
    assert_eq!(param("colour=red"), "colour");
    assert_eq!(param("workflow=a&workflow=b"), "workflow");
    assert_eq!(param("from=2026-11-05&to=2026-11-01"), "to");
    assert_eq!(param("month=2026-11&from=2026-11-01"), "month");
    assert_eq!(param("abandon_after=soon"), "abandon_after");
}

#[test]
fn parse_query_reads_percent_encoded_times_and_months() {
    let q =
        ReportQuery::parse_query("from=2026-11-01T00%3A00%3A00%2B01%3A00&group_by=route").unwrap();
    assert_eq!(
        q.from,
        Some(Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap())
    );
    assert_eq!(q.group_by, GroupBy::Route);
    let q = ReportQuery::parse_query("month=2026-12").unwrap();
    assert_eq!(
        q.from,
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
    );
    assert_eq!(
        q.to,
        Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
    );
    assert_eq!(
        ReportQuery::parse_query("").unwrap(),
        ReportQuery::default()
    );
}

#[test]
fn per_task_rounds_half_up_to_the_micro() {
    assert_eq!(per_task(MicroUsd(10), 4), Some(MicroUsd(3)));
    assert_eq!(per_task(MicroUsd(9), 2), Some(MicroUsd(5)));
    assert_eq!(per_task(MicroUsd(7), 3), Some(MicroUsd(2)));
    assert_eq!(per_task(MicroUsd(7), 0), None);
    assert_eq!(
        super::cogs::used_pct(MicroUsd(834), MicroUsd(1000)).as_deref(),
        Some("83.4")
    );
    assert_eq!(super::cogs::used_pct(MicroUsd(1), MicroUsd(0)), None);
}

#[test]
fn cost_per_task_gauge_matches_the_report() {
    let m = crate::metrics::Metrics::try_new(&["support".into()]).unwrap();
    let report = CostReport::from_records(sample(), &ReportQuery::default());
    assert_eq!(publish_cost_per_task(&report, &m), 1);
    assert!(
        m.render()
            .contains("purser_cost_per_completed_task_usd{workflow=\"support\"} 0.021235")
    );
    let by_model = ReportQuery::parse_query("group_by=model").unwrap();
    assert_eq!(
        publish_cost_per_task(&CostReport::from_records(sample(), &by_model), &m),
        0
    );
}

#[test]
fn csv_has_header_rows_and_total() {
    let report = CostReport::from_records(sample(), &ReportQuery::default());
    let mut out = Vec::new();
    report.write_csv(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("key,spend_usd,requests"));
    assert_eq!(lines.len(), 1 + report.rows.len() + 1);
    assert!(lines[1].starts_with("sales,0.003334,2,"));
    assert!(lines.last().unwrap().starts_with("total,0.024569,"));
}

#[test]
fn settings_reject_bad_durations_and_unknown_keys() {
    let s: Settings = toml::from_str("abandon_after = \"2h\"").unwrap();
    assert_eq!(s.abandon_after().unwrap(), Duration::hours(2));
    let s: Settings = toml::from_str("abandon_after = \"0s\"").unwrap();
    assert!(s.abandon_after().is_err());
    assert!(toml::from_str::<Settings>("idle = \"2h\"").is_err());
}

proptest! {
    #[test]
    fn report_total_equals_naive_sum_of_windowed_costs(
        costs in proptest::collection::vec((0i64..5_000_000, 0u32..48, 0usize..3), 0..60),
        from_h in 0u32..24,
    ) {
        let wfs = ["a", "b", "c"];
        let base = t(1, 0, 0);
        let records: Vec<_> = costs.iter().enumerate().map(|(i, (c, h, w))| {
            rec(i as u64 + 1, base + Duration::hours(i64::from(*h)), req(wfs[*w], None, "m", *c))
        }).collect();
        let from = base + Duration::hours(i64::from(from_h));
        let q = ReportQuery { from: Some(from), ..ReportQuery::default() };
        let naive: i64 = costs.iter().filter(|(_, h, _)| base + Duration::hours(i64::from(*h)) >= from)
            .map(|(c, _, _)| c).sum();
        let report = CostReport::from_records(records, &q);
        prop_assert_eq!(report.total.spend_micros, naive);
        prop_assert_eq!(MicroUsd::parse_usd(&report.total.spend_usd), Some(MicroUsd(naive)));
        prop_assert_eq!(report.rows.iter().map(|r| r.spend_micros).sum::<i64>(), naive);
    }
}
