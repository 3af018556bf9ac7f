//! Closed-loop HTTP load generator for the load harness (`benches/load/run.sh`).
//!
//! Opens `--concurrency` keep-alive HTTP/1.1 connections (hyper client, TCP_NODELAY) to a
//! loopback URL; each connection sends its next `POST` as soon as the previous answer is fully
//! read. A run has a warm-up phase (not recorded) and a measured phase bounded by `--duration`
//! AND `--max-requests`, whichever ends first. Every prompt is unique (a counter in the user
//! message), so a gateway cache never hits; with the default `temperature` 0 the answers are
//! cacheable, so a gateway cache does its full miss path (key, lookup, store).
//!
//! Records per-request latency (send to last byte) in an HDR histogram; in `--stream` mode
//! also time to first body byte, per-chunk delivery latency (now minus the `@t<unix-nanos>`
//! stamp the mock writes into each content chunk) and chunk inter-arrival gaps. With `--watch
//! name=pid` it reads the CPU time and peak RSS of those processes over the measured phase.
//! Prints one JSON line on stdout.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::time::Instant;

mod procstat;

/// Command-line flags.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    about = "Closed-loop load generator for OpenAI-style chat endpoints"
)]
struct Args {
    /// Target URL, e.g. http://127.0.0.1:8080/v1/chat/completions (loopback only).
    #[arg(long)]
    url: String,
    /// Label copied into the output (e.g. `direct`, `purser-plain`).
    #[arg(long, default_value = "target")]
    label: String,
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Measured phase length in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up length in seconds (not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Upper bound of measured requests.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// Ask for a streamed answer (SSE).
    #[arg(long)]
    stream: bool,
    /// `temperature` sent in the request (0 makes answers cacheable for a gateway cache).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Model name sent in the request.
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    /// Extra header `name: value` (repeatable), e.g. an Authorization header.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Tokio worker threads of the generator.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Process to account for, `name=pid` (repeatable); `self=self` is the generator.
    #[arg(long = "watch", value_parser = procstat::parse_watch)]
    watch: Vec<procstat::Watched>,
    /// Clock ticks per second of /proc CPU times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Free-form JSON object merged into the output line (run metadata).
    #[arg(long, default_value = "{}")]
    meta: String,
}

/// Parsed target and request template, shared by every connection.
struct Target {
    host_port: String,
    authority: String,
    path: String,
    headers: Vec<(String, String)>,
    stream: bool,
    model: String,
    temperature: f64,
    /// Per-run nonce in every prompt, so prompts never repeat across runs either.
    nonce: u64,
}

/// Phase boundaries and the shared request budget.
struct Phases {
    warm_end: Instant,
    deadline: Instant,
    max_requests: u64,
    started: AtomicU64,
    counter: AtomicU64,
}

/// What one connection observed.
struct ConnStats {
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
    chunk_latency: Histogram<u64>,
    chunk_gap: Histogram<u64>,
    requests: u64,
    warmup_requests: u64,
    errors: u64,
    chunks: u64,
    bytes: u64,
    last_done: Option<Instant>,
    first_error: Option<String>,
}

/// Observations of one request.
struct Observed {
    ttfb: Duration,
    total: Duration,
    chunk_latencies: Vec<u64>,
    chunk_gaps: Vec<u64>,
    bytes: u64,
}

const CHUNK_STAMP: &[u8] = b"@t";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()?;
    let line = rt.block_on(run(args))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

fn parse_target(args: &Args) -> anyhow::Result<Target> {
    let uri: hyper::Uri = args.url.parse().context("bad --url")?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "only http:// is supported"
    );
    let host = uri.host().context("--url has no host")?;
    let ip: std::net::IpAddr = host.parse().context("--url host must be an IP literal")?;
    anyhow::ensure!(ip.is_loopback(), "load is sent to loopback only");
    let port = uri.port_u16().unwrap_or(80);
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .context("--header must be `name: value`")?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(Target {
        host_port: format!("{host}:{port}"),
        authority: format!("{host}:{port}"),
        path: uri.path().to_owned(),
        headers,
        stream: args.stream,
        model: args.model.clone(),
        temperature: args.temperature,
        nonce: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    })
}

async fn run(args: Args) -> anyhow::Result<Value> {
    let target = Arc::new(parse_target(&args)?);
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let phases = Arc::new(Phases {
        warm_end,
        deadline: warm_end + Duration::from_secs_f64(args.duration),
        max_requests: args.max_requests,
        started: AtomicU64::new(0),
        counter: AtomicU64::new(0),
    });
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        tasks.push(tokio::spawn(connection(target.clone(), phases.clone())));
    }
    tokio::time::sleep_until(warm_end).await;
    let before: Vec<_> = args
        .watch
        .iter()
        .map(|w| procstat::sample(&w.pid))
        .collect();
    let mut stats = Vec::new();
    for t in tasks {
        stats.push(t.await?);
    }
    let after: Vec<_> = args
        .watch
        .iter()
        .map(|w| procstat::sample(&w.pid))
        .collect();
    let merged = merge(stats)?;
    let end = merged.last_done.unwrap_or(phases.deadline).max(warm_end);
    let elapsed = (end - warm_end).as_secs_f64();
    let mut procs = serde_json::Map::new();
    for (i, w) in args.watch.iter().enumerate() {
        if let (Some(Some(b)), Some(Some(a))) = (before.get(i), after.get(i)) {
            let s = procstat::summarize(*b, *a, args.clk_tck, merged.requests, elapsed);
            procs.insert(w.name.clone(), s);
        }
    }
    Ok(report(&args, &merged, elapsed, Value::Object(procs)))
}

fn report(args: &Args, s: &ConnStats, elapsed: f64, procs: Value) -> Value {
    let rps = if elapsed > 0.0 {
        s.requests as f64 / elapsed
    } else {
        0.0
    };
    let mut v = json!({
        "label": args.label,
        "mode": if args.stream { "stream" } else { "chat" },
        "concurrency": args.concurrency,
        "requests": s.requests,
        "warmup_requests": s.warmup_requests,
        "errors": s.errors,
        "first_error": s.first_error,
        "elapsed_s": procstat::round2(elapsed),
        "rps": procstat::round2(rps),
        "bytes_per_request": s.bytes.checked_div(s.requests).unwrap_or(0),
        "latency_us": percentiles(&s.latency),
        "procs": procs,
    });
    if args.stream {
        v["ttfb_us"] = percentiles(&s.ttfb);
        v["chunk_latency_us"] = percentiles(&s.chunk_latency);
        v["chunk_gap_us"] = percentiles(&s.chunk_gap);
        v["chunks_per_request"] = json!(if s.requests > 0 {
            procstat::round2(s.chunks as f64 / s.requests as f64)
        } else {
            0.0
        });
    }
    if let (Ok(Value::Object(meta)), Some(obj)) =
        (serde_json::from_str::<Value>(&args.meta), v.as_object_mut())
    {
        for (k, val) in meta {
            obj.insert(k, val);
        }
    }
    v
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| procstat::round2(ns as f64 / 1000.0);
    json!({
        "n": h.len(),
        "mean": procstat::round2(h.mean() / 1000.0),
        "p50": us(h.value_at_quantile(0.50)),
        "p90": us(h.value_at_quantile(0.90)),
        "p99": us(h.value_at_quantile(0.99)),
        "p999": us(h.value_at_quantile(0.999)),
        "max": us(h.max()),
    })
}

fn new_hist() -> anyhow::Result<Histogram<u64>> {
    // 1 ns .. 120 s, 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 120_000_000_000, 3)?)
}

fn merge(parts: Vec<anyhow::Result<ConnStats>>) -> anyhow::Result<ConnStats> {
    let mut acc = empty_stats()?;
    for p in parts {
        let p = p?;
        acc.latency.add(&p.latency)?;
        acc.ttfb.add(&p.ttfb)?;
        acc.chunk_latency.add(&p.chunk_latency)?;
        acc.chunk_gap.add(&p.chunk_gap)?;
        acc.requests += p.requests;
        acc.warmup_requests += p.warmup_requests;
        acc.errors += p.errors;
        acc.chunks += p.chunks;
        acc.bytes += p.bytes;
        acc.last_done = acc.last_done.max(p.last_done);
        acc.first_error = acc.first_error.or(p.first_error);
    }
    Ok(acc)
}

fn empty_stats() -> anyhow::Result<ConnStats> {
    Ok(ConnStats {
        latency: new_hist()?,
        ttfb: new_hist()?,
        chunk_latency: new_hist()?,
        chunk_gap: new_hist()?,
        requests: 0,
        warmup_requests: 0,
        errors: 0,
        chunks: 0,
        bytes: 0,
        last_done: None,
        first_error: None,
    })
}

/// One closed-loop connection: send, read the whole answer, repeat until the phase ends.
async fn connection(target: Arc<Target>, phases: Arc<Phases>) -> anyhow::Result<ConnStats> {
    let mut stats = empty_stats()?;
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let now = Instant::now();
        if now >= phases.deadline {
            break;
        }
        let measured = now >= phases.warm_end;
        if measured && phases.started.fetch_add(1, Ordering::Relaxed) >= phases.max_requests {
            break;
        }
        if sender.is_none() {
            match connect(&target).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    note_error(&mut stats, format!("connect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let n = phases.counter.fetch_add(1, Ordering::Relaxed);
        match one_request(s, &target, n).await {
            Ok(obs) if measured => record(&mut stats, obs)?,
            Ok(_) => stats.warmup_requests += 1,
            Err(e) => {
                note_error(&mut stats, format!("{e:#}"));
                sender = None;
            }
        }
    }
    Ok(stats)
}

fn note_error(stats: &mut ConnStats, msg: String) {
    stats.errors += 1;
    if stats.first_error.is_none() {
        stats.first_error = Some(msg);
    }
}

fn record(stats: &mut ConnStats, obs: Observed) -> anyhow::Result<()> {
    stats.latency.saturating_record(obs.total.as_nanos() as u64);
    stats.ttfb.saturating_record(obs.ttfb.as_nanos() as u64);
    for l in &obs.chunk_latencies {
        stats.chunk_latency.saturating_record(*l);
    }
    for g in &obs.chunk_gaps {
        stats.chunk_gap.saturating_record(*g);
    }
    stats.chunks += obs.chunk_latencies.len() as u64;
    stats.requests += 1;
    stats.bytes += obs.bytes;
    stats.last_done = Some(Instant::now());
    Ok(())
}

async fn connect(target: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let tcp = tokio::net::TcpStream::connect(&target.host_port).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    // The connection task ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn request_body(target: &Target, n: u64) -> Bytes {
    let stream = if target.stream {
        r#","stream":true,"stream_options":{"include_usage":true}"#
    } else {
        ""
    };
    Bytes::from(format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a concise assistant for an operations team. Answer in two sentences."}},{{"role":"user","content":"Request {nonce}-{n}: explain why closed-loop load tests report throughput that depends on latency, and what a warm-up phase is for."}}],"temperature":{temperature},"max_tokens":256{stream}}}"#,
        model = target.model,
        temperature = target.temperature,
        nonce = target.nonce,
    ))
}

async fn one_request(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
    n: u64,
) -> anyhow::Result<Observed> {
    let mut req = Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    for (k, v) in &target.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(request_body(target, n)))?;
    sender.ready().await?;
    let t0 = Instant::now();
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut obs = Observed {
        ttfb: Duration::ZERO,
        total: Duration::ZERO,
        chunk_latencies: Vec::new(),
        chunk_gaps: Vec::new(),
        bytes: 0,
    };
    let mut last_chunk_at: Option<Instant> = None;
    let mut error_head = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let now = Instant::now();
        if obs.bytes == 0 {
            obs.ttfb = now - t0;
        }
        obs.bytes += data.len() as u64;
        if !status.is_success() && error_head.len() < 300 {
            error_head.extend_from_slice(&data[..data.len().min(300)]);
        }
        if target.stream {
            scan_chunks(data, now, &mut last_chunk_at, &mut obs);
        }
    }
    obs.total = t0.elapsed();
    anyhow::ensure!(
        status.is_success(),
        "HTTP {status}: {}",
        String::from_utf8_lossy(&error_head)
    );
    Ok(obs)
}

/// Finds every `@t<nanos>` stamp in a frame; records delivery latency and inter-arrival gap.
fn scan_chunks(data: &[u8], now: Instant, last: &mut Option<Instant>, obs: &mut Observed) {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rest = data;
    while let Some(pos) = find(rest, CHUNK_STAMP) {
        rest = &rest[pos + CHUNK_STAMP.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let stamp = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(ts) = stamp {
            obs.chunk_latencies.push(wall.saturating_sub(ts));
            if let Some(prev) = *last {
                obs.chunk_gaps.push((now - prev).as_nanos() as u64);
            }
            *last = Some(now);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
