//! Reading request bodies under a size limit and parsing JSON into typed requests, with errors
//! that name the offending parameter.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ProxyError;

/// Bytes read and thrown away past the limit, so the client gets the 413 instead of a reset
/// connection while it is still sending.
const DRAIN_CAP: usize = 128 * 1024 * 1024;

/// Reads the whole body, failing with 413 past `limit` bytes.
pub(crate) async fn read_limited(
    body: Body,
    content_length: Option<usize>,
    limit: usize,
) -> Result<Bytes, ProxyError> {
    let too_large = ProxyError::PayloadTooLarge { limit };
    if content_length.is_some_and(|n| n > DRAIN_CAP) {
        return Err(too_large);
    }
    let mut buf = BytesMut::with_capacity(content_length.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let chunk = frame.map_err(|e| ProxyError::InvalidJson {
            detail: format!("failed to read body: {e}"),
        })?;
        seen += chunk.len();
        if seen > DRAIN_CAP {
            return Err(too_large);
        }
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(too_large);
    }
    Ok(buf.freeze())
}

/// Parses JSON into `T`. Syntax errors (including invalid UTF-8) give `InvalidJson`; type errors
/// give `Invalid` with the JSON path of the offending field as `param`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProxyError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let param = (path != ".").then_some(path);
                    Err(ProxyError::Invalid(crate::api::ValidationError {
                        message: format!(
                            "Invalid value for '{}': {inner}",
                            param.as_deref().unwrap_or("body")
                        ),
                        param,
                    }))
                }
                _ => Err(ProxyError::InvalidJson {
                    detail: inner.to_string(),
                }),
            }
        }
    }
}

/// Collects a body for tests and small admin routes.
#[cfg(test)]
pub(crate) async fn collect(body: Body) -> Bytes {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChatRequest;

    #[test]
    fn wrong_type_names_the_path() {
        let e = parse_json::<ChatRequest>(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
        )
        .unwrap_err();
        match e {
            ProxyError::Invalid(v) => assert_eq!(v.param.as_deref(), Some("temperature")),
            other => panic!("{other:?}"),
        }
        let e = parse_json::<ChatRequest>(
            br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        )
        .unwrap_err();
        match e {
            ProxyError::Invalid(v) => assert_eq!(v.param.as_deref(), Some("messages[0].role")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_and_non_utf8_are_invalid_json() {
        assert!(matches!(
            parse_json::<ChatRequest>(br#"{"model":"m","mess"#),
            Err(ProxyError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_json::<ChatRequest>(b"{\"model\":\"\xff\xfe\"}"),
            Err(ProxyError::InvalidJson { .. })
        ));
    }

    #[tokio::test]
    async fn body_over_limit_is_413_after_draining() {
        let big = vec![b'a'; 2048];
        let r = read_limited(Body::from(big), Some(2048), 1024).await;
        assert!(matches!(
            r,
            Err(ProxyError::PayloadTooLarge { limit: 1024 })
        ));
        let ok = read_limited(Body::from("hello"), None, 1024).await.unwrap();
        assert_eq!(&ok[..], b"hello");
        assert_eq!(collect(Body::from("x")).await, Bytes::from("x"));
    }
}
