use super::*;
use crate::budget::settings::Settings;

const KEY_A: &str = "pk-alpha";
const KEY_B: &str = "pk-bravo";

fn ring(allow_anonymous: bool, admin: Option<&str>) -> KeyRing {
    let toml = format!(
        r#"
        allow_anonymous = {allow_anonymous}
        [[workflows]]
        name = "alpha"
        keys = ["sha256:{}"]
        [workflows.envelope]
        daily = "1"
        [[workflows]]
        name = "open"
        [workflows.envelope]
        daily = "2"
        [[workflows]]
        name = "bravo"
        keys = ["sha256:{}"]
        "#,
        hex::encode(hash_key(KEY_A)),
        hex::encode(hash_key(KEY_B)),
    );
    let s: Settings = toml::from_str(&toml).unwrap();
    KeyRing::new(&s.validate("budget").unwrap(), admin)
}

#[test]
fn key_binds_its_workflow_and_envelope() {
    let r = ring(true, None);
    let id = r.authenticate(Some("Bearer pk-alpha"), None).unwrap();
    assert_eq!(id.workflow.as_str(), "alpha");
    assert_eq!(id.envelope.daily, Some(crate::types::MicroUsd(1_000_000)));
    assert_eq!(id.source, IdentitySource::VirtualKey);
    // Scheme is case-insensitive; a matching workflow header is fine.
    let id = r
        .authenticate(Some("bearer pk-bravo"), Some("bravo"))
        .unwrap();
    assert_eq!(id.workflow.as_str(), "bravo");
}

#[test]
fn key_with_other_workflow_header_is_forbidden() {
    let r = ring(true, None);
    let err = r
        .authenticate(Some("Bearer pk-alpha"), Some("bravo"))
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::WorkflowMismatch {
            key_workflow: WorkflowId("alpha".into()),
            requested: "bravo".into()
        }
    );
}

#[test]
fn unknown_or_malformed_keys_are_unauthorized_even_with_anonymous_allowed() {
    let r = ring(true, None);
    assert_eq!(
        r.authenticate(Some("Bearer pk-nope"), None),
        Err(AuthError::UnknownKey)
    );
    assert_eq!(
        r.authenticate(Some("Basic abc"), None),
        Err(AuthError::MalformedHeader)
    );
    assert_eq!(
        r.authenticate(Some("Bearer "), None),
        Err(AuthError::MalformedHeader)
    );
    // The error never echoes the key.
    assert!(!AuthError::UnknownKey.to_string().contains("pk-"));
}

#[test]
fn anonymous_requests_follow_allow_anonymous() {
    let closed = ring(false, None);
    assert_eq!(
        closed.authenticate(None, Some("open")),
        Err(AuthError::MissingKey)
    );
    let r = ring(true, None);
    let id = r.authenticate(None, None).unwrap();
    assert_eq!(
        (id.workflow.as_str(), id.source),
        ("default", IdentitySource::Anonymous)
    );
    let id = r.authenticate(None, Some("open")).unwrap();
    assert_eq!(id.workflow.as_str(), "open");
    assert_eq!(id.envelope.daily, Some(crate::types::MicroUsd(2_000_000)));
    // Unknown names share the default bucket; keyed workflows need their key.
    let id = r.authenticate(None, Some("made-up")).unwrap();
    assert_eq!(id.workflow.as_str(), "default");
    assert_eq!(id.claimed_workflow.as_deref(), Some("made-up"));
    assert_eq!(
        r.authenticate(None, Some("alpha")),
        Err(AuthError::KeyRequired {
            workflow: WorkflowId("alpha".into())
        })
    );
}

#[test]
fn admin_key_is_checked_by_hash() {
    let r = ring(true, Some("adm-secret"));
    assert!(r.is_admin(Some("Bearer adm-secret")));
    assert!(!r.is_admin(Some("Bearer adm-secreT")));
    assert!(!r.is_admin(Some("Bearer pk-alpha")));
    assert!(!r.is_admin(None));
    assert!(!format!("{r:?}").contains("adm-secret"));
    let locked = ring(true, None);
    assert!(!locked.is_admin(Some("Bearer adm-secret")));
    assert!(!ring(true, Some("")).is_admin(Some("Bearer ")));
}
