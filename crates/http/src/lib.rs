//! Portcullis HTTP adapter: the axum router of the v1 API, request extractors, DTOs, the one
//! error mapping to `application/problem+json`, and the OpenAPI document.
//!
//! Handlers extract, call one service function and map the result. They never decide
//! permissions: the service does.

mod dto;
mod error;
mod extract;
mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;
use portcullis_service::Portcullis;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};

pub type AppState = Arc<Portcullis>;

/// Largest accepted request body (notes may be 64 KiB; JSON escaping can double that).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The whole HTTP surface: `/healthz`, `/v1/...`, `/docs`.
pub fn router(service: AppState) -> Router {
    let (api, spec) = routes::api().split_for_parts();
    let spec = Arc::new(spec);
    api.merge(openapi::docs_router(spec))
        .fallback(error::not_found_fallback)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(service)
}
