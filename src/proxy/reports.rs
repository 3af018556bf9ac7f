//! Finance endpoints: `GET /v1/reports/cost` (JSON or CSV, computed from the ledger so it
//! reconciles with it to the micro-dollar) and the built-in COGS page at `/dashboard`.

use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::ProxyError;
use super::pipeline::Pipeline;
use crate::api::ValidationError;
use crate::report::{CostReport, Error as ReportError, ReportQuery};

/// The page: static HTML and inline JS that draws charts from the report API.
const DASHBOARD: &str = include_str!("../../dashboards/page/index.html");

impl From<ReportError> for ProxyError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::BadParameter { param, detail } => ProxyError::Invalid(ValidationError {
                message: format!("invalid report parameter `{param}`: {detail}"),
                param: Some(param.to_string()),
            }),
            other => ProxyError::Internal(other.to_string()),
        }
    }
}

/// Splits `format=csv|json` off the query string (the rest is the report query).
fn split_format(qs: &str) -> (bool, String) {
    let mut csv = false;
    let rest: Vec<&str> = qs
        .split('&')
        .filter(|p| match p.strip_prefix("format=") {
            Some(f) => {
                csv = f.eq_ignore_ascii_case("csv");
                false
            }
            None => !p.is_empty(),
        })
        .collect();
    (csv, rest.join("&"))
}

impl Pipeline {
    /// `GET /v1/reports/cost?workflow=&from=&to=&month=&group_by=&format=json|csv`.
    pub(crate) async fn cost_report(&self, headers: HeaderMap, query: Option<String>) -> Response {
        match self
            .cost_report_inner(&headers, query.unwrap_or_default())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.parts
                    .metrics
                    .errors
                    .with_label_values(&[e.kind().label()])
                    .inc();
                e.into_response()
            }
        }
    }

    async fn cost_report_inner(
        &self,
        headers: &HeaderMap,
        qs: String,
    ) -> Result<Response, ProxyError> {
        let mut ctx = super::ctx::RequestCtx::new(self.parts.config.snapshot(), headers);
        self.identify(&mut ctx, headers)?;
        let (csv, rest) = split_format(&qs);
        let q = ReportQuery::parse_query(&rest)?;
        let path = self.parts.ledger_path.clone();
        let reports = std::sync::Arc::clone(&self.parts.reports);
        let task = tokio::task::spawn_blocking(move || -> Result<Response, ReportError> {
            if csv {
                let mut q = q;
                q.as_of = q.as_of.or_else(|| Some(chrono::Utc::now()));
                let report = if path.exists() {
                    CostReport::from_ledger(&path, &q)?
                } else {
                    CostReport::from_records(Vec::new(), &q)
                };
                let mut out = Vec::new();
                report.write_csv(&mut out)?;
                Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
            } else {
                Ok(axum::Json(reports.cost_report_json(&path, &q)?).into_response())
            }
        });
        task.await
            .map_err(|e| ProxyError::Internal(format!("report task: {e}")))?
            .map_err(ProxyError::from)
    }
}

/// `GET /dashboard`.
pub(crate) async fn dashboard() -> Response {
    Html(DASHBOARD).into_response()
}
