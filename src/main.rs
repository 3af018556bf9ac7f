//! The `purser` binary: parse flags, load config, build the app, serve, wait for shutdown; or
//! run one of the offline commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

/// See Cargo.toml: fewer cycles per small allocation and less fragmentation than glibc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Purser: an OpenAI-compatible gateway that keeps LLM spend cheap and predictable.
#[derive(Parser)]
#[command(name = "purser", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Serve(ServeArgs),
    /// Ledger tools.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Virtual keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Train a difficulty router on labelled data (RouteLLM CSV layout).
    Train(purser::router::cli::TrainArgs),
    /// Pick route thresholds on labelled data for a quality, strong-share or cost target.
    Calibrate(purser::router::cli::CalibrateArgs),
    /// Evaluate routing tables offline: APGR, CPT, cost saving, route and cascade modes.
    Eval(purser::router::cli::EvalArgs),
    /// Score prompts (JSON lines on stdin) with a router artifact.
    Score(purser::router::cli::ScoreArgs),
    /// Monthly COGS statement per workflow from a ledger (table, CSV or JSON).
    Report(purser::report::cli::ReportArgs),
    /// Compress chat request bodies (JSON lines on stdin) and write them to stdout.
    Compress(purser::compress::cli::CompressArgs),
    /// Score the compressor on the multi-document QA set (ratio, answer and gold retention).
    EvalCompress(purser::compress::cli::EvalCompressArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a virtual key for a workflow; prints the key (give it to the client) and the
    /// hash to put in the workflow's `keys`.
    New(purser::budget::cli::NewKeyArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Listen address (overrides `server.listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Gateway config file (default: the built-in one; routes/ and pricing/ from the working directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// State folder (overrides `data.dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Check the hash chain of a ledger file and say where it breaks.
    Verify(purser::ledger::cli::VerifyArgs),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(a) => serve(a),
        Command::Train(a) => purser::router::cli::run_train(&a, &mut std::io::stdout().lock())
            .map_err(anyhow::Error::from),
        Command::Calibrate(a) => {
            purser::router::cli::run_calibrate(&a, &mut std::io::stdout().lock())
                .map_err(anyhow::Error::from)
        }
        Command::Eval(a) => purser::router::cli::run_eval(&a, &mut std::io::stdout().lock())
            .map_err(anyhow::Error::from),
        Command::Score(a) => purser::router::cli::run_score(
            &a,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        )
        .map_err(anyhow::Error::from),
        Command::Report(a) => purser::report::cli::run_report(&a, &mut std::io::stdout().lock())
            .map_err(anyhow::Error::from),
        Command::Compress(a) => purser::compress::cli::run_compress(
            &a,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        )
        .map_err(anyhow::Error::from),
        Command::EvalCompress(a) => {
            purser::compress::cli::run_eval(&a, &mut std::io::stdout().lock())
                .map(|_| ())
                .map_err(anyhow::Error::from)
        }
        Command::Keys(KeysCommand::New(a)) => {
            purser::budget::cli::run_new_key(&a, &mut rand::rng(), &mut std::io::stdout().lock())
                .map_err(anyhow::Error::from)
        }
        Command::Ledger(LedgerCommand::Verify(a)) => {
            purser::ledger::cli::run_verify(&a, &mut std::io::stdout().lock())
                .map_err(anyhow::Error::from)
                .and_then(|ok| {
                    if ok {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!("ledger chain is broken"))
                    }
                })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PURSER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let running = purser::app::start(purser::app::ServeOptions {
            config: a.config,
            listen: a.listen,
            data_dir: a.data_dir,
        })
        .await?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        }
        running.shutdown();
        running.wait().await
    })
}
