//! Server-sent events: a byte-level decoder (lines split across reads, CR/LF/CRLF, multi-line
//! `data:`, `:` comments and keep-alives) and the adapter turning an SSE body into a
//! `ChunkStream` that ends at `[DONE]` and reports a cut when the body ends without it.

use std::collections::VecDeque;
use std::fmt::Display;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::api::ChatChunk;
use crate::upstream::{ChunkStream, FailureKind, UpstreamError};

/// Incremental SSE decoder; yields the `data` of each complete event.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    line: Vec<u8>,
    data: Option<String>,
    skip_lf: bool,
}

type ByteStream<E> = Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>;

struct ChunkState<E> {
    body: ByteStream<E>,
    decoder: SseDecoder,
    pending: VecDeque<String>,
    provider: String,
    idle_timeout: Duration,
    eof: bool,
    finished: bool,
}

enum Payload {
    Done,
    Chunk(Box<ChatChunk>),
    Fail(UpstreamError),
}

// ---- SseDecoder
impl SseDecoder {
    /// Feeds bytes; the data of every event completed by them is pushed to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut VecDeque<String>) {
        for &b in bytes {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.skip_lf = true;
                    self.end_line(out);
                }
                _ => self.line.push(b),
            }
        }
    }

    /// The body ended: a pending unterminated line and event are dispatched (lenient: some
    /// servers omit the final blank line).
    pub(crate) fn finish(&mut self, out: &mut VecDeque<String>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        if let Some(data) = self.data.take() {
            out.push_back(data);
        }
    }

    fn end_line(&mut self, out: &mut VecDeque<String>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push_back(data);
            }
            return;
        }
        if line.starts_with(':') {
            return; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        // `event`, `id`, `retry` carry nothing OpenAI-compatible servers rely on.
    }
}

/// Turns an SSE body into chat chunks. Each read must arrive within `idle_timeout` (else a
/// `Timeout` item); a body that ends without `[DONE]` ends with a `StreamCut` item; an
/// unparseable event gives a `Protocol` item; an in-stream `{"error":...}` a `ServerError` item.
/// Nothing follows an `Err` item.
pub(crate) fn chunk_stream<E: Display + 'static>(
    provider: &str,
    body: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    idle_timeout: Duration,
) -> ChunkStream {
    let state = ChunkState {
        body: Box::pin(body),
        decoder: SseDecoder::default(),
        pending: VecDeque::new(),
        provider: provider.to_owned(),
        idle_timeout,
        eof: false,
        finished: false,
    };
    Box::pin(futures::stream::unfold(state, next_item))
}

async fn next_item<E: Display>(
    mut st: ChunkState<E>,
) -> Option<(Result<ChatChunk, UpstreamError>, ChunkState<E>)> {
    loop {
        if st.finished {
            return None;
        }
        if let Some(data) = st.pending.pop_front() {
            match interpret(&st.provider, data) {
                Payload::Done => return None,
                Payload::Chunk(c) => return Some((Ok(*c), st)),
                Payload::Fail(e) => return st.fail(e),
            }
        }
        if st.eof {
            let e = st.error(FailureKind::StreamCut, "stream ended without [DONE]");
            return st.fail(e);
        }
        match tokio::time::timeout(st.idle_timeout, st.body.next()).await {
            Ok(Some(Ok(bytes))) => st.decoder.push(&bytes, &mut st.pending),
            Ok(Some(Err(e))) => {
                let e = st.error(FailureKind::StreamCut, &format!("stream read failed: {e}"));
                return st.fail(e);
            }
            Ok(None) => {
                st.eof = true;
                st.decoder.finish(&mut st.pending);
            }
            Err(_) => {
                let e = st.error(FailureKind::Timeout, "no stream data within the timeout");
                return st.fail(e);
            }
        }
    }
}

fn interpret(provider: &str, data: String) -> Payload {
    if data.trim() == "[DONE]" {
        return Payload::Done;
    }
    // Straight into the chunk type: a generic `Value` first would cost a second pass and a
    // tree of allocations per chunk. Only what is not a plain chunk is looked at again.
    let chunk_err = match serde_json::from_str::<ChatChunk>(&data) {
        Ok(mut c) if !c.extra.contains_key("error") => {
            c.raw = crate::api::RawBody(Some(bytes::Bytes::from(data)));
            return Payload::Chunk(Box::new(c));
        }
        Ok(_) => None,
        Err(e) => Some(e),
    };
    let error_event = serde_json::from_str::<Value>(&data)
        .ok()
        .and_then(|v| v.get("error").cloned());
    match (error_event, chunk_err) {
        (Some(err), _) => {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error event in stream");
            Payload::Fail(UpstreamError::new(provider, FailureKind::ServerError, msg))
        }
        (None, Some(e)) => Payload::Fail(protocol(provider, &e)),
        // Unreachable: a chunk without `error` returned above.
        (None, None) => Payload::Fail(UpstreamError::new(
            provider,
            FailureKind::Protocol,
            "unparseable stream event",
        )),
    }
}

fn protocol(provider: &str, e: &serde_json::Error) -> UpstreamError {
    UpstreamError::new(
        provider,
        FailureKind::Protocol,
        format!("unparseable stream event: {e}"),
    )
}

// ---- ChunkState
impl<E> ChunkState<E> {
    fn error(&self, kind: FailureKind, message: &str) -> UpstreamError {
        UpstreamError::new(self.provider.as_str(), kind, message)
    }

    fn fail(mut self, e: UpstreamError) -> Option<(Result<ChatChunk, UpstreamError>, Self)> {
        self.finished = true;
        Some((Err(e), self))
    }
}

#[cfg(test)]
mod tests;
