//! The OpenAI-compatible surface, end to end over HTTP against the real server on 127.0.0.1:0
//! with the built-in simulated provider: completions, streams, tools, JSON mode, every error
//! class, metrics and the ledger.

mod common;

use common::{Gateway, chat_body};
use serde_json::{Value, json};

fn sse_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn plain_completion_has_openai_shape_and_purser_headers() {
    let mut gw = Gateway::start(None, "").await;
    let r = gw
        .post(
            "/v1/chat/completions",
            chat_body("gpt-4o-mini", "Say hello"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(
        !v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    // gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output = 0.15 and 0.60 micro-dollars per token.
    let expect = (u["prompt_tokens"].as_u64().unwrap() as f64 * 0.15
        + u["completion_tokens"].as_u64().unwrap() as f64 * 0.60)
        .round() as i64;
    let header_cost: f64 = h["x-purser-cost-usd"].to_str().unwrap().parse().unwrap();
    assert_eq!((header_cost * 1e6).round() as i64, expect);
    assert_eq!(h["x-purser-model"], "gpt-4o-mini");
    assert!(
        h["x-purser-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    gw.stop().await;
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["usage_source"], "provider");
    assert_eq!(reqs[0]["cost_micros"].as_i64().unwrap(), expect);
}

#[tokio::test]
async fn stream_with_usage_follows_openai_chunk_format() {
    let mut gw = Gateway::start(None, "").await;
    let mut body = chat_body("gpt-4o-mini", "Tell me a story");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // Every chunk before the usage chunk carries `usage: null`.
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());

    // Without include_usage there is no usage chunk and no usage field.
    body.as_object_mut().unwrap().remove("stream_options");
    let r = gw.post("/v1/chat/completions", body).await;
    let events = sse_events(&r.text().await.unwrap());
    for e in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(e).unwrap();
        assert!(c.get("usage").is_none(), "{c}");
        assert!(!c["choices"].as_array().unwrap().is_empty());
    }
    gw.stop().await;
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter()
            .all(|r| r["stream"] == true && r["cost_micros"].as_i64().unwrap() > 0)
    );
}

#[tokio::test]
async fn forced_tool_call_returns_schema_valid_arguments() {
    let mut gw = Gateway::start(None, "").await;
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city", "unit"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
    });
    let v: Value = gw
        .post("/v1/chat/completions", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let choice = &v["choices"][0];
    // OpenAI ends a call forced by a named tool_choice with "stop" (and "tool_calls" when the
    // model chose to call on its own).
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string());
    assert!(["c", "f"].contains(&args["unit"].as_str().unwrap()));

    // Round trip: send the tool result back, get a text answer.
    let mut follow = body.clone();
    follow["messages"].as_array_mut().unwrap().extend([
        choice["message"].clone(),
        json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}),
    ]);
    follow.as_object_mut().unwrap().remove("tool_choice");
    let r = gw.post("/v1/chat/completions", follow).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    gw.stop().await;
}

#[tokio::test]
async fn json_schema_mode_returns_matching_json() {
    let mut gw = Gateway::start(None, "").await;
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Give me a person"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
            "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150}},
            "required": ["name", "age"], "additionalProperties": false}}}
    });
    let v: Value = gw
        .post("/v1/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["name"].is_string());
    let age = content["age"].as_i64().unwrap();
    assert!((0..=150).contains(&age));
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "json please"}],
        "response_format": {"type": "json_object"}});
    let v: Value = gw
        .post("/v1/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content.is_object());
    gw.stop().await;
}

async fn raw(gw: &Gateway, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

fn assert_error_shape(v: &Value) {
    let e = &v["error"];
    assert!(e["message"].is_string(), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
}

#[tokio::test]
async fn bad_requests_get_openai_errors_and_ledger_records() {
    let mut gw = Gateway::start(None, "").await;
    let (s, v) = raw(&gw, r#"{"model":"gpt-4o-mini","messages":[{"role""#).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (400, json!("invalid_json"))
    );
    assert_error_shape(&v);
    let (s, v) = raw(&gw, r#"{"model":"gpt-4o-mini","messages":"hi"}"#).await;
    assert_eq!((s, v["error"]["param"].clone()), (400, json!("messages")));
    let (s, v) = raw(
        &gw,
        &b"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"[..],
    )
    .await;
    assert_eq!(s, 400);
    assert_error_shape(&v);
    let (s, v) = raw(
        &gw,
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"temperature":9}"#,
    )
    .await;
    assert_eq!(
        (s, v["error"]["param"].clone()),
        (400, json!("temperature"))
    );
    let (s, v) = raw(&gw, chat_body("no-such-model", "x").to_string()).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (404, json!("model_not_found"))
    );
    // Over the 1 MiB limit of the test config.
    let big = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(2 << 20)
    );
    let (s, v) = raw(&gw, big).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (413, json!("request_too_large"))
    );
    let r = gw.get("/v1/chat/completions").await;
    assert_eq!(r.status(), 405);
    assert_error_shape(&r.json().await.unwrap());
    let r = gw.get("/v1/nope").await;
    assert_eq!(r.status(), 404);
    assert_error_shape(&r.json().await.unwrap());
    gw.stop().await;
    // Every chat request, failed ones included, left exactly one ledger record.
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 6);
    assert!(reqs.iter().all(|r| r["outcome"] == "client_error"));
    let statuses: Vec<u64> = reqs.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![400, 400, 400, 400, 404, 413]);
}

#[tokio::test]
async fn models_embeddings_health_and_metrics() {
    let mut gw = Gateway::start(None, "").await;
    let v: Value = gw.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini"));
    let r = gw
        .post(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["hello", "world"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(gw.get("/healthz").await.status(), 200);
    assert_eq!(gw.get("/readyz").await.status(), 200);
    gw.post("/v1/chat/completions", chat_body("gpt-4o-mini", "hi"))
        .await;
    let text = gw.get("/metrics").await.text().await.unwrap();
    for name in [
        "purser_requests_total",
        "purser_cost_usd_total",
        "purser_tokens_total",
        "purser_request_duration_seconds",
        "purser_gateway_overhead_seconds",
        "purser_upstream_duration_seconds",
        "purser_config_generation 1",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
    gw.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["ledger", "verify"])
        .arg(gw.ledger_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
