//! Operations endpoints and layers: `/readyz` (store reachable, index caught up), Prometheus
//! `/metrics`, per-request metrics and request ids. These are not part of the v1 API (no
//! OpenAPI entry): probes and scrapers call them, and a proxy in front may keep them internal.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// The header carrying the request id: kept from the client or a proxy if present, else set.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long `/readyz` lets the index catch up with the store before answering "not ready".
const READY_WAIT: Duration = Duration::from_secs(1);

const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder; tests
/// that build several routers in one process share it).
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".to_owned()),
                    LATENCY_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // Counters that must be present (at 0) before their first event.
            for name in [
                "portcullis_login_failures_total",
                "portcullis_lockouts_total",
                "portcullis_sso_failures_total",
                "portcullis_audit_write_failures_total",
            ] {
                metrics::counter!(name).increment(0);
            }
            Some(handle)
        })
        .as_ref()
}

/// `/readyz` and `/metrics`.
pub fn router() -> Router<AppState> {
    // Install the recorder now so request metrics are recorded from the first request on.
    let _ = prometheus();
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// Ready when the store answers and the index has reached the store's committed revision
/// (waiting up to [`READY_WAIT`] for it, as a write load keeps it a few revisions behind).
async fn readyz(State(service): State<AppState>) -> Response {
    let store_revision = match service.store().revision().await {
        Ok(revision) => revision,
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the store does not answer");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ops.store_unreachable",
                "the store does not answer",
            )
            .into_response();
        }
    };
    let deadline = tokio::time::Instant::now() + READY_WAIT;
    while service.revision() < store_revision {
        if tokio::time::Instant::now() >= deadline {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ops.index_behind",
                format!(
                    "the index is at revision {}, the store at {store_revision}",
                    service.revision()
                ),
            )
            .into_response();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    axum::Json(json!({
        "status": "ready",
        "revision": service.revision(),
        "store_revision": store_revision,
    }))
    .into_response()
}

/// Prometheus text exposition of every metric, after refreshing the index gauges.
async fn metrics_text(State(service): State<AppState>) -> Response {
    let revision = service.revision();
    metrics::gauge!("portcullis_index_revision").set(revision as f64);
    match service.revision_lag().await {
        Ok(lag) => metrics::gauge!("portcullis_index_revision_lag").set(lag as f64),
        Err(err) => tracing::warn!(error = %err, "metrics: cannot read the store revision"),
    }
    let body = prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A request carrying `portcullis-revision: N` (the header a write answered with, on any
/// server) is handled only once this server's index reflects revision N: a credential revoked,
/// a member removed or a user suspended by that write is refused here too. Past the configured
/// `consistency_wait_ms` the answer is 503 `consistency.revision_unavailable`.
pub async fn await_revision(
    State(service): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let wanted = request
        .headers()
        .get(crate::REVISION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>());
    match wanted {
        None => next.run(request).await,
        Some(Err(_)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "consistency.invalid_revision",
            "the portcullis-revision header must be a revision number",
        )
        .into_response(),
        Some(Ok(revision)) => {
            let wait = Duration::from_millis(u64::from(service.config().consistency_wait_ms));
            match service.wait_for_revision(revision, wait).await {
                Ok(()) => next.run(request).await,
                Err(err) => ApiError::from(err).into_response(),
            }
        }
    }
}

/// Counts requests by route template (never the raw path: ids would explode the label set)
/// and status, and times them; check requests also feed the check latency histogram.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    if route.starts_with("/v1/check") {
        metrics::histogram!("portcullis_check_duration_seconds", "route" => route.clone())
            .record(elapsed);
    }
    metrics::histogram!("portcullis_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed);
    metrics::counter!(
        "portcullis_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}
