use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::StreamExt;

use super::*;
use crate::api::{ChatChunk, ResponseFormat};
use crate::tokenizer::Encoding;
use crate::upstream::ReplaySettings;

fn sim_with(models: Vec<SimulatedModel>, replay: Vec<ReplaySettings>) -> Simulated {
    Simulated::try_new(&SimulatedSettings {
        name: "sim".into(),
        models,
        replay,
        retry: Default::default(),
        circuit_breaker: Default::default(),
    })
    .unwrap()
}

fn sim() -> Simulated {
    sim_with(Vec::new(), Vec::new())
}

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn text_of(c: &ChatCompletion, i: usize) -> String {
    c.choices[i].message.text_content()
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_time",
            "description": "Local clock time in a timezone",
            "parameters": {"type": "object", "properties": {
                "tz": {"type": "string", "minLength": 3}}, "required": ["tz"]}}}
    ])
}

fn valid_against(schema: &Value, instance: &Value) -> bool {
    jsonschema::validator_for(schema)
        .unwrap()
        .is_valid(instance)
}

#[tokio::test]
async fn same_request_same_answer_and_seed_changes_it() {
    let s = sim();
    let r = req(ask("gpt-4o", "Describe the water cycle for a child"));
    let a = s.chat(&r).await.unwrap();
    let b = s.chat(&r).await.unwrap();
    assert_eq!(a.choices, b.choices);
    assert_eq!(a.usage, b.usage);
    let seeded = req(with(
        ask("gpt-4o", "Describe the water cycle for a child"),
        json!({"seed": 42}),
    ));
    assert_ne!(text_of(&s.chat(&seeded).await.unwrap(), 0), text_of(&a, 0));
}

#[tokio::test]
async fn usage_matches_the_tokenizer() {
    let s = sim();
    let r = req(ask("gpt-4o-mini", "Explain how a bicycle gear works"));
    let c = s.chat(&r).await.unwrap();
    let enc = Encoding::for_model("gpt-4o-mini");
    let u = c.usage.unwrap();
    assert_eq!(u.prompt_tokens, enc.count_request(&r).0);
    assert_eq!(u.completion_tokens, enc.count(&text_of(&c, 0)).0);
    assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert!(u.completion_tokens > 20, "sized near output_tokens");
}

#[tokio::test]
async fn max_tokens_cuts_a_prefix_with_finish_length() {
    let s = sim();
    let base = ask("gpt-4.1", "Tell me about volcanoes and tectonic plates");
    let full = s.chat(&req(base.clone())).await.unwrap();
    for cap in ["max_tokens", "max_completion_tokens"] {
        let capped = s
            .chat(&req(with(base.clone(), json!({cap: 10}))))
            .await
            .unwrap();
        assert_eq!(capped.choices[0].finish_reason.as_deref(), Some("length"));
        assert!(capped.usage.unwrap().completion_tokens <= 10);
        assert!(text_of(&full, 0).starts_with(&text_of(&capped, 0)));
        assert!(!text_of(&capped, 0).is_empty());
    }
}

#[tokio::test]
async fn stop_strings_end_the_answer_before_them() {
    let s = sim();
    let base = ask("gpt-4.1", "Tell me about volcanoes and tectonic plates");
    let full = text_of(&s.chat(&req(base.clone())).await.unwrap(), 0);
    let word: String = full.split(' ').nth(6).unwrap().to_owned();
    let stop = format!(" {word}");
    let c = s
        .chat(&req(with(
            base,
            json!({"stop": ["@@never@@", stop.clone()]}),
        )))
        .await
        .unwrap();
    let got = text_of(&c, 0);
    assert_eq!(got, full[..full.find(&stop).unwrap()]);
    assert_eq!(c.choices[0].finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn n_choices_are_distinct_and_the_first_equals_n1() {
    let s = sim();
    let base = ask("gpt-4o", "Name a good habit");
    let one = s.chat(&req(base.clone())).await.unwrap();
    let three = s.chat(&req(with(base, json!({"n": 3})))).await.unwrap();
    assert_eq!(three.choices.len(), 3);
    assert_eq!(three.choices[0].message, one.choices[0].message);
    assert_ne!(text_of(&three, 1), text_of(&three, 2));
    let enc = Encoding::for_model("gpt-4o");
    let sum: u64 = (0..3).map(|i| enc.count(&text_of(&three, i)).0).sum();
    assert_eq!(three.usage.unwrap().completion_tokens, sum);
}

#[tokio::test]
async fn forced_and_required_tool_choices_call_with_valid_arguments() {
    let s = sim();
    let tools = weather_tools();
    let forced = req(with(
        ask("gpt-4o-mini", "hello there"),
        json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
    ));
    let c = s.chat(&forced).await.unwrap();
    let calls = c.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_time");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert!(
        valid_against(&tools[1]["function"]["parameters"], &args),
        "{args}"
    );
    assert!(c.choices[0].message.content.is_none());

    let required = req(with(
        ask("gpt-4o-mini", "hello there"),
        json!({"tools": tools, "tool_choice": "required"}),
    ));
    let c = s.chat(&required).await.unwrap();
    assert_eq!(c.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        c.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .name,
        "get_weather"
    );
}

#[tokio::test]
async fn auto_calls_mentioned_tools_in_parallel_unless_disabled() {
    let s = sim();
    let tools = weather_tools();
    let both = "What is the weather in Oslo, and use get_time for Oslo too";
    let c = s
        .chat(&req(with(ask("gpt-4o", both), json!({"tools": tools}))))
        .await
        .unwrap();
    let calls = c.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.function.name.as_str())
            .collect::<Vec<_>>(),
        ["get_weather", "get_time"]
    );
    for (call, tool) in calls.iter().zip(tools.as_array().unwrap()) {
        let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
        assert!(valid_against(&tool["function"]["parameters"], &args));
    }
    let single = req(with(
        ask("gpt-4o", both),
        json!({"tools": tools, "parallel_tool_calls": false}),
    ));
    assert_eq!(
        s.chat(&single).await.unwrap().choices[0]
            .message
            .tool_calls
            .as_ref()
            .unwrap()
            .len(),
        1
    );

    let unrelated = req(with(
        ask("gpt-4o", "Write a haiku about autumn"),
        json!({"tools": tools}),
    ));
    let c = s.chat(&unrelated).await.unwrap();
    assert!(c.choices[0].message.tool_calls.is_none());
    assert!(!text_of(&c, 0).is_empty());

    let none = req(with(
        ask("gpt-4o", both),
        json!({"tools": tools, "tool_choice": "none"}),
    ));
    assert!(
        s.chat(&none).await.unwrap().choices[0]
            .message
            .tool_calls
            .is_none()
    );
}

#[tokio::test]
async fn a_tool_result_gets_a_text_answer() {
    let s = sim();
    let r = req(
        json!({"model": "gpt-4o", "tools": weather_tools(), "messages": [
            {"role": "user", "content": "weather in Oslo please, get_weather"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\",\"unit\":\"c\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"}
        ]}),
    );
    let c = s.chat(&r).await.unwrap();
    assert!(c.choices[0].message.tool_calls.is_none());
    assert!(!text_of(&c, 0).is_empty());
}

#[tokio::test]
async fn json_modes_return_valid_json() {
    let s = sim();
    let obj = req(with(
        ask("gpt-4o", "List facts about Mars"),
        json!({"response_format": {"type": "json_object"}}),
    ));
    let v: Value = serde_json::from_str(&text_of(&s.chat(&obj).await.unwrap(), 0)).unwrap();
    assert!(v.is_object());
    let schemas = [
        json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 130}}, "required": ["name", "age"], "additionalProperties": false}),
        json!({"type": "object", "properties": {"items": {"type": "array", "minItems": 2, "items": {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 8}, "qty": {"type": "integer", "minimum": 1}}, "required": ["sku", "qty"]}}}, "required": ["items"]}),
        json!({"type": "object", "$defs": {"p": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}, "properties": {"a": {"$ref": "#/$defs/p"}, "b": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}}, "required": ["a", "b"]}),
    ];
    for (i, schema) in schemas.iter().enumerate() {
        for prompt in ["one", "two", "three"] {
            let r = req(with(
                ask("gpt-4o-mini", prompt),
                json!({"response_format": {"type": "json_schema",
                "json_schema": {"name": format!("s{i}"), "strict": true, "schema": schema}}}),
            ));
            let out = text_of(&s.chat(&r).await.unwrap(), 0);
            let v: Value = serde_json::from_str(&out).unwrap();
            assert!(valid_against(schema, &v), "{out} vs {schema}");
        }
    }
    assert!(matches!(
        obj.response_format,
        Some(ResponseFormat::JsonObject)
    ));
}

fn mean_logprob(c: &ChatCompletion) -> f64 {
    let entries = c.choices[0].logprobs.as_ref().unwrap()["content"]
        .as_array()
        .unwrap()
        .clone();
    entries
        .iter()
        .map(|e| e["logprob"].as_f64().unwrap())
        .sum::<f64>()
        / entries.len() as f64
}

#[tokio::test]
async fn logprobs_are_shaped_and_lower_for_weaker_models() {
    let s = sim();
    let r = req(with(
        ask("gpt-4o", "Why is the sky blue"),
        json!({"logprobs": true, "top_logprobs": 3}),
    ));
    let c = s.chat(&r).await.unwrap();
    let lp = &c.choices[0].logprobs.as_ref().unwrap()["content"];
    let first = &lp[0];
    assert!(first["token"].is_string() && first["bytes"].is_array());
    assert!(first["logprob"].as_f64().unwrap() <= 0.0);
    assert_eq!(first["top_logprobs"].as_array().unwrap().len(), 3);
    let joined: String = lp
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(joined, text_of(&c, 0));

    let (mut strong, mut weak) = (0.0, 0.0);
    for i in 0..20 {
        let p = format!("Question number {i} about geography");
        let q = |m: &str| req(with(ask(m, &p), json!({"logprobs": true})));
        strong += mean_logprob(&s.chat(&q("gpt-4.1")).await.unwrap());
        weak += mean_logprob(&s.chat(&q("gpt-4.1-nano")).await.unwrap());
    }
    assert!(weak < strong, "weak {weak} strong {strong}");
}

fn is_doubtful(c: &ChatCompletion) -> bool {
    let t = text_of(c, 0);
    c.choices[0].finish_reason.as_deref() == Some("length")
        || t.starts_with(text::REFUSAL)
        || t.starts_with(text::HEDGE)
}

#[tokio::test]
async fn weaker_models_doubt_more_on_hard_prompts() {
    let s = sim();
    let (mut weak, mut strong) = (0, 0);
    for i in 0..150 {
        let p = format!(
            "Solve the equation {i}x + 17 = {}; show each step",
            i * 3 + 5
        );
        weak += usize::from(is_doubtful(
            &s.chat(&req(ask("gpt-4.1-nano", &p))).await.unwrap(),
        ));
        strong += usize::from(is_doubtful(
            &s.chat(&req(ask("gpt-4.1", &p))).await.unwrap(),
        ));
    }
    // nano: p ≈ 0.45*0.8 = 0.36; gpt-4.1: p ≈ 0.08*0.8 = 0.064.
    assert!(weak > 2 * strong, "weak {weak} strong {strong}");
    assert!(strong > 0 && weak < 150);
}

async fn collect(s: &Simulated, r: &ChatRequest) -> Vec<ChatChunk> {
    s.chat_stream(r)
        .await
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
        .await
}

#[tokio::test]
async fn stream_reassembles_to_the_same_answer_with_usage_last() {
    let s = sim();
    let base = ask("gpt-4o", "Give me tips for learning Rust");
    let full = s.chat(&req(base.clone())).await.unwrap();
    let r = req(with(
        base,
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    ));
    let chunks = collect(&s, &r).await;
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter().filter_map(|ch| ch.delta.content.clone()))
        .collect();
    assert_eq!(text, text_of(&full, 0));
    let n = chunks.len();
    assert_eq!(
        chunks[n - 2].choices[0].finish_reason.as_deref(),
        Some("stop")
    );
    assert!(chunks[n - 1].choices.is_empty());
    assert_eq!(chunks[n - 1].usage, Some(full.usage));
    assert!(chunks[..n - 1].iter().all(|c| c.usage == Some(None)));
    assert!(chunks.iter().all(|c| c.id == chunks[0].id));

    let no_usage = collect(&s, &req(with(ask("gpt-4o", "hi"), json!({"stream": true})))).await;
    assert!(
        no_usage
            .iter()
            .all(|c| c.usage.is_none() && !c.choices.is_empty())
    );
}

#[tokio::test]
async fn streamed_tool_arguments_are_split_and_reassemble() {
    let s = sim();
    let r = req(with(
        ask("gpt-4o", "hello"),
        json!({"tools": weather_tools(), "tool_choice": "required", "stream": true}),
    ));
    let chunks = collect(&s, &r).await;
    let deltas: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.tool_calls.clone())
        .flatten()
        .collect();
    assert!(deltas.len() >= 3, "header plus several argument pieces");
    assert_eq!(
        deltas[0].function.as_ref().unwrap().name.as_deref(),
        Some("get_weather")
    );
    assert!(deltas[0].id.is_some() && deltas[1].id.is_none());
    let args: String = deltas
        .iter()
        .filter_map(|d| d.function.as_ref()?.arguments.clone())
        .collect();
    let full = s
        .chat(&req(with(
            ask("gpt-4o", "hello"),
            json!({"tools": weather_tools(), "tool_choice": "required"}),
        )))
        .await
        .unwrap();
    assert_eq!(
        args,
        full.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .arguments
    );
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason.as_deref(),
        Some("tool_calls")
    );
}

#[tokio::test(start_paused = true)]
async fn latencies_follow_the_model_settings() {
    let mut m = SimulatedModel::chat("slow", 0.9, 50);
    m.first_token_latency = Duration::from_millis(400);
    m.per_token_latency = Duration::from_millis(10);
    let s = sim_with(vec![m], Vec::new());
    let r = req(ask("slow", "hello"));
    let t0 = tokio::time::Instant::now();
    let c = s.chat(&r).await.unwrap();
    let tokens = c.usage.unwrap().completion_tokens;
    assert_eq!(t0.elapsed(), Duration::from_millis(400 + 10 * tokens));

    let t0 = tokio::time::Instant::now();
    let mut st = s
        .chat_stream(&req(with(ask("slow", "hello"), json!({"stream": true}))))
        .await
        .unwrap();
    st.next().await.unwrap().unwrap(); // role chunk: immediate
    assert_eq!(t0.elapsed(), Duration::ZERO);
    st.next().await.unwrap().unwrap(); // first content chunk
    assert!(t0.elapsed() >= Duration::from_millis(400));
    while st.next().await.is_some() {}
    assert_eq!(t0.elapsed(), Duration::from_millis(400 + 10 * tokens));
}

#[tokio::test]
async fn unknown_and_wrong_kind_models_are_client_errors() {
    let s = sim();
    let e = s.chat(&req(ask("gpt-9", "hi"))).await.unwrap_err();
    assert_eq!((e.kind, e.status), (FailureKind::ClientError, Some(404)));
    assert_eq!(e.client_body.unwrap()["error"]["code"], "model_not_found");
    let e = s
        .chat(&req(ask("text-embedding-3-small", "hi")))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(400));
    let e = s
        .embeddings(&json!({"model": "gpt-4o", "input": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(400));
    let v = s
        .embeddings(&json!({"model": "text-embedding-3-small", "input": "x"}))
        .await
        .unwrap();
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 1536);
}

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PURSER_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

#[tokio::test]
async fn replays_recorded_answers_from_the_routellm_csv() {
    let Some(dir) = shared_dir() else {
        eprintln!("SKIP: shared datasets not found (set PURSER_SHARED_DIR)");
        return;
    };
    let path = dir.join("datasets/routellm/gsm8k/gsm8k_responses.csv");
    let replay = ReplaySettings {
        path: path.to_string_lossy().into_owned(),
        prompt_column: "prompt".into(),
        responses: BTreeMap::from([
            (
                "mixtral-8x7b-instruct".to_owned(),
                "mistralai/Mixtral-8x7B-Instruct-v0.1_response".to_owned(),
            ),
            (
                "gpt-4-1106-preview".to_owned(),
                "gpt-4-1106-preview_response".to_owned(),
            ),
        ]),
    };
    let s = sim_with(Vec::new(), vec![replay]);
    assert!(s.replay_prompts() > 600);
    let mut rows = csv::Reader::from_path(&path).unwrap();
    let first = rows.records().next().unwrap().unwrap();
    // Extra whitespace in the prompt still matches.
    let prompt = format!("  {}\n", first.get(0).unwrap().replace(' ', "  "));
    let c = s
        .chat(&req(ask("gpt-4-1106-preview", &prompt)))
        .await
        .unwrap();
    assert_eq!(text_of(&c, 0), first.get(4).unwrap());
    let c = s
        .chat(&req(ask("mixtral-8x7b-instruct", &prompt)))
        .await
        .unwrap();
    assert_eq!(text_of(&c, 0), first.get(3).unwrap());
    assert_eq!(
        c.usage.unwrap().completion_tokens,
        Encoding::for_model("mixtral-8x7b-instruct")
            .count(first.get(3).unwrap())
            .0
    );
}

#[test]
fn missing_replay_file_warns_but_builds() {
    let replay = ReplaySettings {
        path: "no/such/file.csv".into(),
        prompt_column: "prompt".into(),
        responses: BTreeMap::new(),
    };
    assert_eq!(sim_with(Vec::new(), vec![replay]).replay_prompts(), 0);
}

#[test]
fn bad_model_settings_are_rejected() {
    let bad = SimulatedSettings {
        name: "sim".into(),
        models: vec![SimulatedModel::chat("m", 1.5, 10)],
        replay: Vec::new(),
        retry: Default::default(),
        circuit_breaker: Default::default(),
    };
    assert!(matches!(
        Simulated::try_new(&bad),
        Err(Error::InvalidSimulatedModel { .. })
    ));
}
