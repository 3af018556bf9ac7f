//! The monthly COGS statement: per workflow, spend, tasks, cost per completed task, savings and
//! budget use, as a fixed-width table, CSV or JSON.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::Error;
use super::row::{CostReport, ReportRow, Savings};
use crate::types::{MicroUsd, WorkflowId};

/// A month's cost of goods sold, per workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CogsStatement {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// One line per workflow, sorted by name.
    pub lines: Vec<CogsLine>,
    /// Sum of all lines (workflow `total`; its budget is the sum of the budgets given).
    pub total: CogsLine,
}

/// One workflow's month. Money fields are decimal USD strings with six decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CogsLine {
    /// Workflow name.
    pub workflow: String,
    /// Spend of the month's requests.
    pub spend_usd: String,
    /// Requests.
    pub requests: u64,
    /// Tasks completed this month.
    pub completed_tasks: u64,
    /// Tasks failed this month.
    pub failed_tasks: u64,
    /// Tasks abandoned this month.
    pub abandoned_tasks: u64,
    /// Spend of the month's ended tasks / completed tasks; `None` with none completed.
    pub cost_per_completed_task_usd: Option<String>,
    /// Savings split.
    pub savings: Savings,
    /// Monthly budget, when one was given for the workflow.
    pub budget_usd: Option<String>,
    /// `spend / budget` in percent with one decimal (e.g. `"83.4"`), when a budget was given.
    pub budget_used_pct: Option<String>,
}

/// Output format of the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CogsFormat {
    /// Aligned text columns.
    #[default]
    Table,
    /// CSV with a header.
    Csv,
    /// Pretty JSON.
    Json,
}

/// Table columns: header and width.
const COLUMNS: [(&str, usize); 11] = [
    ("workflow", 16),
    ("spend_usd", 14),
    ("requests", 9),
    ("completed", 9),
    ("failed", 7),
    ("abandoned", 9),
    ("usd_per_completed", 17),
    ("saved_routing", 14),
    ("saved_cache", 13),
    ("saved_compress", 14),
    ("budget_used", 16),
];

// --- CogsStatement ---

impl CogsStatement {
    /// Builds the statement from a report grouped by workflow over the month.
    pub fn build(
        month: &str,
        report: &CostReport,
        budgets: &BTreeMap<WorkflowId, MicroUsd>,
    ) -> CogsStatement {
        let budget_of = |w: &str| budgets.get(&WorkflowId(w.to_owned())).copied();
        let lines = report
            .rows
            .iter()
            .map(|r| CogsLine::from_row(r, budget_of(&r.key)))
            .collect();
        let total_budget = report
            .rows
            .iter()
            .filter_map(|r| budget_of(&r.key))
            .fold(None, |acc: Option<MicroUsd>, b| {
                Some(acc.unwrap_or(MicroUsd::ZERO).saturating_add(b))
            });
        CogsStatement {
            month: month.to_owned(),
            lines,
            total: CogsLine::from_row(&report.total, total_budget),
        }
    }

    /// Writes the statement in `format`.
    ///
    /// # Errors
    /// [`Error::Output`] or [`Error::Csv`] when writing fails.
    pub fn write(&self, format: CogsFormat, out: &mut dyn Write) -> Result<(), Error> {
        let io = |source| Error::Output { source };
        match format {
            CogsFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, self).map_err(|e| Error::Output {
                    source: std::io::Error::other(e),
                })?;
                writeln!(out).map_err(io)
            }
            CogsFormat::Csv => self.write_csv(out),
            CogsFormat::Table => self.write_table(out),
        }
    }

    fn write_csv(&self, out: &mut dyn Write) -> Result<(), Error> {
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |e: csv::Error| Error::Csv {
            detail: e.to_string(),
        };
        let mut header = vec!["month"];
        header.extend(COLUMNS.iter().map(|c| c.0));
        header.push("budget_usd");
        w.write_record(&header).map_err(csv_err)?;
        for line in self.lines.iter().chain(std::iter::once(&self.total)) {
            let mut rec = vec![self.month.clone()];
            rec.extend(line.cells());
            rec.push(line.budget_usd.clone().unwrap_or_default());
            w.write_record(&rec).map_err(csv_err)?;
        }
        w.flush().map_err(|source| Error::Output { source })
    }

    fn write_table(&self, out: &mut dyn Write) -> Result<(), Error> {
        let io = |source| Error::Output { source };
        writeln!(out, "COGS statement {} (UTC)", self.month).map_err(io)?;
        let header: Vec<String> = COLUMNS.iter().map(|c| c.0.to_owned()).collect();
        write_table_line(out, &header).map_err(io)?;
        for line in &self.lines {
            write_table_line(out, &line.cells()).map_err(io)?;
        }
        write_table_line(out, &self.total.cells()).map_err(io)
    }
}

fn write_table_line(out: &mut dyn Write, cells: &[String]) -> std::io::Result<()> {
    let mut text = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS.iter()).enumerate() {
        if i == 0 {
            text.push_str(&format!("{cell:<width$}"));
        } else {
            text.push_str(&format!(" {cell:>width$}"));
        }
    }
    writeln!(out, "{}", text.trim_end())
}

// --- CogsLine ---

impl CogsLine {
    fn from_row(r: &ReportRow, budget: Option<MicroUsd>) -> CogsLine {
        CogsLine {
            workflow: r.key.clone(),
            spend_usd: r.spend_usd.clone(),
            requests: r.requests,
            completed_tasks: r.completed_tasks,
            failed_tasks: r.failed_tasks,
            abandoned_tasks: r.abandoned_tasks,
            cost_per_completed_task_usd: r.cost_per_completed_task_usd.clone(),
            savings: r.savings.clone(),
            budget_usd: budget.map(MicroUsd::to_usd_string),
            budget_used_pct: budget.and_then(|b| used_pct(MicroUsd(r.spend_micros), b)),
        }
    }

    /// Cells in [`COLUMNS`] order.
    fn cells(&self) -> Vec<String> {
        let used = match (&self.budget_used_pct, &self.budget_usd) {
            (Some(p), Some(b)) => format!("{p}% of {b}"),
            _ => "-".to_owned(),
        };
        vec![
            self.workflow.clone(),
            self.spend_usd.clone(),
            self.requests.to_string(),
            self.completed_tasks.to_string(),
            self.failed_tasks.to_string(),
            self.abandoned_tasks.to_string(),
            self.cost_per_completed_task_usd
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            self.savings.routing_usd.clone(),
            self.savings.cache_usd.clone(),
            self.savings.compression_usd.clone(),
            used,
        ]
    }
}

/// `spend / budget * 100` with one decimal, rounded half up; `None` for a zero budget.
pub(crate) fn used_pct(spend: MicroUsd, budget: MicroUsd) -> Option<String> {
    if budget.0 <= 0 {
        return None;
    }
    let (s, b) = (i128::from(spend.0.max(0)), i128::from(budget.0));
    let tenths = (s * 2000 + b) / (2 * b);
    Some(format!("{}.{}", tenths / 10, tenths % 10))
}
