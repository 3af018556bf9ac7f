//! The notifier: `notify` puts an alert on a bounded queue; one background task de-duplicates
//! it, posts it to every webhook (bounded exponential-backoff retries on 5xx, 429 and
//! transport errors), counts it and appends its [`AlertRecord`](crate::ledger::AlertRecord)
//! to the ledger. Stop it by cancelling the token or dropping every [`Notifier`]; queued alerts
//! are still delivered (after cancellation: one attempt each, no retry).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Error;
use super::kind::Alert;
use super::settings::{Settings, Timing, WebhookFormat, WebhookSettings};
use crate::ledger::{LedgerHandle, RecordBody};
use crate::metrics::Metrics;

/// What the notifier needs; built in `app.rs`.
pub struct NotifierParts {
    /// `[alerts]` settings (validated by [`Notifier::start`]).
    pub settings: Settings,
    /// Where alert records go; `None` in tests that don't need a ledger.
    pub ledger: Option<LedgerHandle>,
    /// Where `purser_alerts_total` is counted; `None` to skip.
    pub metrics: Option<Arc<Metrics>>,
    /// Stops the task.
    pub cancel: CancellationToken,
}

/// Cheap, cloneable handle to raise alerts.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Alert>,
    stats: Arc<Counters>,
}

/// The background task; await [`NotifierTask::wait`] at shutdown.
#[derive(Debug)]
pub struct NotifierTask {
    join: JoinHandle<()>,
    stats: Arc<Counters>,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Alerts taken off the queue.
    pub received: u64,
    /// Alerts dropped as duplicates.
    pub deduplicated: u64,
    /// Webhook deliveries that succeeded.
    pub delivered: u64,
    /// Webhook deliveries that failed after all retries.
    pub failed: u64,
    /// HTTP attempts made (first tries plus retries).
    pub attempts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    deduplicated: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    attempts: AtomicU64,
}

/// One configured webhook, resolved.
struct Target {
    name: String,
    url: String,
    format: WebhookFormat,
}

/// State owned by the background task.
struct Worker {
    rx: mpsc::Receiver<Alert>,
    client: reqwest::Client,
    targets: Vec<Target>,
    timing: Timing,
    max_retries: u32,
    ledger: Option<LedgerHandle>,
    metrics: Option<Arc<Metrics>>,
    cancel: CancellationToken,
    seen: HashMap<String, Instant>,
    stats: Arc<Counters>,
}

// --- Notifier ---

impl Notifier {
    /// Validates the settings and starts the background task (call inside a Tokio runtime).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for bad settings; [`Error::Task`] when the HTTP client cannot
    /// be built.
    pub fn start(parts: NotifierParts) -> Result<(Notifier, NotifierTask), Error> {
        let timing = parts.settings.timing()?;
        let client = reqwest::Client::builder()
            .timeout(timing.timeout)
            .build()
            .map_err(|e| Error::Task {
                detail: format!("building the webhook client: {e}"),
            })?;
        let targets = parts
            .settings
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w): (usize, &WebhookSettings)| Target {
                name: w.display_name(i),
                url: w.url.0.clone(),
                format: w.format,
            })
            .collect();
        let (tx, rx) = mpsc::channel(parts.settings.queue_capacity);
        let stats = Arc::new(Counters::default());
        let worker = Worker {
            rx,
            client,
            targets,
            timing,
            max_retries: parts.settings.max_retries,
            ledger: parts.ledger,
            metrics: parts.metrics,
            cancel: parts.cancel,
            seen: HashMap::new(),
            stats: Arc::clone(&stats),
        };
        let join = tokio::spawn(worker.run());
        Ok((
            Notifier {
                tx,
                stats: Arc::clone(&stats),
            },
            NotifierTask { join, stats },
        ))
    }

    /// Queues an alert without waiting.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when the queue is full, [`Error::Closed`] after shutdown.
    pub fn notify(&self, alert: Alert) -> Result<(), Error> {
        self.tx.try_send(alert).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> DeliveryStats {
        self.stats.snapshot()
    }
}

// --- NotifierTask ---

impl NotifierTask {
    /// Waits for the task to end (after cancellation or when every [`Notifier`] is dropped)
    /// and returns the final counters.
    ///
    /// # Errors
    /// [`Error::Task`] when the task panicked.
    pub async fn wait(self) -> Result<DeliveryStats, Error> {
        self.join.await.map_err(|e| Error::Task {
            detail: e.to_string(),
        })?;
        Ok(self.stats.snapshot())
    }
}

// --- Counters ---

impl Counters {
    fn snapshot(&self) -> DeliveryStats {
        DeliveryStats {
            received: self.received.load(Ordering::Relaxed),
            deduplicated: self.deduplicated.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
        }
    }
}

// --- Worker ---

impl Worker {
    async fn run(mut self) {
        loop {
            let next = tokio::select! {
                biased;
                a = self.rx.recv() => a,
                () = self.cancel.cancelled() => None,
            };
            match next {
                Some(alert) => self.handle(alert).await,
                None => break,
            }
        }
        // Drain what was queued before the stop; `deliver` makes one attempt once cancelled.
        self.rx.close();
        while let Ok(alert) = self.rx.try_recv() {
            self.handle(alert).await;
        }
    }

    async fn handle(&mut self, alert: Alert) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        if self.is_duplicate(&alert) {
            self.stats.deduplicated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut delivered_to = Vec::new();
        for i in 0..self.targets.len() {
            match self.deliver(&alert, i).await {
                Ok(()) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    delivered_to.push(format!("webhook:{}", self.targets[i].name));
                }
                Err(e) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, workflow = %alert.workflow, kind = alert.kind.name(), "alert delivery failed");
                }
            }
        }
        if let Some(m) = &self.metrics {
            let wf = m.workflows.label(alert.workflow.as_str());
            m.alerts
                .with_label_values(&[wf.as_str(), alert.kind.name()])
                .inc();
        }
        tracing::info!(workflow = %alert.workflow, kind = alert.kind.name(), window = %alert.window, "alert raised");
        if let Some(ledger) = &self.ledger {
            let body = RecordBody::Alert(alert.to_record(delivered_to));
            if let Err(e) = ledger.append(&body).await {
                tracing::error!(error = %e, "alert record not written to the ledger");
            }
        }
    }

    /// True when the same alert was handled within the window; otherwise remembers it.
    fn is_duplicate(&mut self, alert: &Alert) -> bool {
        let now = Instant::now();
        let window = self.timing.dedupe_window;
        if self.seen.len() > 4096 {
            self.seen.retain(|_, at| now.duration_since(*at) < window);
        }
        let key = alert.dedupe_key();
        if let Some(at) = self.seen.get(&key)
            && now.duration_since(*at) < window
        {
            return true;
        }
        self.seen.insert(key, now);
        false
    }

    /// Posts to target `i`, retrying 5xx, 429 and transport errors with capped doubling backoff.
    async fn deliver(&self, alert: &Alert, i: usize) -> Result<(), Error> {
        let target = &self.targets[i];
        let body = alert.webhook_body(target.format);
        let mut delay = self.timing.backoff_base;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let result = self.client.post(&target.url).json(&body).send().await;
            let (retryable, detail) = match result {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let s = resp.status();
                    (
                        s.is_server_error() || s.as_u16() == 429,
                        format!("HTTP {}", s.as_u16()),
                    )
                }
                // reqwest errors can print the URL; keep only the kind.
                Err(e) => (true, transport_kind(&e).to_owned()),
            };
            if !retryable || attempt > self.max_retries || self.cancel.is_cancelled() {
                return Err(Error::Delivery {
                    webhook: target.name.clone(),
                    attempts: attempt,
                    detail,
                });
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled() => {}
            }
            delay = (delay * 2).min(self.timing.backoff_max);
        }
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else {
        "transport error"
    }
}
