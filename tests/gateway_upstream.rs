//! Upstream failures through the real gateway: retries on 500 and 429, timeouts on a hanging
//! upstream, forwarded 4xx, cut streams, and client disconnects cancelling the upstream call.
// Helpers outside #[test] functions unwrap too: a failed step should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Behavior, FakeUpstream, Gateway, chat_body};
use serde_json::{Value, json};

/// The body of a chat call as text (streams: every SSE event).
async fn chat_text(gw: &Gateway, body: Value) -> String {
    gw.post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap()
}

fn attempts_of(gw: &Gateway) -> Vec<Value> {
    gw.records("attempt")
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Status(500), Behavior::Status(429)]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let r = gw
        .post("/v1/chat/completions", chat_body("fake-primary", "hi"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "The answer is 42.");
    assert_eq!(up.hits(), 3);
    // The upstream saw its own model name, and unknown fields pass through.
    assert_eq!(up.bodies()[0]["model"], "fake-model");
    gw.stop().await;
    let attempts = attempts_of(&gw);
    let kinds: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["failed", "failed", "ok"]);
    assert_eq!(attempts[0]["http_status"], 500);
    assert_eq!(attempts[1]["http_status"], 429);
    let req = &gw.requests()[0];
    assert_eq!(req["attempts"], 3);
    // Fixture usage: 12 input, 6 output at gpt-4o-mini prices = 1.8 + 3.6 → 5 µ$.
    assert_eq!(req["cost_micros"], 5);
}

#[tokio::test]
async fn persistent_failure_is_502_with_every_attempt_ledgered() {
    let up = FakeUpstream::start().await;
    up.script([
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Status(503),
    ]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let r = gw
        .post("/v1/chat/completions", chat_body("fake-primary", "hi"))
        .await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_error");
    assert!(
        !v.to_string().contains("127.0.0.1"),
        "upstream details leak: {v}"
    );
    gw.stop().await;
    assert_eq!(attempts_of(&gw).len(), 3);
    let req = &gw.requests()[0];
    assert_eq!(
        (req["status"].clone(), req["outcome"].clone()),
        (json!(502), json!("upstream_error"))
    );
}

#[tokio::test]
async fn hanging_upstream_times_out_with_504() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Hang, Behavior::Hang, Behavior::Hang]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let r = gw
        .post("/v1/chat/completions", chat_body("fake-primary", "hi"))
        .await;
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_timeout");
    gw.stop().await;
    let a = attempts_of(&gw);
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|x| x["failure_kind"] == "timeout"));
}

#[tokio::test]
async fn upstream_bad_request_is_forwarded_not_retried() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Status(400)]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let r = gw
        .post("/v1/chat/completions", chat_body("fake-primary", "hi"))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "fake 400");
    assert_eq!(up.hits(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn streamed_answer_passes_through_and_cut_stream_is_charged_by_tiktoken() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Ok, Behavior::CutStream]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let mut body = chat_body("fake-primary", "hi");
    body["stream"] = json!(true);
    let text = chat_text(&gw, body.clone()).await;
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.contains("The answer"));
    // The gateway asked the upstream for usage although the client did not.
    assert_eq!(up.bodies()[0]["stream_options"]["include_usage"], true);
    assert!(
        !text.contains("\"usage\""),
        "client did not ask for usage: {text}"
    );

    let text = chat_text(&gw, body).await;
    assert!(
        !text.contains("[DONE]"),
        "a cut stream must not look complete: {text}"
    );
    assert!(text.contains("\"error\""));
    gw.stop().await;
    let reqs = gw.requests();
    assert_eq!(reqs[0]["usage_source"], "provider");
    assert_eq!(reqs[0]["outcome"], "ok");
    assert_eq!(reqs[1]["outcome"], "upstream_error");
    assert_eq!(reqs[1]["usage_source"], "tiktoken");
    assert!(reqs[1]["tokens"]["output"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn stream_with_usage_forwards_the_provider_events_byte_for_byte() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Ok]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let mut body = chat_body("fake-primary", "hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = chat_text(&gw, body).await;
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chat_stream.sse"
    ))
    .unwrap();
    let events: Vec<&str> = fixture
        .split("\n\n")
        .map(str::trim)
        .filter(|e| e.starts_with("data: {"))
        .collect();
    assert_eq!(events.len(), 5);
    // Every provider event, the final usage chunk included, arrives unchanged and in order.
    let mut at = 0;
    for e in events {
        let found = text[at..]
            .find(&format!("{e}\n\n"))
            .unwrap_or_else(|| panic!("event not forwarded as sent: {e}\n---\n{text}"));
        at += found + e.len();
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    gw.stop().await;
    assert_eq!(gw.requests()[0]["usage_source"], "provider");
    assert_eq!(gw.requests()[0]["tokens"]["output"], 6);
}

#[tokio::test]
async fn client_disconnect_cancels_upstream_and_is_ledgered() {
    let up = FakeUpstream::start().await;
    up.script([Behavior::Hang]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let req = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .json(&chat_body("fake-primary", "hi"))
        .send();
    // The client gives up after the upstream has the call.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(150), req).await;
    assert!(up.abandoned().await, "the upstream call was not cancelled");
    gw.stop().await;
    assert_eq!(up.hits(), 1);
    let reqs = gw.requests();
    assert_eq!(
        reqs.len(),
        1,
        "the disconnected request still has its record"
    );
    assert_eq!(reqs[0]["outcome"], "cancelled");
    assert_eq!(reqs[0]["client_disconnected"], true);
}
