//! Webhook delivery against a local axum receiver on 127.0.0.1:0: retries on 5xx, no retry on
//! 4xx, de-duplication, body formats, ledger records and the alert counter.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use purser::alert::{
    Alert, Notifier, NotifierParts, Settings, WebhookFormat, WebhookSettings, WebhookUrl,
};
use purser::ledger::{Ledger, RecordBody, read_records};
use purser::metrics::Metrics;
use purser::types::{MicroUsd, WorkflowId};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn hook(State(r): State<Receiver>, body: axum::Json<Value>) -> StatusCode {
    r.bodies.lock().unwrap().push(body.0);
    let code = r.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

async fn receiver(script: &[u16]) -> (String, Receiver) {
    let r = Receiver::default();
    r.script.lock().unwrap().extend(script);
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

fn settings(hooks: &[(&str, &str, WebhookFormat)], max_retries: u32) -> Settings {
    Settings {
        webhooks: hooks
            .iter()
            .map(|(name, url, format)| WebhookSettings {
                name: Some((*name).to_owned()),
                url: WebhookUrl((*url).to_owned()),
                format: *format,
            })
            .collect(),
        max_retries,
        backoff_base: "1ms".into(),
        backoff_max: "4ms".into(),
        ..Settings::default()
    }
}

fn alert(pct: u32) -> Alert {
    Alert::threshold_crossed(
        WorkflowId("support".into()),
        "2026-11",
        pct,
        MicroUsd(9_000_000),
        MicroUsd(10_000_000),
    )
}

#[tokio::test]
async fn retries_on_500_then_records_the_delivery_in_the_ledger() {
    let (url, rx) = receiver(&[500, 503]).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger_settings = purser::ledger::Settings::default();
    let (ledger, ledger_task) = Ledger::open(&ledger_settings, dir.path()).unwrap();
    let metrics = Arc::new(Metrics::try_new(&["support".into()]).unwrap());
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: settings(&[("ops", &url, WebhookFormat::Slack)], 3),
        ledger: Some(ledger.clone()),
        metrics: Some(Arc::clone(&metrics)),
        cancel: CancellationToken::new(),
    })
    .unwrap();
    notifier.notify(alert(80)).unwrap();
    drop(notifier);
    let stats = task.wait().await.unwrap();
    assert_eq!((stats.delivered, stats.failed, stats.attempts), (1, 0, 3));

    let bodies = rx.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b.as_object().unwrap().len() == 1));
    assert!(bodies[2]["text"].as_str().unwrap().contains("support"));

    ledger.shutdown().await.unwrap();
    ledger_task.wait().await.unwrap();
    let records: Vec<_> = read_records(&ledger_settings.resolve_path(dir.path()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let [rec] = records.as_slice() else {
        panic!("{records:?}")
    };
    let RecordBody::Alert(a) = &rec.body else {
        panic!("{rec:?}")
    };
    assert_eq!(a.alert_kind, "threshold_crossed");
    assert_eq!(a.delivered_to, ["webhook:ops"]);
    assert!(
        metrics
            .render()
            .contains("purser_alerts_total{kind=\"threshold_crossed\",workflow=\"support\"} 1")
    );
}

#[tokio::test]
async fn gives_up_after_bounded_retries_and_never_retries_4xx() {
    let (flaky, flaky_rx) = receiver(&[500; 10]).await;
    let (strict, strict_rx) = receiver(&[400]).await;
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: settings(
            &[
                ("flaky", &flaky, WebhookFormat::Slack),
                ("strict", &strict, WebhookFormat::Generic),
            ],
            2,
        ),
        ledger: None,
        metrics: None,
        cancel: CancellationToken::new(),
    })
    .unwrap();
    notifier.notify(alert(100)).unwrap();
    drop(notifier);
    let stats = task.wait().await.unwrap();
    assert_eq!((stats.delivered, stats.failed), (0, 2));
    assert_eq!(flaky_rx.bodies.lock().unwrap().len(), 3);
    let strict_bodies = strict_rx.bodies.lock().unwrap().clone();
    assert_eq!(strict_bodies.len(), 1);
    assert_eq!(strict_bodies[0]["kind"], "threshold_crossed");
    assert_eq!(strict_bodies[0]["workflow"], "support");
    assert_eq!(strict_bodies[0]["detail"]["pct"], 100);
}

#[tokio::test]
async fn same_alert_within_the_window_is_sent_once() {
    let (url, rx) = receiver(&[]).await;
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: settings(&[("ops", &url, WebhookFormat::Generic)], 0),
        ledger: None,
        metrics: None,
        cancel: CancellationToken::new(),
    })
    .unwrap();
    notifier.notify(alert(80)).unwrap();
    notifier.notify(alert(80)).unwrap();
    notifier.notify(alert(100)).unwrap();
    drop(notifier);
    let stats = task.wait().await.unwrap();
    assert_eq!(
        (stats.received, stats.deduplicated, stats.delivered),
        (3, 1, 2)
    );
    let pcts: Vec<Value> = rx
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["detail"]["pct"].clone())
        .collect();
    assert_eq!(pcts, [80, 100]);
}

#[tokio::test(start_paused = true)]
async fn dedupe_window_expires() {
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: Settings::default(),
        ledger: None,
        metrics: None,
        cancel: CancellationToken::new(),
    })
    .unwrap();
    notifier.notify(alert(80)).unwrap();
    notifier.notify(alert(80)).unwrap();
    while notifier.stats().received < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(notifier.stats().deduplicated, 1);
    tokio::time::advance(Duration::from_secs(3601)).await;
    notifier.notify(alert(80)).unwrap();
    drop(notifier);
    let stats = task.wait().await.unwrap();
    assert_eq!((stats.received, stats.deduplicated), (3, 1));
}

#[tokio::test]
async fn cancellation_stops_the_task_and_refuses_new_alerts() {
    let cancel = CancellationToken::new();
    let (notifier, task) = Notifier::start(NotifierParts {
        settings: Settings::default(),
        ledger: None,
        metrics: None,
        cancel: cancel.clone(),
    })
    .unwrap();
    cancel.cancel();
    task.wait().await.unwrap();
    assert!(matches!(
        notifier.notify(alert(80)),
        Err(purser::alert::Error::Closed)
    ));
}
