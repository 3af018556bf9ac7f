//! Admin routes, guarded by the admin key (`budget.admin_key_env`): cache purge and statistics,
//! and the per-workflow kill switch. Every action is written to the ledger with its actor.

use std::collections::BTreeMap;
use std::sync::RwLock;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::body::{parse_json, read_limited};
use super::error::ProxyError;
use super::pipeline::Pipeline;
use crate::cache::PurgeTarget;
use crate::ledger::{AdminAction, AdminRecord, RecordBody};
use crate::router::{KillSwitch, KillSwitchMode};
use crate::types::{ModelId, WorkflowId};

/// Largest admin request body.
const MAX_ADMIN_BYTES: usize = 16 * 1024;

/// Kill switches flipped at run time, by workflow; they override the configured ones.
#[derive(Default)]
pub struct KillSwitches(RwLock<BTreeMap<String, KillSwitch>>);

impl KillSwitches {
    /// The switch set at run time for a workflow.
    pub(crate) fn get(&self, workflow: &str) -> Option<KillSwitch> {
        self.0.read().ok()?.get(workflow).cloned()
    }
    fn set(&self, workflow: &str, s: Option<KillSwitch>) {
        if let Ok(mut m) = self.0.write() {
            match s {
                Some(s) => m.insert(workflow.to_owned(), s),
                None => m.remove(workflow),
            };
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    all: bool,
    actor: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct KillBody {
    /// `stop`, `pin` or `off`.
    mode: String,
    #[serde(default)]
    model: Option<String>,
    actor: String,
}

fn bad(param: &str, message: &str) -> ProxyError {
    ProxyError::Invalid(crate::api::ValidationError {
        message: message.to_owned(),
        param: Some(param.to_owned()),
    })
}

impl Pipeline {
    fn check_admin(&self, headers: &HeaderMap) -> Result<(), ProxyError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if self.parts.config.snapshot().keys.is_admin(auth) {
            Ok(())
        } else {
            Err(ProxyError::Forbidden {
                message: "admin routes need the admin key (budget.admin_key_env)".into(),
            })
        }
    }

    async fn admin_body<T: serde::de::DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<T, ProxyError> {
        self.check_admin(headers)?;
        let bytes = read_limited(body, None, MAX_ADMIN_BYTES).await?;
        parse_json(&bytes)
    }

    /// `POST /admin/cache/purge` with `{"workflow"|"prefix"|"all", "actor"}`.
    pub(crate) async fn admin_purge(&self, headers: HeaderMap, body: Body) -> Response {
        let r = async {
            let b: PurgeBody = self.admin_body(&headers, body).await?;
            let cache = self
                .parts
                .cache
                .as_ref()
                .ok_or_else(|| bad("cache", "the cache is off"))?;
            let (target, wf) = match (b.workflow, b.prefix, b.all) {
                (Some(w), None, false) => (
                    PurgeTarget::Workflow(WorkflowId(w.clone())),
                    Some(WorkflowId(w)),
                ),
                (None, Some(p), false) => (PurgeTarget::KeyPrefix(p), None),
                (None, None, true) => (PurgeTarget::All, None),
                _ => {
                    return Err(bad(
                        "workflow",
                        "give exactly one of workflow, prefix or all",
                    ));
                }
            };
            let report = cache.purge(&target).await;
            let mut rec = AdminRecord::new(AdminAction::CachePurge, b.actor);
            rec.workflow = wf;
            rec.detail = format!(
                "{target:?}: {} in memory, {} in redis",
                report.memory, report.redis
            );
            self.append_record(RecordBody::Admin(rec)).await;
            Ok(axum::Json(json!({"purged_memory": report.memory, "purged_redis": report.redis, "redis_incomplete": report.redis_incomplete})).into_response())
        };
        r.await.unwrap_or_else(IntoResponse::into_response)
    }

    /// `GET /admin/cache/stats`.
    pub(crate) async fn admin_cache_stats(&self, headers: HeaderMap) -> Response {
        if let Err(e) = self.check_admin(&headers) {
            return e.into_response();
        }
        match &self.parts.cache {
            Some(c) => axum::Json(c.stats()).into_response(),
            None => axum::Json(json!({"mode": "off"})).into_response(),
        }
    }

    /// `POST /admin/workflows/{name}/kill-switch` with `{"mode": "stop"|"pin"|"off", "model", "actor"}`.
    pub(crate) async fn admin_kill_switch(
        &self,
        workflow: String,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        let r = async {
            let b: KillBody = self.admin_body(&headers, body).await?;
            let now = chrono::Utc::now();
            let switch = match b.mode.as_str() {
                "stop" => Some(KillSwitch {
                    mode: KillSwitchMode::Stop,
                    model: None,
                    set_by: b.actor.clone(),
                    set_at: now,
                }),
                "pin" => {
                    let m = b
                        .model
                        .clone()
                        .ok_or_else(|| bad("model", "mode pin needs a model"))?;
                    if self.parts.config.snapshot().model(&m).is_none() {
                        return Err(ProxyError::ModelNotFound { model: m });
                    }
                    Some(KillSwitch {
                        mode: KillSwitchMode::Pin,
                        model: Some(ModelId(m)),
                        set_by: b.actor.clone(),
                        set_at: now,
                    })
                }
                "off" => None,
                _ => return Err(bad("mode", "mode must be stop, pin or off")),
            };
            let action = if switch.is_some() {
                AdminAction::KillSwitchOn
            } else {
                AdminAction::KillSwitchOff
            };
            self.parts.kill_switches.set(&workflow, switch);
            let mut rec = AdminRecord::new(action, b.actor);
            rec.workflow = Some(WorkflowId(workflow.clone()));
            rec.detail = format!("mode={} model={}", b.mode, b.model.unwrap_or_default());
            self.append_record(RecordBody::Admin(rec)).await;
            Ok(
                axum::Json(json!({"workflow": workflow, "mode": b.mode, "set_at": now}))
                    .into_response(),
            )
        };
        r.await.unwrap_or_else(IntoResponse::into_response)
    }
}
