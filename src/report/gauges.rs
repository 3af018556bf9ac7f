//! Publishing report figures as gauges, so Grafana shows the same cost per completed task as
//! the report API.

use super::query::GroupBy;
use super::row::CostReport;
use crate::metrics::{Metrics, usd};
use crate::types::MicroUsd;

/// Sets `purser_cost_per_completed_task_usd{workflow}` from a report grouped by workflow
/// (normally the current month, refreshed periodically by the integrator). Workflows with no
/// completed task are left unchanged. Returns how many gauges were set; 0 for a report grouped
/// by anything but workflow.
pub fn publish_cost_per_task(report: &CostReport, metrics: &Metrics) -> usize {
    if report.group_by != GroupBy::Workflow {
        return 0;
    }
    let mut set = 0;
    for row in &report.rows {
        let Some(cpt) = row
            .cost_per_completed_task_usd
            .as_deref()
            .and_then(MicroUsd::parse_usd)
        else {
            continue;
        };
        let label = metrics.workflows.label(&row.key);
        metrics
            .cost_per_completed_task_usd
            .with_label_values(&[label.as_str()])
            .set(usd(cpt.0));
        set += 1;
    }
    set
}
