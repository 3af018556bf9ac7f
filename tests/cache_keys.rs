//! Property tests of cache keys through the public decision API: stable under JSON key
//! reordering and whitespace, sensitive to every field that can change the answer, blind to
//! fields that cannot (stream flags, metadata, request ids).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use proptest::prelude::*;
use purser::api::ChatRequest;
use purser::cache::{CacheDecision, CacheKey, ClientCacheDirective, KeyContext, Policy, Settings};
use purser::types::{ModelId, WorkflowId};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

struct Ctx {
    workflow: String,
    model: String,
    compression: String,
    routing: String,
}

fn base_ctx() -> Ctx {
    Ctx {
        workflow: "wf".into(),
        model: "gpt-4o-mini".into(),
        compression: "c1".into(),
        routing: "r1".into(),
    }
}

fn key_with(body: &Value, ctx: &Ctx) -> CacheKey {
    let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
    let (wf, model) = (
        WorkflowId(ctx.workflow.clone()),
        ModelId::new(ctx.model.clone()),
    );
    let kc = KeyContext {
        workflow: &wf,
        model: &model,
        compression_version: &ctx.compression,
        routing_version: &ctx.routing,
    };
    let policy = Policy::try_new(Settings::default()).unwrap();
    match policy.lookup_decision(&req, &kc, ClientCacheDirective::Default) {
        CacheDecision::Use(k) => k,
        other => panic!("expected Use for {body}, got {other:?}"),
    }
}

fn key(body: &Value) -> CacheKey {
    key_with(body, &base_ctx())
}

/// Rebuilds every object with its entries in a random order.
fn shuffle(v: &Value, rng: &mut SmallRng) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m
                .iter()
                .map(|(k, v)| (k.clone(), shuffle(v, rng)))
                .collect();
            entries.shuffle(rng);
            Value::Object(entries.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| shuffle(x, rng)).collect()),
        other => other.clone(),
    }
}

fn message() -> impl Strategy<Value = Value> {
    (prop_oneof!["system", "user", "assistant"], "[a-z ?]{0,40}", any::<bool>()).prop_map(
        |(role, text, parts)| {
            if parts {
                json!({"role": role, "content": [{"type":"text","text": text}, {"type":"text","text":"!"}]})
            } else {
                json!({"role": role, "content": text})
            }
        },
    )
}

/// A deterministic request with a random mix of optional fields.
fn request() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(message(), 1..5),
        prop::option::of(0u32..3),
        prop::option::of(1u64..4000),
        prop::option::of(-1.0f64..1.0),
        any::<bool>(),
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(messages, n, max_tokens, presence, with_tools, user)| {
            let mut body = json!({"model":"auto","temperature":0,"seed":3,"messages":messages});
            let o = body.as_object_mut().unwrap();
            if let Some(n) = n {
                o.insert("n".into(), json!(n + 1));
            }
            if let Some(m) = max_tokens {
                o.insert("max_tokens".into(), json!(m));
            }
            if let Some(p) = presence {
                o.insert("presence_penalty".into(), json!(p));
            }
            if with_tools {
                o.insert("tools".into(), json!([{"type":"function","function":{"name":"f",
                    "description":"d","parameters":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}},"required":["a"]}}}]));
                o.insert("tool_choice".into(), json!("auto"));
            }
            if let Some(u) = user {
                o.insert("user".into(), json!(u));
            }
            body
        })
}

type Mutation = (&'static str, fn(&mut Map<String, Value>));

/// Every field that can change the answer, with a mutation of it.
fn mutations() -> Vec<Mutation> {
    vec![
        ("messages.content", |o| {
            o["messages"][0]["content"] = json!("something else entirely");
        }),
        ("messages.role", |o| {
            let r = o["messages"][0]["role"].as_str().unwrap_or("") == "user";
            o["messages"][0]["role"] = json!(if r { "system" } else { "user" });
        }),
        ("messages.name", |o| {
            o["messages"][0]["name"] = json!("alice");
        }),
        ("messages.extra", |o| {
            o["messages"][0]["cache_control"] = json!({"type":"ephemeral"});
        }),
        ("messages.appended", |o| {
            o["messages"]
                .as_array_mut()
                .unwrap()
                .push(json!({"role":"user","content":"and?"}));
        }),
        ("tools", |o| {
            o.insert(
                "tools".into(),
                json!([{"type":"function","function":{"name":"g","parameters":{}}}]),
            );
        }),
        ("tool_choice", |o| {
            o.insert("tool_choice".into(), json!("required"));
        }),
        ("parallel_tool_calls", |o| {
            o.insert("parallel_tool_calls".into(), json!(false));
        }),
        ("response_format", |o| {
            o.insert("response_format".into(), json!({"type":"json_object"}));
        }),
        ("temperature", |o| {
            o.insert("temperature".into(), json!(0.3));
        }),
        ("top_p", |o| {
            o.insert("top_p".into(), json!(0.5));
        }),
        ("n", |o| {
            o.insert("n".into(), json!(9));
        }),
        ("stop", |o| {
            o.insert("stop".into(), json!(["END"]));
        }),
        ("seed", |o| {
            o.insert("seed".into(), json!(4));
        }),
        ("logprobs", |o| {
            o.insert("logprobs".into(), json!(true));
        }),
        ("top_logprobs", |o| {
            o.insert("top_logprobs".into(), json!(5));
        }),
        ("max_tokens", |o| {
            o.insert("max_tokens".into(), json!(4242));
        }),
        ("max_completion_tokens", |o| {
            o.insert("max_completion_tokens".into(), json!(4243));
        }),
        ("presence_penalty", |o| {
            o.insert("presence_penalty".into(), json!(1.5));
        }),
        ("frequency_penalty", |o| {
            o.insert("frequency_penalty".into(), json!(0.25));
        }),
        ("logit_bias", |o| {
            o.insert("logit_bias".into(), json!({"1234": -100}));
        }),
        ("reasoning_effort", |o| {
            o.insert("reasoning_effort".into(), json!("high"));
        }),
        ("user", |o| {
            o.insert("user".into(), json!("someone-else"));
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn key_is_stable_under_key_order_and_whitespace(body in request(), seed in any::<u64>()) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let shuffled = shuffle(&body, &mut rng);
        let pretty: Value = serde_json::from_str(&serde_json::to_string_pretty(&shuffled).unwrap()).unwrap();
        prop_assert_eq!(key(&body), key(&pretty));
    }

    #[test]
    fn key_changes_with_every_relevant_field(body in request()) {
        let k = key(&body);
        for (name, mutate) in mutations() {
            let mut changed = body.clone();
            mutate(changed.as_object_mut().unwrap());
            if changed == body {
                continue;
            }
            prop_assert_ne!(&k, &key(&changed), "mutating {} kept the key", name);
        }
    }

    #[test]
    fn key_changes_with_routing_and_scope_context(body in request()) {
        let k = key(&body);
        let edits: [fn(&mut Ctx); 4] = [
            |c| c.workflow = "other".into(),
            |c| c.model = "gpt-4o".into(),
            |c| c.compression = "c2".into(),
            |c| c.routing = "r2".into(),
        ];
        for edit in edits {
            let mut ctx = base_ctx();
            edit(&mut ctx);
            prop_assert_ne!(&k, &key_with(&body, &ctx));
        }
    }

    #[test]
    fn key_ignores_transport_and_bookkeeping_fields(body in request(), id in "[a-z0-9]{8}") {
        let k = key(&body);
        let mut noisy = body.clone();
        let o = noisy.as_object_mut().unwrap();
        o.insert("stream".into(), json!(true));
        o.insert("stream_options".into(), json!({"include_usage": true}));
        o.insert("metadata".into(), json!({"request_id": id, "ts": 1_700_000_000}));
        o.insert("request_id".into(), json!(id));
        o.insert("model".into(), json!("some-route-alias"));
        prop_assert_eq!(k, key(&noisy));
    }
}

#[test]
fn equivalent_spellings_share_a_key() {
    let a = json!({"model":"m","temperature":0,"stop":"END","max_tokens":10,"presence_penalty":0,
        "messages":[{"role":"user","content":"hi"}]});
    let b = json!({"model":"m","temperature":0.0,"stop":["END"],"max_completion_tokens":10,"presence_penalty":0.0,
        "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]});
    assert_eq!(key(&a), key(&b));
}

#[test]
fn raw_json_with_reordered_keys_hits_the_same_key() {
    let a = r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}}}}"#;
    let b = r#"{
      "response_format": {"json_schema": {"schema": {"properties": {"b": {"type": "number"}, "a": {"type": "string"}}, "type": "object"}, "name": "x"}, "type": "json_schema"},
      "messages": [ {"content": "hi", "role": "user"} ],
      "temperature": 0, "model": "m"
    }"#;
    let (a, b): (Value, Value) = (
        serde_json::from_str(a).unwrap(),
        serde_json::from_str(b).unwrap(),
    );
    assert_eq!(key(&a), key(&b));
}
