//! Wiring: builds every component from the configuration and serves until told to stop. The
//! only file that knows all the components.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{self, ConfigHandle};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::proxy::{Pipeline, PipelineParts, router};

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
    let snapshot = config::load_snapshot(&gw, &base, 1)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    // Load the BPE tables now rather than on the first request.
    for enc in [
        crate::tokenizer::Encoding::O200kBase,
        crate::tokenizer::Encoding::Cl100kBase,
    ] {
        enc.count("warm up");
    }
    let metrics = Arc::new(Metrics::try_new(&[])?);
    metrics.config_generation.set(1);
    let (ledger, ledger_task) =
        Ledger::open(&gw.ledger, &gw.data.dir).context("opening the ledger")?;
    let config = Arc::new(ConfigHandle::new(snapshot));
    let stop = CancellationToken::new();
    let reloader = config::spawn_reloader(
        Arc::clone(&config),
        opts.config.clone(),
        Arc::clone(&metrics),
        stop.clone(),
    );
    let pipeline = Pipeline::new(PipelineParts {
        config,
        metrics,
        ledger: ledger.clone(),
        server: gw.server.clone(),
    });
    let listener = TcpListener::bind(gw.server.listen)
        .await
        .with_context(|| format!("binding {}", gw.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "purser listening");
    let grace = gw.server.shutdown_grace;
    let serve_stop = stop.clone();
    let join = tokio::spawn(async move {
        let app = router(pipeline);
        let server =
            axum::serve(listener, app).with_graceful_shutdown(serve_stop.clone().cancelled_owned());
        let server = tokio::spawn(async move { server.await });
        serve_stop.cancelled().await;
        match tokio::time::timeout(grace, server).await {
            Ok(r) => r.context("server task")?.context("server")?,
            Err(_) => {
                tracing::warn!("shutdown grace period over; abandoning remaining connections")
            }
        }
        reloader.abort();
        // Settlement tasks of streams that ended during the drain hold ledger handles; the
        // shutdown command is queued behind their records.
        ledger.shutdown().await.context("ledger shutdown")?;
        ledger_task.wait().await.context("ledger writer")?;
        tracing::info!("purser stopped");
        Ok(())
    });
    Ok(Running { addr, stop, join })
}
