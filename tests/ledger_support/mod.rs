//! Shared helpers for the ledger integration tests: sample bodies, proptest strategies, a
//! ledger in a temp dir.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use purser::ledger::{
    AdminAction, AdminRecord, AlertRecord, AttemptOutcome, AttemptRecord, BudgetInfo, CacheInfo,
    CacheStatus, CompressionInfo, FsyncPolicy, Ledger, LedgerHandle, LedgerTask, OutcomeSource,
    RecordBody, RequestOutcome, RequestRecord, RoutingDecision, Settings, StoreBodies,
    TaskOutcomeRecord, TaskStatus, TokenCounts, UsageSource,
};
use purser::types::{MicroUsd, ModelId, Tier, Tokens, WorkflowId};
use serde_json::{Value, json};

/// A ledger opened in a fresh temp dir (kept alive by the returned guard).
pub struct TempLedger {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempLedger {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        Self { dir, path }
    }

    pub fn settings(&self, fsync: FsyncPolicy) -> Settings {
        Settings {
            fsync,
            store_bodies: StoreBodies::Redacted,
            ..Settings::default()
        }
    }

    pub fn open(&self, fsync: FsyncPolicy) -> (LedgerHandle, LedgerTask) {
        Ledger::open(&self.settings(fsync), self.dir.path()).unwrap()
    }

    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn write_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&self.path, text).unwrap();
    }
}

/// A request body whose cost encodes `i`, so records are distinguishable.
pub fn sample_request(i: u64) -> RecordBody {
    RecordBody::Request(RequestRecord {
        status: 200,
        model: Some(ModelId::new("gpt-4o-mini")),
        provider: Some("openai".into()),
        tokens: TokenCounts {
            input: Tokens(100 + i),
            output: Tokens(20),
            cached_input: Tokens(0),
        },
        usage_source: UsageSource::Provider,
        cost_micros: MicroUsd(1000 + i as i64),
        latency_ms: 12.25,
        attempts: 1,
        prompt_hash: format!("{i:064x}"),
        ..RequestRecord::new(
            format!("req-{i}"),
            WorkflowId("support".into()),
            ModelId::new("auto"),
        )
    })
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _é\"\\\\\n\t/-]{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), -1e9..1e9f64, Just(1e-7)]
}

fn micros() -> impl Strategy<Value = MicroUsd> {
    any::<i64>().prop_map(MicroUsd)
}

fn tokens() -> impl Strategy<Value = TokenCounts> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| TokenCounts {
        input: Tokens(a),
        output: Tokens(b),
        cached_input: Tokens(c),
    })
}

fn usage_source() -> impl Strategy<Value = UsageSource> {
    prop_oneof![
        Just(UsageSource::Provider),
        Just(UsageSource::Tiktoken),
        Just(UsageSource::None)
    ]
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    // Years 1970..2200 at microsecond precision (the stored precision).
    (0i64..7_258_118_400_000_000).prop_map(|us| Utc.timestamp_micros(us).unwrap())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        float().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn decision() -> impl Strategy<Value = RoutingDecision> {
    (any::<u8>(), text(), proptest::option::of(float()), text()).prop_map(
        |(tier, reason, score, classifier_version)| RoutingDecision {
            tier: Tier(tier),
            reason,
            score,
            classifier_version,
        },
    )
}

fn outcome() -> impl Strategy<Value = RequestOutcome> {
    prop_oneof![
        Just(RequestOutcome::Ok),
        Just(RequestOutcome::CacheHit),
        Just(RequestOutcome::UpstreamError),
        Just(RequestOutcome::ClientError),
        Just(RequestOutcome::BudgetDenied),
        Just(RequestOutcome::Cancelled),
    ]
}

fn extras() -> impl Strategy<
    Value = (
        Option<CacheInfo>,
        Option<CompressionInfo>,
        Option<BudgetInfo>,
    ),
> {
    let cache = proptest::option::of(
        (
            prop_oneof![
                Just(CacheStatus::Hit),
                Just(CacheStatus::Miss),
                Just(CacheStatus::Bypass)
            ],
            opt_text(),
        )
            .prop_map(|(status, reason)| CacheInfo { status, reason }),
    );
    let compression = proptest::option::of((any::<u64>(), any::<u64>(), micros()).prop_map(
        |(b, a, s)| CompressionInfo {
            tokens_before: Tokens(b),
            tokens_after: Tokens(a),
            saved_micros: s,
        },
    ));
    let budget = proptest::option::of((micros(), micros()).prop_map(|(r, s)| BudgetInfo {
        reserved_micros: r,
        settled_micros: s,
    }));
    (cache, compression, budget)
}

prop_compose! {
    fn request()(
        ids in (text(), text(), opt_text(), opt_text(), opt_text(), text()),
        decision in decision(),
        answer in (opt_text(), opt_text(), any::<u16>(), outcome(), opt_text()),
        money in (tokens(), usage_source(), micros(), proptest::option::of(micros()), proptest::option::of(micros())),
        timing in (float(), proptest::option::of(float()), any::<u32>(), proptest::collection::vec(text(), 0..3)),
        extras in extras(),
        tail in (text(), proptest::option::of(json_value().prop_filter("null body reads back as absent", |v| !v.is_null())), any::<bool>(), any::<bool>()),
    ) -> RequestRecord {
        RequestRecord {
            request_id: ids.0,
            workflow: WorkflowId(ids.1),
            task_id: ids.2,
            step: ids.3,
            route: ids.4,
            requested_model: ModelId(ids.5),
            decision,
            model: answer.0.map(ModelId),
            provider: answer.1,
            status: answer.2,
            outcome: answer.3,
            error_kind: answer.4,
            tokens: money.0,
            usage_source: money.1,
            cost_micros: money.2,
            would_have_cost_micros: money.3,
            baseline_cost_micros: money.4,
            latency_ms: timing.0,
            upstream_ms: timing.1,
            attempts: timing.2,
            escalations: timing.3,
            cache: extras.0,
            compression: extras.1,
            budget: extras.2,
            prompt_hash: tail.0,
            body: tail.1,
            stream: tail.2,
            client_disconnected: tail.3,
        }
    }
}

prop_compose! {
    fn attempt()(
        ids in (text(), any::<u32>(), text(), text(), timestamp()),
        result in (float(), prop_oneof![Just(AttemptOutcome::Ok), Just(AttemptOutcome::Failed), Just(AttemptOutcome::Cancelled)], opt_text(), proptest::option::of(any::<u16>())),
        money in (tokens(), micros(), usage_source(), opt_text()),
    ) -> AttemptRecord {
        AttemptRecord {
            request_id: ids.0,
            attempt_no: ids.1,
            provider: ids.2,
            model: ModelId(ids.3),
            started: ids.4,
            latency_ms: result.0,
            outcome: result.1,
            failure_kind: result.2,
            http_status: result.3,
            tokens: money.0,
            cost_micros: money.1,
            usage_source: money.2,
            escalation_reason: money.3,
        }
    }
}

fn task_outcome() -> impl Strategy<Value = TaskOutcomeRecord> {
    let status = prop_oneof![
        Just(TaskStatus::Completed),
        Just(TaskStatus::Failed),
        Just(TaskStatus::Abandoned)
    ];
    let source = prop_oneof![
        Just(OutcomeSource::Client),
        Just(OutcomeSource::IdleTimeout)
    ];
    (
        text(),
        text(),
        status,
        proptest::option::of(float()),
        source,
    )
        .prop_map(|(w, task_id, status, quality, source)| TaskOutcomeRecord {
            workflow: WorkflowId(w),
            task_id,
            status,
            quality,
            source,
        })
}

fn alert() -> impl Strategy<Value = AlertRecord> {
    (
        text(),
        text(),
        float(),
        float(),
        text(),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(
            |(w, alert_kind, threshold, value, message, delivered_to)| AlertRecord {
                workflow: WorkflowId(w),
                alert_kind,
                threshold,
                value,
                message,
                delivered_to,
            },
        )
}

fn admin() -> impl Strategy<Value = AdminRecord> {
    let action = prop_oneof![
        Just(AdminAction::KillSwitchOn),
        Just(AdminAction::KillSwitchOff),
        Just(AdminAction::CachePurge),
        Just(AdminAction::ConfigReload),
    ];
    (action, proptest::option::of(text()), text(), text()).prop_map(
        |(action, workflow, actor, detail)| AdminRecord {
            action,
            workflow: workflow.map(WorkflowId),
            actor,
            detail,
        },
    )
}

/// Any record body.
pub fn record_body() -> impl Strategy<Value = RecordBody> {
    prop_oneof![
        request().prop_map(RecordBody::Request),
        attempt().prop_map(RecordBody::Attempt),
        task_outcome().prop_map(RecordBody::TaskOutcome),
        alert().prop_map(RecordBody::Alert),
        admin().prop_map(RecordBody::Admin),
    ]
}
