//! Lifecycle: hot reload of price tables and config (good edits swap atomically, bad edits are
//! rejected and the old config keeps serving), and SIGTERM draining in-flight requests with
//! nothing lost from the ledger.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Gateway, chat_body, config_text, copy_dir, repo_path};
use serde_json::Value;

async fn metric(gw: &Gateway, needle: &str) -> Option<f64> {
    let text = gw.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits (bounded) until the gateway reports config generation `g`.
async fn wait_generation(gw: &Gateway, g: f64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if metric(gw, "purser_config_generation").await == Some(g) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn wait_rejected(gw: &Gateway) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if metric(gw, "purser_config_reloads_total{outcome=\"rejected\"}").await >= Some(1.0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn price_edit_is_hot_reloaded_and_bad_edit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("routes"), &dir.path().join("routes"));
    copy_dir(&repo_path("pricing"), &dir.path().join("pricing"));
    let cfg_text = config_text(dir.path(), None, "").replace(
        &format!("pricing_dir = \"{}\"", repo_path("pricing").display()),
        &format!("pricing_dir = \"{}\"", dir.path().join("pricing").display()),
    );
    let cfg = dir.path().join("purser.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let pricing = dir.path().join("pricing/openai.toml");
    let mut gw = Gateway::start_with(dir, cfg).await;

    let cost = |r: &reqwest::Response| -> f64 {
        r.headers()["x-purser-cost-usd"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let r = gw
        .post("/v1/chat/completions", chat_body("gpt-4o-mini", "hello"))
        .await;
    let before = cost(&r);
    let usage = r.json::<Value>().await.unwrap()["usage"].clone();

    // Make gpt-4o-mini ten times dearer.
    let text = std::fs::read_to_string(&pricing).unwrap();
    let edited = text
        .replacen("input_per_mtok = \"0.15\"", "input_per_mtok = \"1.50\"", 1)
        .replacen(
            "output_per_mtok = \"0.60\"",
            "output_per_mtok = \"6.00\"",
            1,
        );
    assert_ne!(text, edited);
    std::fs::write(&pricing, edited).unwrap();
    assert!(wait_generation(&gw, 2.0).await, "reload not picked up");
    let r = gw
        .post("/v1/chat/completions", chat_body("gpt-4o-mini", "hello"))
        .await;
    let after = cost(&r);
    assert_eq!(r.json::<Value>().await.unwrap()["usage"], usage);
    let (i, o) = (
        usage["prompt_tokens"].as_f64().unwrap(),
        usage["completion_tokens"].as_f64().unwrap(),
    );
    assert_eq!((before * 1e6).round(), (i * 0.15 + o * 0.60).round());
    assert_eq!(
        (after * 1e6).round(),
        (i * 1.50 + o * 6.00).round(),
        "before {before} after {after}"
    );

    // A broken edit is rejected; the last good table keeps pricing.
    std::fs::write(&pricing, "provider = \"openai\"\n[[models]\nbroken").unwrap();
    assert!(wait_rejected(&gw).await, "bad edit not rejected");
    assert_eq!(metric(&gw, "purser_config_generation").await, Some(2.0));
    let r = gw
        .post("/v1/chat/completions", chat_body("gpt-4o-mini", "hello"))
        .await;
    assert_eq!(r.status(), 200);
    assert!((cost(&r) - after).abs() < 1e-9);
    gw.stop().await;
}

/// Starts the real binary on a free port and waits (bounded) until it answers.
async fn spawn_gateway(cfg: &std::path::Path) -> (KillOnDrop, reqwest::Client, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(Some(child));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // A debug build under load takes a while to start.
    for _ in 0..2400 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return (child, client, base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gateway did not start");
}

/// Kills the gateway process if the test fails before it exits by itself.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_flushes_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("routes"), &dir.path().join("routes"));
    let slow = r#"
[[providers]]
kind = "simulated"
name = "slowsim"
models = [{ name = "slow-model", quality = 0.9, output_tokens = 20, first_token_latency = "400ms" }]

[[models]]
name = "slow-model"
provider = "slowsim"
price = "gpt-4o-mini"
"#;
    let cfg = dir.path().join("purser.toml");
    std::fs::write(&cfg, config_text(dir.path(), None, slow)).unwrap();
    let (mut child, client, base) = spawn_gateway(&cfg).await;
    let req = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/v1/chat/completions");
        async move {
            client
                .post(url)
                .json(&chat_body("slow-model", "hi"))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    // The request is in flight once the gateway counts it.
    let mut in_flight = false;
    for _ in 0..200 {
        let m = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.lines().any(|l| l == "purser_in_flight_requests 1") {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(in_flight);
    let pid = child.0.as_ref().unwrap().id();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(req.await.unwrap(), 200);
    let mut proc = child.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || proc.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let ledger = std::fs::read_to_string(dir.path().join("data/ledger.jsonl")).unwrap();
    let requests = ledger
        .lines()
        .filter(|l| l.contains("\"kind\":\"request\""))
        .count();
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn kill_9_loses_no_answered_spend() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("routes"), &dir.path().join("routes"));
    let tight = "[[budget.workflows]]\nname = \"tight\"\nenvelope = { monthly = \"0.002000\" }\n";
    let cfg = dir.path().join("purser.toml");
    std::fs::write(&cfg, config_text(dir.path(), None, tight)).unwrap();
    let (mut child, client, base) = spawn_gateway(&cfg).await;
    let mut answered = 0;
    let mut body = chat_body("gpt-4o-mini", "count the spend");
    body["max_tokens"] = serde_json::json!(150);
    for _ in 0..10 {
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .header("x-purser-workflow", "tight")
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            answered += 1;
        }
    }
    // SIGKILL right after the last answer: no drain, no flush.
    let mut proc = child.0.take().unwrap();
    proc.kill().unwrap();
    proc.wait().unwrap();
    let ledger = std::fs::read_to_string(dir.path().join("data/ledger.jsonl")).unwrap();
    let records: Vec<Value> = ledger
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ok: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "request" && r["body"]["status"] == 200)
        .collect();
    assert_eq!(
        ok.len(),
        answered,
        "an answered request is missing from the ledger"
    );
    let spent: i64 = ok
        .iter()
        .map(|r| r["body"]["cost_micros"].as_i64().unwrap())
        .sum();
    // A restart rebuilds that spend: the budget stays closed at the same point.
    let mut gw = Gateway::start_with(dir, cfg).await;
    let mut more = 0;
    for _ in 0..40 {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .header("x-purser-workflow", "tight")
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            more += 1;
        }
    }
    gw.stop().await;
    let total: i64 = gw
        .requests()
        .iter()
        .filter(|r| r["workflow"] == "tight")
        .map(|r| r["cost_micros"].as_i64().unwrap())
        .sum();
    assert!(
        spent > 0 && total <= 2000,
        "spent before kill {spent}, total {total}, {more} more admitted"
    );
}
