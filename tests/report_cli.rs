//! `purser report` and the report JSON against a ledger written by the real ledger writer.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use chrono::{Datelike, Utc};
use purser::ledger::{
    Ledger, OutcomeSource, RecordBody, RequestRecord, Settings, TaskOutcomeRecord, TaskStatus,
};
use purser::report::cli::{ReportArgs, run_report};
use purser::report::http::cost_report_json;
use purser::report::{CogsFormat, Error, ReportQuery};
use purser::types::{MicroUsd, ModelId, WorkflowId};

fn request(wf: &str, task: &str, cost: i64) -> RecordBody {
    let mut r = RequestRecord::new("req", WorkflowId(wf.into()), ModelId::new("gpt-4o-mini"));
    r.task_id = Some(task.into());
    r.model = Some(ModelId::new("gpt-4o-mini"));
    r.cost_micros = MicroUsd(cost);
    r.into()
}

fn done(wf: &str, task: &str, status: TaskStatus) -> RecordBody {
    TaskOutcomeRecord {
        workflow: WorkflowId(wf.into()),
        task_id: task.into(),
        status,
        quality: None,
        source: OutcomeSource::Client,
    }
    .into()
}

async fn write_ledger(dir: &std::path::Path) -> std::path::PathBuf {
    let settings = Settings::default();
    let (handle, task) = Ledger::open(&settings, dir).unwrap();
    for body in [
        request("support", "t1", 1_000_001),
        request("support", "t2", 500_000),
        request("support", "t3", 250_000),
        done("support", "t1", TaskStatus::Completed),
        done("support", "t2", TaskStatus::Completed),
        done("support", "t3", TaskStatus::Failed),
        request("etl", "e1", 42),
    ] {
        handle.append_acked(&body).await.unwrap();
    }
    handle.shutdown().await.unwrap();
    task.wait().await.unwrap();
    settings.resolve_path(dir)
}

fn args(ledger: std::path::PathBuf, format: CogsFormat) -> ReportArgs {
    let now = Utc::now();
    ReportArgs {
        ledger,
        month: Some(format!("{:04}-{:02}", now.year(), now.month())),
        format,
        workflow: None,
        budgets: vec!["support=10".into()],
        abandon_after: "30m".into(),
    }
}

#[tokio::test]
async fn cogs_statement_reports_cost_per_completed_task_and_budget_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_ledger(dir.path()).await;

    let mut out = Vec::new();
    run_report(&args(path.clone(), CogsFormat::Json), &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let support = &json["lines"][1];
    assert_eq!(support["workflow"], "support");
    assert_eq!(support["spend_usd"], "1.750001");
    assert_eq!(support["completed_tasks"], 2);
    assert_eq!(support["failed_tasks"], 1);
    // (1.000001 + 0.5 + 0.25) / 2, rounded half up.
    assert_eq!(support["cost_per_completed_task_usd"], "0.875001");
    assert_eq!(support["budget_usd"], "10.000000");
    assert_eq!(support["budget_used_pct"], "17.5");
    assert_eq!(json["total"]["spend_usd"], "1.750043");

    let mut out = Vec::new();
    run_report(&args(path.clone(), CogsFormat::Table), &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("0.875001"), "{table}");
    assert!(table.contains("17.5% of 10.000000"), "{table}");

    let mut out = Vec::new();
    run_report(&args(path.clone(), CogsFormat::Csv), &mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let json = cost_report_json(&path, &ReportQuery::default()).unwrap();
    assert_eq!(json["total"]["spend_micros"], 1_750_043);
}

#[tokio::test]
async fn bad_month_and_budget_are_parameter_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_ledger(dir.path()).await;
    let mut a = args(path.clone(), CogsFormat::Table);
    a.month = Some("2026-1x".into());
    let err = run_report(&a, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::BadParameter { ref param, .. } if param == "month"));
    let mut a = args(path, CogsFormat::Table);
    a.budgets = vec!["support=-3".into()];
    let err = run_report(&a, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::BadParameter { ref param, .. } if param == "budget"));
}

#[test]
fn missing_ledger_gives_an_empty_report_for_http_and_an_error_for_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.jsonl");
    let json = cost_report_json(&path, &ReportQuery::default()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 0);
    assert_eq!(json["total"]["spend_usd"], "0.000000");
    let err = run_report(&args(path, CogsFormat::Json), &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::Ledger { .. }));
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    report: ReportArgs,
}

#[test]
fn report_args_parse_from_the_command_line() {
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "purser",
        "--ledger",
        "l.jsonl",
        "--month",
        "2026-11",
        "--format",
        "csv",
        "--workflow",
        "support",
        "--budget",
        "support=100",
        "--budget",
        "etl=5.5",
    ])
    .unwrap();
    assert_eq!(cli.report.format, CogsFormat::Csv);
    assert_eq!(cli.report.budgets.len(), 2);
    assert_eq!(cli.report.abandon_after, "30m");
    assert!(Cli::try_parse_from(["purser", "--ledger", "l", "--format", "xml"]).is_err());
}
