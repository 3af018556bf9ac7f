//! Fast OpenAI-compatible mock upstream for the load harness (`benches/load/run.sh`).
//!
//! Serves `POST /v1/chat/completions` on 127.0.0.1 only:
//! - non-streaming: a fixed, realistic `chat.completion` body (about 1 KiB, with `usage`),
//!   echoing the requested model;
//! - streaming (`"stream": true`): a role chunk, `--chunks` content chunks, a finish chunk, a
//!   usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`.
//!
//! Each content chunk's text carries `@t<unix-nanos>`, the wall-clock time the mock wrote it,
//! so the load generator can measure per-chunk delivery latency across a gateway (both run on
//! this machine and read the same clock). Also serves `GET /v1/models` and `GET /health`.
//!
//! Prints one JSON line `{"mock_upstream":"listening","port":P,"pid":N}` on stdout once bound.
//! Delays use Tokio's timer, whose resolution is 1 ms: sub-millisecond delays round up.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use clap::Parser;
use serde::Deserialize;

/// Command-line flags.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "mock_upstream",
    about = "OpenAI-compatible mock upstream for load tests"
)]
struct Args {
    /// Listen address; loopback only (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Fixed delay before answering (non-streaming) or before the first chunk, in microseconds.
    #[arg(long, default_value_t = 0)]
    delay_us: u64,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Delay between streamed chunks, in microseconds (0: write them back to back).
    #[arg(long, default_value_t = 0)]
    chunk_delay_us: u64,
}

/// The fields of a request the mock looks at; everything else is ignored.
#[derive(Deserialize)]
struct RequestHead {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// Shared, immutable server state.
struct Mock {
    args: Args,
}

const ANSWER: &str = "Closed-loop load tests keep a fixed number of requests in flight: each \
connection sends its next request as soon as the previous answer arrives. Throughput then \
follows from latency, and a slower gateway shows up as fewer requests per second rather than \
as a growing queue. Percentiles are read from a histogram of every request after warm-up, \
so the tail reflects scheduler noise, allocation and syscalls on the path, not the mean.";

const PROMPT_TOKENS: u64 = 57;
const COMPLETION_TOKENS: u64 = 78;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "mock_upstream listens on loopback only"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let port = listener.local_addr()?.port();
    let state = Arc::new(Mock { args });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .with_state(state);
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            r#"{{"mock_upstream":"listening","port":{port},"pid":{}}}"#,
            std::process::id()
        )?;
        out.flush()?;
    }
    // Without TCP_NODELAY, Nagle plus delayed ACKs hold small SSE writes back ~40 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

async fn models() -> Response {
    json_response(Bytes::from_static(
        br#"{"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}"#,
    ))
}

async fn chat(State(mock): State<Arc<Mock>>, body: Bytes) -> Response {
    let head: RequestHead = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(_) => {
            let mut r = json_response(Bytes::from_static(
                br#"{"error":{"message":"invalid JSON","type":"invalid_request_error","param":null,"code":null}}"#,
            ));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let model = head.model.unwrap_or_else(|| "mock-model".to_owned());
    if mock.args.delay_us > 0 {
        tokio::time::sleep(Duration::from_micros(mock.args.delay_us)).await;
    }
    if head.stream {
        let usage = head.stream_options.is_some_and(|o| o.include_usage);
        stream_response(mock, model, usage)
    } else {
        json_response(Bytes::from(completion_body(&model)))
    }
}

fn json_response(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn completion_body(model: &str) -> String {
    format!(
        r#"{{"id":"chatcmpl-mock0000000000000000000000001","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":{content},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{t},"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_mock"}}"#,
        created = unix_secs(),
        model = json_str(model),
        content = json_str(ANSWER),
        p = PROMPT_TOKENS,
        c = COMPLETION_TOKENS,
        t = PROMPT_TOKENS + COMPLETION_TOKENS,
    )
}

/// One SSE event: `data: {chunk}` with the given delta, finish reason and usage.
fn chunk_event(model: &str, delta: &str, finish: &str, usage: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"chatcmpl-mock0000000000000000000000002\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"system_fingerprint\":\"fp_mock\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{usage}}}\n\n",
        unix_secs(),
        json_str(model),
    ))
}

fn stream_response(mock: Arc<Mock>, model: String, include_usage: bool) -> Response {
    let chunks = mock.args.chunks;
    let gap = Duration::from_micros(mock.args.chunk_delay_us);
    let usage_null = if include_usage { ",\"usage\":null" } else { "" };
    let events = async_stream::stream! {
        yield Ok::<Bytes, std::io::Error>(chunk_event(&model, r#"{"role":"assistant","content":""}"#, "null", usage_null));
        for i in 0..chunks {
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let word = if i == 0 { "Closed" } else { " loop" };
            let delta = format!(r#"{{"content":"{word}@t{} "}}"#, unix_nanos());
            yield Ok(chunk_event(&model, &delta, "null", usage_null));
        }
        yield Ok(chunk_event(&model, "{}", "\"stop\"", usage_null));
        if include_usage {
            let total = PROMPT_TOKENS + chunks as u64;
            yield Ok(Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-mock0000000000000000000000002\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"system_fingerprint\":\"fp_mock\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{chunks},\"total_tokens\":{total}}}}}\n\n",
                unix_secs(),
                json_str(&model),
            )));
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    };
    let mut r = Response::new(Body::from_stream(events));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
