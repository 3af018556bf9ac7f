//! Routing through the real gateway: the classifier sends easy prompts to the cheap tier and
//! hard ones to the strong tier, step kinds pick tiers, a failing model falls back to the next,
//! a doubtful cheap answer escalates in cascade mode, and a kill switch stops a workflow.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Behavior, FakeUpstream, Gateway, chat_body};
use serde_json::{Value, json};

const HARD: &str = "Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why this is an open problem, and derive the Hardy-Littlewood constant step by step.";

async fn routed(
    gw: &Gateway,
    model: &str,
    text: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let mut r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .json(&chat_body(model, text));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let m = r
        .headers()
        .get("x-purser-model")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, m, r.json().await.unwrap())
}

#[tokio::test]
async fn classifier_routes_easy_to_cheap_and_hard_to_strong() {
    let mut gw = Gateway::start(None, "").await;
    let (s, easy, v) = routed(&gw, "purser/auto", "Say hi to my friend", &[]).await;
    assert_eq!((s, easy.as_str()), (200, "gpt-4o-mini"));
    assert_eq!(v["model"], "gpt-4o-mini");
    let (_, hard, _) = routed(&gw, "purser/auto", HARD, &[]).await;
    assert_eq!(hard, "gpt-4o");
    // Step kinds: the `agent` workflow plans with the strong tier.
    let (_, plan, _) = routed(
        &gw,
        "purser/auto",
        "Say hi to my friend",
        &[("x-purser-workflow", "agent"), ("x-purser-step", "plan")],
    )
    .await;
    assert_eq!(plan, "gpt-4o");
    let models: Value = gw.get("/v1/models").await.json().await.unwrap();
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "purser/auto")
    );
    gw.stop().await;
    let reqs = gw.requests();
    assert_eq!(reqs[0]["decision"]["reason"], "classifier");
    assert!(
        reqs[0]["decision"]["score"].as_f64().unwrap()
            < reqs[1]["decision"]["score"].as_f64().unwrap()
    );
    assert!(
        !reqs[0]["decision"]["classifier_version"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(reqs[2]["decision"]["reason"], "step_kind");
    // Savings against always-strong: the cheap answer's baseline is the strong model's price.
    assert!(
        reqs[0]["baseline_cost_micros"].as_i64().unwrap()
            > reqs[0]["cost_micros"].as_i64().unwrap()
    );
}

fn routes_with(gw: &Gateway, text: &str) {
    std::fs::write(gw.dir.path().join("routes/test.toml"), text).unwrap();
}

async fn restart(gw: &mut Gateway) -> Gateway {
    gw.stop().await;
    let cfg = gw.dir.path().join("purser.toml");
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    Gateway::start_with(dir, cfg).await
}

#[tokio::test]
async fn failing_model_falls_back_and_doubtful_answers_escalate() {
    let up = FakeUpstream::start().await;
    let mut gw = Gateway::start(Some(&up), "").await;
    routes_with(
        &gw,
        r#"
[[route]]
name = "test/fallback"
tiers = [["fake-primary", "fake-fallback"], ["gpt-4o"]]
classifier = "models/router-v1.json.gz"
thresholds = [0.99]

[[route]]
name = "test/cascade"
tiers = [["fake-primary"], ["gpt-4o"]]
classifier = "models/router-v1.json.gz"
thresholds = [0.99]
mode = "cascade"
max_attempts = 2

[workflow.frozen.routing]
kill_switch = { mode = "stop", set_by = "oncall@example.com", set_at = "2026-11-25T08:00:00Z" }
"#,
    );
    let mut gw = restart(&mut gw).await;
    up.script([
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Status(503),
    ]);
    let (s, m, _) = routed(&gw, "test/fallback", "hello", &[]).await;
    assert_eq!((s, m.as_str()), (200, "fake-fallback"));
    assert_eq!(up.bodies().last().unwrap()["model"], "fake-model-b");

    up.script([Behavior::Truncated]);
    let (s, m, v) = routed(&gw, "test/cascade", "hello", &[]).await;
    assert_eq!((s, m.as_str()), (200, "gpt-4o"));
    assert_eq!(v["model"], "gpt-4o");

    let (s, _, v) = routed(
        &gw,
        "test/cascade",
        "hello",
        &[("x-purser-workflow", "frozen")],
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (503, json!("workflow_stopped"))
    );
    gw.stop().await;
    let reqs = gw.requests();
    assert_eq!(reqs[0]["attempts"], 4);
    let cascade = &reqs[1];
    assert_eq!(cascade["escalations"], json!(["truncated"]));
    let attempts: Vec<Value> = gw
        .records("attempt")
        .into_iter()
        .filter(|a| a["request_id"] == cascade["request_id"])
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["escalation_reason"], "truncated");
    let paid: i64 = attempts
        .iter()
        .map(|a| a["cost_micros"].as_i64().unwrap())
        .sum();
    assert_eq!(
        cascade["cost_micros"].as_i64().unwrap(),
        paid,
        "the doubted answer is paid for too"
    );
    assert_eq!(reqs[2]["outcome"], "kill_switch");
}

#[tokio::test]
async fn held_cascade_stream_and_admin_kill_switch() {
    let up = FakeUpstream::start().await;
    // Tests must not mutate the environment; cargo sets CARGO_PKG_NAME ("purser") for test
    // processes, so it serves as the admin key's variable.
    let extra = "[budget]\nadmin_key_env = \"CARGO_PKG_NAME\"\n";
    let mut gw = Gateway::start(Some(&up), extra).await;
    routes_with(
        &gw,
        r#"
[[route]]
name = "test/held"
tiers = [["fake-primary"], ["gpt-4o"]]
classifier = "models/router-v1.json.gz"
thresholds = [0.99]
mode = "cascade"
max_attempts = 2
stream_cascade = "hold"
"#,
    );
    let mut gw = restart(&mut gw).await;
    up.script([Behavior::Truncated]);
    let mut b = chat_body("test/held", "hello");
    b["stream"] = json!(true);
    b["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", b).await;
    assert_eq!(r.headers()["x-purser-model"], "gpt-4o");
    let text = r.text().await.unwrap();
    assert!(
        text.ends_with("data: [DONE]\n\n") && text.contains("\"usage\":{"),
        "{text}"
    );
    assert_eq!(
        up.bodies()[0]["stream"],
        Value::Null,
        "the held cheap call is not streamed"
    );

    // Admin: a wrong key is refused; the right one stops the workflow at once, then resumes it.
    let kill = |key: &str, mode: &str| {
        gw.client
            .post(gw.url("/admin/workflows/default/kill-switch"))
            .header("authorization", format!("Bearer {key}"))
            .json(&json!({"mode": mode, "actor": "oncall@example.com"}))
            .send()
    };
    assert_eq!(kill("wrong", "stop").await.unwrap().status(), 403);
    assert_eq!(kill("purser", "stop").await.unwrap().status(), 200);
    let (s, _, v) = routed(&gw, "test/held", "hello", &[]).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (503, json!("workflow_stopped"))
    );
    assert_eq!(kill("purser", "off").await.unwrap().status(), 200);
    let (s, _, _) = routed(&gw, "test/held", "hello", &[]).await;
    assert_eq!(s, 200);
    let stats = gw
        .client
        .get(gw.url("/admin/cache/stats"))
        .header("authorization", "Bearer purser")
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), 200);
    gw.stop().await;
    let admin = gw.records("admin");
    assert_eq!(admin.len(), 2);
    assert_eq!(admin[0]["action"], "kill_switch_on");
    assert_eq!(admin[0]["actor"], "oncall@example.com");
}
