//! Hot reload: on SIGHUP or a change under the watched folders, build a new snapshot away from
//! the request path and swap it atomically. In-flight requests keep the snapshot they started
//! with; a failed reload is logged and counted, and the old snapshot keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Snapshot, load_gateway, load_snapshot};
use crate::compress::SummaryStore;
use crate::metrics::Metrics;

/// Changes within this window are folded into one reload (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(200);

/// The current snapshot, shared by every request.
pub struct ConfigHandle {
    current: ArcSwap<Snapshot>,
}

impl ConfigHandle {
    /// Wraps the first snapshot.
    pub fn new(s: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(s),
        }
    }
    /// The snapshot a new request should use.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
    fn swap(&self, s: Snapshot) {
        self.current.store(Arc::new(s));
    }
}

/// Starts the reload task: watches the snapshot's folders and listens for SIGHUP until `stop`.
pub fn spawn_reloader(
    handle: Arc<ConfigHandle>,
    config_path: Option<PathBuf>,
    summaries: Arc<dyn SummaryStore>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = mpsc::channel::<()>(16);
    let mut watched = handle.snapshot().watched.clone();
    watched.extend(config_path.iter().cloned());
    let fs_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = fs_tx.try_send(());
        }
    });
    let watcher = match watcher {
        Ok(mut w) => {
            for p in &watched {
                if let Err(e) = w.watch(p, RecursiveMode::Recursive) {
                    tracing::warn!(path = %p.display(), error = %e, "cannot watch config folder");
                }
            }
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "file watching unavailable; reload with SIGHUP");
            None
        }
    };
    tokio::spawn(async move {
        let _keep = watcher;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(()) = rx.recv() => {}
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {}
            }
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            reload_once(&handle, config_path.clone(), &summaries, &metrics).await;
        }
    })
}

async fn reload_once(
    handle: &ConfigHandle,
    config_path: Option<PathBuf>,
    summaries: &Arc<dyn SummaryStore>,
    metrics: &Metrics,
) {
    let summaries = Arc::clone(summaries);
    let next_gen = handle.snapshot().generation + 1;
    // The gateway file is re-read too; `server.listen` changes need a restart.
    let built = tokio::task::spawn_blocking(move || {
        let (gw, base) = load_gateway(config_path.as_deref())?;
        load_snapshot(&gw, &base, next_gen, &summaries)
    })
    .await;
    match built {
        Ok(Ok(s)) => {
            metrics.config_generation.set(s.generation as i64);
            metrics.config_reloads.with_label_values(&["ok"]).inc();
            tracing::info!(generation = s.generation, "configuration reloaded");
            handle.swap(s);
        }
        Ok(Err(errors)) => {
            metrics
                .config_reloads
                .with_label_values(&["rejected"])
                .inc();
            tracing::error!(%errors, "configuration reload rejected; the previous configuration keeps serving");
        }
        Err(e) => {
            metrics
                .config_reloads
                .with_label_values(&["rejected"])
                .inc();
            tracing::error!(error = %e, "configuration reload task failed");
        }
    }
}
