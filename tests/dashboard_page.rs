//! The built-in `/dashboard` page (`dashboards/page/index.html`).
//!
//! - `page_is_self_contained`: no external scripts, styles or URLs (the gateway may run
//!   without internet access), and every chart container the check script reads exists.
//! - `page_figures_match_report_api_in_headless_chromium`: serves the page and the report API
//!   the way the integrator will (`include_str!` at `/dashboard`, `cost_report_json` at
//!   `/v1/reports/cost`, `BadParameter` → 400) from an axum server on 127.0.0.1:0 over a ledger
//!   written by the real writer, then runs `.ci/checks/dashboard_page.py` (headless Chromium):
//!   no console messages, every figure equal to the API. Skips with a message when chromium
//!   or python3 is not installed (`apt-get install -y chromium`).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use purser::ledger::{
    CacheInfo, CacheStatus, Ledger, OutcomeSource, RecordBody, RequestRecord, Settings,
    TaskOutcomeRecord, TaskStatus,
};
use purser::report::http::cost_report_json;
use purser::report::{Error, ReportQuery};
use purser::types::{MicroUsd, ModelId, WorkflowId};

const PAGE: &str = include_str!("../dashboards/page/index.html");

#[test]
fn page_is_self_contained() {
    let lower = PAGE.to_lowercase();
    assert!(!lower.contains("<script src"), "external script");
    assert!(!lower.contains("<link"), "external stylesheet");
    let urls: Vec<&str> = PAGE
        .match_indices("http")
        .map(|(i, _)| &PAGE[i..(i + 40).min(PAGE.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(urls.is_empty(), "page references external URLs: {urls:?}");
    for id in [
        "spend-workflow",
        "spend-model",
        "cost-per-task",
        "savings",
        "cache-hit",
        "tiles",
    ] {
        assert!(PAGE.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(PAGE.contains("/v1/reports/cost?"));
    // Names come from client headers: they must never reach innerHTML.
    assert!(!PAGE.contains("innerHTML"));
}

async fn report(State(ledger): State<Arc<PathBuf>>, RawQuery(q): RawQuery) -> Response {
    let parsed = ReportQuery::parse_query(q.as_deref().unwrap_or(""));
    let result = parsed.and_then(|q| cost_report_json(&ledger, &q));
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e @ Error::BadParameter { .. }) => {
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn write_ledger(dir: &Path) -> PathBuf {
    let settings = Settings::default();
    let (handle, task) = Ledger::open(&settings, dir).unwrap();
    let mut bodies: Vec<RecordBody> = Vec::new();
    for (i, (wf, model, cost, hit)) in [
        ("support", "gpt-4o-mini", 1_234_567, false),
        ("support", "gpt-4o", 2_000_001, false),
        ("support", "gpt-4o-mini", 0, true),
        ("etl <script>", "gpt-4.1-nano", 333, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = RequestRecord::new(format!("r{i}"), WorkflowId(wf.into()), ModelId::new(model));
        r.model = Some(ModelId::new(model));
        r.task_id = Some(format!("{wf}-{i}"));
        r.route = Some("default".into());
        r.cost_micros = MicroUsd(cost);
        r.baseline_cost_micros = Some(MicroUsd(3_000_000));
        r.cache = Some(CacheInfo {
            status: if hit {
                CacheStatus::Hit
            } else {
                CacheStatus::Miss
            },
            reason: None,
        });
        if hit {
            r.would_have_cost_micros = Some(MicroUsd(1_200_000));
        }
        bodies.push(r.into());
        bodies.push(
            TaskOutcomeRecord {
                workflow: WorkflowId(wf.into()),
                task_id: format!("{wf}-{i}"),
                status: if i == 1 {
                    TaskStatus::Failed
                } else {
                    TaskStatus::Completed
                },
                quality: None,
                source: OutcomeSource::Client,
            }
            .into(),
        );
    }
    for b in &bodies {
        handle.append_acked(b).await.unwrap();
    }
    handle.shutdown().await.unwrap();
    task.wait().await.unwrap();
    settings.resolve_path(dir)
}

fn find_chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_figures_match_report_api_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        eprintln!("SKIP: chromium not installed (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(write_ledger(dir.path()).await);
    let app = axum::Router::new()
        .route("/dashboard", get(|| async { Html(PAGE) }))
        .route("/v1/reports/cost", get(report))
        .with_state(ledger);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let bad = reqwest::get(format!("{base}/v1/reports/cost?group_by=team"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("group_by"));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/checks/dashboard_page.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&base)
        .arg(&chromium)
        .output()
        .await;
    let Ok(out) = out else {
        eprintln!("SKIP: python3 not available");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("figures match the report API"), "{stdout}");
}
