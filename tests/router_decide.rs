//! Routing decisions and cascade escalation on small inline examples.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a broken fixture should fail the test"
)]

use purser::api::{ChatCompletion, ChatRequest};
use purser::router::{
    BudgetPressure, EscalateReason, Escalation, EscalationSettings, Reason, RouteInput, RoutesFile,
    RoutingTable, Target, TrainOptions, Verdict, WorkflowRouting, train_from_outcomes,
};
use purser::types::Tier;
use serde_json::json;

const ROUTES: &str = r#"
[[route]]
name = "purser/auto"
tiers = [["cheap", "cheap-fallback"], ["mid"], ["strong"]]
classifier = "tiny.json"
thresholds = [0.3, 0.9]
conservative_margin = 0.05
"#;

fn table() -> (tempfile::TempDir, RoutingTable) {
    let dir = tempfile::tempdir().unwrap();
    let examples = (0..40).map(|i| {
        if i % 2 == 0 {
            (
                "Prove the theorem and compute the integral step by step.".to_owned(),
                0.0,
                1.0,
            )
        } else {
            ("Write a friendly poem.".to_owned(), 1.0, 1.0)
        }
    });
    let opts = TrainOptions {
        hash_bits: 10,
        folds: 0,
        target: Target::Gain,
        ..TrainOptions::default()
    };
    let art = train_from_outcomes(examples, &opts).unwrap();
    std::fs::write(dir.path().join("tiny.json"), art.to_json().unwrap()).unwrap();
    let file: RoutesFile = toml::from_str(ROUTES).unwrap();
    let t = RoutingTable::try_new(&file.route, dir.path()).unwrap();
    (dir, t)
}

fn req(text: &str) -> ChatRequest {
    serde_json::from_value(
        json!({"model": "purser/auto", "messages": [{"role": "user", "content": text}]}),
    )
    .unwrap()
}

fn input<'a>(r: &'a ChatRequest, wf: Option<&'a WorkflowRouting>) -> RouteInput<'a> {
    RouteInput {
        request: r,
        route: "purser/auto",
        workflow: wf,
        step: None,
        budget_pressure: BudgetPressure::Normal,
    }
}

#[test]
fn classifier_orders_candidates_cheap_first_with_fallbacks() {
    let (_d, t) = table();
    let r = req("Write a friendly poem.");
    let d = t.decide(&input(&r, None)).unwrap();
    assert_eq!(d.tier, Tier(0));
    let models: Vec<&str> = d.candidates.iter().map(|c| c.model.as_str()).collect();
    assert_eq!(models, ["cheap", "cheap-fallback", "mid", "strong"]);
    assert!(matches!(d.reason, Reason::Classifier { .. }));
    assert!(d.classifier_version.is_some());
    let hard = req("Prove the theorem and compute the integral step by step.");
    let d2 = t.decide(&input(&hard, None)).unwrap();
    assert!(
        d2.tier > Tier(0),
        "hard prompt stayed on tier 0: {:?}",
        d2.score
    );
    assert!(d2.score > d.score);
}

#[test]
fn workflow_overrides_take_precedence() {
    let (_d, t) = table();
    let r = req("Prove the theorem and compute the integral step by step.");
    let pin = WorkflowRouting {
        pin: Some(purser::types::ModelId::new("mid")),
        ..WorkflowRouting::default()
    };
    let d = t.decide(&input(&r, Some(&pin))).unwrap();
    assert_eq!(
        (d.reason.clone(), d.tier, d.candidates.len()),
        (Reason::Pinned, Tier(1), 1)
    );

    let forbid = WorkflowRouting {
        forbid_tiers: vec![1, 2],
        ..WorkflowRouting::default()
    };
    let d = t.decide(&input(&r, Some(&forbid))).unwrap();
    assert_eq!(d.tier, Tier(0));
    assert!(d.candidates.iter().all(|c| c.tier == Tier(0)));

    let mut steps = WorkflowRouting::default();
    steps.step_tiers.insert("plan".to_owned(), 2);
    let mut i = input(&r, Some(&steps));
    i.step = Some("plan");
    let d = t.decide(&i).unwrap();
    assert_eq!(
        (d.tier, d.reason.clone()),
        (
            Tier(2),
            Reason::StepKind {
                step: "plan".to_owned()
            }
        )
    );

    let mut i = input(&r, None);
    i.budget_pressure = BudgetPressure::ForceCheapest;
    assert_eq!(t.decide(&i).unwrap().reason, Reason::BudgetDowngrade);

    let stop: WorkflowRouting = toml::from_str(
        r#"kill_switch = { mode = "stop", set_by = "ops", set_at = "2026-01-01T00:00:00Z" }"#,
    )
    .unwrap();
    assert!(t.decide(&input(&r, Some(&stop))).is_err());
    let mut other = input(&r, None);
    other.route = "nope";
    assert!(t.decide(&other).is_err());
}

fn completion(content: &str, finish: &str) -> ChatCompletion {
    serde_json::from_value(json!({"id": "x", "object": "chat.completion", "created": 0, "model": "cheap",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}]}))
    .unwrap()
}

#[test]
fn escalation_flags_truncation_refusal_schema_and_bad_arithmetic() {
    let judge = Escalation::new(EscalationSettings::default(), None);
    let r = req("How many apples?");
    assert_eq!(
        judge.judge(&r, &completion("12 apples", "stop")),
        Verdict::Accept
    );
    assert_eq!(
        judge.judge(&r, &completion("12 app", "length")),
        Verdict::Escalate(EscalateReason::Truncated)
    );
    assert_eq!(
        judge.judge(
            &r,
            &completion("I'm sorry, but I can't help with that.", "stop")
        ),
        Verdict::Escalate(EscalateReason::Refusal)
    );
    assert!(matches!(
        judge.judge(&r, &completion("3 * 4 = <<3*4=13>>13 apples", "stop")),
        Verdict::Escalate(EscalateReason::Arithmetic { failed: 2, .. })
    ));
    let mut schema_req = req("Give JSON");
    schema_req.response_format = serde_json::from_value(json!({"type": "json_schema",
        "json_schema": {"name": "n", "schema": {"type": "object", "required": ["a"],
        "properties": {"a": {"type": "integer"}}}}}))
    .unwrap();
    assert_eq!(
        judge.judge(&schema_req, &completion("{\"a\": 1}", "stop")),
        Verdict::Accept
    );
    assert_eq!(
        judge.judge(&schema_req, &completion("{\"a\": \"x\"}", "stop")),
        Verdict::Escalate(EscalateReason::SchemaViolation)
    );
    assert_eq!(
        judge.judge(&schema_req, &completion("not json", "stop")),
        Verdict::Escalate(EscalateReason::InvalidJson)
    );
}

#[test]
fn escalation_checks_tool_arguments_and_logprobs() {
    let judge = Escalation::new(EscalationSettings::default(), None);
    let r: ChatRequest = serde_json::from_value(
        json!({"model": "m", "messages": [{"role": "user", "content": "w"}],
        "tools": [{"type": "function", "function": {"name": "get", "parameters":
        {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}]}),
    )
    .unwrap();
    let call = |args: &str| -> ChatCompletion {
        serde_json::from_value(json!({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get", "arguments": args}}]}}]}))
        .unwrap()
    };
    assert_eq!(
        judge.judge(&r, &call("{\"city\": \"Paris\"}")),
        Verdict::Accept
    );
    assert!(matches!(
        judge.judge(&r, &call("{\"town\": 1}")),
        Verdict::Escalate(EscalateReason::ToolArguments { .. })
    ));
    let mut low = completion("maybe", "stop");
    low.choices[0].logprobs = Some(json!({"content": [{"token": "maybe", "logprob": -3.0}]}));
    assert!(matches!(
        judge.judge(&r, &low),
        Verdict::Escalate(EscalateReason::LowLogprob { .. })
    ));
}
