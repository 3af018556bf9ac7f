//! Cost envelopes through the real gateway: concurrent clients against a small monthly budget
//! (in-process and across two replicas sharing Redis), virtual keys, task outcomes, and spend
//! surviving a restart.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, chat_body};
use serde_json::{Value, json};

const TIGHT: &str = r#"
[[budget.workflows]]
name = "tight"
envelope = { monthly = "0.002000", on_limit = "deny" }
"#;

fn body() -> Value {
    let mut b = chat_body("gpt-4o-mini", "Write a short poem about budgets");
    b["max_tokens"] = json!(150);
    b
}

async fn hammer(
    urls: &[String],
    clients: usize,
    per_client: usize,
    workflow: &str,
) -> (usize, usize, Vec<Value>) {
    let client = reqwest::Client::new();
    let mut handles = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let url = urls[c % urls.len()].clone();
        let wf = workflow.to_owned();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..per_client {
                let r = client
                    .post(format!("{url}/v1/chat/completions"))
                    .header("x-purser-workflow", &wf)
                    .json(&body())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let remaining = r
                    .headers()
                    .get("x-purser-budget-remaining-usd")
                    .map(|v| v.to_str().unwrap().to_owned());
                let v: Value = r.json().await.unwrap();
                out.push(json!({"status": status, "body": v, "remaining": remaining}));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let ok = all.iter().filter(|r| r["status"] == 200).count();
    let denied = all.iter().filter(|r| r["status"] == 429).count();
    (ok, denied, all)
}

fn ledger_spend(gw: &Gateway, workflow: &str) -> i64 {
    gw.requests()
        .iter()
        .filter(|r| r["workflow"] == workflow)
        .map(|r| r["cost_micros"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn concurrent_clients_never_overspend_a_monthly_budget() {
    let mut gw = Gateway::start(None, TIGHT).await;
    let (ok, denied, all) = hammer(&[gw.url("")], 50, 2, "tight").await;
    assert!(ok > 0 && denied > 0, "ok {ok} denied {denied}");
    // The budget gauges show the store's settled spend and the limit at scrape time.
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    let gauge = |name: &str| -> i64 {
        let prefix = format!("purser_{name}{{window=\"month\",workflow=\"tight\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} missing from /metrics"))
            .parse()
            .unwrap()
    };
    assert_eq!(gauge("budget_limit_usd_micros"), 2000);
    let spent_gauge = gauge("budget_spent_usd_micros");
    for r in all.iter().filter(|r| r["status"] == 429) {
        assert_eq!(r["body"]["error"]["code"], "budget_exceeded:monthly");
        assert_eq!(r["body"]["error"]["type"], "insufficient_quota");
        assert!(r["remaining"].is_string());
    }
    gw.stop().await;
    let spent = ledger_spend(&gw, "tight");
    assert!(spent <= 2000, "spent {spent} µ$ of a 2000 µ$ budget");
    assert_eq!(spent_gauge, spent, "gauge equals the ledger's spend");
    let reqs: Vec<Value> = gw
        .requests()
        .into_iter()
        .filter(|r| r["workflow"] == "tight")
        .collect();
    assert_eq!(reqs.len(), 100, "one record per request");
    let denials = reqs
        .iter()
        .filter(|r| r["outcome"] == "budget_denied")
        .count();
    assert_eq!(denials, denied);
    // Every admitted request settled at its actual cost.
    for r in reqs.iter().filter(|r| r["outcome"] == "ok") {
        assert_eq!(r["budget"]["settled_micros"], r["cost_micros"]);
        assert!(r["budget"]["reserved_micros"].as_i64() >= r["cost_micros"].as_i64());
    }
}

#[tokio::test]
async fn spend_survives_a_restart() {
    let mut gw = Gateway::start(None, TIGHT).await;
    let (ok1, _, _) = hammer(&[gw.url("")], 1, 10, "tight").await;
    gw.stop().await;
    let spent1 = ledger_spend(&gw, "tight");
    assert!(ok1 >= 10 && spent1 > 0);
    // Same data dir, new process state: the month's spend is rebuilt from the ledger.
    let cfg = gw.dir.path().join("purser.toml");
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    let mut gw2 = Gateway::start_with(dir, cfg).await;
    let (ok2, denied2, _) = hammer(&[gw2.url("")], 1, 40, "tight").await;
    gw2.stop().await;
    assert!(denied2 > 0);
    let total = ledger_spend(&gw2, "tight");
    assert!(
        total <= 2000,
        "after restart total spend {total} exceeds the budget"
    );
    assert!(
        ok2 < 40 - 10,
        "the restart reset the month: {ok2} more requests admitted"
    );
}

#[tokio::test]
async fn virtual_keys_bind_their_workflow() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["keys", "new", "--workflow", "keyed"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .split_whitespace()
        .find(|w| w.starts_with("pk-"))
        .unwrap()
        .to_owned();
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("hash: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(hash.starts_with("sha256:") && !hash.contains(&key[3..]));
    let extra = format!("[[budget.workflows]]\nname = \"keyed\"\nkeys = [\"{hash}\"]\n");
    let mut gw = Gateway::start(None, &extra).await;
    let post = |auth: Option<String>, wf: Option<&str>| {
        let mut r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .json(&chat_body("gpt-4o-mini", "hi"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        if let Some(w) = wf {
            r = r.header("x-purser-workflow", w);
        }
        r.send()
    };
    let r = post(Some(format!("Bearer {key}")), None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-purser-workflow"], "keyed");
    let r = post(Some("Bearer pk-not-a-real-key".into()), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    assert!(
        !v.to_string().contains("pk-not-a-real-key"),
        "error echoes the key"
    );
    let r = post(Some(format!("Bearer {key}")), Some("other"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A keyed workflow cannot be used without its key.
    let r = post(None, Some("keyed")).await.unwrap();
    assert_eq!(r.status(), 401);
    // An OpenAI-style key is not a Purser key: anonymous access as configured.
    let r = post(Some("Bearer sk-openai-style".into()), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
    let ledger = std::fs::read_to_string(gw.ledger_path()).unwrap();
    assert!(!ledger.contains(&key), "ledger holds a key");
}

#[tokio::test]
async fn task_outcomes_and_their_errors() {
    let mut gw = Gateway::start(None, "").await;
    for _ in 0..2 {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .header("x-purser-task-id", "t-1")
            .json(&chat_body("gpt-4o-mini", "step"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let outcome = |id: &str, b: Value| {
        gw.client
            .post(gw.url(&format!("/v1/tasks/{id}/outcome")))
            .json(&b)
            .send()
    };
    let r = outcome("t-1", json!({"status": "completed", "quality": 0.9}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["steps"].clone(), v["status"].clone()),
        (json!(2), json!("completed"))
    );
    assert_eq!(
        outcome("t-1", json!({"status": "failed"}))
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        outcome("nope", json!({"status": "completed"}))
            .await
            .unwrap()
            .status(),
        404
    );
    let r = outcome("t-1", json!({"status": "done"})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "status");
    assert_eq!(
        outcome("t-1", json!({"status": "completed", "quality": 3}))
            .await
            .unwrap()
            .status(),
        400
    );
    gw.stop().await;
    let outcomes = gw.records("task_outcome");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0]["task_id"], "t-1");
}

fn redis_up() -> bool {
    std::net::TcpStream::connect("127.0.0.1:6379").is_ok()
}

#[tokio::test]
async fn two_replicas_share_one_budget_through_redis() {
    if !redis_up() {
        eprintln!("SKIPPED: Redis not reachable on 127.0.0.1:6379");
        return;
    }
    let prefix = format!("purser-test:{}", uuid::Uuid::new_v4().simple());
    let shared = format!(
        "{TIGHT}\n[state]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\n"
    );
    let mut a = Gateway::start(None, &shared).await;
    let mut b = Gateway::start(None, &shared).await;
    let (ok, denied, _) = hammer(&[a.url(""), b.url("")], 50, 2, "tight").await;
    assert!(ok > 0 && denied > 0);
    a.stop().await;
    b.stop().await;
    let spent = ledger_spend(&a, "tight") + ledger_spend(&b, "tight");
    assert!(spent <= 2000, "two replicas spent {spent} µ$ of 2000");
    assert!(
        ledger_spend(&a, "tight") > 0 && ledger_spend(&b, "tight") > 0,
        "both replicas served"
    );
}
