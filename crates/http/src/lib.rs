//! Portcullis HTTP adapter: the axum router of the v1 API, request extractors, DTOs, the one
//! error mapping to `application/problem+json`, and the OpenAPI document.
//!
//! Handlers extract, call one service function and map the result. They never decide
//! permissions: the service does.

mod dto;
mod error;
mod extract;
mod openapi;
mod ops;
mod routes;
mod schema_values;

use std::sync::Arc;

use axum::Router;
use portcullis_service::Portcullis;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};
pub use ops::REQUEST_ID_HEADER;
pub use routes::OutboxMessageDto;

pub type AppState = Arc<Portcullis>;

/// Largest accepted request body (notes may be 64 KiB; JSON escaping can double that).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The whole HTTP surface: `/healthz`, `/v1/...`, `/docs`.
pub fn router(service: AppState) -> Router {
    let (api, spec) = routes::api().split_for_parts();
    let spec = openapi::complete(&spec);
    api.merge(openapi::docs_router(spec))
        .merge(portcullis_console::router(service.clone()))
        .merge(ops::router())
        .merge(routes::scim::router())
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            ops::around,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            ops::RequestIds::default(),
        ))
        .with_state(service)
}

/// The span of one request: method, path and request id, so every log line of the request
/// (JSON logs included) carries the id a client or proxy can correlate with.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// Header carrying the data revision after a write: pass it as `consistency.at_least` to a
/// later check (on any server) to be sure the check sees the write.
pub const REVISION_HEADER: &str = "portcullis-revision";
