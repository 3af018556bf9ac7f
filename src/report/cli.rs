//! `purser report`: the monthly COGS statement from a ledger file. Output goes to a
//! caller-provided writer.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;

use super::cogs::{CogsFormat, CogsStatement};
use super::query::{GroupBy, ReportQuery, month_bounds, month_of};
use super::row::CostReport;
use super::{Error, parse_duration};
use crate::types::{MicroUsd, WorkflowId};

/// Arguments of `purser report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Ledger file (JSON Lines) to read.
    #[arg(long, value_name = "FILE")]
    pub ledger: PathBuf,
    /// Month to report, `YYYY-MM` (UTC). Default: the current month.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CogsFormat::Table)]
    pub format: CogsFormat,
    /// Only this workflow.
    #[arg(long, value_name = "W")]
    pub workflow: Option<String>,
    /// Monthly budget of a workflow, `WORKFLOW=USD` (repeatable), for the "budget used" column.
    /// The integrator may fill this from the configured budgets.
    #[arg(long = "budget", value_name = "WORKFLOW=USD")]
    pub budgets: Vec<String>,
    /// A task idle this long with no outcome counts as abandoned (e.g. `30m`, `2h`).
    #[arg(long, default_value = "30m")]
    pub abandon_after: String,
}

/// Writes the COGS statement for `args` to `out`. Tasks still open at the month's end (or
/// now, for the current month) are counted only once idle past `abandon_after`.
///
/// # Errors
/// [`Error::BadParameter`] for a malformed `--month`, `--budget` or `--abandon-after`;
/// [`Error::Ledger`] when the ledger cannot be read; [`Error::Output`]/[`Error::Csv`] when
/// writing fails.
pub fn run_report(args: &ReportArgs, out: &mut dyn Write) -> Result<(), Error> {
    let now = Utc::now();
    let month = args.month.clone().unwrap_or_else(|| month_of(now));
    let (from, to) = month_bounds(&month)?;
    let budgets = parse_budgets(&args.budgets)?;
    let abandon_after = parse_duration(&args.abandon_after)
        .filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(|| Error::BadParameter {
            param: "abandon-after".to_owned(),
            detail: format!("`{}` is not a duration like 30m", args.abandon_after),
        })?;
    let query = ReportQuery {
        workflow: args.workflow.clone().map(WorkflowId),
        from: Some(from),
        to: Some(to),
        group_by: GroupBy::Workflow,
        abandon_after,
        as_of: Some(now.min(to)),
    };
    let report = CostReport::from_ledger(&args.ledger, &query)?;
    CogsStatement::build(&month, &report, &budgets).write(args.format, out)
}

/// Parses `WORKFLOW=USD` pairs.
///
/// # Errors
/// [`Error::BadParameter`] naming `budget`.
pub fn parse_budgets(pairs: &[String]) -> Result<BTreeMap<WorkflowId, MicroUsd>, Error> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        let bad = || Error::BadParameter {
            param: "budget".to_owned(),
            detail: format!("`{pair}` is not WORKFLOW=USD with a positive amount"),
        };
        let (w, usd) = pair.split_once('=').ok_or_else(bad)?;
        let amount = MicroUsd::parse_usd(usd)
            .filter(|m| m.0 > 0)
            .ok_or_else(bad)?;
        if w.is_empty() {
            return Err(bad());
        }
        map.insert(WorkflowId(w.to_owned()), amount);
    }
    Ok(map)
}
