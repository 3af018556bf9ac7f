//! Test harness: an in-process fake OpenAI upstream that serves `tests/fixtures/` and counts its
//! hits, and the real gateway started on 127.0.0.1:0 with a config written to a temp folder.
#![allow(dead_code)]
// The harness is test code outside #[test] functions: a failed setup should abort the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the fake upstream does with its next call.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer from the fixtures.
    Ok,
    /// Answer with this status and an OpenAI error body.
    Status(u16),
    /// Never answer.
    Hang,
    /// Stream two chunks, then end without `[DONE]`.
    CutStream,
    /// A complete answer cut by the length limit (`finish_reason: "length"`).
    Truncated,
}

#[derive(Clone, Default)]
struct FakeState {
    /// Signalled when a handler is dropped before it answered (the caller hung up).
    abandoned: Arc<tokio::sync::Notify>,
    hits: Arc<AtomicUsize>,
    script: Arc<Mutex<VecDeque<Behavior>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// A fake OpenAI-compatible upstream on 127.0.0.1:0.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    state: FakeState,
}

pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

async fn fake_chat(State(s): State<FakeState>, body: axum::body::Bytes) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.bodies.lock().unwrap().push(req.clone());
    let behavior = s.script.lock().unwrap().pop_front().unwrap_or(Behavior::Ok);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    match behavior {
        Behavior::Ok if stream => (
            [("content-type", "text/event-stream")],
            fixture("chat_stream.sse"),
        )
            .into_response(),
        Behavior::Ok => (
            [("content-type", "application/json")],
            fixture("chat_completion.json"),
        )
            .into_response(),
        Behavior::Truncated => (
            [("content-type", "application/json")],
            fixture("chat_completion.json").replace("\"finish_reason\":\"stop\"", "\"finish_reason\":\"length\""),
        )
            .into_response(),
        Behavior::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error":{"message":format!("fake {code}"),"type":"server_error","param":null,"code":null}})),
        )
            .into_response(),
        Behavior::Hang => {
            struct Abandon(Arc<tokio::sync::Notify>);
            impl Drop for Abandon {
                fn drop(&mut self) {
                    self.0.notify_one();
                }
            }
            let _guard = Abandon(s.abandoned.clone());
            std::future::pending::<()>().await;
            unreachable!()
        }
        Behavior::CutStream => {
            let full = fixture("chat_stream.sse");
            let first_two: Vec<&str> = full.split("\n\n").take(2).collect();
            let text = format!("{}\n\n", first_two.join("\n\n"));
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from(text))
                .unwrap()
        }
    }
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let state = FakeState::default();
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(fake_chat))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeUpstream { addr, state }
    }

    /// Queues behaviours for the next calls (then `Ok` forever).
    pub fn script(&self, b: impl IntoIterator<Item = Behavior>) {
        self.state.script.lock().unwrap().extend(b);
    }

    /// Waits until a hanging call has been abandoned by its caller (up to 5 s).
    pub async fn abandoned(&self) -> bool {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.state.abandoned.notified(),
        )
        .await
        .is_ok()
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Request bodies received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.state.bodies.lock().unwrap().clone()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// A running gateway plus its temp folder.
pub struct Gateway {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub running: Option<purser::app::Running>,
    pub client: reqwest::Client,
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Config text for a gateway whose `fake` provider is `upstream`, plus `extra` TOML.
pub fn config_text(dir: &Path, upstream: Option<&FakeUpstream>, extra: &str) -> String {
    let fake = upstream
        .map(|u| {
            format!(
                r#"
[[providers]]
kind = "openai_compatible"
name = "fake"
base_url = "{}"
timeout = "500ms"
connect_timeout = "200ms"
retry = {{ max_retries = 2, backoff_base = "1ms", backoff_max = "5ms" }}
circuit_breaker = {{ failure_threshold = 50, cooldown = "1s" }}

[[models]]
name = "fake-primary"
provider = "fake"
upstream_model = "fake-model"
price = "gpt-4o-mini"

[[models]]
name = "fake-fallback"
provider = "fake"
upstream_model = "fake-model-b"
price = "gpt-4o"
"#,
                u.base_url()
            )
        })
        .unwrap_or_default();
    format!(
        r#"
routes_dir = "{routes}"
pricing_dir = "{pricing}"

[server]
listen = "127.0.0.1:0"
max_body_bytes = 1048576
request_timeout = "10s"
shutdown_grace = "5s"
preload_tokenizers = true

[data]
dir = "{data}"

[[providers]]
kind = "simulated"
name = "simulated"

[[models]]
name = "gpt-4o-mini"
provider = "simulated"

[[models]]
name = "gpt-4o"
provider = "simulated"

[[models]]
name = "gpt-4.1-mini"
provider = "simulated"

[[models]]
name = "gpt-4.1"
provider = "simulated"

[[models]]
name = "mixtral-8x7b-instruct"
provider = "simulated"

[[models]]
name = "gpt-4-1106-preview"
provider = "simulated"

[[models]]
name = "text-embedding-3-small"
provider = "simulated"
kind = "embeddings"
{fake}
{extra}
"#,
        routes = dir.join("routes").display(),
        pricing = repo_path("pricing").display(),
        data = dir.join("data").display(),
    )
}

impl Gateway {
    /// Starts the gateway with the repository's routes copied into a temp folder.
    pub async fn start(upstream: Option<&FakeUpstream>, extra: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_path("routes"), &dir.path().join("routes"));
        let cfg = dir.path().join("purser.toml");
        std::fs::write(&cfg, config_text(dir.path(), upstream, extra)).unwrap();
        Self::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: tempfile::TempDir, cfg: PathBuf) -> Gateway {
        let running = purser::app::start(purser::app::ServeOptions {
            config: Some(cfg),
            listen: None,
            data_dir: None,
        })
        .await
        .unwrap();
        Gateway {
            addr: running.addr,
            dir,
            running: Some(running),
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("data").join("ledger.jsonl")
    }

    /// Graceful shutdown; the ledger is flushed when this returns.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
            r.wait().await.unwrap();
        }
    }

    /// Every ledger record (after `stop`).
    pub fn ledger(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.ledger_path()).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Bodies of the ledger records of one kind (`request`, `attempt`, ...).
    pub fn records(&self, kind: &str) -> Vec<Value> {
        self.ledger()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .map(|r| r["body"].clone())
            .collect()
    }

    pub fn requests(&self) -> Vec<Value> {
        self.records("request")
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

pub fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}
