//! Unit tests: every bypass and skip reason, directive parsing, settings, key canonical form.

use std::time::Duration;

use serde_json::{Value, json};

use super::key::canonical_json;
use super::*;
use crate::api::{ChatCompletion, ChatRequest};
use crate::types::{ModelId, WorkflowId};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn det_req() -> ChatRequest {
    req(
        json!({"model":"auto","temperature":0,"messages":[{"role":"user","content":"What is 2+2?"}]}),
    )
}

fn completion(content: &str, finish: Option<&str>) -> ChatCompletion {
    serde_json::from_value(json!({"id":"c1","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"message":{"role":"assistant","content":content},"finish_reason":finish}]}))
    .unwrap()
}

struct Ctx {
    wf: WorkflowId,
    model: ModelId,
}

impl Ctx {
    fn new(wf: &str) -> Self {
        Ctx {
            wf: WorkflowId(wf.to_owned()),
            model: ModelId::new("gpt-4o-mini"),
        }
    }
    fn key_ctx(&self) -> KeyContext<'_> {
        KeyContext {
            workflow: &self.wf,
            model: &self.model,
            compression_version: "c1",
            routing_version: "r1",
        }
    }
}

fn policy() -> Policy {
    Policy::try_new(Settings::default()).unwrap()
}

fn key_of(p: &Policy, r: &ChatRequest) -> CacheKey {
    let c = Ctx::new("wf");
    match p.lookup_decision(r, &c.key_ctx(), ClientCacheDirective::Default) {
        CacheDecision::Use(k) => k,
        other => panic!("expected Use, got {other:?}"),
    }
}

fn bypass(p: &Policy, r: &ChatRequest, d: ClientCacheDirective) -> Option<BypassReason> {
    match p.lookup_decision(r, &Ctx::new("wf").key_ctx(), d) {
        CacheDecision::Bypass(reason) => Some(reason),
        _ => None,
    }
}

#[test]
fn deterministic_request_is_looked_up() {
    let p = policy();
    let r = det_req();
    assert!(bypass(&p, &r, ClientCacheDirective::Default).is_none());
    let seeded = req(
        json!({"model":"m","temperature":1,"seed":7,"messages":[{"role":"user","content":"hi"}]}),
    );
    assert!(bypass(&p, &seeded, ClientCacheDirective::Default).is_none());
}

#[test]
fn sampled_request_bypasses_with_reason_sampled() {
    let p = policy();
    for r in [
        req(json!({"model":"m","messages":[{"role":"user","content":"hi"}]})),
        req(json!({"model":"m","temperature":0.7,"messages":[{"role":"user","content":"hi"}]})),
    ] {
        assert_eq!(
            bypass(&p, &r, ClientCacheDirective::Default),
            Some(BypassReason::Sampled)
        );
    }
    assert_eq!(BypassReason::Sampled.as_str(), "sampled");
}

#[test]
fn pii_in_request_bypasses() {
    let p = policy();
    for text in [
        "mail me at a.b@example.com",
        "card 4111 1111 1111 1111",
        "key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
    ] {
        let r = req(json!({"model":"m","temperature":0,"messages":[
            {"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":text}]}]}));
        assert_eq!(
            bypass(&p, &r, ClientCacheDirective::Default),
            Some(BypassReason::PiiInRequest),
            "{text}"
        );
    }
    let in_tool_args = req(json!({"model":"m","temperature":0,"messages":[
        {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",
          "function":{"name":"lookup","arguments":"{\"email\":\"x@corp.example\"}"}}]},
        {"role":"tool","tool_call_id":"c","content":"ok"}]}));
    assert_eq!(
        bypass(&p, &in_tool_args, ClientCacheDirective::Default),
        Some(BypassReason::PiiInRequest)
    );
    assert_eq!(BypassReason::PiiInRequest.as_str(), "pii_in_request");
}

#[test]
fn client_directives_bypass_or_refresh() {
    let p = policy();
    let r = det_req();
    assert_eq!(
        bypass(&p, &r, ClientCacheDirective::NoStore),
        Some(BypassReason::ClientNoStore)
    );
    assert_eq!(
        bypass(&p, &r, ClientCacheDirective::Bypass),
        Some(BypassReason::ClientBypass)
    );
    let d = p.lookup_decision(&r, &Ctx::new("wf").key_ctx(), ClientCacheDirective::NoCache);
    assert!(matches!(d, CacheDecision::Refresh(_)));
    assert!(d.lookup_key().is_none());
    assert_eq!(d.store_key(), Some(&key_of(&p, &r)));
    assert_eq!(d.as_str(), "client_no_cache");
    assert_eq!(BypassReason::ClientNoStore.as_str(), "client_no_store");
}

#[test]
fn directive_parsing_picks_the_strongest() {
    use ClientCacheDirective as D;
    assert_eq!(D::from_headers(None, None), D::Default);
    assert_eq!(D::from_headers(Some("max-age=60"), None), D::Default);
    assert_eq!(D::from_headers(Some("No-Store"), None), D::NoStore);
    assert_eq!(D::from_headers(Some("private, no-cache"), None), D::NoCache);
    assert_eq!(D::from_headers(Some("max-age=0"), None), D::NoCache);
    assert_eq!(
        D::from_headers(Some("no-cache, no-store"), None),
        D::NoStore
    );
    assert_eq!(
        D::from_headers(Some("no-cache"), Some(" BYPASS ")),
        D::Bypass
    );
    assert_eq!(D::from_headers(None, Some("other")), D::Default);
}

#[test]
fn disabled_mode_or_workflow_bypasses() {
    let off = Policy::try_new(Settings {
        mode: Mode::Off,
        ..Settings::default()
    })
    .unwrap();
    assert_eq!(
        bypass(&off, &det_req(), ClientCacheDirective::Default),
        Some(BypassReason::Disabled)
    );
    let mut s = Settings::default();
    s.workflows.insert(
        WorkflowId("wf".into()),
        WorkflowCachePolicy {
            enabled: false,
            ..WorkflowCachePolicy::default()
        },
    );
    let p = Policy::try_new(s).unwrap();
    assert_eq!(
        bypass(&p, &det_req(), ClientCacheDirective::Default),
        Some(BypassReason::Disabled)
    );
    let key = key_of(&policy(), &det_req());
    let c = completion("4", Some("stop"));
    assert_eq!(
        p.store_decision(&key, Answer::Complete(&c)),
        StoreDecision::Skip(SkipReason::Disabled)
    );
}

fn skip_of(p: &Policy, c: Answer<'_>) -> Option<SkipReason> {
    match p.store_decision(&key_of(p, &det_req()), c) {
        StoreDecision::Skip(r) => Some(r),
        StoreDecision::Store { .. } => None,
    }
}

#[test]
fn complete_answer_is_stored_with_workflow_ttl() {
    let mut s = Settings::default();
    s.workflows.insert(
        WorkflowId("wf".into()),
        WorkflowCachePolicy {
            ttl: Some(HumanDuration(Duration::from_secs(90))),
            ..WorkflowCachePolicy::default()
        },
    );
    let p = Policy::try_new(s).unwrap();
    let c = completion("4", Some("stop"));
    assert_eq!(
        p.store_decision(&key_of(&p, &det_req()), Answer::Complete(&c)),
        StoreDecision::Store {
            ttl: Duration::from_secs(90)
        }
    );
    let other = Ctx::new("other");
    let CacheDecision::Use(k) =
        p.lookup_decision(&det_req(), &other.key_ctx(), ClientCacheDirective::Default)
    else {
        panic!()
    };
    assert_eq!(
        p.store_decision(&k, Answer::Complete(&c)),
        StoreDecision::Store {
            ttl: Duration::from_secs(3600)
        }
    );
}

#[test]
fn error_and_cut_answers_are_skipped() {
    let p = policy();
    assert_eq!(skip_of(&p, Answer::Error), Some(SkipReason::Error));
    assert_eq!(skip_of(&p, Answer::StreamCut), Some(SkipReason::StreamCut));
    let mut empty = completion("x", Some("stop"));
    empty.choices.clear();
    assert_eq!(
        skip_of(&p, Answer::Complete(&empty)),
        Some(SkipReason::Error)
    );
    assert_eq!(SkipReason::StreamCut.as_str(), "stream_cut");
}

#[test]
fn truncated_and_filtered_answers_are_skipped() {
    let p = policy();
    let len = completion("partial", Some("length"));
    assert_eq!(
        skip_of(&p, Answer::Complete(&len)),
        Some(SkipReason::Truncated)
    );
    let none = completion("partial", None);
    assert_eq!(
        skip_of(&p, Answer::Complete(&none)),
        Some(SkipReason::Truncated)
    );
    let filtered = completion("", Some("content_filter"));
    assert_eq!(
        skip_of(&p, Answer::Complete(&filtered)),
        Some(SkipReason::ContentFilter)
    );
    assert_eq!(SkipReason::Truncated.as_str(), "truncated");
}

fn tool_answer() -> ChatCompletion {
    serde_json::from_value(json!({"id":"c1","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
        "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}))
    .unwrap()
}

#[test]
fn tool_call_answers_need_the_workflow_to_allow_them() {
    let p = policy();
    let t = tool_answer();
    assert_eq!(
        skip_of(&p, Answer::Complete(&t)),
        Some(SkipReason::ToolCalls)
    );
    let mut s = Settings::default();
    s.workflows.insert(
        WorkflowId("wf".into()),
        WorkflowCachePolicy {
            allow_tool_calls: true,
            ..WorkflowCachePolicy::default()
        },
    );
    let allowing = Policy::try_new(s).unwrap();
    assert_eq!(skip_of(&allowing, Answer::Complete(&t)), None);
    assert_eq!(SkipReason::ToolCalls.as_str(), "tool_calls");
}

#[test]
fn pii_in_answer_is_skipped() {
    let p = policy();
    let c = completion(
        "Sure, write to help@vendor.example or call +1 415 555 2671",
        Some("stop"),
    );
    assert_eq!(
        skip_of(&p, Answer::Complete(&c)),
        Some(SkipReason::PiiInAnswer)
    );
    assert_eq!(SkipReason::PiiInAnswer.as_str(), "pii_in_answer");
}

#[test]
fn settings_parse_from_toml_with_defaults() {
    let s: Settings = toml::from_str(
        r#"
        mode = "redis"
        max_bytes = "64MiB"
        default_ttl = "30m"
        redis_url = "redis://:secret@127.0.0.1:6379/0"
        redis_timeout = "20ms"
        [workflows.support]
        ttl = "10m"
        scope = "workflow"
        [workflows.agent]
        allow_tool_calls = true
        "#,
    )
    .unwrap();
    s.validate().unwrap();
    assert_eq!(s.max_bytes, ByteSize(64 << 20));
    assert_eq!(s.redis_timeout.0, Duration::from_millis(20));
    assert_eq!(s.redis_prefix, "purser");
    let support = s.policy_for(&WorkflowId("support".into()));
    assert!(support.enabled);
    assert_eq!(support.scope, Scope::Workflow);
    assert_eq!(
        s.ttl_for(&WorkflowId("support".into())),
        Duration::from_secs(600)
    );
    assert_eq!(
        s.ttl_for(&WorkflowId("agent".into())),
        Duration::from_secs(1800)
    );
    assert!(!format!("{s:?}").contains("secret"));
    let back = toml::to_string(&s).unwrap();
    assert_eq!(toml::from_str::<Settings>(&back).unwrap(), s);
}

#[test]
fn settings_reject_unknown_fields_and_bad_values() {
    assert!(toml::from_str::<Settings>("mode = \"memory\"\nbogus = 1").is_err());
    assert!(toml::from_str::<Settings>("max_bytes = \"12 parsecs\"").is_err());
    assert!(toml::from_str::<Settings>("default_ttl = \"soon\"").is_err());
    assert!(toml::from_str::<Settings>("[workflows.a]\nscope = \"world\"").is_err());
    let redis_without_url: Settings = toml::from_str("mode = \"redis\"").unwrap();
    assert!(matches!(
        redis_without_url.validate(),
        Err(Error::MissingRedisUrl)
    ));
    let bad_prefix = Settings {
        redis_prefix: "a:b".into(),
        ..Settings::default()
    };
    assert!(matches!(
        bad_prefix.validate(),
        Err(Error::InvalidSetting {
            field: "redis_prefix",
            ..
        })
    ));
}

#[test]
fn units_parse_and_print_round_trip() {
    assert_eq!(ByteSize::parse("256MiB"), Some(ByteSize(256 << 20)));
    assert_eq!(ByteSize::parse("1kb"), Some(ByteSize(1000)));
    assert_eq!(ByteSize::parse("4096"), Some(ByteSize(4096)));
    assert_eq!(ByteSize::parse("99999999999GiB"), None);
    assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
    assert_eq!(
        HumanDuration::parse("50ms").map(|d| d.0),
        Some(Duration::from_millis(50))
    );
    assert_eq!(
        HumanDuration::parse("2h").map(|d| d.to_string()).as_deref(),
        Some("2h")
    );
    assert_eq!(
        HumanDuration(Duration::from_millis(1500)).to_string(),
        "1500ms"
    );
    assert_eq!(HumanDuration::parse("10"), None);
}

#[test]
fn redis_url_display_hides_password() {
    let u = RedisUrl::new("redis://user:hunter2@cache.internal:6379/1");
    assert_eq!(u.to_string(), "redis://***@cache.internal:6379/1");
    assert!(!format!("{u:?}").contains("hunter2"));
    assert_eq!(u.expose(), "redis://user:hunter2@cache.internal:6379/1");
}

#[test]
fn canonical_json_sorts_keys_at_every_depth() {
    let a = json!({"b":1,"a":{"d":[{"y":1.0,"x":null}],"c":true}});
    assert_eq!(
        canonical_json(&a),
        r#"{"a":{"c":true,"d":[{"x":null,"y":1}]},"b":1}"#
    );
    assert_eq!(canonical_json(&json!(0.5)), "0.5");
    assert_eq!(canonical_json(&json!("q\"\n")), r#""q\"\u000a""#);
}

#[test]
fn workflows_never_share_keys() {
    let p = policy();
    let (a, b) = (Ctx::new("a"), Ctx::new("b"));
    let ka = p.lookup_decision(&det_req(), &a.key_ctx(), ClientCacheDirective::Default);
    let kb = p.lookup_decision(&det_req(), &b.key_ctx(), ClientCacheDirective::Default);
    let (ka, kb) = (
        ka.lookup_key().unwrap().clone(),
        kb.lookup_key().unwrap().clone(),
    );
    assert_ne!(ka, kb);
    assert_ne!(ka.hash_hex(), kb.hash_hex());
    assert_eq!(ka.workflow().as_str(), "a");
}

#[test]
fn user_scope_splits_by_user_unless_workflow_scoped() {
    let p = policy();
    let alice = req(
        json!({"model":"m","temperature":0,"user":"alice","messages":[{"role":"user","content":"hi"}]}),
    );
    let bob = req(
        json!({"model":"m","temperature":0,"user":"bob","messages":[{"role":"user","content":"hi"}]}),
    );
    assert_ne!(key_of(&p, &alice), key_of(&p, &bob));
    let mut s = Settings::default();
    s.workflows.insert(
        WorkflowId("wf".into()),
        WorkflowCachePolicy {
            scope: Scope::Workflow,
            ..WorkflowCachePolicy::default()
        },
    );
    let shared = Policy::try_new(s).unwrap();
    assert_eq!(key_of(&shared, &alice), key_of(&shared, &bob));
}

#[test]
fn embeddings_and_content_keys_are_canonical_and_namespaced() {
    let wf = WorkflowId("wf".into());
    let a = json!({"model":"text-embedding-3-small","input":["a","b"],"user":"u1"});
    let b = serde_json::from_str::<Value>(
        r#"{ "input" : ["a","b"], "model":"text-embedding-3-small", "user":"u2" }"#,
    )
    .unwrap();
    assert_eq!(
        CacheKey::for_embeddings(&wf, &a),
        CacheKey::for_embeddings(&wf, &b)
    );
    let c = json!({"model":"text-embedding-3-small","input":["a","c"]});
    assert_ne!(
        CacheKey::for_embeddings(&wf, &a),
        CacheKey::for_embeddings(&wf, &c)
    );
    let s1 = CacheKey::for_content(&wf, Namespace::Summaries, &[b"ab", b"c"]);
    let s2 = CacheKey::for_content(&wf, Namespace::Summaries, &[b"a", b"bc"]);
    let r1 = CacheKey::for_content(&wf, Namespace::Retrieval, &[b"ab", b"c"]);
    assert_ne!(s1, s2);
    assert_ne!(s1, r1);
    assert!(s1.to_string().starts_with("wf:sum:"));
}

#[test]
fn embeddings_decision_applies_directives_and_pii() {
    let p = policy();
    let wf = WorkflowId("wf".into());
    let body = json!({"model":"text-embedding-3-small","input":["hello","world"]});
    let d = p.embeddings_decision(&wf, &body, ClientCacheDirective::Default);
    assert_eq!(d.lookup_key(), Some(&CacheKey::for_embeddings(&wf, &body)));
    let pii_body = json!({"model":"text-embedding-3-small","input":["hello","mail x@y.org"]});
    assert_eq!(
        p.embeddings_decision(&wf, &pii_body, ClientCacheDirective::Default),
        CacheDecision::Bypass(BypassReason::PiiInRequest)
    );
    assert_eq!(
        p.embeddings_decision(&wf, &body, ClientCacheDirective::NoStore),
        CacheDecision::Bypass(BypassReason::ClientNoStore)
    );
}

#[test]
fn provider_bytes_are_spliced_into_the_entry_and_read_back_equal() {
    use crate::types::MicroUsd;
    let raw = br#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi \"there\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},"system_fingerprint":"fp"}"#;
    let mut c: ChatCompletion = serde_json::from_slice(raw).unwrap();
    let model = crate::types::ModelId::new("m");
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let parsed_only = super::encode_answer(&c, MicroUsd(42), &model, at).unwrap();
    c.raw = crate::api::RawBody(Some(bytes::Bytes::from_static(raw)));
    let spliced = super::encode_answer(&c, MicroUsd(42), &model, at).unwrap();
    // The provider's bytes are carried verbatim ...
    assert!(
        spliced.windows(raw.len()).any(|w| w == raw.as_slice()),
        "{}",
        String::from_utf8_lossy(&spliced)
    );
    // ... and both encodings read back as the same answer.
    let a = super::entry::answer_from_json(&spliced).unwrap();
    let b = super::entry::answer_from_json(&parsed_only).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.cost, MicroUsd(42));
    assert_eq!(a.model, model);
    assert_eq!(a.stored_at, at);
    assert_eq!(a.completion.choices.len(), 1);
}
