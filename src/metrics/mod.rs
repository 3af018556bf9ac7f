//! Prometheus registry and every metric Purser exports, with closed label sets.
//! Owns names, units, buckets and label bounding; must not decide anything about requests.
//! Uses `types`.

mod labels;

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use labels::WorkflowLabels;

/// Error creating or registering a metric (a programming error caught at startup).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Latency buckets for gateway overhead: 10 µs to 50 ms.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00015, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
];
/// Latency buckets for whole requests and upstream calls: 1 ms to 120 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Every metric, registered once in `app.rs` and shared by handle.
pub struct Metrics {
    registry: Registry,
    /// Bounded workflow label values.
    pub workflows: WorkflowLabels,
    /// Requests answered, by workflow, route, model and outcome.
    pub requests: IntCounterVec,
    /// Tokens by workflow, model and kind (input, cached_input, output).
    pub tokens: IntCounterVec,
    /// Spend in USD by workflow, model and route.
    pub cost_usd: CounterVec,
    /// Spend in integer micro-dollars (exact, for reconciliation).
    pub cost_usd_micros: IntCounterVec,
    /// What the same traffic would have cost on the route's strongest model, by workflow.
    pub baseline_cost_usd: CounterVec,
    /// Whole-request latency by route and mode (stream or not).
    pub request_seconds: HistogramVec,
    /// Upstream attempt latency by provider and model.
    pub upstream_seconds: HistogramVec,
    /// Time spent in the gateway itself (total minus upstream).
    pub overhead_seconds: HistogramVec,
    /// Streaming: time to first byte to the client.
    pub ttfb_seconds: HistogramVec,
    /// Upstream attempts by provider, model and outcome.
    pub upstream_attempts: IntCounterVec,
    /// Upstream failures by provider and failure kind.
    pub upstream_errors: IntCounterVec,
    /// Retries by provider.
    pub upstream_retries: IntCounterVec,
    /// Fallbacks to another model by route.
    pub fallbacks: IntCounterVec,
    /// 1 while a provider's circuit breaker is open.
    pub circuit_open: IntGaugeVec,
    /// Client-facing errors by kind.
    pub errors: IntCounterVec,
    /// Routing decisions by route, tier and reason.
    pub routing_decisions: IntCounterVec,
    /// Cascade escalations by route and reason.
    pub escalations: IntCounterVec,
    /// Cache lookups by workflow and status (hit, miss, bypass).
    pub cache_requests: IntCounterVec,
    /// USD saved by cache hits, by workflow.
    pub cache_saved_usd: CounterVec,
    /// Entries and bytes in the in-process cache.
    pub cache_entries: IntGauge,
    /// Bytes in the in-process cache.
    pub cache_bytes: IntGauge,
    /// Redis cache tier errors (degraded to misses).
    pub cache_redis_errors: IntCounterVec,
    /// Tokens removed by compression, by workflow.
    pub compression_saved_tokens: IntCounterVec,
    /// USD saved by compression, by workflow.
    pub compression_saved_usd: CounterVec,
    /// Budget denials by workflow and limit.
    pub budget_denials: IntCounterVec,
    /// Budget downgrades by workflow.
    pub budget_downgrades: IntCounterVec,
    /// Spend in the current window by workflow and window (day, month), micro-USD.
    pub budget_spent_usd_micros: IntGaugeVec,
    /// Configured limit by workflow and window, micro-USD.
    pub budget_limit_usd_micros: IntGaugeVec,
    /// Projected month-end spend (lower bound and point), by workflow.
    pub budget_forecast_usd: GaugeVec,
    /// Alerts raised by workflow and kind.
    pub alerts: IntCounterVec,
    /// Tasks ended by workflow and status.
    pub tasks: IntCounterVec,
    /// Cost per completed task over the current month, by workflow.
    pub cost_per_completed_task_usd: GaugeVec,
    /// Ledger records written.
    pub ledger_records: IntCounterVec,
    /// Current configuration generation (increments on every successful reload).
    pub config_generation: IntGauge,
    /// Config reloads by outcome.
    pub config_reloads: IntCounterVec,
    /// In-flight requests.
    pub in_flight: IntGauge,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn fcounter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<CounterVec, MetricsError> {
    let c = CounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn fgauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, MetricsError> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, MetricsError> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec, MetricsError> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    /// Registers every metric. `workflows` are the configured workflow names (label values).
    pub fn try_new(workflows: &[String]) -> Result<Metrics, MetricsError> {
        let r = Registry::new_custom(Some("purser".into()), None)?;
        let m = Metrics {
            workflows: WorkflowLabels::new(workflows),
            requests: counter(
                &r,
                "requests_total",
                "Requests answered",
                &["workflow", "route", "model", "outcome"],
            )?,
            tokens: counter(
                &r,
                "tokens_total",
                "Tokens billed",
                &["workflow", "model", "kind"],
            )?,
            cost_usd: fcounter(
                &r,
                "cost_usd_total",
                "Spend in USD",
                &["workflow", "model", "route"],
            )?,
            cost_usd_micros: counter(
                &r,
                "cost_usd_micros_total",
                "Spend in micro-USD (exact)",
                &["workflow", "model", "route"],
            )?,
            baseline_cost_usd: fcounter(
                &r,
                "baseline_cost_usd_total",
                "Cost of the same traffic on the route's strongest model, USD",
                &["workflow"],
            )?,
            request_seconds: histogram(
                &r,
                "request_duration_seconds",
                "Whole request latency",
                &["route", "mode"],
                LATENCY_BUCKETS,
            )?,
            upstream_seconds: histogram(
                &r,
                "upstream_duration_seconds",
                "Upstream attempt latency",
                &["provider", "model"],
                LATENCY_BUCKETS,
            )?,
            overhead_seconds: histogram(
                &r,
                "gateway_overhead_seconds",
                "Latency added by the gateway (total minus upstream)",
                &["mode"],
                OVERHEAD_BUCKETS,
            )?,
            ttfb_seconds: histogram(
                &r,
                "stream_ttfb_seconds",
                "Streaming time to first byte",
                &["route"],
                LATENCY_BUCKETS,
            )?,
            upstream_attempts: counter(
                &r,
                "upstream_attempts_total",
                "Upstream attempts",
                &["provider", "model", "outcome"],
            )?,
            upstream_errors: counter(
                &r,
                "upstream_errors_total",
                "Upstream failures",
                &["provider", "kind"],
            )?,
            upstream_retries: counter(
                &r,
                "upstream_retries_total",
                "Upstream retries",
                &["provider"],
            )?,
            fallbacks: counter(
                &r,
                "fallbacks_total",
                "Fallbacks to another model",
                &["route"],
            )?,
            circuit_open: gauge_vec(
                &r,
                "circuit_breaker_open",
                "1 while the provider's breaker is open",
                &["provider"],
            )?,
            errors: counter(&r, "errors_total", "Client-facing errors", &["kind"])?,
            routing_decisions: counter(
                &r,
                "routing_decisions_total",
                "Routing decisions",
                &["route", "tier", "reason"],
            )?,
            escalations: counter(
                &r,
                "escalations_total",
                "Cascade escalations",
                &["route", "reason"],
            )?,
            cache_requests: counter(
                &r,
                "cache_requests_total",
                "Cache lookups",
                &["workflow", "status"],
            )?,
            cache_saved_usd: fcounter(
                &r,
                "cache_saved_usd_total",
                "USD saved by cache hits",
                &["workflow"],
            )?,
            cache_entries: gauge(&r, "cache_entries", "Entries in the in-process cache")?,
            cache_bytes: gauge(&r, "cache_bytes", "Bytes in the in-process cache")?,
            cache_redis_errors: counter(
                &r,
                "cache_redis_errors_total",
                "Redis cache errors (served as misses)",
                &["op"],
            )?,
            compression_saved_tokens: counter(
                &r,
                "compression_saved_tokens_total",
                "Input tokens removed by compression",
                &["workflow"],
            )?,
            compression_saved_usd: fcounter(
                &r,
                "compression_saved_usd_total",
                "USD saved by compression",
                &["workflow"],
            )?,
            budget_denials: counter(
                &r,
                "budget_denials_total",
                "Requests denied by a budget",
                &["workflow", "limit"],
            )?,
            budget_downgrades: counter(
                &r,
                "budget_downgrades_total",
                "Requests downgraded by a budget",
                &["workflow"],
            )?,
            budget_spent_usd_micros: gauge_vec(
                &r,
                "budget_spent_usd_micros",
                "Spend in the current window, micro-USD",
                &["workflow", "window"],
            )?,
            budget_limit_usd_micros: gauge_vec(
                &r,
                "budget_limit_usd_micros",
                "Budget limit of the window, micro-USD",
                &["workflow", "window"],
            )?,
            budget_forecast_usd: fgauge_vec(
                &r,
                "budget_forecast_month_end_usd",
                "Projected month-end spend",
                &["workflow", "bound"],
            )?,
            alerts: counter(&r, "alerts_total", "Alerts raised", &["workflow", "kind"])?,
            tasks: counter(&r, "tasks_total", "Tasks ended", &["workflow", "status"])?,
            cost_per_completed_task_usd: fgauge_vec(
                &r,
                "cost_per_completed_task_usd",
                "Spend of the month's tasks / completed tasks",
                &["workflow"],
            )?,
            ledger_records: counter(
                &r,
                "ledger_records_total",
                "Ledger records appended",
                &["kind"],
            )?,
            config_generation: gauge(&r, "config_generation", "Configuration generation")?,
            config_reloads: counter(
                &r,
                "config_reloads_total",
                "Configuration reloads",
                &["outcome"],
            )?,
            in_flight: gauge(&r, "in_flight_requests", "Requests in flight")?,
            registry: r,
        };
        Ok(m)
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Converts micro-dollars to dollars for float counters.
pub fn usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}
