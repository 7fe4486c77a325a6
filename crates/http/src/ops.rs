//! Operations endpoints and layers: `/readyz` (store reachable, index caught up), Prometheus
//! `/metrics`, per-request metrics and request ids. These are not part of the v1 API (no
//! OpenAPI entry): probes and scrapers call them, and a proxy in front may keep them internal.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tower::Service;
use tracing::Instrument;

use crate::AppState;
use crate::error::ApiError;
use portcullis_service::health::StoreState;

/// The header carrying the request id: kept from the client or a proxy if present, else set.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest `/readyz` takes to answer; the index may catch up with the store until then.
const READY_WAIT: Duration = Duration::from_secs(1);

/// How long `/readyz` and `/metrics` wait for the store itself before relying on the probe.
const STORE_ASK: Duration = Duration::from_millis(400);

/// How often pending histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

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
            // A recorder made with `build_recorder` keeps every histogram sample until a scrape
            // or an upkeep drains it: without a scraper, memory would grow with every request.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
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
/// (waiting briefly for it, as a write load keeps it a few revisions behind). Always answers
/// within [`READY_WAIT`]: the store is asked with a short timeout, and when it does not answer
/// the state comes from the background probe. Not ready (503) when writes cannot succeed; the
/// body then says `degraded`, as checks keep answering from the index in memory.
async fn readyz(State(service): State<AppState>) -> Response {
    let started = tokio::time::Instant::now();
    let state = service.store_state();
    // Known down or full: no point waiting for the store.
    let asked = match state {
        StoreState::Up => tokio::time::timeout(STORE_ASK, service.store().revision()).await,
        StoreState::Full | StoreState::Down => Ok(Ok(0)),
    };
    let store_revision = match (asked, state) {
        (Ok(Ok(revision)), StoreState::Up) => revision,
        (_, StoreState::Full) => {
            return degraded(
                &service,
                "ops.store_full",
                "the store is out of space: writes fail until space is freed",
            );
        }
        (Ok(Err(_)) | Err(_), _) | (_, StoreState::Down) => {
            return degraded(
                &service,
                "ops.store_unreachable",
                "the store does not answer",
            );
        }
    };
    let deadline = started + READY_WAIT - Duration::from_millis(100);
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

/// Not ready for writes, still answering checks from memory.
fn degraded(service: &AppState, code: &'static str, detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail).into_response();
    let body = json!({
        "type": format!("/problems/{code}"),
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": code,
        "state": "degraded",
        "checks": "answering from memory",
        "revision": service.revision(),
        "store_revision": service.probed_store_revision(),
    });
    *response.body_mut() = axum::body::Body::from(body.to_string());
    response
}

/// Prometheus text exposition of every metric, after refreshing the index gauges.
async fn metrics_text(State(service): State<AppState>) -> Response {
    let revision = service.revision();
    metrics::gauge!("portcullis_index_revision").set(revision as f64);
    match tokio::time::timeout(STORE_ASK, service.revision_lag()).await {
        Ok(Ok(lag)) => metrics::gauge!("portcullis_index_revision_lag").set(lag as f64),
        Ok(Err(err)) => tracing::warn!(error = %err, "metrics: cannot read the store revision"),
        Err(_) => tracing::warn!("metrics: the store revision did not come in time"),
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

/// The whole HTTP server as one service around the router: request id, the request's tracing
/// span and log lines, the body limit, consistency, metrics, the revision stamp and the
/// protective headers. One hand-written service instead of a stack of layers: a layer added
/// with `Router::layer` wraps every route in another boxed service, cloned and dropped on every
/// request, which cost more than all the work it did (see docs/benchmarks.md).
///
/// 1. **Request id**: `x-request-id` kept from the client or a proxy if present, else made
///    (see [`RequestIds`]); returned on the response; in the span of every log line.
/// 2. **Consistency**: a request carrying `portcullis-revision: N` (the header a write answered
///    with, on any server) is handled only once this server's index reflects revision N, so a
///    credential revoked, a member removed or a user suspended by that write is refused here
///    too. Past the configured `consistency_wait_ms` the answer is 503
///    `consistency.revision_unavailable`.
/// 3. **Metrics**: requests counted by route template (never the raw path: ids would explode
///    the label set), method and status, and timed; checks also feed the check histogram.
/// 4. **Revision stamp**: a successful write answers with the index revision in
///    `portcullis-revision`. Taken after the write was applied, it is at least the write's own
///    revision, which is what a consistency token needs.
#[derive(Clone)]
pub struct Server<S> {
    inner: S,
    service: AppState,
    ids: RequestIds,
}

impl<S> std::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl<S> Server<S> {
    pub fn new(inner: S, service: AppState) -> Self {
        Self {
            inner,
            service,
            ids: RequestIds::default(),
        }
    }
}

impl<S, B> Service<axum::http::Request<B>> for Server<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        let request_id = match request.headers().get(REQUEST_ID_HEADER) {
            Some(id) => Some(id.clone()),
            None => self.ids.next().inspect(|id| {
                request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
            }),
        };
        let span = request_span(&request, request_id.as_ref());
        // The router is always ready: take this clone's readiness and leave a fresh clone.
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        let service = self.service.clone();
        Box::pin(around(service, inner, request, request_id).instrument(span))
    }
}

/// The span of one request: method, path and request id, so every log line of the request
/// (JSON logs included) carries the id a client or proxy can correlate with.
fn request_span(request: &Request, request_id: Option<&HeaderValue>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = request.method().as_str(),
        path = request.uri().path(),
        request_id = request_id.and_then(|id| id.to_str().ok()).unwrap_or(""),
    )
}

async fn around<S>(
    service: AppState,
    mut inner: S,
    request: Request,
    request_id: Option<HeaderValue>,
) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    // The lines tower-http's trace layer used to write, under its targets, so a filter such as
    // `RUST_LOG=info,tower_http=debug` keeps giving one line per request.
    tracing::debug!(target: "tower_http::trace::on_request", "started processing request");
    let method = request.method().clone();
    let docs = request.uri().path().starts_with("/docs");
    let started = Instant::now();
    let response = match wanted_revision(&request) {
        None => inner.call(request).await?,
        Some(Err(())) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "consistency.invalid_revision",
            "the portcullis-revision header must be a revision number",
        )
        .into_response(),
        Some(Ok(revision)) => {
            let wait = Duration::from_millis(u64::from(service.config().consistency_wait_ms));
            match service.wait_for_revision(revision, wait).await {
                Ok(()) => inner.call(request).await?,
                Err(err) => ApiError::from(err).into_response(),
            }
        }
    };
    let latency = started.elapsed();
    let elapsed = latency.as_secs_f64();
    let route = response.extensions().get::<MatchedPath>();
    let metrics = RouteMetrics::of(route.map_or("unmatched", MatchedPath::as_str));
    if let Some(check) = &metrics.check_duration {
        check.record(elapsed);
    }
    metrics.duration.record(elapsed);
    metrics.requests(&method, response.status()).increment(1);
    let mut response = stamp_revision(&service, &method, response);
    protect(response.headers_mut(), docs);
    // Kept as the client or a proxy sent it, unless the route set its own.
    if let Some(id) = request_id {
        response
            .headers_mut()
            .entry(REQUEST_ID_HEADER)
            .or_insert(id);
    }
    let status = response.status();
    tracing::debug!(
        target: "tower_http::trace::on_response",
        latency = %format_args!("{} ms", latency.as_millis()),
        status = status.as_u16(),
        "finished processing request"
    );
    if status.is_server_error() {
        tracing::error!(
            target: "tower_http::trace::on_failure",
            classification = %format_args!("Status code: {status}"),
            latency = %format_args!("{} ms", latency.as_millis()),
            "response failed"
        );
    }
    Ok(response)
}

/// Copies the route template the router matched into the response, for [`Server`]'s metrics
/// (the router puts it into the request only). Added with `Router::layer`.
#[derive(Debug, Clone, Copy)]
pub struct RouteTemplateLayer;

impl<S> tower::Layer<S> for RouteTemplateLayer {
    type Service = RouteTemplate<S>;

    fn layer(&self, inner: S) -> RouteTemplate<S> {
        RouteTemplate(inner)
    }
}

#[derive(Debug, Clone)]
pub struct RouteTemplate<S>(S);

impl<S> Service<Request> for RouteTemplate<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithTemplate<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let template = request.extensions().get::<MatchedPath>().cloned();
        WithTemplate {
            inner: self.0.call(request),
            template,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RouteTemplate`].
    #[derive(Debug)]
    pub struct WithTemplate<F> {
        #[pin]
        inner: F,
        template: Option<MatchedPath>,
    }
}

impl<F, E> Future for WithTemplate<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(template) = this.template.take() {
            response.extensions_mut().insert(template);
        }
        Poll::Ready(Ok(response))
    }
}

/// The Content-Security-Policy of the API documentation (the vendored Swagger UI loads only
/// its own scripts; its components set inline styles and use `data:` icons).
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries unless its route set its own (the console sets a stricter
/// policy): no content sniffing anywhere, and the documentation neither framed nor allowed to
/// run foreign scripts.
fn protect(headers: &mut axum::http::HeaderMap, docs: bool) {
    use axum::http::header;
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    if docs {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(DOCS_CSP));
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
    }
}

/// The revision a request asks the server to have reached, if it names one.
fn wanted_revision(request: &Request) -> Option<Result<u64, ()>> {
    let value = request.headers().get(crate::REVISION_HEADER)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or(()),
    )
}

fn stamp_revision(service: &AppState, method: &Method, mut response: Response) -> Response {
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if mutating && response.status().is_success() {
        response.headers_mut().insert(
            crate::REVISION_HEADER,
            HeaderValue::from(service.revision()),
        );
    }
    response
}

/// The metric handles of one route, registered on its first request. Registering builds a
/// labelled key and looks it up in the recorder's registry (allocations and hashing); a
/// request only records into handles it already holds.
struct RouteMetrics {
    route: String,
    duration: Histogram,
    check_duration: Option<Histogram>,
    /// One counter per method and status seen on this route (a handful).
    requests: RwLock<Vec<(Method, StatusCode, Counter)>>,
}

impl RouteMetrics {
    fn of(route: &str) -> Arc<Self> {
        static ROUTES: OnceLock<RwLock<HashMap<String, Arc<RouteMetrics>>>> = OnceLock::new();
        let routes = ROUTES.get_or_init(Default::default);
        if let Some(found) = routes.read().ok().and_then(|r| r.get(route).cloned()) {
            return found;
        }
        let mut routes = routes.write().unwrap_or_else(PoisonError::into_inner);
        routes
            .entry(route.to_owned())
            .or_insert_with(|| {
                Arc::new(Self {
                    route: route.to_owned(),
                    duration: metrics::histogram!(
                        "portcullis_http_request_duration_seconds",
                        "route" => route.to_owned()
                    ),
                    check_duration: route.starts_with("/v1/check").then(|| {
                        metrics::histogram!(
                            "portcullis_check_duration_seconds",
                            "route" => route.to_owned()
                        )
                    }),
                    requests: RwLock::default(),
                })
            })
            .clone()
    }

    fn requests(&self, method: &Method, status: StatusCode) -> Counter {
        let find = |counters: &[(Method, StatusCode, Counter)]| {
            counters
                .iter()
                .find(|(m, s, _)| m == method && *s == status)
                .map(|(_, _, counter)| counter.clone())
        };
        if let Some(found) = self.requests.read().ok().and_then(|c| find(&c)) {
            return found;
        }
        let mut counters = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find(&counters) {
            return found;
        }
        let counter = metrics::counter!(
            "portcullis_http_requests_total",
            "method" => method.as_str().to_owned(),
            "route" => self.route.clone(),
            "status" => status.as_u16().to_string()
        );
        counters.push((method.clone(), status, counter.clone()));
        counter
    }
}

/// Request ids: a random 64-bit prefix drawn once per process and a counter, shaped as a UUID.
/// Unique across servers and restarts like a random UUID, without asking the operating
/// system for randomness on every request.
#[derive(Clone)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let (prefix, _) = uuid::Uuid::new_v4().as_u64_pair();
        Self {
            prefix,
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl RequestIds {
    fn next(&self) -> Option<HeaderValue> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Multiplying by an odd constant is a bijection on u64: ids stay unique, and do not
        // tell a client how many requests the server has answered.
        let id = uuid::Uuid::from_u64_pair(self.prefix, n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn request_ids_are_unique_uuids_that_do_not_count_requests() {
        let ids = RequestIds::default();
        let made: Vec<uuid::Uuid> = (0..1000)
            .map(|_| {
                let id = ids.next().expect("an id");
                uuid::Uuid::parse_str(id.to_str().expect("ascii")).expect("a uuid")
            })
            .collect();
        assert_eq!(made.iter().collect::<HashSet<_>>().len(), made.len());
        let (prefix, _) = made[0].as_u64_pair();
        assert!(made.iter().all(|id| id.as_u64_pair().0 == prefix));
        let (_, first) = made[0].as_u64_pair();
        let (_, second) = made[1].as_u64_pair();
        assert_ne!(
            second.wrapping_sub(first),
            1,
            "consecutive ids reveal a counter"
        );
        // Another process (another generator) draws another prefix.
        let other = RequestIds::default();
        let id = other.next().expect("an id");
        let id = uuid::Uuid::parse_str(id.to_str().expect("ascii")).expect("uuid");
        assert_ne!(id.as_u64_pair().0, prefix);
    }
}
