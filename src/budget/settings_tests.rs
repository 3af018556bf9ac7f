use super::*;
use crate::budget::state::StateSettings;

#[derive(Debug, Deserialize)]
struct Root {
    budget: Settings,
    #[serde(default)]
    state: StateSettings,
}

fn parse(s: &str) -> Root {
    toml::from_str(s).unwrap()
}

const HASH: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn full_example_parses_into_validated_config() {
    let root = parse(&format!(
        r#"
        [budget]
        allow_anonymous = false
        admin_key_env = "PURSER_ADMIN_KEY"
        [budget.default_envelope]
        daily = "5"
        [[budget.workflows]]
        name = "support-bot"
        keys = ["{HASH}"]
        [budget.workflows.envelope]
        per_task = "0.50"
        daily = "20.00"
        monthly = "400"
        step_limit = 40
        max_output_tokens = 2048
        on_limit = "downgrade"
        thresholds = [0.8, 0.5, 1.0, 0.5]
        [state]
        mode = "redis"
        redis_url = "redis://:secret@127.0.0.1:6379"
        redis_timeout = "250ms"
        "#
    ));
    let cfg = root.budget.validate("budget").unwrap();
    let w = &cfg.workflows[0];
    assert_eq!(w.envelope.per_task, Some(MicroUsd(500_000)));
    assert_eq!(w.envelope.monthly, Some(MicroUsd(400_000_000)));
    assert_eq!(w.envelope.on_limit, OnLimit::Downgrade);
    assert_eq!(w.envelope.thresholds_bps, vec![5_000, 8_000, 10_000]);
    assert_eq!(w.envelope.max_output_tokens, Some(Tokens(2048)));
    assert_eq!(cfg.default_envelope.daily, Some(MicroUsd(5_000_000)));
    assert_eq!(cfg.task_idle_after, Duration::from_secs(1800));
    assert!(!cfg.allow_anonymous);
    assert_eq!(
        root.state.validate("state").unwrap(),
        Duration::from_millis(250)
    );
    assert!(!format!("{:?}", root.state).contains("secret"));
}

#[test]
fn defaults_allow_anonymous_with_default_thresholds() {
    let cfg = parse("[budget]").budget.validate("budget").unwrap();
    assert!(cfg.allow_anonymous);
    assert_eq!(
        cfg.default_envelope.thresholds_bps,
        vec![5_000, 8_000, 10_000]
    );
    assert_eq!(cfg.default_envelope.on_limit, OnLimit::Deny);
}

#[test]
fn zero_negative_and_malformed_budgets_are_rejected_naming_the_key() {
    let root = parse(
        r#"
        [budget.default_envelope]
        daily = "0"
        [[budget.workflows]]
        name = "a"
        [budget.workflows.envelope]
        monthly = "-3.00"
        per_task = "ten dollars"
        step_limit = 0
        thresholds = [0.0, 1.5]
        "#,
    );
    let errs = root.budget.validate("budget").unwrap_err();
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 5, "{text:#?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with("budget.default_envelope.daily: budget must be positive"))
    );
    assert!(text.iter().any(|t| t.starts_with("budget.workflows[0].envelope.monthly: budget must be positive")));
    assert!(
        text.iter()
            .any(|t| t.starts_with("budget.workflows[0].envelope.per_task:"))
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("budget.workflows[0].envelope.step_limit:"))
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("budget.workflows[0].envelope.thresholds[0]:"))
    );
}

#[test]
fn unknown_keys_are_refused() {
    let r: Result<Root, _> = toml::from_str("[budget.default_envelope]\ndayly = \"1\"");
    assert!(r.unwrap_err().to_string().contains("dayly"));
}

#[test]
fn duplicate_names_and_keys_and_bad_hashes_are_reported() {
    let root = parse(&format!(
        r#"
        [[budget.workflows]]
        name = "a"
        keys = ["{HASH}"]
        [[budget.workflows]]
        name = "a"
        keys = ["{HASH}", "sha256:zz", "md5:00"]
        [[budget.workflows]]
        name = "default"
        "#
    ));
    let errs = root.budget.validate("budget").unwrap_err();
    assert!(errs.contains(&SettingsError::InvalidWorkflowName {
        key: "budget.workflows[1].name".into(),
        name: "a".into()
    }));
    assert!(errs.contains(&SettingsError::DuplicateKeyHash {
        key: "budget.workflows[1].keys[0]".into(),
        workflow: "a".into()
    }));
    assert!(errs.contains(&SettingsError::InvalidKeyHash {
        key: "budget.workflows[1].keys[1]".into()
    }));
    assert!(errs.contains(&SettingsError::InvalidKeyHash {
        key: "budget.workflows[1].keys[2]".into()
    }));
    assert!(errs.contains(&SettingsError::InvalidWorkflowName {
        key: "budget.workflows[2].name".into(),
        name: "default".into()
    }));
}

#[test]
fn redis_mode_requires_url() {
    let root = parse("[budget]\n[state]\nmode = \"redis\"\nredis_timeout = \"x\"");
    let errs = root.state.validate("state").unwrap_err();
    assert_eq!(errs.len(), 2);
    assert!(errs[0].to_string().starts_with("state.redis_url"));
}
