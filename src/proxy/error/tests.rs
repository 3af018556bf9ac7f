//! Golden tests: the exact OpenAI error bodies clients see.

use serde_json::json;

use super::*;

fn body(e: ProxyError) -> (u16, Value) {
    let (s, b) = e.to_status_and_body();
    (s.as_u16(), b)
}

#[test]
fn malformed_json_is_400_invalid_request_error() {
    let (s, b) = body(ProxyError::InvalidJson {
        detail: "EOF while parsing an object at line 1 column 10".into(),
    });
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error":{"message":"We could not parse the JSON body of your request: EOF while parsing an object at line 1 column 10",
            "type":"invalid_request_error","param":null,"code":"invalid_json"}})
    );
}

#[test]
fn unknown_model_is_404_model_not_found() {
    let (s, b) = body(ProxyError::ModelNotFound {
        model: "gpt-9".into(),
    });
    assert_eq!(s, 404);
    assert_eq!(
        b,
        json!({"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.",
            "type":"invalid_request_error","param":"model","code":"model_not_found"}})
    );
}

#[test]
fn budget_denial_is_429_with_limit_code() {
    let (s, b) = body(ProxyError::BudgetExceeded {
        message: "monthly budget exhausted".into(),
        code: "budget_exceeded:monthly".into(),
        remaining_usd: Some("0.000000".into()),
    });
    assert_eq!(s, 429);
    assert_eq!(b["error"]["type"], "insufficient_quota");
    assert_eq!(b["error"]["code"], "budget_exceeded:monthly");
}

fn upstream(kind: FailureKind, status: Option<u16>, body: Option<Value>) -> ProxyError {
    let mut e = UpstreamError::new("openai", kind, "secret detail sk-live-123");
    if let Some(s) = status {
        e = e.with_status(s);
    }
    if let Some(b) = body {
        e = e.with_client_body(b);
    }
    ProxyError::Upstream(e)
}

#[test]
fn upstream_failures_hide_details() {
    let (s, b) = body(upstream(FailureKind::ServerError, Some(500), None));
    assert_eq!(s, 502);
    assert!(!b.to_string().contains("sk-live"));
    let (s, b) = body(upstream(FailureKind::Timeout, None, None));
    assert_eq!(
        (s, b["error"]["code"].clone()),
        (504, json!("upstream_timeout"))
    );
}

#[test]
fn upstream_client_error_is_forwarded() {
    let err = json!({"error":{"message":"bad logit_bias","type":"invalid_request_error","param":"logit_bias","code":null}});
    let (s, b) = body(upstream(
        FailureKind::ClientError,
        Some(400),
        Some(err.clone()),
    ));
    assert_eq!((s, b), (400, err));
}

#[test]
fn every_kind_has_a_distinct_label() {
    let kinds = [
        ErrorKind::InvalidJson,
        ErrorKind::InvalidRequest,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::ModelNotFound,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::PayloadTooLarge,
        ErrorKind::BudgetExceeded,
        ErrorKind::Conflict,
        ErrorKind::Upstream,
        ErrorKind::UpstreamTimeout,
        ErrorKind::UpstreamClient,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];
    let labels: std::collections::BTreeSet<_> = kinds.iter().map(|k| k.label()).collect();
    assert_eq!(labels.len(), kinds.len());
}
