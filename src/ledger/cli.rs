//! `purser ledger verify FILE`: the command-line side of [`super::verify`]. Output goes to a
//! caller-provided writer; the integrator maps `Ok(false)` to a non-zero exit code.

use std::io::Write;
use std::path::PathBuf;

use super::{Error, verify};

/// Arguments of `ledger verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Ledger file (JSON Lines) to verify.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Verifies `args.file` and writes one summary line to `out`: `OK: …` or `BROKEN at line N
/// (seq S): what …`. Returns `Ok(true)` when the chain is intact, `Ok(false)` when broken.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read or `out` cannot be written.
pub fn run_verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<bool, Error> {
    let report = verify(&args.file)?;
    writeln!(out, "{}: {report}", args.file.display()).map_err(|source| Error::Io {
        op: "write report",
        path: PathBuf::from("<output>"),
        source,
    })?;
    Ok(report.is_ok())
}
