//! HTTP routes: the OpenAI-compatible API, health, readiness and metrics. Handlers are thin:
//! they hand the request to the pipeline or read a snapshot.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::error::ProxyError;
use super::pipeline::Pipeline;

/// The gateway's HTTP routes.
pub fn router(pipeline: Pipeline) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat).fallback(method_not_allowed),
        )
        .route(
            "/v1/embeddings",
            post(embeddings).fallback(method_not_allowed),
        )
        .route("/v1/models", get(models).fallback(method_not_allowed))
        .route(
            "/v1/tasks/{id}/outcome",
            post(task_outcome).fallback(method_not_allowed),
        )
        .route(
            "/v1/reports/cost",
            get(cost_report).fallback(method_not_allowed),
        )
        .route("/dashboard", get(super::reports::dashboard))
        .route("/admin/cache/purge", post(admin_purge))
        .route("/admin/cache/stats", get(admin_cache_stats))
        .route(
            "/admin/workflows/{name}/kill-switch",
            post(admin_kill_switch),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(pipeline)
}

async fn chat(State(p): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    p.chat(headers, body).await
}

async fn embeddings(State(p): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    p.embeddings(headers, body).await
}

async fn task_outcome(
    State(p): State<Pipeline>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    p.task_outcome(id, headers, body).await
}

async fn cost_report(
    State(p): State<Pipeline>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    p.cost_report(headers, q).await
}

async fn admin_purge(State(p): State<Pipeline>, headers: HeaderMap, body: Body) -> Response {
    p.admin_purge(headers, body).await
}

async fn admin_cache_stats(State(p): State<Pipeline>, headers: HeaderMap) -> Response {
    p.admin_cache_stats(headers).await
}

async fn admin_kill_switch(
    State(p): State<Pipeline>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    p.admin_kill_switch(name, headers, body).await
}

async fn models(State(p): State<Pipeline>) -> Response {
    let snap = p.parts.config.snapshot();
    let data: Vec<_> = p
        .model_names(&snap)
        .into_iter()
        .map(|(id, owned_by)| json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(p): State<Pipeline>) -> Response {
    let snap = p.parts.config.snapshot();
    let ready = !snap.models.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "config_generation": snap.generation});
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(p): State<Pipeline>) -> Response {
    p.refresh_gauges();
    p.refresh_budget_gauges().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        p.parts.metrics.render(),
    )
        .into_response()
}

async fn method_not_allowed(method: Method, req: Request) -> Response {
    ProxyError::MethodNotAllowed {
        method: method.to_string(),
        path: req.uri().path().to_owned(),
    }
    .into_response()
}

async fn not_found(method: Method, req: Request) -> Response {
    ProxyError::NotFound {
        message: format!("Unknown request URL: {method} {}", req.uri().path()),
        code: "unknown_url",
    }
    .into_response()
}
