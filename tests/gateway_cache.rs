//! The response cache through the real gateway: deterministic repeats hit (also with reordered
//! JSON), unsafe requests and answers are never cached, workflows never share entries, streams
//! replay from the cache, and two replicas share hits through a real Redis.

mod common;

use common::{Behavior, FakeUpstream, Gateway, chat_body};
use serde_json::{Value, json};

const WORKFLOWS: &str = r#"
[[budget.workflows]]
name = "a"
[[budget.workflows]]
name = "b"
"#;

fn det(text: &str) -> Value {
    let mut b = chat_body("gpt-4o-mini", text);
    b["temperature"] = json!(0);
    b
}

async fn send(gw: &Gateway, body: &str, headers: &[(&str, &str)]) -> (String, String, f64, Value) {
    let mut r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.body(body.to_owned()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let get = |n: &str| {
        h.get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let cost = get("x-purser-cost-usd").parse().unwrap_or(-1.0);
    let (status, reason) = (get("x-purser-cache"), get("x-purser-cache-reason"));
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, reason, cost, v)
}

#[tokio::test]
async fn deterministic_repeats_hit_even_with_reordered_json() {
    let mut gw = Gateway::start(None, "").await;
    let (s1, _, c1, v1) = send(&gw, &det("What is 2+2?").to_string(), &[]).await;
    assert_eq!(s1, "miss");
    assert!(c1 > 0.0);
    let reordered = r#"{ "temperature": 0.0,
        "messages": [ {"content": "What is 2+2?", "role": "user"} ],   "model": "gpt-4o-mini" }"#;
    let (s2, _, c2, v2) = send(&gw, reordered, &[]).await;
    assert_eq!((s2.as_str(), c2), ("hit", 0.0));
    assert_eq!(v1["choices"], v2["choices"]);
    // A seed also makes a request deterministic.
    let mut seeded = chat_body("gpt-4o-mini", "seeded");
    seeded["seed"] = json!(7);
    send(&gw, &seeded.to_string(), &[]).await;
    assert_eq!(send(&gw, &seeded.to_string(), &[]).await.0, "hit");
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("purser_cache_saved_usd_total{workflow=\"default\"}"));
    gw.stop().await;
    let reqs = gw.requests();
    let hit = &reqs[1];
    assert_eq!(hit["outcome"], "cache_hit");
    assert_eq!(hit["cost_micros"], 0);
    assert_eq!(hit["would_have_cost_micros"], reqs[0]["cost_micros"]);
    assert_eq!(hit["cache"]["status"], "hit");
}

#[tokio::test]
async fn unsafe_requests_are_never_cached() {
    let mut gw = Gateway::start(None, "").await;
    let sampled = chat_body("gpt-4o-mini", "a poem").to_string();
    for _ in 0..2 {
        let (s, r, _, _) = send(&gw, &sampled, &[]).await;
        assert_eq!((s.as_str(), r.as_str()), ("bypass", "sampled"));
    }
    for text in [
        "mail me at jane.doe@example.com",
        "my card is 4111 1111 1111 1111",
    ] {
        let b = det(text).to_string();
        for _ in 0..2 {
            let (s, r, _, _) = send(&gw, &b, &[]).await;
            assert_eq!(
                (s.as_str(), r.as_str()),
                ("bypass", "pii_in_request"),
                "{text}"
            );
        }
    }
    let b = det("no store please").to_string();
    for _ in 0..2 {
        let (s, r, _, _) = send(&gw, &b, &[("cache-control", "no-store")]).await;
        assert_eq!((s.as_str(), r.as_str()), ("bypass", "client_no_store"));
    }
    let (s, _, _, _) = send(&gw, &b, &[("x-purser-cache", "bypass")]).await;
    assert_eq!(s, "bypass");
    gw.stop().await;
}

#[tokio::test]
async fn workflows_never_share_entries() {
    let mut gw = Gateway::start(None, WORKFLOWS).await;
    let b = det("shared question").to_string();
    assert_eq!(send(&gw, &b, &[("x-purser-workflow", "a")]).await.0, "miss");
    assert_eq!(send(&gw, &b, &[("x-purser-workflow", "b")]).await.0, "miss");
    assert_eq!(send(&gw, &b, &[("x-purser-workflow", "a")]).await.0, "hit");
    assert_eq!(send(&gw, &b, &[("x-purser-workflow", "b")]).await.0, "hit");
    gw.stop().await;
}

#[tokio::test]
async fn errors_and_cut_streams_are_not_cached_and_streams_replay() {
    let up = FakeUpstream::start().await;
    up.script([
        Behavior::Status(500),
        Behavior::Status(500),
        Behavior::Status(500),
    ]);
    let mut gw = Gateway::start(Some(&up), "").await;
    let mut b = chat_body("fake-primary", "hello");
    b["temperature"] = json!(0);
    let r = gw.post("/v1/chat/completions", b.clone()).await;
    assert_eq!(r.status(), 502);
    let (s, _, _, _) = send(&gw, &b.to_string(), &[]).await;
    assert_eq!(s, "miss", "an error answer was cached");
    assert_eq!(send(&gw, &b.to_string(), &[]).await.0, "hit");

    // Streams: a cut stream is not stored; a complete one is, and replays as SSE with usage.
    let mut sb = chat_body("fake-primary", "stream me");
    sb["temperature"] = json!(0);
    sb["stream"] = json!(true);
    sb["stream_options"] = json!({"include_usage": true});
    up.script([Behavior::CutStream]);
    let (s, _, _, _) = send(&gw, &sb.to_string(), &[]).await;
    assert_eq!(s, "miss");
    let (s, _, _, first) = send(&gw, &sb.to_string(), &[]).await;
    assert_eq!(s, "miss", "the cut stream was cached");
    let hits_before = up.hits();
    let (s, _, cost, replay) = send(&gw, &sb.to_string(), &[]).await;
    assert_eq!((s.as_str(), cost), ("hit", 0.0));
    assert_eq!(up.hits(), hits_before, "a hit reached the upstream");
    let text = |v: &Value| -> String {
        v.as_str()
            .unwrap()
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|e| *e != "[DONE]")
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(text(&first), text(&replay));
    let replay_s = replay.as_str().unwrap();
    assert!(replay_s.ends_with("data: [DONE]\n\n"));
    assert!(replay_s.contains("\"usage\":{\"prompt_tokens\""));
    gw.stop().await;
}

fn redis_up() -> bool {
    std::net::TcpStream::connect("127.0.0.1:6379").is_ok()
}

#[tokio::test]
async fn replicas_share_hits_through_redis_and_a_dead_redis_degrades_to_misses() {
    if !redis_up() {
        eprintln!("SKIPPED: Redis not reachable on 127.0.0.1:6379");
        return;
    }
    let prefix = format!("purser-test-{}", uuid::Uuid::new_v4().simple());
    let cfg = format!(
        "[cache]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_prefix = \"{prefix}\"\n"
    );
    let mut a = Gateway::start(None, &cfg).await;
    let mut b = Gateway::start(None, &cfg).await;
    let body = det("replicated question").to_string();
    assert_eq!(send(&a, &body, &[]).await.0, "miss");
    // The Redis write is off the response path; wait (bounded) until B sees it.
    let mut status = String::new();
    for _ in 0..100 {
        status = send(&b, &body, &[]).await.0;
        if status == "hit" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "hit", "replica B never saw replica A's entry");
    a.stop().await;
    b.stop().await;

    // Nothing listens on this port: every request still succeeds, as a miss.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!(
        "[cache]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}\"\nredis_timeout = \"50ms\"\n"
    );
    let mut d = Gateway::start(None, &dead).await;
    let (s, _, _, v) = send(&d, &det("dead redis").to_string(), &[]).await;
    assert_eq!(s, "miss");
    assert!(v["choices"].is_array());
    d.stop().await;
}
