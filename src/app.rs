//! Wiring: builds every component from the configuration and serves until told to stop. The
//! only file that knows all the components.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::budget::{self, BudgetStore, MemoryStore, RedisStore, StateMode};
use crate::config::{self, ConfigHandle};
use crate::ledger::Ledger;
use crate::ledger::RecordBody;
use crate::metrics::Metrics;
use crate::proxy::{Pipeline, PipelineParts, router};

/// History summaries kept in memory (each a few hundred bytes).
const SUMMARY_ENTRIES: u64 = 10_000;

/// How long a cost report answer is reused while the ledger has not grown.
const REPORT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Monthly limits of the configured workflows, read from the current snapshot each time.
fn monthly_budgets(config: Arc<ConfigHandle>) -> crate::alert::BudgetSource {
    Arc::new(move || {
        let snap = config.snapshot();
        snap.budget
            .workflows
            .iter()
            .filter_map(|w| w.envelope.monthly.map(|m| (w.name.clone(), m)))
            .collect()
    })
}

/// How to start the gateway (command-line overrides of the config file).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Gateway config file; the built-in default when `None`.
    pub config: Option<PathBuf>,
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `data.dir`.
    pub data_dir: Option<PathBuf>,
}

/// A running gateway.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    stop: CancellationToken,
    join: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts a graceful shutdown: stop accepting, drain in-flight requests, flush the ledger.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Waits until the gateway has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.join.await.context("server task panicked")?
    }
}

/// Loads the configuration, opens the ledger, binds the listener and serves in a task.
pub async fn start(opts: ServeOptions) -> anyhow::Result<Running> {
    let (mut gw, base) =
        config::load_gateway(opts.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(l) = opts.listen {
        gw.server.listen = l;
    }
    if let Some(d) = opts.data_dir {
        gw.data.dir = d;
    }
    let workers = match gw.server.workers {
        0 => crate::runtime::default_workers(),
        n => n,
    };
    // Before the providers are built: they keep one connection pool per worker.
    crate::runtime::set_slots(workers);
    let summaries: Arc<dyn crate::compress::SummaryStore> =
        Arc::new(crate::compress::MokaSummaryStore::new(SUMMARY_ENTRIES));
    let snapshot = config::load_snapshot(&gw, &base, 1, &summaries)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    // BPE tables cost ~40 MB of RSS each and load on first use; preloading trades that memory
    // for no one-time delay on the first request that needs a count.
    if gw.server.preload_tokenizers {
        let encodings: std::collections::HashSet<_> =
            snapshot.models.values().map(|m| m.price.encoding).collect();
        for enc in encodings {
            enc.count("warm up");
        }
    }
    let metrics = Arc::new(Metrics::try_new(&[])?);
    metrics.config_generation.set(1);
    let (ledger, ledger_task) =
        Ledger::open(&gw.ledger, &gw.data.dir).context("opening the ledger")?;
    let budget_store = open_budget_store(&gw, &snapshot).await?;
    let cache = match gw.cache.mode {
        crate::cache::Mode::Off => None,
        _ => Some(Arc::new(
            crate::cache::ResponseCache::try_new(&gw.cache)
                .await
                .context("starting the response cache")?,
        )),
    };
    rebuild_budgets(budget_store.as_ref(), &gw).await?;
    let config = Arc::new(ConfigHandle::new(snapshot));
    let stop = CancellationToken::new();
    let reloader = config::spawn_reloader(
        Arc::clone(&config),
        opts.config.clone(),
        Arc::clone(&summaries),
        Arc::clone(&metrics),
        stop.clone(),
    );
    let ledger_path = gw.ledger.resolve_path(&gw.data.dir);
    let (notifier, notifier_task) = crate::alert::Notifier::start(crate::alert::NotifierParts {
        settings: gw.alerts.clone(),
        ledger: Some(ledger.clone()),
        metrics: Some(Arc::clone(&metrics)),
        cancel: stop.clone(),
    })
    .context("starting alert delivery")?;
    let forecaster = crate::alert::spawn_forecaster(crate::alert::ForecasterParts {
        ledger_path: ledger_path.clone(),
        budgets: monthly_budgets(Arc::clone(&config)),
        interval: gw
            .alerts
            .forecast_interval()
            .unwrap_or(std::time::Duration::from_secs(300)),
        confidence: gw.alerts.forecast_confidence,
        notifier: notifier.clone(),
        metrics: Arc::clone(&metrics),
        cancel: stop.clone(),
    });
    let pipeline = Pipeline::new(PipelineParts {
        config,
        metrics,
        ledger: ledger.clone(),
        server: gw.server.clone(),
        budget: budget_store,
        cache,
        summaries,
        notifier,
        ledger_path,
        reports: Arc::new(crate::report::http::ReportCache::new(REPORT_CACHE_TTL)),
        kill_switches: Arc::new(crate::proxy::KillSwitches::default()),
    });
    let sweeper = pipeline.spawn_idle_sweep(stop.clone());
    let listeners = bind_listeners(gw.server.listen, workers)
        .with_context(|| format!("binding {}", gw.server.listen))?;
    let addr = listeners[0].local_addr()?;
    tracing::info!(%addr, workers, "purser listening");
    let abort = CancellationToken::new();
    let serving = serve_on_workers(
        listeners,
        &pipeline,
        gw.server.spin,
        stop.clone(),
        abort.clone(),
    )
    .context("starting serving threads")?;
    let grace = gw.server.shutdown_grace;
    let serve_stop = stop.clone();
    let join = tokio::spawn(async move {
        serve_stop.cancelled().await;
        let drained = async {
            for w in serving {
                if let Err(e) = w.join().await {
                    tracing::error!("{e}");
                }
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!("shutdown grace period over; abandoning remaining connections");
            abort.cancel();
        }
        reloader.abort();
        sweeper.abort();
        // Alerts raised during the drain are written before the ledger closes.
        let _ = forecaster.await;
        if let Err(e) = notifier_task.wait().await {
            tracing::warn!(error = %e, "alert delivery ended with an error");
        }
        // Settlement tasks of streams that ended during the drain hold ledger handles; the
        // shutdown command is queued behind their records.
        ledger.shutdown().await.context("ledger shutdown")?;
        ledger_task.wait().await.context("ledger writer")?;
        tracing::info!("purser stopped");
        Ok(())
    });
    Ok(Running { addr, stop, join })
}

/// `count` listening sockets on one address (the port of the first when `addr` has port 0);
/// with more than one, `SO_REUSEPORT` lets the kernel spread connections across them.
fn bind_listeners(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut addr = addr;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        if count > 1 {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        addr = listener.local_addr()?;
        out.push(listener.into_std()?);
    }
    Ok(out)
}

/// Serves the API on one worker thread per listener until `stop` (graceful: in-flight
/// requests and their ledger records finish) or `abort` (at once).
fn serve_on_workers(
    listeners: Vec<std::net::TcpListener>,
    pipeline: &Pipeline,
    spin: std::time::Duration,
    stop: CancellationToken,
    abort: CancellationToken,
) -> std::io::Result<Vec<crate::runtime::Worker>> {
    let count = listeners.len();
    let listeners: Vec<_> = listeners.into_iter().map(Some).collect();
    let listeners = std::sync::Mutex::new(listeners);
    let app = router(pipeline.clone());
    let tasks = pipeline.tasks().clone();
    crate::runtime::start_workers(count, spin, move |i| {
        let listener = listeners.lock().ok().and_then(|mut l| l[i].take());
        let (app, tasks, stop, abort) = (app.clone(), tasks.clone(), stop.clone(), abort.clone());
        async move {
            let Some(listener) = listener else { return };
            let served = async {
                let listener = match TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, worker = i, "listener");
                        return;
                    }
                };
                // Small SSE chunks must not wait for Nagle's algorithm (about 20 ms each).
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY not set");
                    }
                });
                let server =
                    axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
                if let Err(e) = server.await {
                    tracing::error!(error = %e, worker = i, "server");
                }
                // Records of requests whose clients left, and of streams that ended during
                // the drain, are written by tasks; they may run on any worker.
                tasks.close();
                tasks.wait().await;
            };
            tokio::select! {
                () = served => {}
                () = abort.cancelled() => {}
            }
        }
    })
}

async fn open_budget_store(
    gw: &crate::config::GatewaySettings,
    snapshot: &crate::config::Snapshot,
) -> anyhow::Result<Arc<dyn BudgetStore>> {
    Ok(match gw.state.mode {
        StateMode::Memory => Arc::new(MemoryStore::new(snapshot.budget.task_retention)),
        StateMode::Redis => Arc::new(
            RedisStore::connect(&gw.state, &snapshot.budget)
                .await
                .context("connecting the budget state to Redis")?,
        ),
    })
}

/// Rebuilds spend and task state from the ledger, so a restart neither forgets spend nor
/// resets the month. Request records are keyed by request id, so nothing is counted twice.
async fn rebuild_budgets(
    store: &dyn BudgetStore,
    gw: &crate::config::GatewaySettings,
) -> anyhow::Result<()> {
    let path = gw.ledger.resolve_path(&gw.data.dir);
    let (events, outcomes) = tokio::task::spawn_blocking(move || ledger_history(&path)).await??;
    let report = budget::rebuild(store, events.into_iter(), chrono::Utc::now())
        .await
        .context("rebuilding budgets from the ledger")?;
    tracing::info!(?report, "budgets rebuilt from the ledger");
    for (wf, task, status, quality) in outcomes {
        // Already-recorded outcomes answer 409; that is the point of replaying them.
        let _ = store.record_outcome(&wf, &task, status, quality).await;
    }
    Ok(())
}

type OutcomeEvent = (
    crate::types::WorkflowId,
    String,
    budget::TaskStatus,
    Option<f64>,
);

fn ledger_history(
    path: &std::path::Path,
) -> anyhow::Result<(Vec<budget::SpendEvent>, Vec<OutcomeEvent>)> {
    let mut events = Vec::new();
    let mut outcomes = Vec::new();
    if !path.exists() {
        return Ok((events, outcomes));
    }
    for rec in crate::ledger::read_records(path)? {
        let rec = rec?;
        match rec.body {
            RecordBody::Request(r) if r.cost_micros.0 > 0 => events.push(budget::SpendEvent {
                ts: rec.ts,
                workflow: r.workflow,
                task_id: r.task_id,
                cost: r.cost_micros,
                request_id: r.request_id,
            }),
            RecordBody::TaskOutcome(t) => {
                let status = match t.status {
                    crate::ledger::TaskStatus::Completed => budget::TaskStatus::Completed,
                    crate::ledger::TaskStatus::Failed => budget::TaskStatus::Failed,
                    crate::ledger::TaskStatus::Abandoned => budget::TaskStatus::Abandoned,
                };
                outcomes.push((t.workflow, t.task_id, status, t.quality));
            }
            _ => {}
        }
    }
    Ok((events, outcomes))
}
