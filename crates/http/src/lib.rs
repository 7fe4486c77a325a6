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
use tower::Layer;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};
pub use ops::REQUEST_ID_HEADER;
pub use routes::OutboxMessageDto;

pub type AppState = Arc<Portcullis>;

/// Largest accepted request body (notes may be 64 KiB; JSON escaping can double that).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The whole HTTP surface: `/healthz`, `/v1/...`, `/docs`, as the service to serve (see
/// [`ops::Server`] for what happens around every request).
pub fn service(state: AppState) -> Server {
    Server(ops::Server::new(
        axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES).layer(router(state.clone())),
        state,
    ))
}

/// The routes alone, without what [`service`] does around each request.
pub fn router(service: AppState) -> Router {
    let (api, spec) = routes::api().split_for_parts();
    let spec = openapi::complete(&spec);
    api.merge(openapi::docs_router(spec))
        .merge(portcullis_console::router(service.clone()))
        .merge(ops::router())
        .merge(routes::scim::router())
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(ops::RouteTemplateLayer)
        .with_state(service)
}

type Inner = ops::Server<<axum::extract::DefaultBodyLimit as Layer<Router>>::Service>;

/// The HTTP server as one service (serve it with
/// `axum::ServiceExt::into_make_service_with_connect_info`).
#[derive(Clone)]
pub struct Server(Inner);

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Server")
    }
}

impl<B> tower::Service<axum::http::Request<B>> for Server
where
    Inner: tower::Service<axum::http::Request<B>>,
{
    type Response = <Inner as tower::Service<axum::http::Request<B>>>::Response;
    type Error = <Inner as tower::Service<axum::http::Request<B>>>::Error;
    type Future = <Inner as tower::Service<axum::http::Request<B>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        self.0.call(request)
    }
}

/// Header carrying the data revision after a write: pass it as `consistency.at_least` to a
/// later check (on any server) to be sure the check sees the write.
pub const REVISION_HEADER: &str = "portcullis-revision";
